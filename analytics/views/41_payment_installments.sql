-- View: payment_installments
-- Question: in how many installments do customers pay, and how much money does each count carry?
-- Grain: one row per installment count (the order's largest; null: no payment recorded).
-- Partition filter: none possible here (a whole-history summary); for a period, filter the
--   orders view on purchase_date and group it the same way.
CREATE OR REPLACE VIEW `${project}.${dataset}.payment_installments` AS
WITH by_count AS (
  SELECT
    payment_installments AS installments,
    COUNT(*) AS orders,
    SUM(COALESCE(payment_total, 0)) AS payment_total
  FROM `${project}.${dataset}.orders`
  GROUP BY installments
),
totals AS (
  SELECT SUM(orders) AS all_orders, SUM(payment_total) AS all_payments FROM by_count
)
SELECT
  installments,
  orders,
  SAFE_DIVIDE(orders, all_orders) AS order_share,
  payment_total,
  SAFE_DIVIDE(payment_total, all_payments) AS payment_share
FROM by_count CROSS JOIN totals
