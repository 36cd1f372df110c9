-- View: delivery_by_customer_state
-- Question: how long do deliveries take to each customer state, and what share arrives after
--   the estimated delivery date?
-- Grain: one row per customer state, over delivered orders. Late = delivered on a later calendar
--   day than the estimate (the streaming job's delivered_late).
-- Partition filter: SELECT * FROM `<project>.<dataset>.delivery_by_customer_state_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.delivery_by_customer_state_between`(start_date DATE, end_date DATE) AS (
  SELECT customer_state, delivered_orders, avg_delivery_days, late_orders, late_share
  FROM `${project}.${dataset}.delivery_breakdown_between`(start_date, end_date)
  WHERE breakdown = 'customer_state'
);

CREATE OR REPLACE VIEW `${project}.${dataset}.delivery_by_customer_state` AS
SELECT * FROM `${project}.${dataset}.delivery_by_customer_state_between`(DATE '0001-01-01', DATE '9999-12-31')
