-- View: sales_daily
-- Question: how many orders and items were bought each day, for how much revenue and freight,
--   and what was the average order value?
-- Grain: one row per purchase date (America/Sao_Paulo). Money in BRL; revenue = item prices, freight apart.
-- Partition filter: SELECT * FROM `<project>.<dataset>.sales_daily_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.sales_daily_between`(start_date DATE, end_date DATE) AS (
  SELECT
    purchase_date,
    COUNT(*) AS orders,
    SUM(items) AS items,
    SUM(revenue) AS revenue,
    SUM(freight) AS freight,
    SAFE_DIVIDE(SUM(revenue), COUNT(*)) AS avg_order_value
  FROM `${project}.${dataset}.orders_between`(start_date, end_date)
  GROUP BY purchase_date
);

CREATE OR REPLACE VIEW `${project}.${dataset}.sales_daily` AS
SELECT * FROM `${project}.${dataset}.sales_daily_between`(DATE '0001-01-01', DATE '9999-12-31')
