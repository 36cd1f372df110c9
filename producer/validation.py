"""Checks every fetched event against :class:`schemas.OrderEvent`, keeping the bytes the API sent.

Events arrive as the raw JSON of each one (sliced out of the page, never parsed into dicts and
serialised again), so every consumer gets exactly the bytes the API rendered and the same
``event_id``. Two validators, one outcome:

1. :class:`schemas.fast_validation.FastEventValidator` decodes each event into a msgspec
   struct derived from the schema; it accepts only events the model accepts. Nearly every
   event stops here, at a fraction of the cost of ``orjson.loads`` + pydantic +
   ``orjson.dumps`` (docs/design/producer.md#validation-cost).
2. Each event it does not vouch for is parsed and validated by pydantic, which decides: a lax
   coercion pydantic allows (``"5"`` for an int) still passes, anything else is refused with
   pydantic's errors, field by field, as the dead-letter reason.

The pydantic validator checks a ``TypedDict`` derived field by field from
:class:`schemas.OrderEvent` (same annotations, same constraints, ``extra="forbid"``): the same
rules and error messages, without building a frozen model per event that is thrown away at
once. tests/producer/test_components.py checks that it and the model refuse the same inputs
with the same errors; tests/producer/test_fast_validation.py that the fast path never accepts
what the model refuses and never changes an event's outcome or reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, cast

import msgspec
import orjson
from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from schemas import OrderEvent
from schemas.envelope import MAX_PAYLOAD_BYTES
from schemas.fast_validation import FastEventValidator


def _event_dict_type() -> type:
    decorators = OrderEvent.__pydantic_decorators__
    if decorators.model_validators or decorators.field_validators:
        raise TypeError(
            "OrderEvent has validators a TypedDict cannot carry: validate with the model "
            "itself in producer.validation"
        )
    fields: dict[str, Any] = {}
    for name, field in OrderEvent.model_fields.items():
        annotation: Any = field.annotation
        fields[name] = Annotated[annotation, *field.metadata] if field.metadata else annotation
    # The model's fields, known at run time only.
    event_dict = TypedDict("OrderEventDict", fields)  # type: ignore[misc]  # mypy wants a dict literal
    return with_config(ConfigDict(extra=OrderEvent.model_config.get("extra")))(event_dict)


OrderEventDict = _event_dict_type()
"""``OrderEvent`` as a TypedDict: validates like the model, builds plain dicts."""

_EVENT_VALIDATOR: TypeAdapter[Any] = TypeAdapter(OrderEventDict)
_FAST_VALIDATOR = FastEventValidator(OrderEvent)

RawEvent = bytes | msgspec.Raw
"""The JSON text of one event: ``bytes``, or a ``msgspec.Raw`` slice of the page it came in."""


@dataclass(frozen=True)
class InvalidEvent:
    """An event that failed validation: it goes to the dead-letter topic with the reason."""

    data: bytes
    reason: str
    source_sequence: int | None
    event_id: str | None


@dataclass(frozen=True)
class ValidatedPage:
    """A page split by validation, order kept.

    The valid events are two parallel lists rather than one object each: a page holds
    thousands, and building a tuple per event cost more than the rest of their bookkeeping.
    """

    sequences: list[int]
    """``source_sequence`` of each valid event."""
    events: list[RawEvent]
    """The JSON text of each valid event, as the API sent it."""
    invalid: list[InvalidEvent]


def _describe(errors: list[Any]) -> str:
    parts = []
    for error in errors:
        field = ".".join(str(part) for part in error["loc"]) or "<event>"
        parts.append(f"{field}: {error['msg']} (found {error.get('input')!r})")
    return "; ".join(parts)


def _sequence_of(event: Any) -> int | None:
    value = event.get("source_sequence") if isinstance(event, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _event_id_of(event: Any) -> str | None:
    value = event.get("event_id") if isinstance(event, dict) else None
    return value if isinstance(value, str) else None


def validate_events(events: Sequence[RawEvent]) -> ValidatedPage:
    """Split ``events`` (the raw JSON of each) into valid and invalid, keeping their order.

    An event that is not JSON, or larger than a message may carry
    (:data:`schemas.envelope.MAX_PAYLOAD_BYTES`), is refused like an invalid one: it goes to
    the dead-letter topic with the reason, and the events after it flow on.
    """
    structs = _FAST_VALIDATOR.validate(events)
    if max(map(len, events), default=0) > MAX_PAYLOAD_BYTES:
        # Valid or not, an event no message can carry is dead-lettered below.
        structs = [
            None if len(raw) > MAX_PAYLOAD_BYTES else struct
            for raw, struct in zip(events, structs, strict=True)
        ]
    if None not in structs:
        every_struct = cast("list[Any]", structs)  # no None in it, as just checked
        return ValidatedPage([struct.source_sequence for struct in every_struct], list(events), [])
    sequences: list[int] = []
    valid: list[RawEvent] = []
    invalid: list[InvalidEvent] = []
    for index, (raw, struct) in enumerate(zip(events, structs, strict=True)):
        if struct is not None:
            sequences.append(struct.source_sequence)
            valid.append(raw)
            continue
        data = bytes(raw)
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            invalid.append(
                InvalidEvent(data, f"event {index} of its page is not JSON: {error}", None, None)
            )
            continue
        if len(data) > MAX_PAYLOAD_BYTES:
            invalid.append(
                InvalidEvent(
                    data=data,
                    reason=f"event is {len(data)} bytes, over the {MAX_PAYLOAD_BYTES}-byte "
                    "budget of a Pub/Sub message: it cannot be published",
                    source_sequence=_sequence_of(event),
                    event_id=_event_id_of(event),
                )
            )
            continue
        try:
            checked = _EVENT_VALIDATOR.validate_python(event)
        except ValidationError as failure:
            invalid.append(
                InvalidEvent(
                    data=data,
                    reason="event does not match OrderEvent: "
                    + _describe(failure.errors(include_url=False)),
                    source_sequence=_sequence_of(event),
                    event_id=_event_id_of(event),
                )
            )
        else:
            # Lax coercions (e.g. "5" for an int) leave the raw bytes as they are; the
            # sequence used for ordering is the coerced one.
            sequences.append(checked["source_sequence"])
            valid.append(raw)
    return ValidatedPage(sequences, valid, invalid)
