"""The tables the generator and the simulator write, their columns in load order, and
:data:`Rows`, the rows of a batch per table."""

from __future__ import annotations

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    # Load order: a table comes after the tables its foreign keys point to.
    "geolocation": (
        "geolocation_id", "geolocation_zip_code_prefix", "geolocation_lat", "geolocation_lng",
        "geolocation_city", "geolocation_state",
    ),
    "sellers": ("seller_id", "seller_zip_code_prefix", "seller_city", "seller_state"),
    "products": (
        "product_id", "product_category_name", "product_name_lenght",
        "product_description_lenght", "product_photos_qty", "product_weight_g",
        "product_length_cm", "product_height_cm", "product_width_cm",
    ),
    "customers": (
        "customer_id", "customer_unique_id", "customer_zip_code_prefix", "customer_city",
        "customer_state",
    ),
    "orders": (
        "order_id", "customer_id", "order_status", "order_purchase_timestamp",
        "order_approved_at", "order_delivered_carrier_date", "order_delivered_customer_date",
        "order_estimated_delivery_date",
    ),
    "order_items": (
        "order_id", "order_item_id", "product_id", "seller_id", "shipping_limit_date", "price",
        "freight_value",
    ),
    "order_payments": (
        "order_id", "payment_sequential", "payment_type", "payment_installments",
        "payment_value",
    ),
    "order_reviews": (
        "review_id", "order_id", "review_score", "review_comment_title",
        "review_comment_message", "review_creation_date", "review_answer_timestamp",
    ),
}  # fmt: skip
"""Columns the generator writes per table (``order_items.source_sequence`` is the default)."""

Row = tuple[object, ...]
"""One row's values, in ``TABLE_COLUMNS`` order."""

Rows = dict[str, list[Row]]
"""Rows per table name (``TABLE_COLUMNS`` order); geolocation rows come without their id."""
