-- View: revenue_month_over_month
-- Question: how much revenue, how many items and orders per month and customer state, and per
--   month and product category, and how much did revenue grow on the previous calendar month?
--   The one query of revenue_by_state_month and revenue_by_category_month, which each read
--   their breakdown of it.
-- Grain: one row per (breakdown, breakdown_value, month): breakdown 'customer_state' (the value
--   is the customer state) or 'category' (the English category name, '(unknown)' when the
--   product has none). revenue_growth is null when the previous calendar month had no revenue
--   there. An order with items of two categories counts in both.
-- Partition filter: SELECT * FROM `<project>.<dataset>.revenue_month_over_month_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date. Pass whole months; the range's first month has no previous
--   month in it, so its revenue_growth is null (start a month earlier to get it).
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.revenue_month_over_month_between`(start_date DATE, end_date DATE) AS (
  WITH sold AS (
    SELECT
      DATE(DATE_TRUNC(purchase_date, MONTH)) AS month,
      customer_state,
      COALESCE(product_category_name_english, '(unknown)') AS category,
      order_id,
      price
    FROM `${project}.${dataset}.order_items_between`(start_date, end_date)
  ),
  broken_down AS (
    SELECT month, 'customer_state' AS breakdown, customer_state AS breakdown_value, order_id, price
    FROM sold
    UNION ALL
    SELECT month, 'category', category, order_id, price
    FROM sold
  ),
  monthly AS (
    SELECT
      month,
      breakdown,
      breakdown_value,
      COUNT(DISTINCT order_id) AS orders,
      COUNT(*) AS items,
      SUM(price) AS revenue
    FROM broken_down
    GROUP BY month, breakdown, breakdown_value
  )
  SELECT
    current_month.month,
    current_month.breakdown,
    current_month.breakdown_value,
    current_month.orders,
    current_month.items,
    current_month.revenue,
    previous_month.revenue AS previous_month_revenue,
    SAFE_DIVIDE(current_month.revenue - previous_month.revenue, previous_month.revenue)
      AS revenue_growth
  FROM monthly AS current_month
  LEFT JOIN monthly AS previous_month
    ON previous_month.breakdown = current_month.breakdown
    AND previous_month.breakdown_value = current_month.breakdown_value
    AND previous_month.month = DATE_SUB(current_month.month, INTERVAL 1 MONTH)
);

CREATE OR REPLACE VIEW `${project}.${dataset}.revenue_month_over_month` AS
SELECT * FROM `${project}.${dataset}.revenue_month_over_month_between`(DATE '0001-01-01', DATE '9999-12-31')
