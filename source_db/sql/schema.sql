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
-- The pre-rendered event feed (docs/design/source-feed.md).
--
-- Running the view above costs ~25 us of backend CPU per event (seven index lookups and two
-- lateral subqueries), which caps a sequential reader far below what the API can send. So
-- every event is rendered to JSON once, shortly after its commit, and appended to
-- olist.order_event_feed; a page is then one index range scan over ready-made JSON texts.

-- Money as a JSON number in its shortest decimal form that still reads as a fraction, the way
-- a float prints: 58.90 -> 58.9, 100.00 -> 100.0, 0.00 -> 0.0, 12.34 -> 12.34. Inlined.
CREATE OR REPLACE FUNCTION olist.json_money(amount numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT CASE WHEN amount = round(amount, 1) THEN round(amount, 1) ELSE amount END $$;

-- The JSON of each event, exactly as the API serves it: keys in schemas.EVENT_FIELDS order
-- (the column order of olist.order_events), money as JSON numbers (olist.json_money),
-- payment_types as an array, timestamps ISO 8601 in the session time zone: read it only
-- through functions that SET TimeZone = 'UTC' (below).
CREATE OR REPLACE VIEW olist.order_event_json AS
SELECT e.source_sequence, row_to_json(e)::text AS event_json
FROM (
    SELECT schema_version, event_id, source_sequence, order_id, order_item_id, order_status,
           order_purchase_timestamp, order_approved_at, order_delivered_carrier_date,
           order_delivered_customer_date, order_estimated_delivery_date, customer_id,
           customer_unique_id, customer_zip_code_prefix, customer_city, customer_state,
           product_id, product_category_name, product_category_name_english,
           product_weight_g, product_length_cm, product_height_cm, product_width_cm,
           seller_id, seller_zip_code_prefix, seller_city, seller_state, shipping_limit_date,
           olist.json_money(price) AS price, olist.json_money(freight_value) AS freight_value,
           olist.json_money(payment_total) AS payment_total, payment_types,
           payment_installments_max,
           review_score, review_creation_date, review_answer_timestamp,
           item_key, item_version, change_type, changed_at
    FROM olist.order_events
) AS e;

CREATE TABLE IF NOT EXISTS olist.order_event_feed (
    source_sequence  bigint PRIMARY KEY,
    event_json       text NOT NULL
);

-- Up to max_rows events after after_sequence, rendered now (for the part of a page the feed
-- does not hold yet). STABLE: it reads in the snapshot of the statement that calls it.
CREATE OR REPLACE FUNCTION olist.render_order_events(after_sequence bigint, max_rows integer)
RETURNS TABLE (source_sequence bigint, event_json text)
LANGUAGE sql STABLE
SET TimeZone = 'UTC' SET jit = off
AS $$
    SELECT source_sequence, event_json
    FROM olist.order_event_json
    WHERE source_sequence > after_sequence
    ORDER BY source_sequence
    LIMIT max_rows
$$;

-- The given events, rendered now (for feed rows marked stale that a page serves before the
-- refresher has rendered them again). STABLE: it reads in its caller's snapshot.
CREATE OR REPLACE FUNCTION olist.render_order_events_at(source_sequences bigint[])
RETURNS TABLE (source_sequence bigint, event_json text)
LANGUAGE sql STABLE
SET TimeZone = 'UTC' SET jit = off
AS $$
    SELECT source_sequence, event_json
    FROM olist.order_event_json
    WHERE source_sequence = ANY (source_sequences)
$$;

-- Bring the feed up to date, at most max_rows events of each kind per call: first render again
-- the events marked stale (olist.order_event_feed_stale, below), dropping those whose item is
-- gone, then append the next events after the feed's head in sequence order. Returns how many
-- feed rows it appended, re-rendered or dropped (0: the feed has caught up).
--
-- Why appending "everything visible above the feed's head" never skips an event: writers of
-- order_items hold advisory lock 4242001 from before their rows draw sequence numbers until
-- their commit is visible (olist.serialise_order_item_writers), so items commit in sequence
-- order. When this function's INSERT takes its snapshot, the visible items above the head are
-- therefore exactly the committed ones below the lowest sequence still in flight: an item
-- that commits later always has a higher sequence than every item appended now, and the next
-- call appends it. Refreshers take advisory lock 4242003, held until their commit is visible,
-- so two refreshers (several API replicas, a loader) never append the same range, and the
-- head each one reads (in a statement after the lock) includes the previous one's rows. The
-- feed is thus at every moment a sequence-ordered prefix of the committed items.
CREATE OR REPLACE FUNCTION olist.refresh_order_event_feed(max_rows integer) RETURNS integer
LANGUAGE plpgsql
SET TimeZone = 'UTC' SET jit = off
AS $$
DECLARE
    feed_head bigint;
    stale bigint[];
    rerendered integer := 0;
    dropped integer := 0;
    appended integer;
BEGIN
    IF max_rows IS NULL OR max_rows < 1 THEN
        RAISE EXCEPTION 'refresh_order_event_feed expects max_rows >= 1, got %', max_rows
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        -- One snapshot for the whole transaction would read a stale feed head after the lock.
        RAISE EXCEPTION 'refresh_order_event_feed must run at READ COMMITTED, the transaction '
                        'is %; call it in its own transaction', current_setting('transaction_isolation')
            USING ERRCODE = 'invalid_transaction_state';
    END IF;
    -- 4242003 is this project's lock key for "appending to order_event_feed".
    PERFORM pg_advisory_xact_lock(4242003);
    -- Claim what writers committed before this statement; later marks wait for the next call.
    -- The statements below see at least those writers' changes (each takes a newer snapshot).
    -- A marked item not in the feed yet needs nothing: it is appended with a newer snapshot.
    WITH claimed AS (
        DELETE FROM olist.order_event_feed_stale
        WHERE ctid = ANY (ARRAY(SELECT ctid FROM olist.order_event_feed_stale LIMIT max_rows))
        RETURNING source_sequence
    )
    SELECT array_agg(DISTINCT source_sequence) INTO stale FROM claimed;
    IF stale IS NOT NULL THEN
        DELETE FROM olist.order_event_feed AS f
        WHERE f.source_sequence = ANY (stale)
          AND NOT EXISTS (
              SELECT 1 FROM olist.order_items AS oi WHERE oi.source_sequence = f.source_sequence);
        GET DIAGNOSTICS dropped = ROW_COUNT;
        UPDATE olist.order_event_feed AS f
        SET event_json = j.event_json
        FROM olist.order_event_json AS j
        WHERE j.source_sequence = ANY (stale) AND f.source_sequence = j.source_sequence;
        GET DIAGNOSTICS rerendered = ROW_COUNT;
    END IF;
    SELECT coalesce(max(f.source_sequence), 0) INTO feed_head FROM olist.order_event_feed AS f;
    INSERT INTO olist.order_event_feed (source_sequence, event_json)
    SELECT j.source_sequence, j.event_json
    FROM olist.order_event_json AS j
    WHERE j.source_sequence > feed_head
    ORDER BY j.source_sequence
    LIMIT max_rows;
    GET DIAGNOSTICS appended = ROW_COUNT;
    RETURN appended + rerendered + dropped;
END;
$$;

-- Events already rendered whose source rows changed afterwards. Statement triggers on every
-- table an event reads record the affected items' sequences here, in the writer's transaction;
-- the next refresh renders those events again (see refresh_order_event_feed). Items written by
-- the writer's own transaction are skipped: no refresher can have rendered them yet, which
-- keeps bulk inserts of new orders (order, items, payments, review together) from marking
-- anything. TRUNCATE is not tracked.
CREATE TABLE IF NOT EXISTS olist.order_event_feed_stale (
    source_sequence  bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS order_event_feed_stale_source_sequence_idx
    ON olist.order_event_feed_stale (source_sequence);

-- TG_ARGV[0] names the key column of the changed rows; the transition tables are
-- changed_rows (and previous_rows for UPDATE, so a row moved to another key marks both).
CREATE OR REPLACE FUNCTION olist.mark_feed_events_stale() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    key_column text := TG_ARGV[0];
    keys text[];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        EXECUTE format(
            'SELECT array_agg(DISTINCT k) FROM (SELECT %1$I::text AS k FROM changed_rows '
            'UNION ALL SELECT %1$I::text FROM previous_rows) AS changed', key_column)
        INTO keys;
    ELSE
        EXECUTE format('SELECT array_agg(DISTINCT %1$I::text) FROM changed_rows', key_column)
        INTO keys;
    END IF;
    -- Keys that reach order items through another table are translated first, and the
    -- function stops as soon as nothing is affected, so that a change to reference data with
    -- no orders yet (a CSV load) never touches order_items.
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
    -- Items this transaction wrote are skipped (xmin = its own id): no refresher can have
    -- rendered them. Updates of items mark unconditionally: an update gives the new row version
    -- this transaction's xmin although the item may have been rendered long ago.
    IF key_column = 'source_sequence' THEN
        INSERT INTO olist.order_event_feed_stale SELECT unnest(keys::bigint[]);
    ELSIF key_column = 'order_id' THEN
        INSERT INTO olist.order_event_feed_stale
        SELECT oi.source_sequence FROM olist.order_items AS oi
        WHERE oi.order_id = ANY (keys::char(32)[]) AND oi.xmin <> pg_current_xact_id()::xid;
    ELSIF key_column = 'product_id' THEN
        INSERT INTO olist.order_event_feed_stale
        SELECT oi.source_sequence FROM olist.order_items AS oi
        WHERE oi.product_id = ANY (keys::char(32)[]) AND oi.xmin <> pg_current_xact_id()::xid;
    ELSIF key_column = 'seller_id' THEN
        INSERT INTO olist.order_event_feed_stale
        SELECT oi.source_sequence FROM olist.order_items AS oi
        WHERE oi.seller_id = ANY (keys::char(32)[]) AND oi.xmin <> pg_current_xact_id()::xid;
    ELSE
        RAISE EXCEPTION 'mark_feed_events_stale: unknown key column %', key_column;
    END IF;
    RETURN NULL;
END;
$$;

DO $$
DECLARE
    tracked constant text[][] := ARRAY[
        -- table, key column, events tracked
        ['order_items', 'source_sequence', 'UPDATE DELETE'],
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
        FOREACH operation IN ARRAY string_to_array(entry[3], ' ') LOOP
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON olist.%I',
                           entry[1] || '_feed_stale_' || lower(operation), entry[1]);
            -- Transition tables allow one event per trigger, hence one trigger per operation.
            EXECUTE format(
                'CREATE TRIGGER %I AFTER %s ON olist.%I REFERENCING %s '
                'FOR EACH STATEMENT EXECUTE FUNCTION olist.mark_feed_events_stale(%L)',
                entry[1] || '_feed_stale_' || lower(operation), operation, entry[1],
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
