-- View: geography_by_zip_prefix
-- Question: where are the customers: orders, revenue and delivery time per customer zip-code
--   prefix area, with its coordinates (for a map)?
-- Grain: one row per customer zip prefix. latitude, longitude, city and state come from
--   dim_geolocation (`olist export-dimensions`); null when the prefix has no geolocation row.
-- Partition filter: SELECT * FROM `<project>.<dataset>.geography_by_zip_prefix_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.geography_by_zip_prefix_between`(start_date DATE, end_date DATE) AS (
  WITH areas AS (
    SELECT
      customer_zip_code_prefix AS zip_code_prefix,
      ANY_VALUE(customer_state) AS customer_state,
      COUNT(*) AS orders,
      SUM(revenue) AS revenue,
      AVG(delivery_days) AS avg_delivery_days
    FROM `${project}.${dataset}.orders_between`(start_date, end_date)
    GROUP BY zip_code_prefix
  )
  SELECT
    areas.zip_code_prefix,
    areas.customer_state,
    geo.city,
    geo.latitude,
    geo.longitude,
    areas.orders,
    areas.revenue,
    areas.avg_delivery_days
  FROM areas
  LEFT JOIN `${project}.${dataset}.dim_geolocation` AS geo
    ON geo.zip_code_prefix = areas.zip_code_prefix
);

CREATE OR REPLACE VIEW `${project}.${dataset}.geography_by_zip_prefix` AS
SELECT * FROM `${project}.${dataset}.geography_by_zip_prefix_between`(DATE '0001-01-01', DATE '9999-12-31')
