"""The order-item event: the single definition every other schema is derived from.

One event is one order item with its order, customer, product, seller, payment summary and
review, as served by the source API, published to Pub/Sub and loaded into BigQuery. The Spark
``StructType``, the Arrow schema, the BigQuery table schema and the JSON Schema of a Pub/Sub
payload are all computed from :class:`OrderEvent` by :mod:`schemas.derive`; nothing else spells
out the field list.

Evolution rule (see docs/design/schema.md): a new schema version may only *add* fields, and every
added field must be nullable. Renames, removals and type changes need a new event type.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

SCHEMA_VERSION = 2
"""Version carried by every event (``schema_version``) and every Pub/Sub message attribute.

Version 2 added the item's change history (``item_key``, ``item_version``, ``change_type``,
``changed_at``); version 1 events (without them) stay valid while they can be in flight.
"""

SchemaVersion = Literal[1, 2]
"""Every version consumers accept: the current one and the older ones still in flight."""

EVENT_ID_NAMESPACE = "olist:order_item"
"""Prefix hashed into ``event_id``; changing it changes every id, so it never changes."""

ChangeType = Literal["created", "updated", "deleted"]
"""What a version of an item records: its first version, a change, or its deletion."""
OrderStatus = Literal[
    "created", "approved", "invoiced", "processing", "shipped", "delivered", "canceled",
    "unavailable",
]  # fmt: skip
PaymentType = Literal["credit_card", "boleto", "voucher", "debit_card", "not_defined"]
State = Literal[
    "AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA",
    "PB", "PE", "PI", "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO",
]  # fmt: skip
ORDER_STATUSES: tuple[str, ...] = get_args(OrderStatus)
CHANGE_TYPES: tuple[str, ...] = get_args(ChangeType)
PAYMENT_TYPES: tuple[str, ...] = get_args(PaymentType)
BRAZILIAN_STATES: tuple[str, ...] = get_args(State)

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# Olist ids are 32 lowercase hex characters (an md5 without dashes).
OlistId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
ZipPrefix = Annotated[str, Field(pattern=r"^[0-9]{5}$")]
# Money travels as a JSON number (as PostgreSQL renders numeric); 12 digits survive a float.
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=12, decimal_places=2),
    PlainSerializer(float, return_type=float, when_used="json"),
]


class OrderEvent(BaseModel):
    """One order item, denormalised with everything an analyst joins to it.

    Timestamps come from the dataset without a zone; the pipeline stores them as UTC instants
    (the wall-clock values are kept as they are, so dates and hours read as in the source).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, title="OrderEvent")

    schema_version: SchemaVersion = Field(description="Version of this event schema.")
    event_id: str = Field(
        pattern=UUID_PATTERN,
        description="Stable id of one version of the item (order id, item number, version; "
        "in schema version 1: of the item); identical on every emission of that version, so "
        "consumers deduplicate on it.",
    )
    source_sequence: int = Field(
        ge=1,
        description="Monotonically increasing position of this version of the item in the "
        "source feed.",
    )

    order_id: OlistId = Field(description="Order id.")
    order_item_id: int = Field(ge=1, description="Item number within the order, from 1.")
    order_status: OrderStatus = Field(description="Order status.")
    order_purchase_timestamp: datetime = Field(description="When the order was placed.")
    order_approved_at: datetime | None = Field(description="When the payment was approved.")
    order_delivered_carrier_date: datetime | None = Field(
        description="When the order was handed to the carrier."
    )
    order_delivered_customer_date: datetime | None = Field(
        description="When the customer received the order."
    )
    order_estimated_delivery_date: datetime = Field(
        description="Delivery date promised to the customer at purchase."
    )

    customer_id: OlistId = Field(description="Customer id of this order.")
    customer_unique_id: OlistId = Field(description="Id of the person across orders.")
    customer_zip_code_prefix: ZipPrefix = Field(description="First 5 digits of the zip code.")
    customer_city: str = Field(min_length=1, description="Customer city.")
    customer_state: State = Field(description="Customer state (UF).")

    product_id: OlistId = Field(description="Product id.")
    product_category_name: str | None = Field(description="Category name in Portuguese.")
    product_category_name_english: str | None = Field(description="Category name in English.")
    product_weight_g: int | None = Field(ge=0, description="Product weight in grams.")
    product_length_cm: int | None = Field(ge=0, description="Package length in cm.")
    product_height_cm: int | None = Field(ge=0, description="Package height in cm.")
    product_width_cm: int | None = Field(ge=0, description="Package width in cm.")

    seller_id: OlistId = Field(description="Seller id.")
    seller_zip_code_prefix: ZipPrefix = Field(description="Seller zip code prefix.")
    seller_city: str = Field(min_length=1, description="Seller city.")
    seller_state: State = Field(description="Seller state (UF).")

    shipping_limit_date: datetime = Field(
        description="Deadline for the seller to hand the item to the carrier."
    )
    price: Money = Field(description="Item price in BRL.")
    freight_value: Money = Field(description="Freight charged for the item in BRL.")

    payment_total: Money | None = Field(
        description="Sum of all payments of the order in BRL (null when none is recorded)."
    )
    payment_types: list[PaymentType] = Field(
        description="Distinct payment types used for the order, sorted."
    )
    payment_installments_max: int | None = Field(
        ge=0, description="Largest number of installments among the order's payments."
    )

    review_score: int | None = Field(
        ge=1, le=5, description="Score of the order's latest review, 1 to 5."
    )
    review_creation_date: datetime | None = Field(
        description="When the satisfaction survey was sent to the customer."
    )
    review_answer_timestamp: datetime | None = Field(
        description="When the customer answered the survey."
    )

    # Schema version 2: the item's change history. Nullable with a default (the evolution
    # rule), so version 1 events, which lack them, stay valid.
    item_key: Annotated[str, Field(pattern=UUID_PATTERN)] | None = Field(
        default=None,
        description="Stable key of the order item across its versions (the md5 of order id "
        "and item number as a UUID: the event_id of schema version 1).",
    )
    item_version: int | None = Field(
        default=None, ge=1, description="Version of the item, from 1, one more per change."
    )
    change_type: ChangeType | None = Field(
        default=None,
        description="What this version records: created (first version), updated or deleted.",
    )
    changed_at: datetime | None = Field(
        default=None, description="When the change of this version was committed in the source."
    )


def _md5_uuid(text: str) -> str:
    return str(uuid.UUID(hex=hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()))


def item_key_for(order_id: str, order_item_id: int) -> str:
    """Return the stable ``item_key`` of an order item, the same for all its versions.

    It is the md5 of ``"olist:order_item:<order_id>:<order_item_id>"`` shaped as a UUID, so
    PostgreSQL computes the same value with ``md5(...)::uuid`` (see source_db/sql). It equals
    the ``event_id`` of the item's schema version 1 events.
    """
    return _md5_uuid(f"{EVENT_ID_NAMESPACE}:{order_id}:{order_item_id}")


def event_id_for(order_id: str, order_item_id: int, item_version: int | None = None) -> str:
    """Return the stable ``event_id`` of one version of an order item.

    With ``item_version`` (schema version 2): the md5 of
    ``"olist:order_item:<order_id>:<order_item_id>:<item_version>"`` as a UUID, so every
    emission of a version has the same id and two versions never share one. Without: the id
    schema version 1 gave the item (its :func:`item_key_for`).
    """
    if item_version is None:
        return item_key_for(order_id, order_item_id)
    return _md5_uuid(f"{EVENT_ID_NAMESPACE}:{order_id}:{order_item_id}:{item_version}")


EVENT_FIELDS: tuple[str, ...] = tuple(OrderEvent.model_fields)
"""Field names in their canonical order (API, Pub/Sub, Parquet and BigQuery all use it)."""
