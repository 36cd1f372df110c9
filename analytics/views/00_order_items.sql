-- View: order_items
-- Question: every order item in its current state (its latest version; deleted items left out),
--   one row per item; the base of every other view.
-- Grain: one row per (order_id, order_item_id), every column of the event plus the job's derived ones.
-- Partition filter: WHERE purchase_date BETWEEN DATE '2018-01-01' AND DATE '2018-03-31'
--   (purchase_date partitions the table below; a filter on it reaches the table through every view).
-- The one place that names the source table: `order_items_current`, kept by the streaming job
-- (a MERGE per micro-batch). The history of every version is the table order_events.
CREATE OR REPLACE VIEW `${project}.${dataset}.order_items` AS
SELECT *
FROM `${project}.${dataset}.order_items_current`
