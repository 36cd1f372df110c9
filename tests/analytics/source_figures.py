"""The figures of every analytics view, computed independently by SQL on the source PostgreSQL.

Calendar dates are those of America/Sao_Paulo, as the streaming job derives them.

``SOURCE_QUERIES[view]`` answers the same question as ``analytics/views/NN_<view>.sql`` from
``olist.order_events`` (the source database's view of the same items), with PostgreSQL's own
date and interval arithmetic instead of the streaming job's derived columns. Its columns are
the view's columns; ``KEYS[view]`` are the ones that identify a row.
"""

from __future__ import annotations

import datetime

BASE = """
WITH items AS (
  SELECT e.*,
    (order_purchase_timestamp AT TIME ZONE 'America/Sao_Paulo')::date AS purchase_date,
    extract(epoch FROM order_delivered_customer_date - order_purchase_timestamp)::float8 / 86400
      AS delivery_days,
    CASE WHEN order_delivered_customer_date IS NOT NULL
      THEN (order_delivered_customer_date AT TIME ZONE 'America/Sao_Paulo')::date
         > (order_estimated_delivery_date AT TIME ZONE 'America/Sao_Paulo')::date
      END AS delivered_late,
    (order_delivered_customer_date AT TIME ZONE 'America/Sao_Paulo')::date
      - (order_estimated_delivery_date AT TIME ZONE 'America/Sao_Paulo')::date AS days_late,
    (date_trunc('month', order_purchase_timestamp AT TIME ZONE 'America/Sao_Paulo'))::date AS month
  FROM olist.order_events AS e
),
orders AS (
  SELECT order_id, min(purchase_date) AS purchase_date, min(month) AS month,
    min(customer_state) AS customer_state, min(customer_unique_id) AS customer_unique_id,
    min(customer_zip_code_prefix) AS zip_code_prefix, count(*) AS items,
    sum(price) AS revenue, sum(freight_value) AS freight, min(payment_total) AS payment_total,
    min(CASE WHEN cardinality(payment_types) = 0 THEN 'none'
             ELSE array_to_string(payment_types, ' + ') END) AS payment_mix,
    min(payment_installments_max) AS installments, min(review_score) AS review_score,
    min(delivery_days) AS delivery_days, min(days_late) AS days_late,
    bool_or(delivered_late) AS delivered_late
  FROM items GROUP BY order_id
)
"""

_LATE = "count(*) FILTER (WHERE delivered_late)"
_GROWTH = """
SELECT c.*, p.revenue AS previous_month_revenue,
       (c.revenue - p.revenue) / NULLIF(p.revenue, 0) AS revenue_growth
FROM monthly AS c LEFT JOIN monthly AS p
  ON p.month = (c.month - interval '1 month')::date {and_same}"""

SOURCE_QUERIES: dict[str, str] = {
    "orders": """
        SELECT order_id, purchase_date, customer_state, items, revenue, freight, payment_total,
               payment_mix, installments AS payment_installments, review_score,
               delivery_days, days_late, delivered_late
        FROM orders""",
    "sales_daily": """
        SELECT purchase_date, count(*) AS orders, sum(items) AS items, sum(revenue) AS revenue,
               sum(freight) AS freight, sum(revenue) / count(*) AS avg_order_value
        FROM orders GROUP BY purchase_date""",
    "sales_monthly": """
        , monthly AS (
          SELECT month, count(*) AS orders, sum(items) AS items, sum(revenue) AS revenue,
                 sum(freight) AS freight, sum(revenue) / count(*) AS avg_order_value
          FROM orders GROUP BY month)"""
    + _GROWTH.format(and_same=""),
    "revenue_month_over_month": """
        , broken_down AS (
          SELECT month, 'customer_state' AS breakdown, customer_state AS breakdown_value,
                 order_id, price FROM items
          UNION ALL
          SELECT month, 'category', coalesce(product_category_name_english, '(unknown)'),
                 order_id, price FROM items),
        monthly AS (
          SELECT month, breakdown, breakdown_value, count(DISTINCT order_id) AS orders,
                 count(*) AS items, sum(price) AS revenue
          FROM broken_down GROUP BY 1, 2, 3)"""
    + _GROWTH.format(
        and_same="AND p.breakdown = c.breakdown AND p.breakdown_value = c.breakdown_value"
    ),
    "revenue_by_state_month": """
        , monthly AS (
          SELECT month, customer_state, count(DISTINCT order_id) AS orders, count(*) AS items,
                 sum(price) AS revenue
          FROM items GROUP BY month, customer_state)"""
    + _GROWTH.format(and_same="AND p.customer_state = c.customer_state"),
    "revenue_by_category_month": """
        , monthly AS (
          SELECT month, coalesce(product_category_name_english, '(unknown)') AS category,
                 count(DISTINCT order_id) AS orders, count(*) AS items, sum(price) AS revenue
          FROM items GROUP BY 1, 2)"""
    + _GROWTH.format(and_same="AND p.category = c.category"),
    "delivery_breakdown": f"""
        , broken_down AS (
          SELECT 'customer_state' AS breakdown, customer_state, NULL::date AS month,
                 delivery_days, delivered_late FROM orders WHERE delivered_late IS NOT NULL
          UNION ALL
          SELECT 'month', NULL, month, delivery_days, delivered_late
          FROM orders WHERE delivered_late IS NOT NULL)
        SELECT breakdown, customer_state, month, count(*) AS delivered_orders,
               avg(delivery_days) AS avg_delivery_days, {_LATE} AS late_orders,
               {_LATE}::float8 / count(*) AS late_share
        FROM broken_down GROUP BY 1, 2, 3""",
    "delivery_by_customer_state": f"""
        SELECT customer_state, count(*) AS delivered_orders, avg(delivery_days) AS
               avg_delivery_days, {_LATE} AS late_orders, {_LATE}::float8 / count(*) AS late_share
        FROM orders WHERE delivered_late IS NOT NULL GROUP BY customer_state""",
    "delivery_by_seller_state": f"""
        , shipments AS (
          SELECT order_id, seller_state, min(delivery_days) AS delivery_days,
                 bool_or(delivered_late) AS delivered_late
          FROM items WHERE delivered_late IS NOT NULL GROUP BY order_id, seller_state)
        SELECT seller_state, count(*) AS delivered_orders, avg(delivery_days) AS
               avg_delivery_days, {_LATE} AS late_orders, {_LATE}::float8 / count(*) AS late_share
        FROM shipments GROUP BY seller_state""",
    "delivery_by_month": f"""
        SELECT month, count(*) AS delivered_orders, avg(delivery_days) AS avg_delivery_days,
               {_LATE} AS late_orders, {_LATE}::float8 / count(*) AS late_share
        FROM orders WHERE delivered_late IS NOT NULL GROUP BY month""",
    "reviews_by_delivery_delay": """
        , bucketed AS (
          SELECT CASE WHEN days_late <= -7 THEN '7+ days early'
                      WHEN days_late < 0 THEN '1-6 days early'
                      WHEN days_late = 0 THEN 'on the day'
                      WHEN days_late <= 3 THEN '1-3 days late'
                      WHEN days_late <= 7 THEN '4-7 days late'
                      ELSE '8+ days late' END AS delivery,
                 width_bucket(days_late, ARRAY[-6, 0, 1, 4, 8]) + 1 AS bucket_order, review_score
          FROM orders WHERE days_late IS NOT NULL AND review_score IS NOT NULL)
        SELECT delivery, min(bucket_order) AS bucket_order, count(*) AS orders,
               avg(review_score) AS avg_review_score,
               count(*) FILTER (WHERE review_score <= 2)::float8 / count(*) AS low_score_share
        FROM bucketed GROUP BY delivery""",
    "reviews_by_category": """
        SELECT coalesce(product_category_name_english, '(unknown)') AS category,
               count(*) AS reviewed_items, avg(review_score) AS avg_review_score,
               count(*) FILTER (WHERE review_score <= 2)::float8 / count(*) AS low_score_share,
               count(*) FILTER (WHERE delivered_late)::float8
                 / NULLIF(count(delivered_late), 0) AS late_share
        FROM items WHERE review_score IS NOT NULL GROUP BY 1""",
    "payment_mix": """
        , by_mix AS (
          SELECT payment_mix, count(*) AS orders, sum(coalesce(payment_total, 0)) AS
                 payment_total, avg(installments) AS avg_installments
          FROM orders GROUP BY payment_mix)
        SELECT payment_mix, orders, orders::float8 / sum(orders) OVER () AS order_share,
               payment_total, payment_total / sum(payment_total) OVER () AS payment_share,
               avg_installments
        FROM by_mix""",
    "payment_installments": """
        , by_count AS (
          SELECT installments, count(*) AS orders,
                 sum(coalesce(payment_total, 0)) AS payment_total
          FROM orders GROUP BY installments)
        SELECT installments, orders, orders::float8 / sum(orders) OVER () AS order_share,
               payment_total, payment_total / sum(payment_total) OVER () AS payment_share
        FROM by_count""",
    "seller_scorecard": """
        , seller_orders AS (
          SELECT seller_id, order_id, min(seller_state) AS seller_state,
                 min(customer_state) AS customer_state, count(*) AS items,
                 sum(price) AS revenue, sum(freight_value) AS freight,
                 bool_or(delivered_late) AS delivered_late, min(review_score) AS review_score
          FROM items GROUP BY seller_id, order_id)
        SELECT seller_id, min(seller_state) AS seller_state, count(*) AS orders,
               sum(items) AS items, sum(revenue) AS revenue, sum(freight) AS freight,
               count(delivered_late) AS delivered_orders,
               count(*) FILTER (WHERE delivered_late)::float8
                 / NULLIF(count(delivered_late), 0) AS late_share,
               avg(review_score) AS avg_review_score,
               count(DISTINCT customer_state) AS customer_states,
               string_agg(DISTINCT customer_state, ', ' ORDER BY customer_state) AS ships_to
        FROM seller_orders GROUP BY seller_id""",
    "customer_cohorts": """
        , customers AS (
          SELECT customer_unique_id, min(month) AS cohort_month, count(*) AS orders
          FROM orders GROUP BY customer_unique_id)
        SELECT cohort_month, count(*) AS customers,
               count(*) FILTER (WHERE orders >= 2) AS repeat_customers,
               count(*) FILTER (WHERE orders >= 2)::float8 / count(*) AS repeat_rate,
               sum(orders) AS orders
        FROM customers GROUP BY cohort_month""",
    "cohort_retention": """
        , order_months AS (SELECT DISTINCT customer_unique_id, month FROM orders),
        first_months AS (
          SELECT customer_unique_id, min(month) AS cohort_month
          FROM order_months GROUP BY customer_unique_id),
        sizes AS (
          SELECT cohort_month, count(*) AS cohort_customers FROM first_months GROUP BY 1)
        SELECT f.cohort_month,
               ((extract(year FROM o.month) - extract(year FROM f.cohort_month)) * 12
                + extract(month FROM o.month) - extract(month FROM f.cohort_month))::int
                 AS months_since_first_purchase,
               count(*) AS active_customers, min(s.cohort_customers) AS cohort_customers,
               count(*)::float8 / min(s.cohort_customers) AS retention
        FROM order_months AS o JOIN first_months AS f USING (customer_unique_id)
        JOIN sizes AS s ON s.cohort_month = f.cohort_month
        GROUP BY 1, 2""",
    "geography_by_zip_prefix": """
        , areas AS (
          SELECT zip_code_prefix, min(customer_state) AS customer_state, count(*) AS orders,
                 sum(revenue) AS revenue, avg(delivery_days) AS avg_delivery_days
          FROM orders GROUP BY zip_code_prefix),
        points AS (
          SELECT geolocation_zip_code_prefix AS zip_code_prefix,
                 avg(geolocation_lat) AS latitude, avg(geolocation_lng) AS longitude,
                 mode() WITHIN GROUP (ORDER BY geolocation_city) AS city
          FROM olist.geolocation GROUP BY 1)
        SELECT a.zip_code_prefix, a.customer_state, p.city, p.latitude, p.longitude,
               a.orders, a.revenue, a.avg_delivery_days
        FROM areas AS a LEFT JOIN points AS p USING (zip_code_prefix)""",
    "kpis": """
        SELECT sum(revenue) AS revenue, count(*) AS orders, sum(items) AS items,
               sum(freight) AS freight, sum(revenue) / count(*) AS avg_order_value,
               count(delivered_late) AS delivered_orders,
               count(*) FILTER (WHERE delivered_late)::float8 / count(delivered_late)
                 AS late_share,
               count(review_score) AS reviewed_orders, avg(review_score) AS avg_review_score,
               count(DISTINCT customer_unique_id) AS customers,
               (SELECT count(DISTINCT seller_id) FROM items) AS sellers
        FROM orders""",
}

KEYS: dict[str, tuple[str, ...]] = {
    "orders": ("order_id",),
    "sales_daily": ("purchase_date",),
    "sales_monthly": ("month",),
    "revenue_month_over_month": ("breakdown", "breakdown_value", "month"),
    "revenue_by_state_month": ("month", "customer_state"),
    "revenue_by_category_month": ("month", "category"),
    "delivery_breakdown": ("breakdown", "customer_state", "month"),
    "delivery_by_customer_state": ("customer_state",),
    "delivery_by_seller_state": ("seller_state",),
    "delivery_by_month": ("month",),
    "reviews_by_delivery_delay": ("delivery",),
    "reviews_by_category": ("category",),
    "payment_mix": ("payment_mix",),
    "payment_installments": ("installments",),
    "seller_scorecard": ("seller_id",),
    "customer_cohorts": ("cohort_month",),
    "cohort_retention": ("cohort_month", "months_since_first_purchase"),
    "geography_by_zip_prefix": ("zip_code_prefix",),
    "kpis": (),
}

EXACT_SUMS = {"revenue", "freight", "payment_total", "previous_month_revenue"}
"""Money sums: NUMERIC on both sides, compared exactly (counts, being integers, are too)."""

RELATIVE_TOLERANCE = 1e-9
"""Averages, shares and growth rates: FLOAT64 (or NUMERIC rounded to 9 decimals) in BigQuery
against PostgreSQL's numeric or double precision, equal to this relative tolerance."""


def source_query(view: str, between: tuple[datetime.date, datetime.date] | None = None) -> str:
    """The whole PostgreSQL query of ``view`` (a body starting with a comma adds CTEs);
    with ``between``, over the items purchased on those São Paulo dates only (what the view's
    ``<view>_between`` table function answers)."""
    base = BASE
    if between is not None:
        start, end = (day.isoformat() for day in between)
        base = BASE.replace(
            "FROM olist.order_events AS e",
            "FROM olist.order_events AS e WHERE (order_purchase_timestamp AT TIME ZONE "
            f"'America/Sao_Paulo')::date BETWEEN DATE '{start}' AND DATE '{end}'",
        )
        assert base != BASE, "the base query no longer reads olist.order_events AS e"
    return base + SOURCE_QUERIES[view]
