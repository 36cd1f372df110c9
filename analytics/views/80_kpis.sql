-- View: kpis
-- Question: the headline figures: revenue, orders, items, average order value, share of
--   deliveries late, average review score, customers and sellers.
-- Grain: one row for all the data loaded so far.
-- Partition filter: SELECT * FROM `<project>.<dataset>.kpis_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.kpis_between`(start_date DATE, end_date DATE) AS (
  WITH order_totals AS (
    SELECT
      COUNT(*) AS orders,
      SUM(items) AS items,
      SUM(revenue) AS revenue,
      SUM(freight) AS freight,
      COUNTIF(delivered_late IS NOT NULL) AS delivered_orders,
      COUNTIF(delivered_late) AS late_orders,
      COUNTIF(review_score IS NOT NULL) AS reviewed_orders,
      AVG(review_score) AS avg_review_score,
      COUNT(DISTINCT customer_unique_id) AS customers
    FROM `${project}.${dataset}.orders_between`(start_date, end_date)
  ),
  seller_totals AS (
    SELECT COUNT(DISTINCT seller_id) AS sellers FROM `${project}.${dataset}.order_items_between`(start_date, end_date)
  )
  SELECT
    revenue,
    orders,
    items,
    freight,
    SAFE_DIVIDE(revenue, orders) AS avg_order_value,
    delivered_orders,
    SAFE_DIVIDE(late_orders, delivered_orders) AS late_share,
    reviewed_orders,
    avg_review_score,
    customers,
    sellers
  FROM order_totals CROSS JOIN seller_totals
);

CREATE OR REPLACE VIEW `${project}.${dataset}.kpis` AS
SELECT * FROM `${project}.${dataset}.kpis_between`(DATE '0001-01-01', DATE '9999-12-31')
