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
    1::bigint                                                        AS schema_version,
    md5('olist:order_item:' || oi.order_id || ':' || oi.order_item_id)::uuid::text AS event_id,
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
    r.review_answer_timestamp
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
