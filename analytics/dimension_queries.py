"""The PostgreSQL query of each dimension table: its columns, in :mod:`schemas.dimensions` order.

Each query is run as ``COPY (query) TO STDOUT (FORMAT csv)`` by
:mod:`analytics.export_dimensions`; ``tests/schemas/test_dimensions.py`` checks that its result
columns have the names, types and nullability of the dimension's fields.
"""

from __future__ import annotations

from schemas.dimensions import DIMENSIONS

DIMENSION_QUERIES: dict[str, str] = {
    "customers": """
        SELECT customer_id, customer_unique_id, customer_zip_code_prefix, customer_city,
               customer_state
        FROM olist.customers ORDER BY customer_id""",
    "sellers": """
        SELECT seller_id, seller_zip_code_prefix, seller_city, seller_state
        FROM olist.sellers ORDER BY seller_id""",
    "products": """
        SELECT p.product_id, p.product_category_name, t.product_category_name_english,
               p.product_name_lenght, p.product_description_lenght, p.product_photos_qty,
               p.product_weight_g, p.product_length_cm, p.product_height_cm, p.product_width_cm
        FROM olist.products AS p
        LEFT JOIN olist.product_category_name_translation AS t
            ON t.product_category_name = p.product_category_name
        ORDER BY p.product_id""",
    # ~1M source rows, many exact duplicates, a few prefixes spanning two cities: one row per
    # prefix, the mean position and the most frequent city and state (ties: first by name).
    "geolocation": """
        SELECT geolocation_zip_code_prefix AS zip_code_prefix,
               avg(geolocation_lat) AS latitude,
               avg(geolocation_lng) AS longitude,
               mode() WITHIN GROUP (ORDER BY geolocation_city) AS city,
               mode() WITHIN GROUP (ORDER BY geolocation_state) AS state,
               count(*) AS points
        FROM olist.geolocation
        GROUP BY geolocation_zip_code_prefix
        ORDER BY geolocation_zip_code_prefix""",
}

if set(DIMENSION_QUERIES) != {table.name for table in DIMENSIONS}:
    raise RuntimeError("DIMENSION_QUERIES out of step with schemas.dimensions.DIMENSIONS")
