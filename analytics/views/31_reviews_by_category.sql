-- View: reviews_by_category
-- Question: which product categories get the best and the worst reviews, and how late are
--   their deliveries?
-- Grain: one row per product category (English), over reviewed items; an order's review counts
--   for each of its items.
-- Partition filter: SELECT * FROM `<project>.<dataset>.reviews_by_category_between`(DATE '2018-01-01',
--   DATE '2018-03-31') reads only those purchase dates' partitions; the view is this
--   function over every date.
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.reviews_by_category_between`(start_date DATE, end_date DATE) AS (
  SELECT
    COALESCE(product_category_name_english, '(unknown)') AS category,
    COUNT(*) AS reviewed_items,
    AVG(review_score) AS avg_review_score,
    SAFE_DIVIDE(COUNTIF(review_score <= 2), COUNT(*)) AS low_score_share,
    SAFE_DIVIDE(COUNTIF(delivered_late), COUNTIF(delivered_late IS NOT NULL)) AS late_share
  FROM `${project}.${dataset}.order_items_between`(start_date, end_date)
  WHERE review_score IS NOT NULL
  GROUP BY category
);

CREATE OR REPLACE VIEW `${project}.${dataset}.reviews_by_category` AS
SELECT * FROM `${project}.${dataset}.reviews_by_category_between`(DATE '0001-01-01', DATE '9999-12-31')
