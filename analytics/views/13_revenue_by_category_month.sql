-- View: revenue_by_category_month
-- Question: how much revenue, how many items and orders per product category (English name,
--   '(unknown)' when the product has none) and month, and how much did revenue grow on the
--   previous calendar month?
-- Grain: one row per (month, category). revenue_growth is null when the previous calendar month
--   had no revenue there. An order with items of two categories counts in both.
-- Partition filter: WHERE month >= DATE '2018-01-01' is applied after the aggregation; to
--   prune partitions, filter order_items on purchase_date in your own query.
CREATE OR REPLACE VIEW `${project}.${dataset}.revenue_by_category_month` AS
WITH monthly AS (
  SELECT
    DATE(DATE_TRUNC(purchase_date, MONTH)) AS month,
    COALESCE(product_category_name_english, '(unknown)') AS category,
    COUNT(DISTINCT order_id) AS orders,
    COUNT(*) AS items,
    SUM(price) AS revenue
  FROM `${project}.${dataset}.order_items`
  GROUP BY month, category
)
SELECT
  current_month.month,
  current_month.category,
  current_month.orders,
  current_month.items,
  current_month.revenue,
  previous_month.revenue AS previous_month_revenue,
  SAFE_DIVIDE(current_month.revenue - previous_month.revenue, previous_month.revenue)
    AS revenue_growth
FROM monthly AS current_month
LEFT JOIN monthly AS previous_month
  ON previous_month.category = current_month.category
  AND previous_month.month = DATE_SUB(current_month.month, INTERVAL 1 MONTH)
