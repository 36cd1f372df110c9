-- View: delivery_by_month
-- Question: is delivery getting faster or slower, and is the late share rising, month by month?
-- Grain: one row per purchase month, over delivered orders.
-- Partition filter: SELECT * FROM `<project>.<dataset>.delivery_by_month_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.delivery_by_month_between`(start_date DATE, end_date DATE) AS (
  SELECT month, delivered_orders, avg_delivery_days, late_orders, late_share
  FROM `${project}.${dataset}.delivery_breakdown_between`(start_date, end_date)
  WHERE breakdown = 'month'
);

CREATE OR REPLACE VIEW `${project}.${dataset}.delivery_by_month` AS
SELECT * FROM `${project}.${dataset}.delivery_by_month_between`(DATE '0001-01-01', DATE '9999-12-31')
