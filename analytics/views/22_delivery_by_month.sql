-- View: delivery_by_month
-- Question: is delivery getting faster or slower, and is the late share rising, month by month?
-- Grain: one row per purchase month, over delivered orders.
-- Partition filter: WHERE month >= DATE '2018-01-01' is applied after the aggregation; to
--   prune partitions, filter the orders view on purchase_date and group it the same way.
CREATE OR REPLACE VIEW `${project}.${dataset}.delivery_by_month` AS
SELECT
  DATE(DATE_TRUNC(purchase_date, MONTH)) AS month,
  COUNT(*) AS delivered_orders,
  AVG(delivery_days) AS avg_delivery_days,
  COUNTIF(delivered_late) AS late_orders,
  SAFE_DIVIDE(COUNTIF(delivered_late), COUNT(*)) AS late_share
FROM `${project}.${dataset}.orders`
WHERE delivered_late IS NOT NULL
GROUP BY month
