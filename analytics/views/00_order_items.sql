-- View: order_items
-- Question: every order item in its current state (its latest version; deleted items left out),
--   one row per item; the base of every other view.
-- Grain: one row per (order_id, order_item_id), every column of the event plus the job's derived ones.
-- Partition filter: WHERE purchase_date BETWEEN DATE '2018-01-01' AND DATE '2018-03-31' on the
--   view, or SELECT * FROM `<project>.<dataset>.order_items_between`(DATE '2018-01-01',
--   DATE '2018-03-31'): purchase_date partitions order_items_current, and this is the one place
--   any view or function filters it (every *_between function reads its rows through here).
-- The one place that names the source table: `order_items_current`, kept by the streaming job
-- (a MERGE per micro-batch). The history of every version is the table order_events.
CREATE OR REPLACE VIEW `${project}.${dataset}.order_items` AS
SELECT *
FROM `${project}.${dataset}.order_items_current`;

-- The partition column alone on the left, constants (the function's arguments) on the right:
-- the form of filter BigQuery prunes partitions on (docs/analytics.md, "Partition pruning").
CREATE OR REPLACE TABLE FUNCTION `${project}.${dataset}.order_items_between`(
  start_date DATE, end_date DATE
) AS (
  SELECT *
  FROM `${project}.${dataset}.order_items`
  WHERE purchase_date BETWEEN start_date AND end_date
)
