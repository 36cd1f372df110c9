-- View: revenue_by_state_month
-- Question: how much revenue, how many items and orders per customer state and
--   month, and how much did revenue grow on the previous calendar month?
-- Grain: one row per (month, customer_state). revenue_growth is null when the previous calendar month
--   had no revenue there. An order with items of two categories counts in both.
-- Partition filter: SELECT * FROM `<project>.<dataset>.revenue_by_state_month_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date. Pass whole months; the range's first month has no previous
--   month in it, so its revenue_growth is null (start a month earlier to get it).
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.revenue_by_state_month_between`(start_date DATE, end_date DATE) AS (
  WITH monthly AS (
    SELECT
      DATE(DATE_TRUNC(purchase_date, MONTH)) AS month,
      customer_state AS customer_state,
      COUNT(DISTINCT order_id) AS orders,
      COUNT(*) AS items,
      SUM(price) AS revenue
    FROM `${project}.${dataset}.order_items_between`(start_date, end_date)
    GROUP BY month, customer_state
  )
  SELECT
    current_month.month,
    current_month.customer_state,
    current_month.orders,
    current_month.items,
    current_month.revenue,
    previous_month.revenue AS previous_month_revenue,
    SAFE_DIVIDE(current_month.revenue - previous_month.revenue, previous_month.revenue)
      AS revenue_growth
  FROM monthly AS current_month
  LEFT JOIN monthly AS previous_month
    ON previous_month.customer_state = current_month.customer_state
    AND previous_month.month = DATE_SUB(current_month.month, INTERVAL 1 MONTH)
);

CREATE OR REPLACE VIEW `${project}.${dataset}.revenue_by_state_month` AS
SELECT * FROM `${project}.${dataset}.revenue_by_state_month_between`(DATE '0001-01-01', DATE '9999-12-31')
