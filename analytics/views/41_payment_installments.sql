-- View: payment_installments
-- Question: in how many installments do customers pay, and how much money does each count carry?
-- Grain: one row per installment count (the order's largest; null: no payment recorded).
-- Partition filter: SELECT * FROM `<project>.<dataset>.payment_installments_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.payment_installments_between`(start_date DATE, end_date DATE) AS (
  WITH by_count AS (
    SELECT
      payment_installments AS installments,
      COUNT(*) AS orders,
      SUM(COALESCE(payment_total, 0)) AS payment_total
    FROM `${project}.${dataset}.orders_between`(start_date, end_date)
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
);

CREATE OR REPLACE VIEW `${project}.${dataset}.payment_installments` AS
SELECT * FROM `${project}.${dataset}.payment_installments_between`(DATE '0001-01-01', DATE '9999-12-31')
