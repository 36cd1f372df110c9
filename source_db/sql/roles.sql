-- Roles and grants of the source database (applied by `olist db init` after schema.sql).
--
--   owner         the role that runs `olist db init`: owns every object, the only one with DDL
--   olist_writer  the loader, generator and simulator: reads and writes the nine source tables
--   olist_reader  the source API: reads; its one write duty (the feed refresher) runs as the
--                 owner inside olist.refresh_order_event_feed (SECURITY DEFINER), granted alone
--
-- Login roles are made members of a group role (docs/operations/security.md), e.g.
--   CREATE ROLE olist_api LOGIN PASSWORD '...' IN ROLE olist_reader;
-- The triggers that append versions to the feed run as the owner (SECURITY DEFINER), so a
-- writer changes source rows and never writes the feed itself.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'olist_writer') THEN
        CREATE ROLE olist_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'olist_reader') THEN
        CREATE ROLE olist_reader NOLOGIN;
    END IF;
END;
$$;

REVOKE ALL ON SCHEMA olist FROM PUBLIC;
GRANT USAGE ON SCHEMA olist TO olist_writer, olist_reader;

-- Functions run by the triggers and the refresher: as the owner, with a fixed search path.
ALTER FUNCTION olist.collect_item_changes() SECURITY DEFINER SET search_path = pg_catalog, olist, pg_temp;
ALTER FUNCTION olist.publish_item_versions() SECURITY DEFINER SET search_path = pg_catalog, olist, pg_temp;
ALTER FUNCTION olist.serialise_order_item_writers() SECURITY DEFINER SET search_path = pg_catalog, olist, pg_temp;
ALTER FUNCTION olist.refresh_order_event_feed(integer) SECURITY DEFINER SET search_path = pg_catalog, olist, pg_temp;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA olist FROM PUBLIC;
-- The reader's SQL calls the rendering functions; trigger functions cannot be called directly.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA olist TO olist_reader;
-- Bulk writers still call the (now empty) refresh after a load.
GRANT EXECUTE ON FUNCTION olist.refresh_order_event_feed(integer) TO olist_writer;

-- Writer: the source tables and their sequence, nothing else.
GRANT SELECT, INSERT, UPDATE, DELETE ON
    olist.product_category_name_translation, olist.customers, olist.geolocation, olist.sellers,
    olist.products, olist.orders, olist.order_items, olist.order_payments, olist.order_reviews
    TO olist_writer;
GRANT USAGE, SELECT ON SEQUENCE olist.order_item_source_sequence TO olist_writer;

-- Reader: every table and view, read-only.
GRANT SELECT ON ALL TABLES IN SCHEMA olist TO olist_reader;
