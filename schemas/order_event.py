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

SCHEMA_VERSION = 1
"""Version carried by every event (``schema_version``) and every Pub/Sub message attribute."""

EVENT_ID_NAMESPACE = "olist:order_item"
"""Prefix hashed into ``event_id``; changing it changes every id, so it never changes."""

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
PAYMENT_TYPES: tuple[str, ...] = get_args(PaymentType)
BRAZILIAN_STATES: tuple[str, ...] = get_args(State)

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

    schema_version: Literal[1] = Field(description="Version of this event schema.")
    event_id: str = Field(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="Stable id of the fact (order id + item number); identical on every "
        "emission, so consumers deduplicate on it.",
    )
    source_sequence: int = Field(
        ge=1, description="Monotonically increasing position of the item in the source."
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


def event_id_for(order_id: str, order_item_id: int) -> str:
    """Return the stable ``event_id`` of an order item.

    It is the md5 of ``"olist:order_item:<order_id>:<order_item_id>"`` shaped as a UUID, so
    PostgreSQL computes the same value with ``md5(...)::uuid`` (see source_db/sql).
    """
    digest = hashlib.md5(
        f"{EVENT_ID_NAMESPACE}:{order_id}:{order_item_id}".encode(), usedforsecurity=False
    )
    return str(uuid.UUID(hex=digest.hexdigest()))


EVENT_FIELDS: tuple[str, ...] = tuple(OrderEvent.model_fields)
"""Field names in their canonical order (API, Pub/Sub, Parquet and BigQuery all use it)."""
