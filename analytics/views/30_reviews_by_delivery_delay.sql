-- View: reviews_by_delivery_delay
-- Question: how does the review score depend on how late (or early) the order arrived? (The
--   Olist dataset's headline insight: late orders get far worse reviews.)
-- Grain: one row per delay bucket, over delivered orders with a review. days_late = calendar
--   days between the estimated and the actual delivery date (negative: early).
-- Partition filter: SELECT * FROM `<project>.<dataset>.reviews_by_delivery_delay_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.reviews_by_delivery_delay_between`(start_date DATE, end_date DATE) AS (
  WITH bucketed AS (
    SELECT
      CASE
        WHEN days_late <= -7 THEN 1
        WHEN days_late < 0 THEN 2
        WHEN days_late = 0 THEN 3
        WHEN days_late <= 3 THEN 4
        WHEN days_late <= 7 THEN 5
        ELSE 6
      END AS bucket_order,
      review_score
    FROM `${project}.${dataset}.orders_between`(start_date, end_date)
    WHERE days_late IS NOT NULL AND review_score IS NOT NULL
  )
  SELECT
    bucket_order,
    CASE bucket_order
      WHEN 1 THEN '7+ days early'
      WHEN 2 THEN '1-6 days early'
      WHEN 3 THEN 'on the day'
      WHEN 4 THEN '1-3 days late'
      WHEN 5 THEN '4-7 days late'
      ELSE '8+ days late'
    END AS delivery,
    COUNT(*) AS orders,
    AVG(review_score) AS avg_review_score,
    SAFE_DIVIDE(COUNTIF(review_score <= 2), COUNT(*)) AS low_score_share
  FROM bucketed
  GROUP BY bucket_order
);

CREATE OR REPLACE VIEW `${project}.${dataset}.reviews_by_delivery_delay` AS
SELECT * FROM `${project}.${dataset}.reviews_by_delivery_delay_between`(DATE '0001-01-01', DATE '9999-12-31')
