"""Optional payload decoding inside ``read()``: typed columns without a second pass in Spark.

Like Kafka's ``value.deserializer``, option ``decoder`` names a Python object by import path
(``package.module:name``). It is loaded in the driver (to declare the schema) and in each
executor worker (to decode), never pickled. With it, every output row carries one more
column, ``decoded``: the struct the decoder made of the row's payload, or null where it
declined. ``payload`` is then null on decoded rows (the raw bytes are not shipped to the JVM
twice) and kept on the others, so a downstream parser can still explain why they failed.

A decoder is a filter for the common case, not the judge: it may decline any payload it
cannot vouch for (the row then flows on undecoded), but what it decodes must be exactly what
a full parse would make of it. Rows with an ``unpack_error`` are never decoded.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.types import StructField, StructType

from connectors.pubsub.errors import PubSubOptionError
from connectors.pubsub.records import UnpackedRows

DECODED_COLUMN = "decoded"
"""Name of the column holding what the decoder made of each payload (null where it declined)."""

_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@runtime_checkable
class PayloadDecoder(Protocol):
    """What option ``decoder`` must name (an instance, or a class built without arguments)."""

    def decoded_type(self) -> StructType:
        """The Spark type of the ``decoded`` column."""
        ...

    def decode(self, payloads: Sequence[bytes]) -> pa.StructArray:
        """One entry per payload, in order: the decoded struct, or null to decline it.

        The array's type must be the Arrow form of :meth:`decoded_type`.
        """
        ...


def check_reference(reference: str) -> str:
    """``reference`` if it has the ``package.module:name`` shape, else a precise option error."""
    if not _REFERENCE.match(reference):
        raise PubSubOptionError(
            "decoder",
            f"expected an import path such as 'mypackage.decoders:Orders', found {reference!r}",
        )
    return reference


def load_decoder(reference: str) -> PayloadDecoder:
    """Import the object ``package.module:name`` and return it (instantiated if it is a class)."""
    module_name, _, attribute = check_reference(reference).partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise PubSubOptionError(
            "decoder",
            f"cannot import module {module_name!r} ({error}); it must be importable by the "
            "driver and by every executor's Python",
        ) from error
    try:
        target = getattr(module, attribute)
    except AttributeError:
        raise PubSubOptionError(
            "decoder", f"module {module_name!r} has no attribute {attribute!r}"
        ) from None
    decoder = target() if isinstance(target, type) else target
    if not isinstance(decoder, PayloadDecoder):
        raise PubSubOptionError(
            "decoder",
            f"{reference} is a {type(decoder).__name__}, which lacks decoded_type() and decode()",
        )
    return decoder


def output_schema(
    base: StructType, decoder: PayloadDecoder | None, decoded_row_attributes: bool = True
) -> StructType:
    """``base``, plus the nullable ``decoded`` struct and a nullable ``payload`` with a decoder.

    ``decoded_row_attributes=False`` (option ``decodedRowAttributes``) also makes
    ``attributes`` nullable: it is null on decoded rows.
    """
    if decoder is None:
        return base
    relaxed = {"payload"} if decoded_row_attributes else {"payload", "attributes"}
    fields = [
        StructField(field.name, field.dataType, True, field.metadata)
        if field.name in relaxed
        else field
        for field in base.fields
    ]
    return StructType([*fields, StructField(DECODED_COLUMN, decoder.decoded_type(), True)])


def decode_rows(rows: UnpackedRows, decoder: PayloadDecoder, target: pa.Schema) -> pa.RecordBatch:
    """The output batch of ``rows`` with the ``decoded`` column, ``payload`` null where decoded.

    ``target`` is the Arrow form of :func:`output_schema`. The ``payload`` column is built from
    the declined payloads alone: decoded ones (nearly all, usually) are never copied into
    Arrow. Where ``target`` has a nullable ``attributes`` (``decoded_row_attributes=False``),
    the attributes of decoded rows are null too (a map per event is costly for Spark to
    convert when a message packs many events).
    """
    payloads = rows.payloads
    decoded: pa.Array[Any] = decoder.decode(payloads)
    if len(decoded) != len(payloads):
        raise ValueError(
            f"decoder returned {len(decoded)} entries for {len(payloads)} payloads; "
            "it must return one per payload (null to decline)"
        )
    decoded_type = target.field(DECODED_COLUMN).type
    if not decoded.type.equals(decoded_type):
        decoded = decoded.cast(decoded_type)
    if any(error is not None for error in rows.errors):
        # A message whose envelope is broken is delivered whole with the reason: never decoded.
        unpacked = pa.array([error is None for error in rows.errors], type=pa.bool_())
        decoded = pc.if_else(unpacked, decoded, pa.nulls(len(payloads), decoded_type))
    payload_type = target.field("payload").type
    if decoded.null_count == 0:
        payload = pa.nulls(len(payloads), payload_type)
    elif decoded.null_count == len(payloads):
        payload = pa.array(payloads, type=payload_type)
    else:
        declined = decoded.is_null().to_pylist()
        payload = pa.array(
            [raw if refused else None for raw, refused in zip(payloads, declined, strict=True)],
            type=payload_type,
        )
    drop_attributes = target.field("attributes").nullable
    batch = rows.batch(
        payload, target, without_attributes=decoded.is_valid() if drop_attributes else None
    )
    return pa.RecordBatch.from_arrays([*batch.columns, decoded], schema=target)
