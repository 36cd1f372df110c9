-- View: sales_daily
-- Question: how many orders and items were bought each day, for how much revenue and freight,
--   and what was the average order value?
-- Grain: one row per purchase date (UTC). Money in BRL; revenue = item prices, freight apart.
-- Partition filter: WHERE purchase_date BETWEEN DATE '2018-01-01' AND DATE '2018-01-31'
CREATE OR REPLACE VIEW `${project}.${dataset}.sales_daily` AS
SELECT
  purchase_date,
  COUNT(*) AS orders,
  SUM(items) AS items,
  SUM(revenue) AS revenue,
  SUM(freight) AS freight,
  SAFE_DIVIDE(SUM(revenue), COUNT(*)) AS avg_order_value
FROM `${project}.${dataset}.orders`
GROUP BY purchase_date
