-- View: orders
-- Question: one row per order: its items, revenue, freight, payment, delivery and review.
-- Grain: one row per order_id. Revenue is the sum of item prices (BRL), freight apart.
-- Partition filter: SELECT * FROM `<project>.<dataset>.orders_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.orders_between`(start_date DATE, end_date DATE) AS (
  SELECT
    order_id,
    purchase_date,
    customer_state,
    customer_unique_id,
    ANY_VALUE(customer_zip_code_prefix) AS customer_zip_code_prefix,
    ANY_VALUE(order_status) AS order_status,
    ANY_VALUE(order_purchase_timestamp) AS order_purchase_timestamp,
    COUNT(*) AS items,
    SUM(price) AS revenue,
    SUM(freight_value) AS freight,
    ANY_VALUE(payment_total) AS payment_total,
    ANY_VALUE(IF(ARRAY_LENGTH(payment_types) = 0, 'none', ARRAY_TO_STRING(payment_types, ' + ')))
      AS payment_mix,
    ANY_VALUE(payment_installments_max) AS payment_installments,
    ANY_VALUE(review_score) AS review_score,
    ANY_VALUE(delivery_time_days) AS delivery_days,
    ANY_VALUE(DATE_DIFF(DATE(order_delivered_customer_date, "America/Sao_Paulo"),
                       DATE(order_estimated_delivery_date, "America/Sao_Paulo"), DAY))
      AS days_late,
    ANY_VALUE(delivered_late) AS delivered_late
  FROM `${project}.${dataset}.order_items_between`(start_date, end_date)
  GROUP BY order_id, purchase_date, customer_state, customer_unique_id
);

CREATE OR REPLACE VIEW `${project}.${dataset}.orders` AS
SELECT * FROM `${project}.${dataset}.orders_between`(DATE '0001-01-01', DATE '9999-12-31')
