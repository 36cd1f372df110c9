-- View: delivery_by_month
-- Question: is delivery getting faster or slower, and is the late share rising, month by month?
-- Grain: one row per purchase month, over delivered orders.
-- Partition filter: SELECT * FROM `<project>.<dataset>.delivery_by_month_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.delivery_by_month_between`(start_date DATE, end_date DATE) AS (
  SELECT
    DATE(DATE_TRUNC(purchase_date, MONTH)) AS month,
    COUNT(*) AS delivered_orders,
    AVG(delivery_days) AS avg_delivery_days,
    COUNTIF(delivered_late) AS late_orders,
    SAFE_DIVIDE(COUNTIF(delivered_late), COUNT(*)) AS late_share
  FROM `${project}.${dataset}.orders_between`(start_date, end_date)
  WHERE delivered_late IS NOT NULL
  GROUP BY month
);

CREATE OR REPLACE VIEW `${project}.${dataset}.delivery_by_month` AS
SELECT * FROM `${project}.${dataset}.delivery_by_month_between`(DATE '0001-01-01', DATE '9999-12-31')
