-- View: delivery_by_customer_state
-- Question: how long do deliveries take to each customer state, and what share arrives after
--   the estimated delivery date?
-- Grain: one row per customer state, over delivered orders. Late = delivered on a later calendar
--   day than the estimate (the streaming job's delivered_late).
-- Partition filter: SELECT * FROM `<project>.<dataset>.delivery_by_customer_state_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.delivery_by_customer_state_between`(start_date DATE, end_date DATE) AS (
  SELECT
    customer_state,
    COUNT(*) AS delivered_orders,
    AVG(delivery_days) AS avg_delivery_days,
    COUNTIF(delivered_late) AS late_orders,
    SAFE_DIVIDE(COUNTIF(delivered_late), COUNT(*)) AS late_share
  FROM `${project}.${dataset}.orders_between`(start_date, end_date)
  WHERE delivered_late IS NOT NULL
  GROUP BY customer_state
);

CREATE OR REPLACE VIEW `${project}.${dataset}.delivery_by_customer_state` AS
SELECT * FROM `${project}.${dataset}.delivery_by_customer_state_between`(DATE '0001-01-01', DATE '9999-12-31')
