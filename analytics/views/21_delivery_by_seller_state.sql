-- View: delivery_by_seller_state
-- Question: how long do deliveries from sellers of each state take, and what share is late?
-- Grain: one row per seller state, over delivered (order, seller state) pairs: an order shipped
--   by sellers of two states counts once in each.
-- Partition filter: SELECT * FROM `<project>.<dataset>.delivery_by_seller_state_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.delivery_by_seller_state_between`(start_date DATE, end_date DATE) AS (
  WITH shipments AS (
    SELECT
      order_id,
      seller_state,
      ANY_VALUE(delivery_time_days) AS delivery_days,
      ANY_VALUE(delivered_late) AS delivered_late
    FROM `${project}.${dataset}.order_items_between`(start_date, end_date)
    WHERE delivered_late IS NOT NULL
    GROUP BY order_id, seller_state
  )
  SELECT
    seller_state,
    COUNT(*) AS delivered_orders,
    AVG(delivery_days) AS avg_delivery_days,
    COUNTIF(delivered_late) AS late_orders,
    SAFE_DIVIDE(COUNTIF(delivered_late), COUNT(*)) AS late_share
  FROM shipments
  GROUP BY seller_state
);

CREATE OR REPLACE VIEW `${project}.${dataset}.delivery_by_seller_state` AS
SELECT * FROM `${project}.${dataset}.delivery_by_seller_state_between`(DATE '0001-01-01', DATE '9999-12-31')
