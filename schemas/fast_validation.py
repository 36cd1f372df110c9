"""A msgspec decoder derived from :class:`schemas.OrderEvent` that accepts only valid events.

Validating with pydantic is the expensive way; decoding the event's raw JSON into a
``msgspec.Struct`` built from :func:`schemas.fields.field_specs` checks the same rules in one C
pass, a fraction of pydantic's cost even with the checks below, and needs no ``orjson.loads``
before it (figures: docs/design/producer.md#measurements). It is a filter, not a second
definition of the schema:

* an event it accepts is one :class:`schemas.OrderEvent` accepts (msgspec is stricter: it never
  coerces ``"5"`` to ``5`` nor a number to a timestamp);
* an event it refuses goes to the full validator, which decides and writes the precise
  reason: pydantic in the producer (:mod:`producer.validation`), the schema-derived Spark SQL
  rules in the streaming job (:mod:`streaming.event_decoder`). The outcome is therefore
  always the full validator's.

What a msgspec type cannot express is checked after decoding, from the same field specs:
money (``Decimal`` with ``max_digits`` / ``decimal_places``) is decoded as the float pydantic
itself receives from a JSON parser, then bounded and checked for its decimal places
(``round(x * 100) / 100 == x`` for two: true exactly when the float's shortest text has at
most two decimals, and that text is what pydantic turns into a ``Decimal``). Patterns are pydantic's
(Rust regex, where ``$`` matches only at the very end); Python's ``re``, which msgspec uses,
would also let ``$`` match before a trailing newline, so a final ``$`` becomes ``\\Z``.
Fixed-width patterns (ids, zip codes) are checked over the whole page at once by
:mod:`schemas.fixed_width_pattern`, far cheaper than ``re`` string by string.

Checks after decoding run once per page; when one fails, it is run again event by event to
leave only the events at fault to pydantic.

Deriving refuses (``TypeError`` at import) a model this module cannot mirror: validators, or a
constraint kind it does not know. ``tests/producer/test_fast_validation.py`` checks this
decoder against the model on a corpus derived from the field specs and on random edits.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from datetime import date, datetime
from itertools import repeat
from operator import attrgetter, mul, truediv
from typing import Annotated, Any, Literal

import msgspec
from annotated_types import BaseMetadata, Ge, Le, MinLen
from pydantic import BaseModel, PlainSerializer
from pydantic.fields import FieldInfo

from schemas.fields import FieldSpec, field_specs
from schemas.fixed_width_pattern import FixedWidthPattern, compile_fixed_width
from schemas.order_event import OrderEvent

_SCALARS: dict[str, type] = {
    "string": str,
    "int64": int,
    "float64": float,
    "bool": bool,
    "date": date,
    "timestamp": datetime,
    # Pydantic receives money as the float a JSON parser made of it: decode the same float.
    "decimal": float,
}
_GENERAL_CONSTRAINTS = {"pattern", "max_digits", "decimal_places"}
"""Keys of pydantic's ``Field(...)`` metadata that :class:`FieldSpec` carries."""

DECODE_ERRORS: tuple[type[Exception], ...] = (
    msgspec.ValidationError,
    msgspec.DecodeError,
    # A string that is not UTF-8 reaches the decoder from a raw slice of the page.
    UnicodeDecodeError,
)


def _refuse_unknown_constraints(model: type[BaseModel]) -> None:
    decorators = model.__pydantic_decorators__
    if decorators.model_validators or decorators.field_validators:
        raise TypeError(
            f"{model.__name__} has validators msgspec cannot run: remove "
            "schemas.fast_validation or teach it those rules"
        )

    def check(name: str, item: Any) -> None:
        if isinstance(item, FieldInfo):
            for inner in item.metadata:
                check(name, inner)
        elif typing.get_origin(item) is Annotated:
            for inner in typing.get_args(item)[1:]:
                check(name, inner)
        elif isinstance(item, Ge | Le | MinLen | PlainSerializer):
            return
        elif (
            isinstance(item, BaseMetadata)
            and set(getattr(item, "__dict__", {"<slots>": None})) <= _GENERAL_CONSTRAINTS
        ):
            return  # pydantic's Field(pattern=..., max_digits=..., decimal_places=...)
        else:
            raise TypeError(
                f"{model.__name__}.{name} carries {item!r}, a constraint "
                "schemas.fast_validation does not enforce: add it there"
            )

    for name, info in model.model_fields.items():
        for item in info.metadata:
            check(name, item)
        for argument in _nested_arguments(info.annotation):
            check(name, argument)


def _nested_arguments(annotation: Any) -> list[Any]:
    """Every ``Annotated[...]`` inside ``annotation`` (through ``| None`` and ``list[...]``)."""
    found = [annotation] if typing.get_origin(annotation) is Annotated else []
    for argument in typing.get_args(annotation):
        if not isinstance(argument, str | int):
            found.extend(_nested_arguments(argument))
    return found


def python_pattern(pattern: str) -> str:
    """``pattern`` (pydantic's Rust-regex syntax) with the same meaning for ``re.search``."""
    if "$" in pattern.replace("\\$", "")[:-1]:
        raise TypeError(f"pattern {pattern!r} uses $ before its end: translate it by hand")
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern[:-1] + "\\Z"
    return pattern


def _field_type(spec: FieldSpec, fixed_width_patterns: bool) -> Any:
    scalar: Any = (
        Literal[spec.allowed_values] if spec.allowed_values is not None else _SCALARS[spec.type]
    )
    constraints: dict[str, Any] = {}
    if spec.pattern is not None and not (
        fixed_width_patterns and compile_fixed_width(spec.pattern) is not None
    ):
        constraints["pattern"] = python_pattern(spec.pattern)
    if spec.min_length is not None:
        constraints["min_length"] = spec.min_length
    if spec.minimum is not None:
        constraints["ge"] = spec.minimum
    if spec.maximum is not None:
        constraints["le"] = spec.maximum
    if spec.type == "decimal":
        precision, scale = spec.decimal_digits()
        # The largest value with `precision` digits, `scale` of them decimals (9999999999.99).
        largest = float("9" * (precision - scale) + "." + "9" * scale)
        constraints["le"] = min(constraints.get("le", largest), largest)
    field_type: Any = Annotated[scalar, msgspec.Meta(**constraints)] if constraints else scalar
    if spec.repeated:
        field_type = list[field_type]
    if spec.nullable:
        field_type = field_type | None
    return field_type


def event_struct(
    model: type[BaseModel] = OrderEvent, *, fixed_width_patterns: bool = True
) -> type[msgspec.Struct]:
    """The ``msgspec.Struct`` of ``model``'s JSON form, field by field from its specs.

    With ``fixed_width_patterns`` (the default) the struct leaves fixed-width patterns to
    :func:`page_checks`; without, msgspec checks every pattern with ``re`` while decoding.
    """
    _refuse_unknown_constraints(model)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for spec in field_specs(model):
        info = model.model_fields[spec.name]
        if info.is_required():
            fields.append((spec.name, _field_type(spec, fixed_width_patterns)))
        else:
            fields.append((spec.name, _field_type(spec, fixed_width_patterns), info.default))
    return msgspec.defstruct(
        f"{model.__name__}Struct",
        fields,
        forbid_unknown_fields=model.model_config.get("extra") == "forbid",
        # Holds no reference cycles: keep thousands per page out of the garbage collector.
        gc=False,
    )


PageCheck = Callable[[list[Any]], bool]
"""A rule checked after decoding, over a list of structs: ``True`` when all pass."""


def _present(getter: attrgetter[Any], nullable: bool, structs: list[Any]) -> list[Any]:
    values = list(map(getter, structs))
    return [value for value in values if value is not None] if nullable else values


def _decimal_check(spec: FieldSpec) -> PageCheck:
    getter, factor = attrgetter(spec.name), 10 ** (spec.scale or 0)

    def decimal_places_hold(structs: list[Any]) -> bool:
        # x has at most `scale` decimals in its shortest text exactly when it is the double
        # nearest to n / 10**scale for the integer n = round(x * 10**scale) (n < 2**53 under
        # the bound already checked). A C-level map over the page, cheaper than
        # round(x, scale), which formats the float (docs/design/producer.md#measurements).
        values = _present(getter, spec.nullable, structs)
        scaled = map(round, map(mul, values, repeat(factor)))
        return list(map(truediv, scaled, repeat(factor))) == values

    return decimal_places_hold


def _pattern_check(spec: FieldSpec, pattern: FixedWidthPattern) -> PageCheck:
    getter = attrgetter(spec.name)

    def pattern_matches(structs: list[Any]) -> bool:
        values = _present(getter, spec.nullable, structs)
        if spec.repeated:
            values = [item for items in values for item in items]
        return pattern.matches_all(values)

    return pattern_matches


def page_checks(
    model: type[BaseModel] = OrderEvent, *, fixed_width_patterns: bool = True
) -> list[PageCheck]:
    """The rules of ``model`` its struct leaves to be checked after decoding."""
    checks: list[PageCheck] = []
    for spec in field_specs(model):
        if spec.type == "decimal":
            checks.append(_decimal_check(spec))
        if not fixed_width_patterns or spec.pattern is None:
            continue  # no pattern, or checked with ``re`` by the struct itself
        if pattern := compile_fixed_width(spec.pattern):
            checks.append(_pattern_check(spec, pattern))
    return checks


class FastEventValidator:
    """Decodes raw events into structs; ``None`` for each one it cannot vouch for.

    ``fixed_width_patterns=False`` checks every pattern with ``re`` instead of
    :mod:`schemas.fixed_width_pattern`: same outcome, the baseline ``bench.producer`` measures
    that module against.
    """

    def __init__(
        self, model: type[BaseModel] = OrderEvent, *, fixed_width_patterns: bool = True
    ) -> None:
        self.struct = event_struct(model, fixed_width_patterns=fixed_width_patterns)
        self._decode = msgspec.json.Decoder(self.struct).decode
        self._checks = page_checks(model, fixed_width_patterns=fixed_width_patterns)

    def validate(self, raw_events: Sequence[bytes | msgspec.Raw]) -> list[Any | None]:
        """One struct per event that is certainly valid, ``None`` where pydantic must decide."""
        decode = self._decode
        structs: list[Any | None] = []
        for raw in raw_events:
            try:
                structs.append(decode(raw))
            except DECODE_ERRORS:
                structs.append(None)
        decoded = [struct for struct in structs if struct is not None]
        for check in self._checks:
            if not check(decoded):
                # Rare: find the events at fault and leave them to pydantic.
                structs = [
                    struct if struct is not None and check([struct]) else None for struct in structs
                ]
                decoded = [struct for struct in structs if struct is not None]
        return structs
