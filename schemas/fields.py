"""The event's fields in target-neutral terms: :class:`OrderEvent` reduced to :class:`FieldSpec`.

Each field of the pydantic model becomes one :class:`FieldSpec` (name, logical type,
nullability, repetition, description and value constraints). Every physical form of the event
(:mod:`schemas.derive`), the warehouse tables (:mod:`schemas.warehouse`) and every validator
(:mod:`schemas.fast_validation`, the streaming job's Spark rules) start from this list, so
they all enforce the same rules.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from schemas.order_event import OrderEvent

LogicalType = Literal["string", "bytes", "int64", "float64", "bool", "date", "decimal", "timestamp"]


@dataclass(frozen=True)
class FieldSpec:
    """One field of the event in target-neutral terms."""

    name: str
    type: LogicalType
    nullable: bool
    repeated: bool = False
    precision: int | None = None
    scale: int | None = None
    description: str = ""
    # Value constraints, taken from the model so every validator enforces the same rules.
    allowed_values: tuple[str | int, ...] | None = None
    pattern: str | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    min_length: int | None = None
    # May be absent from an event's JSON (added by a later schema version; absent means null).
    optional: bool = False

    def decimal_digits(self) -> tuple[int, int]:
        """``(precision, scale)`` of a decimal field; ``TypeError`` when either is missing."""
        if self.precision is None or self.scale is None:
            raise TypeError(f"{self.name}: a decimal needs its precision and scale")
        return self.precision, self.scale


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(arguments) != 1:
            raise TypeError(f"unsupported union {annotation!r}: only X | None is allowed")
        return arguments[0], True
    return annotation, False


def _unwrap_annotated(annotation: Any) -> tuple[Any, list[Any]]:
    metadata: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        annotation, *extra = typing.get_args(annotation)
        metadata.extend(extra)
    return annotation, metadata


def _decimal_digits(metadata: list[Any]) -> tuple[int, int]:
    precision = scale = None
    for item in metadata:
        for constraint in getattr(item, "metadata", [item]):
            precision = getattr(constraint, "max_digits", precision)
            scale = getattr(constraint, "decimal_places", scale)
    if precision is None or scale is None:
        raise TypeError("Decimal fields need max_digits and decimal_places")
    return precision, scale


def _scalar_type(
    annotation: Any, metadata: list[Any], field: str
) -> tuple[LogicalType, int | None, int | None]:
    annotation, more = _unwrap_annotated(annotation)
    metadata = metadata + more
    if typing.get_origin(annotation) is Literal:
        values = typing.get_args(annotation)
        kinds = {type(value) for value in values}
        if kinds == {str}:
            return "string", None, None
        if kinds == {int}:
            return "int64", None, None
        raise TypeError(f"{field}: Literal values must all be str or all be int")
    if annotation is str:
        return "string", None, None
    if annotation is int:
        return "int64", None, None
    if annotation is datetime:
        return "timestamp", None, None
    if annotation is Decimal:
        precision, scale = _decimal_digits(metadata)
        return "decimal", precision, scale
    raise TypeError(f"{field}: no mapping for type {annotation!r}")


def field_spec(name: str, info: FieldInfo) -> FieldSpec:
    """Reduce one pydantic field to its :class:`FieldSpec`."""
    annotation, nullable = _unwrap_optional(info.annotation)
    annotation, metadata = _unwrap_annotated(annotation)
    metadata = [*metadata, *info.metadata]
    repeated = typing.get_origin(annotation) is list
    if repeated:
        (annotation,) = typing.get_args(annotation)
        if nullable:
            raise TypeError(f"{name}: a list field cannot be nullable (BigQuery REPEATED)")
        metadata = [m for m in metadata if not isinstance(m, MinLen | MaxLen)]
    kind, precision, scale = _scalar_type(annotation, metadata, name)
    bare, _ = _unwrap_annotated(annotation)
    allowed = typing.get_args(bare) if typing.get_origin(bare) is Literal else None
    return FieldSpec(
        name=name,
        type=kind,
        nullable=nullable,
        repeated=repeated,
        precision=precision,
        scale=scale,
        description=info.description or "",
        allowed_values=allowed,
        optional=not info.is_required(),
        **_value_constraints(metadata),
    )


def _value_constraints(metadata: list[Any]) -> dict[str, Any]:
    constraints: dict[str, Any] = {}
    # A Field(...) inside Annotated (e.g. Money | None) arrives as a FieldInfo holding its own.
    flat = [
        inner
        for item in metadata
        for inner in (item.metadata if isinstance(item, FieldInfo) else [item])
    ]
    for item in flat:
        if isinstance(item, Ge):
            constraints["minimum"] = item.ge
        elif isinstance(item, Le):
            constraints["maximum"] = item.le
        elif isinstance(item, MinLen):
            constraints["min_length"] = item.min_length
        elif isinstance(item, Gt | Lt | MaxLen):
            raise TypeError(f"constraint {item!r} has no mapping yet: add it to FieldSpec")
        elif getattr(item, "pattern", None) is not None:
            constraints["pattern"] = item.pattern
    return constraints


def field_specs(model: type[BaseModel] = OrderEvent) -> list[FieldSpec]:
    """Every field of ``model`` in declaration order."""
    return [field_spec(name, info) for name, info in model.model_fields.items()]
