-- View: payment_mix
-- Question: how do customers pay (credit card, boleto, voucher, debit card, combinations), and
--   what share of the money paid does each way carry?
-- Grain: one row per payment mix: the order's distinct payment types joined by ' + ' ('none'
--   for an order without payments). Shares sum to 1 over all rows.
-- Partition filter: SELECT * FROM `<project>.<dataset>.payment_mix_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.payment_mix_between`(start_date DATE, end_date DATE) AS (
  WITH by_mix AS (
    SELECT
      payment_mix,
      COUNT(*) AS orders,
      SUM(COALESCE(payment_total, 0)) AS payment_total,
      AVG(payment_installments) AS avg_installments
    FROM `${project}.${dataset}.orders_between`(start_date, end_date)
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
);

CREATE OR REPLACE VIEW `${project}.${dataset}.payment_mix` AS
SELECT * FROM `${project}.${dataset}.payment_mix_between`(DATE '0001-01-01', DATE '9999-12-31')
