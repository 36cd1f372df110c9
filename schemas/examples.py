"""A real-looking order event (an item of a real Olist order) for docs, tests and benchmarks.

It is a valid :class:`schemas.order_event.OrderEvent` in its JSON form (a test checks it); copy it
and change fields to build variants.
"""

from __future__ import annotations

from typing import Any

from schemas.order_event import SCHEMA_VERSION, event_id_for, item_key_for

EXAMPLE_EVENT: dict[str, Any] = {
    "schema_version": SCHEMA_VERSION,
    "event_id": event_id_for("e481f51cbdc54678b7cc49136f2d6af7", 1, 1),
    "source_sequence": 7,
    "order_id": "e481f51cbdc54678b7cc49136f2d6af7",
    "order_item_id": 1,
    "order_status": "delivered",
    "order_purchase_timestamp": "2017-10-02T10:56:33+00:00",
    "order_approved_at": "2017-10-02T11:07:15+00:00",
    "order_delivered_carrier_date": "2017-10-04T19:55:00+00:00",
    "order_delivered_customer_date": "2017-10-10T21:25:13+00:00",
    "order_estimated_delivery_date": "2017-10-18T00:00:00+00:00",
    "customer_id": "9ef432eb6251297304e76186b10a928d",
    "customer_unique_id": "7c396fd4830fd04220f754e42b4e5bff",
    "customer_zip_code_prefix": "03149",
    "customer_city": "sao paulo",
    "customer_state": "SP",
    "product_id": "87285b34884572647811a353c7ac498a",
    "product_category_name": "utilidades_domesticas",
    "product_category_name_english": "housewares",
    "product_weight_g": 500,
    "product_length_cm": 19,
    "product_height_cm": 8,
    "product_width_cm": 13,
    "seller_id": "3504c0cb71d7fa48d967e0e4c94d59d9",
    "seller_zip_code_prefix": "09350",
    "seller_city": "maua",
    "seller_state": "SP",
    "shipping_limit_date": "2017-10-06T11:07:15+00:00",
    "price": 29.99,
    "freight_value": 8.72,
    "payment_total": 38.71,
    "payment_types": ["credit_card", "voucher"],
    "payment_installments_max": 1,
    "review_score": 4,
    "review_creation_date": "2017-10-11T00:00:00+00:00",
    "review_answer_timestamp": "2017-10-12T03:43:48+00:00",
    "item_key": item_key_for("e481f51cbdc54678b7cc49136f2d6af7", 1),
    "item_version": 1,
    "change_type": "created",
    "changed_at": "2017-10-02T10:56:40+00:00",
}
