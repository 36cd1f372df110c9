"""Decode order events inside the Pub/Sub source's ``read()``: the job's fast path.

Named by the job as the source's ``decoder`` option (see :mod:`connectors.pubsub.decoding`).
For each payload it either returns the typed event or declines it:

1. :class:`schemas.fast_validation.FastEventValidator` (a msgspec decoder derived from
   :class:`schemas.OrderEvent`) says which payloads are certainly valid events;
2. those are converted to Arrow in one C++ pass (``pyarrow.json`` with the event's Arrow
   schema from :mod:`schemas.derive`).

Declined payloads (anything the validator cannot vouch for) reach Spark undecoded, where
:mod:`streaming.validation` parses them and names every broken rule. So the decoder decides
nothing on its own: it only spares Spark the JSON parse and the rule checks of valid events,
which costs several times less here than doing them in Spark SQL
(docs/operations/streaming.md#measurements).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.json as pa_json
from pyspark.sql.types import StructField, StructType

from schemas.derive import arrow_schema, spark_schema
from schemas.fast_validation import FastEventValidator

log = logging.getLogger(__name__)

_BLOCK_BYTES = 16 * 1024 * 1024


class OrderEventDecoder:
    """:class:`connectors.pubsub.decoding.PayloadDecoder` of :class:`schemas.OrderEvent`."""

    def __init__(self) -> None:
        self._validator = FastEventValidator()
        self._schema = arrow_schema()
        # Every field nullable: the entries of declined payloads are null structs, whose
        # children are null too, which a non-nullable child type would refuse.
        self._fields = [field.with_nullable(True) for field in self._schema]
        self._type = pa.struct(self._fields)
        self._read_options = pa_json.ReadOptions(use_threads=False, block_size=_BLOCK_BYTES)
        self._parse_options = pa_json.ParseOptions(
            explicit_schema=self._schema, unexpected_field_behavior="error"
        )

    def decoded_type(self) -> StructType:
        """The event's Spark type (:func:`schemas.derive.spark_schema`), every field nullable."""
        return StructType(
            [
                StructField(field.name, field.dataType, True, field.metadata)
                for field in spark_schema().fields
            ]
        )

    def decode(self, payloads: Sequence[bytes]) -> pa.StructArray:
        """The typed event of each payload the validator vouches for, null for the others."""
        with _collector_paused():
            verdicts = self._validator.validate(payloads)
        accepted = [
            payload
            for payload, verdict in zip(payloads, verdicts, strict=True)
            if verdict is not None
        ]
        if not accepted:
            return pa.nulls(len(payloads), self._type)
        events = self._convert(accepted)
        if events is None:
            return pa.nulls(len(payloads), self._type)
        if len(accepted) == len(payloads):
            return events
        positions: list[int | None] = []
        next_position = 0
        for verdict in verdicts:
            if verdict is None:
                positions.append(None)
            else:
                positions.append(next_position)
                next_position += 1
        return events.take(pa.array(positions, type=pa.int64()))

    def _convert(self, accepted: list[bytes]) -> pa.StructArray | None:
        try:
            table = pa_json.read_json(
                pa.py_buffer(b"\n".join(accepted)),  # type: ignore[arg-type]  # pyarrow-stubs take no Buffer, pyarrow does
                read_options=self._read_options,
                parse_options=self._parse_options,
            )
        except pa.ArrowInvalid as error:
            # A value msgspec reads but Arrow's JSON reader does not (an unusual timestamp
            # spelling, say): leave the whole batch to Spark rather than guess.
            log.warning("event decoder declined a batch events=%d error=%s", len(accepted), error)
            return None
        if table.num_rows != len(accepted):
            raise RuntimeError(
                f"pyarrow read {table.num_rows} events from {len(accepted)} JSON lines"
            )
        columns = [table.column(name).combine_chunks() for name in self._schema.names]
        return pa.StructArray.from_arrays(columns, fields=self._fields)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while thousands of events are decoded.

    The decoded structs make no reference cycles, but each holds a list (``payment_types``),
    which the collector tracks: it would run every 700 of them for nothing, a measurable share
    of the decoding (docs/operations/streaming.md#measurements). Reference counting still
    frees everything as usual.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
