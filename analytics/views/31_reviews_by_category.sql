-- View: reviews_by_category
-- Question: which product categories get the best and the worst reviews, and how late are
--   their deliveries?
-- Grain: one row per product category (English), over reviewed items; an order's review counts
--   for each of its items.
-- Partition filter: none possible here (a whole-history summary); for a period, filter
--   order_items on purchase_date and group it the same way.
CREATE OR REPLACE VIEW `${project}.${dataset}.reviews_by_category` AS
SELECT
  COALESCE(product_category_name_english, '(unknown)') AS category,
  COUNT(*) AS reviewed_items,
  AVG(review_score) AS avg_review_score,
  SAFE_DIVIDE(COUNTIF(review_score <= 2), COUNT(*)) AS low_score_share,
  SAFE_DIVIDE(COUNTIF(delivered_late), COUNTIF(delivered_late IS NOT NULL)) AS late_share
FROM `${project}.${dataset}.order_items`
WHERE review_score IS NOT NULL
GROUP BY category
