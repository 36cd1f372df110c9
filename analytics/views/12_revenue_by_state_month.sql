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
  SELECT month, breakdown_value AS customer_state, orders, items, revenue, previous_month_revenue,
    revenue_growth
  FROM `${project}.${dataset}.revenue_month_over_month_between`(start_date, end_date)
  WHERE breakdown = 'customer_state'
);

CREATE OR REPLACE VIEW `${project}.${dataset}.revenue_by_state_month` AS
SELECT * FROM `${project}.${dataset}.revenue_by_state_month_between`(DATE '0001-01-01', DATE '9999-12-31')
