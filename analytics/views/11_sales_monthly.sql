-- View: sales_monthly
-- Question: how do orders, items, revenue, freight and the average order value develop month
--   by month, and how much did revenue grow on the previous calendar month?
-- Grain: one row per purchase month (first day of the month). revenue_growth is null when the
--   previous calendar month has no sales.
-- Partition filter: WHERE month >= DATE '2018-01-01' is applied after the aggregation; to
--   prune partitions, aggregate sales_daily with WHERE purchase_date >= ... instead.
CREATE OR REPLACE VIEW `${project}.${dataset}.sales_monthly` AS
WITH monthly AS (
  SELECT
    DATE(DATE_TRUNC(purchase_date, MONTH)) AS month,
    COUNT(*) AS orders,
    SUM(items) AS items,
    SUM(revenue) AS revenue,
    SUM(freight) AS freight
  FROM `${project}.${dataset}.orders`
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
