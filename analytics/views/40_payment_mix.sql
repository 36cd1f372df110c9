-- View: payment_mix
-- Question: how do customers pay (credit card, boleto, voucher, debit card, combinations), and
--   what share of the money paid does each way carry?
-- Grain: one row per payment mix: the order's distinct payment types joined by ' + ' ('none'
--   for an order without payments). Shares sum to 1 over all rows.
-- Partition filter: none possible here (a whole-history summary); for a period, filter the
--   orders view on purchase_date and group it the same way.
CREATE OR REPLACE VIEW `${project}.${dataset}.payment_mix` AS
WITH by_mix AS (
  SELECT
    payment_mix,
    COUNT(*) AS orders,
    SUM(COALESCE(payment_total, 0)) AS payment_total,
    AVG(payment_installments) AS avg_installments
  FROM `${project}.${dataset}.orders`
  GROUP BY payment_mix
),
totals AS (
  SELECT SUM(orders) AS all_orders, SUM(payment_total) AS all_payments FROM by_mix
)
SELECT
  payment_mix,
  orders,
  SAFE_DIVIDE(orders, all_orders) AS order_share,
  payment_total,
  SAFE_DIVIDE(payment_total, all_payments) AS payment_share,
  avg_installments
FROM by_mix CROSS JOIN totals
