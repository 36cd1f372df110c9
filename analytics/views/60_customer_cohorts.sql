-- View: customer_cohorts
-- Question: of the customers who first bought in a given month, how many came back for another
--   order (repeat purchase rate)? A customer is a customer_unique_id (customer_id is per order).
-- Grain: one row per first-purchase month (cohort). repeat_customers placed 2 or more orders,
--   at any time so far.
-- Partition filter: none: a customer's first purchase needs their whole history.
CREATE OR REPLACE VIEW `${project}.${dataset}.customer_cohorts` AS
WITH customers AS (
  SELECT
    customer_unique_id,
    DATE(DATE_TRUNC(MIN(purchase_date), MONTH)) AS cohort_month,
    COUNT(*) AS orders
  FROM `${project}.${dataset}.orders`
  GROUP BY customer_unique_id
)
SELECT
  cohort_month,
  COUNT(*) AS customers,
  COUNTIF(orders >= 2) AS repeat_customers,
  SAFE_DIVIDE(COUNTIF(orders >= 2), COUNT(*)) AS repeat_rate,
  SUM(orders) AS orders
FROM customers
GROUP BY cohort_month
