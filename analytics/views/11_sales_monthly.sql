-- View: sales_monthly
-- Question: how do orders, items, revenue, freight and the average order value develop month
--   by month, and how much did revenue grow on the previous calendar month?
-- Grain: one row per purchase month (first day of the month). revenue_growth is null when the
--   previous calendar month has no sales.
-- Partition filter: SELECT * FROM `<project>.<dataset>.sales_monthly_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date. Pass whole months; the range's first month has no previous
--   month in it, so its revenue_growth is null (start a month earlier to get it).
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.sales_monthly_between`(start_date DATE, end_date DATE) AS (
  WITH monthly AS (
    SELECT
      DATE(DATE_TRUNC(purchase_date, MONTH)) AS month,
      COUNT(*) AS orders,
      SUM(items) AS items,
      SUM(revenue) AS revenue,
      SUM(freight) AS freight
    FROM `${project}.${dataset}.orders_between`(start_date, end_date)
    GROUP BY month
  )
  SELECT
    current_month.month,
    current_month.orders,
    current_month.items,
    current_month.revenue,
    current_month.freight,
    SAFE_DIVIDE(current_month.revenue, current_month.orders) AS avg_order_value,
    previous_month.revenue AS previous_month_revenue,
    SAFE_DIVIDE(current_month.revenue - previous_month.revenue, previous_month.revenue)
      AS revenue_growth
  FROM monthly AS current_month
  LEFT JOIN monthly AS previous_month
    ON previous_month.month = DATE_SUB(current_month.month, INTERVAL 1 MONTH)
);

CREATE OR REPLACE VIEW `${project}.${dataset}.sales_monthly` AS
SELECT * FROM `${project}.${dataset}.sales_monthly_between`(DATE '0001-01-01', DATE '9999-12-31')
