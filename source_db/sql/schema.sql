-- Olist source database: the 9 tables of the Kaggle "Brazilian E-Commerce Public Dataset by
-- Olist" with their real column names (misspellings included), and the order_events view the
-- source API serves. Idempotent: `olist db init` runs it on every start.

CREATE SCHEMA IF NOT EXISTS olist;

CREATE TABLE IF NOT EXISTS olist.product_category_name_translation (
    product_category_name          text PRIMARY KEY,
    product_category_name_english  text NOT NULL
);

CREATE TABLE IF NOT EXISTS olist.customers (
    customer_id               char(32) PRIMARY KEY,
    customer_unique_id        char(32) NOT NULL,
    customer_zip_code_prefix  varchar(5) NOT NULL CHECK (customer_zip_code_prefix ~ '^[0-9]{5}$'),
    customer_city             text NOT NULL,
    customer_state            char(2) NOT NULL
);
CREATE INDEX IF NOT EXISTS customers_customer_unique_id_idx ON olist.customers (customer_unique_id);
CREATE INDEX IF NOT EXISTS customers_customer_state_idx ON olist.customers (customer_state);

-- The geolocation file has no key and repeats rows; geolocation_id is the row's position in
-- the file (1-based), so loading the same file twice inserts nothing new.
CREATE TABLE IF NOT EXISTS olist.geolocation (
    geolocation_id               bigint PRIMARY KEY,
    geolocation_zip_code_prefix  varchar(5) NOT NULL CHECK (geolocation_zip_code_prefix ~ '^[0-9]{5}$'),
    geolocation_lat              double precision NOT NULL,
    geolocation_lng              double precision NOT NULL,
    geolocation_city             text NOT NULL,
    geolocation_state            char(2) NOT NULL
);
CREATE INDEX IF NOT EXISTS geolocation_zip_code_prefix_idx ON olist.geolocation (geolocation_zip_code_prefix);

CREATE TABLE IF NOT EXISTS olist.sellers (
    seller_id               char(32) PRIMARY KEY,
    seller_zip_code_prefix  varchar(5) NOT NULL CHECK (seller_zip_code_prefix ~ '^[0-9]{5}$'),
    seller_city             text NOT NULL,
    seller_state            char(2) NOT NULL
);

CREATE TABLE IF NOT EXISTS olist.products (
    product_id                  char(32) PRIMARY KEY,
    product_category_name       text,
    product_name_lenght         integer CHECK (product_name_lenght >= 0),
    product_description_lenght  integer CHECK (product_description_lenght >= 0),
    product_photos_qty          integer CHECK (product_photos_qty >= 0),
    product_weight_g            integer CHECK (product_weight_g >= 0),
    product_length_cm           integer CHECK (product_length_cm >= 0),
    product_height_cm           integer CHECK (product_height_cm >= 0),
    product_width_cm            integer CHECK (product_width_cm >= 0)
);
CREATE INDEX IF NOT EXISTS products_product_category_name_idx ON olist.products (product_category_name);

CREATE TABLE IF NOT EXISTS olist.orders (
    order_id                       char(32) PRIMARY KEY,
    customer_id                    char(32) NOT NULL REFERENCES olist.customers,
    order_status                   text NOT NULL CHECK (order_status IN (
        'created', 'approved', 'invoiced', 'processing', 'shipped', 'delivered', 'canceled',
        'unavailable')),
    order_purchase_timestamp       timestamptz NOT NULL,
    order_approved_at              timestamptz,
    order_delivered_carrier_date   timestamptz,
    order_delivered_customer_date  timestamptz,
    order_estimated_delivery_date  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_customer_id_idx ON olist.orders (customer_id);
CREATE INDEX IF NOT EXISTS orders_order_purchase_timestamp_idx ON olist.orders (order_purchase_timestamp);

-- source_sequence orders the event feed. Its values must become visible in increasing order,
-- or a reader paging by "sequence > cursor" could skip a row whose transaction commits late.
-- The statement trigger below serialises every writer of order_items on one advisory lock held
-- until commit, so sequence numbers are handed out and committed in the same order. Aborted
-- transactions leave holes, which readers simply step over.
CREATE SEQUENCE IF NOT EXISTS olist.order_item_source_sequence AS bigint;

CREATE TABLE IF NOT EXISTS olist.order_items (
    order_id             char(32) NOT NULL REFERENCES olist.orders,
    order_item_id        integer NOT NULL CHECK (order_item_id >= 1),
    product_id           char(32) NOT NULL REFERENCES olist.products,
    seller_id            char(32) NOT NULL REFERENCES olist.sellers,
    shipping_limit_date  timestamptz NOT NULL,
    price                numeric(12, 2) NOT NULL CHECK (price >= 0),
    freight_value        numeric(12, 2) NOT NULL CHECK (freight_value >= 0),
    source_sequence      bigint NOT NULL DEFAULT nextval('olist.order_item_source_sequence'),
    PRIMARY KEY (order_id, order_item_id)
);
-- The item's current version (event fields item_version, change_type, changed_at): version 1,
-- created when the row is written.
ALTER TABLE olist.order_items
    ADD COLUMN IF NOT EXISTS item_version integer NOT NULL DEFAULT 1 CHECK (item_version >= 1),
    ADD COLUMN IF NOT EXISTS change_type text NOT NULL DEFAULT 'created'
        CHECK (change_type IN ('created', 'updated')),
    ADD COLUMN IF NOT EXISTS changed_at timestamptz NOT NULL DEFAULT transaction_timestamp();
ALTER SEQUENCE olist.order_item_source_sequence OWNED BY olist.order_items.source_sequence;
CREATE UNIQUE INDEX IF NOT EXISTS order_items_source_sequence_idx ON olist.order_items (source_sequence);
CREATE INDEX IF NOT EXISTS order_items_product_id_idx ON olist.order_items (product_id);
CREATE INDEX IF NOT EXISTS order_items_seller_id_idx ON olist.order_items (seller_id);

CREATE OR REPLACE FUNCTION olist.serialise_order_item_writers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- 4242001 is this project's lock key for "assigning order_items.source_sequence".
    PERFORM pg_advisory_xact_lock(4242001);
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS order_items_serialise_writers ON olist.order_items;
CREATE TRIGGER order_items_serialise_writers
    BEFORE INSERT ON olist.order_items
    FOR EACH STATEMENT EXECUTE FUNCTION olist.serialise_order_item_writers();

CREATE TABLE IF NOT EXISTS olist.order_payments (
    order_id              char(32) NOT NULL REFERENCES olist.orders,
    payment_sequential    integer NOT NULL CHECK (payment_sequential >= 1),
    payment_type          text NOT NULL CHECK (payment_type IN (
        'credit_card', 'boleto', 'voucher', 'debit_card', 'not_defined')),
    payment_installments  integer NOT NULL CHECK (payment_installments >= 0),
    payment_value         numeric(12, 2) NOT NULL CHECK (payment_value >= 0),
    PRIMARY KEY (order_id, payment_sequential)
);

-- review_id alone is not unique in the published data (a few reviews cover several orders).
CREATE TABLE IF NOT EXISTS olist.order_reviews (
    review_id                char(32) NOT NULL,
    order_id                 char(32) NOT NULL REFERENCES olist.orders,
    review_score             smallint NOT NULL CHECK (review_score BETWEEN 1 AND 5),
    review_comment_title     text,
    review_comment_message   text,
    review_creation_date     timestamptz NOT NULL,
    review_answer_timestamp  timestamptz,
    PRIMARY KEY (review_id, order_id)
);
CREATE INDEX IF NOT EXISTS order_reviews_order_id_idx ON olist.order_reviews (order_id);

-- The event feed: one row per order item, joined with everything the event carries. Reading a
-- page is "WHERE source_sequence > $cursor ORDER BY source_sequence LIMIT $n": an index range
-- scan on order_items plus primary-key lookups per row, O(page) whatever the table size, and a
-- committed order is readable at once (no materialised view to refresh).
-- Column names and order are those of schemas.order_event.OrderEvent (a test checks it).
CREATE OR REPLACE VIEW olist.order_events AS
SELECT
    2::bigint                                                        AS schema_version,
    md5('olist:order_item:' || oi.order_id || ':' || oi.order_item_id || ':'
        || oi.item_version)::uuid::text                              AS event_id,
    oi.source_sequence,
    oi.order_id::text                                                AS order_id,
    oi.order_item_id::bigint                                         AS order_item_id,
    o.order_status,
    o.order_purchase_timestamp,
    o.order_approved_at,
    o.order_delivered_carrier_date,
    o.order_delivered_customer_date,
    o.order_estimated_delivery_date,
    c.customer_id::text                                              AS customer_id,
    c.customer_unique_id::text                                       AS customer_unique_id,
    c.customer_zip_code_prefix::text                                 AS customer_zip_code_prefix,
    c.customer_city,
    c.customer_state::text                                           AS customer_state,
    p.product_id::text                                               AS product_id,
    p.product_category_name,
    t.product_category_name_english,
    p.product_weight_g::bigint                                       AS product_weight_g,
    p.product_length_cm::bigint                                      AS product_length_cm,
    p.product_height_cm::bigint                                      AS product_height_cm,
    p.product_width_cm::bigint                                       AS product_width_cm,
    s.seller_id::text                                                AS seller_id,
    s.seller_zip_code_prefix::text                                   AS seller_zip_code_prefix,
    s.seller_city,
    s.seller_state::text                                             AS seller_state,
    oi.shipping_limit_date,
    oi.price,
    oi.freight_value,
    pay.payment_total,
    coalesce(pay.payment_types, '{}'::text[])                        AS payment_types,
    pay.payment_installments_max,
    r.review_score::bigint                                           AS review_score,
    r.review_creation_date,
    r.review_answer_timestamp,
    md5('olist:order_item:' || oi.order_id || ':' || oi.order_item_id)::uuid::text AS item_key,
    oi.item_version::bigint                                          AS item_version,
    oi.change_type,
    oi.changed_at
FROM olist.order_items AS oi
JOIN olist.orders AS o ON o.order_id = oi.order_id
JOIN olist.customers AS c ON c.customer_id = o.customer_id
JOIN olist.products AS p ON p.product_id = oi.product_id
JOIN olist.sellers AS s ON s.seller_id = oi.seller_id
LEFT JOIN olist.product_category_name_translation AS t
    ON t.product_category_name = p.product_category_name
LEFT JOIN LATERAL (
    SELECT sum(op.payment_value)                                   AS payment_total,
           array_agg(DISTINCT op.payment_type ORDER BY op.payment_type) AS payment_types,
           max(op.payment_installments)::bigint                    AS payment_installments_max
    FROM olist.order_payments AS op
    WHERE op.order_id = oi.order_id
) AS pay ON true
LEFT JOIN LATERAL (
    SELECT orv.review_score, orv.review_creation_date, orv.review_answer_timestamp
    FROM olist.order_reviews AS orv
    WHERE orv.order_id = oi.order_id
    ORDER BY orv.review_creation_date DESC, orv.review_answer_timestamp DESC NULLS LAST,
             orv.review_id DESC
    LIMIT 1
) AS r ON true;

-- ------------------------------------------------------------------------------------------
-- The event feed (docs/design/source-feed.md): every version of every item, rendered to the
-- JSON text the API serves, in source_sequence order. Running the view above costs ~25 us of
-- backend CPU per event, so each version is rendered once, when its change commits (below),
-- and a page is one index range scan over ready-made JSON texts.

-- Money as a JSON number in its shortest decimal form that still reads as a fraction, the way
-- a float prints: 58.90 -> 58.9, 100.00 -> 100.0, 0.00 -> 0.0, 12.34 -> 12.34. Inlined.
CREATE OR REPLACE FUNCTION olist.json_money(amount numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT CASE WHEN amount = round(amount, 1) THEN round(amount, 1) ELSE amount END $$;

-- The rendered content of each item: the event's fields from order_id to
-- review_answer_timestamp as one JSON object (keys in EVENT_FIELDS order, money as
-- olist.json_money), with the item's current sequence and version. Read it only through
-- functions that SET TimeZone = 'UTC'.
CREATE OR REPLACE VIEW olist.order_item_content AS
SELECT e.source_sequence, e.order_id, e.order_item_id, e.item_version, e.change_type,
       e.changed_at, row_to_json(c)::text AS content_json
FROM olist.order_events AS e
CROSS JOIN LATERAL (
    SELECT e.order_id, e.order_item_id, e.order_status, e.order_purchase_timestamp,
           e.order_approved_at, e.order_delivered_carrier_date,
           e.order_delivered_customer_date, e.order_estimated_delivery_date, e.customer_id,
           e.customer_unique_id, e.customer_zip_code_prefix, e.customer_city,
           e.customer_state, e.product_id, e.product_category_name,
           e.product_category_name_english, e.product_weight_g, e.product_length_cm,
           e.product_height_cm, e.product_width_cm, e.seller_id, e.seller_zip_code_prefix,
           e.seller_city, e.seller_state, e.shipping_limit_date,
           olist.json_money(e.price) AS price, olist.json_money(e.freight_value) AS freight_value,
           olist.json_money(e.payment_total) AS payment_total, e.payment_types,
           e.payment_installments_max, e.review_score, e.review_creation_date,
           e.review_answer_timestamp
) AS c;

-- The JSON text of one version: the envelope fields around the item's content (the object
-- between its braces), byte for byte what row_to_json of the order_events view gives.
CREATE OR REPLACE FUNCTION olist.order_event_text(
    source_sequence bigint, order_id text, order_item_id bigint, item_version bigint,
    change_type text, changed_at timestamptz, content_fields text
) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT '{"schema_version":2,"event_id":"'
        || md5('olist:order_item:' || order_id || ':' || order_item_id || ':' || item_version)::uuid
        || '","source_sequence":' || source_sequence || ',' || content_fields
        || ',"item_key":"' || md5('olist:order_item:' || order_id || ':' || order_item_id)::uuid
        || '","item_version":' || item_version || ',"change_type":"' || change_type
        || '","changed_at":' || to_json(changed_at)::text || '}'
$$;

-- The JSON of each item's current version, exactly as the feed holds it (olist.order_event_text
-- of olist.order_item_content). Read it only through functions that SET TimeZone = 'UTC'.
CREATE OR REPLACE VIEW olist.order_event_json AS
SELECT c.source_sequence,
       olist.order_event_text(c.source_sequence, c.order_id, c.order_item_id, c.item_version,
                              c.change_type, c.changed_at,
                              substr(c.content_json, 2, length(c.content_json) - 2)) AS event_json
FROM olist.order_item_content AS c;

-- One row per version. order_id .. content_md5 are null on rows rendered before versions
-- existed (schema version 1 events of a database initialised earlier).
CREATE TABLE IF NOT EXISTS olist.order_event_feed (
    source_sequence  bigint PRIMARY KEY,
    event_json       text NOT NULL
);
ALTER TABLE olist.order_event_feed
    ADD COLUMN IF NOT EXISTS order_id char(32),
    ADD COLUMN IF NOT EXISTS order_item_id integer,
    ADD COLUMN IF NOT EXISTS item_version integer,
    ADD COLUMN IF NOT EXISTS change_type text,
    ADD COLUMN IF NOT EXISTS content_md5 text;
CREATE INDEX IF NOT EXISTS order_event_feed_item_version_idx
    ON olist.order_event_feed (order_id, order_item_id, item_version DESC);

-- Up to max_rows events after after_sequence. The feed is complete at every commit, so this
-- reads it; kept for API processes that still call it for the tail of a page.
CREATE OR REPLACE FUNCTION olist.render_order_events(after_sequence bigint, max_rows integer)
RETURNS TABLE (source_sequence bigint, event_json text)
LANGUAGE sql STABLE
AS $$
    SELECT f.source_sequence, f.event_json
    FROM olist.order_event_feed AS f
    WHERE f.source_sequence > after_sequence
    ORDER BY f.source_sequence
    LIMIT max_rows
$$;

-- The given events (versions never change once written: read from the feed).
CREATE OR REPLACE FUNCTION olist.render_order_events_at(source_sequences bigint[])
RETURNS TABLE (source_sequence bigint, event_json text)
LANGUAGE sql STABLE
AS $$
    SELECT f.source_sequence, f.event_json
    FROM olist.order_event_feed AS f
    WHERE f.source_sequence = ANY (source_sequences)
$$;

-- Nothing to do any more: versions are appended when their change commits. Kept (answering 0)
-- for the API's background refresher and the bulk writers, which still call it.
CREATE OR REPLACE FUNCTION olist.refresh_order_event_feed(max_rows integer) RETURNS integer
LANGUAGE plpgsql
AS $$
BEGIN
    IF max_rows IS NULL OR max_rows < 1 THEN
        RAISE EXCEPTION 'refresh_order_event_feed expects max_rows >= 1, got %', max_rows
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN 0;
END;
$$;

-- The order_purchase_timestamp of a version's JSON text (a whole event or the content between
-- its braces), as rendered: the warehouse partitions versions by its date. The key appears
-- once, unquoted only as a key, and a timestamp holds no comma. Inlined.
CREATE OR REPLACE FUNCTION olist.purchase_timestamp_text(event_text text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT split_part(split_part(event_text, '"order_purchase_timestamp":', 2), ',', 1) $$;

-- Unused since versions (nothing is rendered again); kept empty for API processes that read it.
CREATE TABLE IF NOT EXISTS olist.order_event_feed_stale (
    source_sequence  bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS order_event_feed_stale_source_sequence_idx
    ON olist.order_event_feed_stale (source_sequence);

-- ------------------------------------------------------------------------------------------
-- Versions: every committed change of an item is a new version in the feed (issue 17,
-- docs/design/source-feed.md).
--
-- Statement triggers on every table an event reads record the items a statement touched in
-- olist.order_item_changes, keyed by the writer's transaction, and queue one flush per
-- transaction in olist.order_item_change_flush. The flush is a deferred constraint trigger: it
-- runs once, at COMMIT, renders each touched item once (however many rows and statements
-- touched it), and appends to olist.order_event_feed a new version of each item whose event
-- changed (content compared by md5), a deletion version of each item that is gone, nothing for
-- the others. An item whose order_purchase_timestamp changed (a purchase date the warehouse
-- partitions by) gets two versions: a deletion carrying its previous content (old purchase
-- time), then the update, so the warehouse's latest version on the old date is a deletion
-- (docs/design/source-feed.md#a-purchase-time-that-changes). Versions draw their source_sequence under advisory lock 4242001, held until the
-- commit is visible, so the feed grows in commit order and is complete at every commit.

CREATE UNLOGGED TABLE IF NOT EXISTS olist.order_item_changes (
    txid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
    source_sequence  bigint NOT NULL,
    order_id         char(32) NOT NULL,
    order_item_id    integer NOT NULL
);
CREATE INDEX IF NOT EXISTS order_item_changes_txid_idx ON olist.order_item_changes (txid);

CREATE UNLOGGED TABLE IF NOT EXISTS olist.order_item_change_flush (
    txid  xid8 PRIMARY KEY DEFAULT pg_current_xact_id()
);

-- The flush: see the comment at the top of this section. Runs at COMMIT (a deferred
-- constraint trigger on olist.order_item_change_flush, one row per writing transaction).
CREATE OR REPLACE FUNCTION olist.publish_item_versions() RETURNS trigger
LANGUAGE plpgsql
SET TimeZone = 'UTC' SET jit = off
AS $$
DECLARE
    me constant xid8 := pg_current_xact_id();
    changed_at constant timestamptz := clock_timestamp();
    feed_head bigint;
    needed bigint;
    first_sequence bigint;
BEGIN
    -- 4242001 is this project's lock key for "assigning source_sequence"; held until the
    -- commit is visible, so versions commit in sequence order.
    PERFORM pg_advisory_xact_lock(4242001);
    DELETE FROM olist.order_item_change_flush WHERE txid = me;
    IF NOT FOUND THEN
        RETURN NULL;  -- flushed already by an earlier firing in this transaction
    END IF;
    PERFORM set_config('olist.publishing_versions', 'on', true);
    SELECT coalesce(max(f.source_sequence), 0) INTO feed_head FROM olist.order_event_feed AS f;
    IF to_regclass('pg_temp.olist_new_versions') IS NULL THEN
    CREATE TEMP TABLE olist_new_versions (
        order_id        char(32) NOT NULL,
        order_item_id   integer NOT NULL,
        live_sequence   bigint,
        item_version    integer NOT NULL,
        change_type     text NOT NULL,
        changed_at      timestamptz NOT NULL,
        content_fields  text NOT NULL,
        content_md5     text NOT NULL,
        rank            bigint NOT NULL,  -- position among the versions drawing a sequence
        source_sequence bigint
    ) ON COMMIT DELETE ROWS;
    END IF;
    -- Every lookup below is driven by the keys this transaction touched, one index probe per
    -- key (LATERAL ... OFFSET 0 cannot be turned into a join), so the work is linear in the
    -- transaction's size whatever the statistics say. The pending rows' estimate is a guess
    -- (the table is empty whenever ANALYZE sees it): a join between two sets derived from it
    -- was planned, after an ANALYZE, as a nested loop re-rendering every pending item for
    -- each key, and a COMMIT of 2,000 orders went from 1 s to over 100 s.
    WITH pending AS (
        DELETE FROM olist.order_item_changes AS p WHERE p.txid = me
        RETURNING p.order_id, p.order_item_id
    ),
    keys AS (SELECT DISTINCT p.order_id, p.order_item_id FROM pending AS p),
    touched AS (
        SELECT k.order_id, k.order_item_id, l.source_sequence AS live_sequence,
               l.changed_at AS live_changed_at, l.content_fields, md5(l.content_fields) AS md5,
               prev.item_version AS prev_version, prev.change_type AS prev_type,
               prev.content_md5 AS prev_md5, prev.event_json AS prev_json
        FROM keys AS k
        -- The item's row by primary key, then its content by source_sequence: the view's
        -- order_id is text, which the char(32) key's index cannot serve.
        LEFT JOIN LATERAL (
            SELECT c.source_sequence, c.changed_at,
                   substr(c.content_json, 2, length(c.content_json) - 2) AS content_fields
            FROM olist.order_items AS oi
            CROSS JOIN LATERAL (
                SELECT i.source_sequence, i.changed_at, i.content_json
                FROM olist.order_item_content AS i
                WHERE i.source_sequence = oi.source_sequence
                OFFSET 0
            ) AS c
            WHERE oi.order_id = k.order_id AND oi.order_item_id = k.order_item_id
            OFFSET 0
        ) AS l ON true
        LEFT JOIN LATERAL (
            SELECT f.item_version, f.change_type, f.content_md5, f.event_json
            FROM olist.order_event_feed AS f
            WHERE f.order_id = k.order_id AND f.order_item_id = k.order_item_id
            ORDER BY f.item_version DESC
            LIMIT 1
        ) AS prev ON true
    ),
    versions AS (
        SELECT t.*, m.moved, t.live_sequence > feed_head AND NOT m.moved AS keeps_sequence,
               row_number() OVER (ORDER BY t.live_sequence NULLS LAST, t.order_id,
                                           t.order_item_id) AS rank
        FROM touched AS t
        -- A live item whose purchase time differs from its latest version's: moved.
        CROSS JOIN LATERAL (
            SELECT t.content_fields IS NOT NULL AND t.prev_version IS NOT NULL
                   AND t.prev_type <> 'deleted'
                   AND olist.purchase_timestamp_text(t.content_fields)
                       IS DISTINCT FROM olist.purchase_timestamp_text(t.prev_json) AS moved
        ) AS m
        WHERE (t.content_fields IS NOT NULL
               AND (t.prev_version IS NULL OR t.prev_type = 'deleted'
                    OR t.prev_md5 IS DISTINCT FROM t.md5))
           OR (t.content_fields IS NULL AND t.prev_version IS NOT NULL
               AND t.prev_type <> 'deleted')
    )
    INSERT INTO olist_new_versions (order_id, order_item_id, live_sequence, item_version,
                                    change_type, changed_at, content_fields, content_md5, rank,
                                    source_sequence)
    SELECT v.order_id, v.order_item_id, v.live_sequence,
           coalesce(v.prev_version, 0) + s.step + v.moved::integer,
           CASE WHEN v.content_fields IS NULL OR s.step = 0 THEN 'deleted'
                WHEN v.prev_version IS NULL OR v.prev_type = 'deleted' THEN 'created'
                ELSE 'updated' END,
           CASE WHEN v.prev_version IS NULL AND v.keeps_sequence
                THEN v.live_changed_at ELSE changed_at END,
           -- A deletion carries the item's last content: the fields between the envelope's.
           coalesce(CASE WHEN s.step = 1 THEN v.content_fields END, substr(
               v.prev_json, strpos(v.prev_json, '"order_id"'),
               strpos(v.prev_json, ',"item_key"') - strpos(v.prev_json, '"order_id"'))),
           CASE WHEN s.step = 1 THEN coalesce(v.md5, v.prev_md5) ELSE v.prev_md5 END,
           -- Among the versions that draw a new sequence: their position, in rank order.
           row_number() OVER (PARTITION BY v.keeps_sequence IS TRUE ORDER BY v.rank, s.step),
           -- Items written by this transaction keep the sequence they drew (under the lock,
           -- above the feed's head); every other version draws a new one, below (a moved
           -- item too: its deletion comes first).
           CASE WHEN v.keeps_sequence THEN v.live_sequence END
    FROM versions AS v
    -- Step 1: the item's version; step 0, before it, for a moved item only: the deletion of
    -- its previous version. A function of v, so versions is rendered once.
    CROSS JOIN LATERAL generate_series(CASE WHEN v.moved THEN 0 ELSE 1 END, 1) AS s(step);
    SELECT count(*) INTO needed FROM olist_new_versions WHERE source_sequence IS NULL;
    IF needed > 0 THEN
        first_sequence := nextval('olist.order_item_source_sequence');
        IF needed > 1 THEN
            PERFORM setval('olist.order_item_source_sequence', first_sequence + needed - 1);
        END IF;
        UPDATE olist_new_versions SET source_sequence = first_sequence + rank - 1
        WHERE source_sequence IS NULL;
    END IF;
    INSERT INTO olist.order_event_feed (source_sequence, event_json, order_id, order_item_id,
                                        item_version, change_type, content_md5)
    SELECT v.source_sequence,
           olist.order_event_text(v.source_sequence, v.order_id::text, v.order_item_id,
                                  v.item_version, v.change_type, v.changed_at, v.content_fields),
           v.order_id, v.order_item_id, v.item_version, v.change_type, v.content_md5
    FROM olist_new_versions AS v
    ORDER BY v.source_sequence;
    -- The live row carries its current version, so olist.order_events shows it. Planned at
    -- every COMMIT (EXECUTE): the temporary table holds this transaction's versions, one or a
    -- million, and a plan cached for the session's first size is wrong for the others (cached
    -- after a large commit: a hash join reading every item row, at each later commit).
    EXECUTE $update$
        UPDATE olist.order_items AS oi
        SET source_sequence = v.source_sequence, item_version = v.item_version,
            change_type = v.change_type, changed_at = v.changed_at
        FROM olist_new_versions AS v
        WHERE v.change_type <> 'deleted'
          AND oi.order_id = v.order_id AND oi.order_item_id = v.order_item_id
          AND (oi.source_sequence, oi.item_version, oi.change_type, oi.changed_at)
              IS DISTINCT FROM (v.source_sequence, v.item_version, v.change_type, v.changed_at)
    $update$;
    PERFORM set_config('olist.publishing_versions', 'off', true);
    RETURN NULL;
END;
$$;

-- Statement trigger on every table an event reads: records the items the statement touched
-- (TG_ARGV[0] names the key column of the changed rows; transition tables changed_rows, and
-- previous_rows for UPDATE) and queues this transaction's flush. Keys that reach order items
-- through another table are translated first; a change that reaches no item (reference data
-- loaded before any order) records nothing.
CREATE OR REPLACE FUNCTION olist.collect_item_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    key_column text := TG_ARGV[0];
    keys text[];
    touched bigint;
BEGIN
    IF current_setting('olist.publishing_versions', true) = 'on' THEN
        RETURN NULL;  -- the flush itself updating order_items
    END IF;
    IF key_column = 'order_item' THEN
        IF TG_OP = 'UPDATE' THEN
            INSERT INTO olist.order_item_changes (source_sequence, order_id, order_item_id)
            SELECT r.source_sequence, r.order_id, r.order_item_id FROM changed_rows AS r
            UNION ALL
            SELECT r.source_sequence, r.order_id, r.order_item_id FROM previous_rows AS r;
        ELSE
            INSERT INTO olist.order_item_changes (source_sequence, order_id, order_item_id)
            SELECT r.source_sequence, r.order_id, r.order_item_id FROM changed_rows AS r;
        END IF;
        GET DIAGNOSTICS touched = ROW_COUNT;
    ELSE
        IF TG_OP = 'UPDATE' THEN
            EXECUTE format(
                'SELECT array_agg(DISTINCT k) FROM (SELECT %1$I::text AS k FROM changed_rows '
                'UNION ALL SELECT %1$I::text FROM previous_rows) AS changed', key_column)
            INTO keys;
        ELSE
            EXECUTE format('SELECT array_agg(DISTINCT %1$I::text) FROM changed_rows', key_column)
            INTO keys;
        END IF;
        IF key_column = 'customer_id' AND keys IS NOT NULL THEN
            SELECT array_agg(o.order_id::text) INTO keys
            FROM olist.orders AS o WHERE o.customer_id = ANY (keys::char(32)[]);
            key_column := 'order_id';
        ELSIF key_column = 'product_category_name' AND keys IS NOT NULL THEN
            SELECT array_agg(p.product_id::text) INTO keys
            FROM olist.products AS p WHERE p.product_category_name = ANY (keys);
            key_column := 'product_id';
        END IF;
        IF keys IS NULL THEN
            RETURN NULL;
        END IF;
        IF key_column = 'order_id' THEN
            INSERT INTO olist.order_item_changes (source_sequence, order_id, order_item_id)
            SELECT oi.source_sequence, oi.order_id, oi.order_item_id FROM olist.order_items AS oi
            WHERE oi.order_id = ANY (keys::char(32)[]);
        ELSIF key_column = 'product_id' THEN
            INSERT INTO olist.order_item_changes (source_sequence, order_id, order_item_id)
            SELECT oi.source_sequence, oi.order_id, oi.order_item_id FROM olist.order_items AS oi
            WHERE oi.product_id = ANY (keys::char(32)[]);
        ELSIF key_column = 'seller_id' THEN
            INSERT INTO olist.order_item_changes (source_sequence, order_id, order_item_id)
            SELECT oi.source_sequence, oi.order_id, oi.order_item_id FROM olist.order_items AS oi
            WHERE oi.seller_id = ANY (keys::char(32)[]);
        ELSE
            RAISE EXCEPTION 'collect_item_changes: unknown key column %', key_column;
        END IF;
        GET DIAGNOSTICS touched = ROW_COUNT;
    END IF;
    IF touched > 0 THEN
        INSERT INTO olist.order_item_change_flush DEFAULT VALUES ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS order_item_change_flush_publish ON olist.order_item_change_flush;
CREATE CONSTRAINT TRIGGER order_item_change_flush_publish
    AFTER INSERT ON olist.order_item_change_flush
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION olist.publish_item_versions();

DO $$
DECLARE
    tracked constant text[][] := ARRAY[
        -- table, key column, events tracked
        ['order_items', 'order_item', 'INSERT UPDATE DELETE'],
        ['orders', 'order_id', 'UPDATE'],
        ['order_payments', 'order_id', 'INSERT UPDATE DELETE'],
        ['order_reviews', 'order_id', 'INSERT UPDATE DELETE'],
        ['customers', 'customer_id', 'UPDATE'],
        ['products', 'product_id', 'UPDATE'],
        ['sellers', 'seller_id', 'UPDATE'],
        ['product_category_name_translation', 'product_category_name', 'INSERT UPDATE DELETE']
    ];
    entry text[];
    operation text;
BEGIN
    FOREACH entry SLICE 1 IN ARRAY tracked LOOP
        FOREACH operation IN ARRAY string_to_array('INSERT UPDATE DELETE', ' ') LOOP
            -- The triggers of the feed before versions (it marked rendered events stale).
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON olist.%I',
                           entry[1] || '_feed_stale_' || lower(operation), entry[1]);
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON olist.%I',
                           entry[1] || '_item_changes_' || lower(operation), entry[1]);
        END LOOP;
        FOREACH operation IN ARRAY string_to_array(entry[3], ' ') LOOP
            -- Transition tables allow one event per trigger, hence one trigger per operation.
            EXECUTE format(
                'CREATE TRIGGER %I AFTER %s ON olist.%I REFERENCING %s '
                'FOR EACH STATEMENT EXECUTE FUNCTION olist.collect_item_changes(%L)',
                entry[1] || '_item_changes_' || lower(operation), operation, entry[1],
                CASE operation
                    WHEN 'INSERT' THEN 'NEW TABLE AS changed_rows'
                    WHEN 'DELETE' THEN 'OLD TABLE AS changed_rows'
                    ELSE 'NEW TABLE AS changed_rows OLD TABLE AS previous_rows'
                END,
                entry[2]);
        END LOOP;
    END LOOP;
END;
$$;
DROP FUNCTION IF EXISTS olist.mark_feed_events_stale();
