-- View: cohort_retention
-- Question: of each first-purchase month's customers, how many bought again 1, 2, 3 ... months
--   later (the retention triangle)?
-- Grain: one row per (cohort_month, months_since_first_purchase) with at least one order;
--   month 0 is the cohort itself (active_customers = cohort size).
-- Partition filter: none: a customer's first purchase needs their whole history.
CREATE OR REPLACE VIEW `${project}.${dataset}.cohort_retention` AS
WITH order_months AS (
  SELECT DISTINCT customer_unique_id, DATE(DATE_TRUNC(purchase_date, MONTH)) AS month
  FROM `${project}.${dataset}.orders`
),
first_months AS (
  SELECT customer_unique_id, MIN(month) AS cohort_month
  FROM order_months
  GROUP BY customer_unique_id
),
active AS (
  SELECT
    first_months.cohort_month,
    DATE_DIFF(order_months.month, first_months.cohort_month, MONTH) AS months_since_first_purchase,
    COUNT(*) AS active_customers
  FROM order_months
  JOIN first_months USING (customer_unique_id)
  GROUP BY cohort_month, months_since_first_purchase
),
sizes AS (
  SELECT cohort_month, COUNT(*) AS cohort_customers FROM first_months GROUP BY cohort_month
)
SELECT
  active.cohort_month,
  active.months_since_first_purchase,
  active.active_customers,
  sizes.cohort_customers,
  SAFE_DIVIDE(active.active_customers, sizes.cohort_customers) AS retention
FROM active
JOIN sizes USING (cohort_month)
