-- View: delivery_breakdown
-- Question: how long do deliveries take, and what share arrives after the estimated delivery
--   date, per customer state and per purchase month? The one query of delivery_by_customer_state
--   and delivery_by_month, which each read their breakdown of it.
-- Grain: one row per customer state (breakdown 'customer_state', month null) and one per purchase
--   month (breakdown 'month', customer_state null), over delivered orders. Late = delivered on a
--   later calendar day than the estimate (the streaming job's delivered_late).
-- Partition filter: SELECT * FROM `<project>.<dataset>.delivery_breakdown_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.delivery_breakdown_between`(start_date DATE, end_date DATE) AS (
  WITH delivered AS (
    SELECT
      customer_state,
      DATE(DATE_TRUNC(purchase_date, MONTH)) AS month,
      delivery_days,
      delivered_late
    FROM `${project}.${dataset}.orders_between`(start_date, end_date)
    WHERE delivered_late IS NOT NULL
  ),
  broken_down AS (
    SELECT 'customer_state' AS breakdown, customer_state, CAST(NULL AS DATE) AS month,
      delivery_days, delivered_late
    FROM delivered
    UNION ALL
    SELECT 'month', CAST(NULL AS STRING), month, delivery_days, delivered_late
    FROM delivered
  )
  SELECT
    breakdown,
    customer_state,
    month,
    COUNT(*) AS delivered_orders,
    AVG(delivery_days) AS avg_delivery_days,
    COUNTIF(delivered_late) AS late_orders,
    SAFE_DIVIDE(COUNTIF(delivered_late), COUNT(*)) AS late_share
  FROM broken_down
  GROUP BY breakdown, customer_state, month
);

CREATE OR REPLACE VIEW `${project}.${dataset}.delivery_breakdown` AS
SELECT * FROM `${project}.${dataset}.delivery_breakdown_between`(DATE '0001-01-01', DATE '9999-12-31')
