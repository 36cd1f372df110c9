-- View: seller_scorecard
-- Question: how is each seller doing: revenue, orders, items, share delivered late, average
--   review, and to how many (and which) customer states they ship?
-- Grain: one row per seller. Orders, late share and reviews count each (seller, order) once.
-- Partition filter: SELECT * FROM `<project>.<dataset>.seller_scorecard_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.seller_scorecard_between`(start_date DATE, end_date DATE) AS (
  WITH seller_orders AS (
    SELECT
      seller_id,
      order_id,
      ANY_VALUE(seller_state) AS seller_state,
      ANY_VALUE(customer_state) AS customer_state,
      COUNT(*) AS items,
      SUM(price) AS revenue,
      SUM(freight_value) AS freight,
      ANY_VALUE(delivered_late) AS delivered_late,
      ANY_VALUE(review_score) AS review_score
    FROM `${project}.${dataset}.order_items_between`(start_date, end_date)
    GROUP BY seller_id, order_id
  )
  SELECT
    seller_id,
    ANY_VALUE(seller_state) AS seller_state,
    COUNT(*) AS orders,
    SUM(items) AS items,
    SUM(revenue) AS revenue,
    SUM(freight) AS freight,
    COUNTIF(delivered_late IS NOT NULL) AS delivered_orders,
    SAFE_DIVIDE(COUNTIF(delivered_late), COUNTIF(delivered_late IS NOT NULL)) AS late_share,
    AVG(review_score) AS avg_review_score,
    COUNT(DISTINCT customer_state) AS customer_states,
    STRING_AGG(DISTINCT customer_state, ', ' ORDER BY customer_state) AS ships_to
  FROM seller_orders
  GROUP BY seller_id
);

CREATE OR REPLACE VIEW `${project}.${dataset}.seller_scorecard` AS
SELECT * FROM `${project}.${dataset}.seller_scorecard_between`(DATE '0001-01-01', DATE '9999-12-31')
