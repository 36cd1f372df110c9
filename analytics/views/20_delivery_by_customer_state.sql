-- View: delivery_by_customer_state
-- Question: how long do deliveries take to each customer state, and what share arrives after
--   the estimated delivery date?
-- Grain: one row per customer state, over delivered orders. Late = delivered on a later calendar
--   day than the estimate (the streaming job's delivered_late).
-- Partition filter: none possible here (a whole-history summary); for a period, filter the
--   orders view on purchase_date and group it the same way.
CREATE OR REPLACE VIEW `${project}.${dataset}.delivery_by_customer_state` AS
SELECT
  customer_state,
  COUNT(*) AS delivered_orders,
  AVG(delivery_days) AS avg_delivery_days,
  COUNTIF(delivered_late) AS late_orders,
  SAFE_DIVIDE(COUNTIF(delivered_late), COUNT(*)) AS late_share
FROM `${project}.${dataset}.orders`
WHERE delivered_late IS NOT NULL
GROUP BY customer_state
