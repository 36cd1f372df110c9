"""The event schema of olist-pipeline: one definition (``OrderEvent``) and its derived forms."""

from schemas.order_event import (
    BRAZILIAN_STATES,
    CHANGE_TYPES,
    EVENT_FIELDS,
    ORDER_STATUSES,
    PAYMENT_TYPES,
    SCHEMA_VERSION,
    OrderEvent,
    event_id_for,
    item_key_for,
)

__all__ = [
    "BRAZILIAN_STATES",
    "CHANGE_TYPES",
    "EVENT_FIELDS",
    "ORDER_STATUSES",
    "PAYMENT_TYPES",
    "SCHEMA_VERSION",
    "OrderEvent",
    "event_id_for",
    "item_key_for",
]
