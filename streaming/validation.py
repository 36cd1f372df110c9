"""Parse Pub/Sub payloads into events and say, per row, every rule the payload breaks.

The rules are not written here: they come from :func:`schemas.fields.field_specs` (types,
nullability, allowed values, patterns, bounds), so the Spark job enforces what the pydantic
model enforces (a test feeds both the same corpus). Everything runs as Spark SQL expressions.

Each payload is parsed into two structs and a key count, once, in their own projection:

* the typed event (``from_json`` with the event schema; string fields read as VARIANT so a JSON
  number is refused where a string is expected, as pydantic does);
* the raw fields, every one as VARIANT: SQL NULL means the key is absent, a variant null means
  JSON ``null``, and the value is kept for the message;
* the number of top-level keys (``json_object_keys``), which reveals unknown fields.

Rules read those columns only (struct fields are O(1); maps and key arrays cost a scan per
lookup, several times slower: docs/operations/streaming.md#measurements). Valid rows pay for
boolean checks alone: messages are built only for broken rows. Spark accepts a numeric string
for a decimal or integer field, as pydantic's lax mode does.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from connectors.pubsub.decoding import DECODED_COLUMN
from schemas.derive import spark_schema
from schemas.fields import FieldSpec, field_specs

EVENT_COLUMN = "event"
RAW_COLUMN = "raw_fields"
REASON_COLUMN = "rejection_reason"
KEY_COUNT_COLUMN = "_key_count"
_PARSED = "_parsed_event"
MAX_VALUE_IN_REASON = 60
"""Raw values quoted in a reason are cut to this many characters."""

_TYPE_NAMES = {
    "string": "a string",
    "int64": "an integer",
    "decimal": "a number",
    "timestamp": "an ISO 8601 timestamp",
}


def _quoted(raw_value: Column) -> Column:
    return F.concat(F.lit("'"), F.substring(raw_value, 1, MAX_VALUE_IN_REASON), F.lit("'"))


def _sql_literal(value: str | int) -> str:
    """``value`` as a Spark SQL literal: an integer as it is, a string quoted and escaped."""
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


Rule = tuple[Column, Column]
"""(broken, message): ``broken`` is a null-safe boolean, ``message`` is read only when it holds."""


def _field_rules(spec: FieldSpec) -> list[Rule]:
    """The rules of one field, derived from its :class:`FieldSpec`."""
    typed = F.col(EVENT_COLUMN)[spec.name]
    variant = F.col(RAW_COLUMN)[spec.name]
    present = variant.isNotNull()
    json_null = F.is_variant_null(variant)
    # Only read when a message is built: the raw value as text.
    raw = F.try_variant_get(variant, "$", "string")
    name = spec.name
    expected = _TYPE_NAMES[spec.type]
    if spec.repeated:
        expected = f"an array of {expected.removeprefix('a ').removeprefix('an ')}s"
    rules: list[Rule] = [
        # A field added by a later schema version may be absent (version 1 events).
        (~present & F.lit(not spec.optional), F.lit(f"{name}: missing")),
        (
            present & ~json_null & typed.isNull(),
            F.concat(F.lit(f"{name}: expected {expected}, got "), _quoted(raw)),
        ),
    ]
    if not spec.nullable:
        rules.append((json_null, F.lit(f"{name}: null is not allowed")))
    if spec.type == "decimal":
        exact = F.try_variant_get(variant, "$", "decimal(38,18)")
        rules.append(
            (
                exact.isNotNull() & (typed != exact),
                F.concat(F.lit(f"{name}: more than {spec.scale} decimal places: "), _quoted(raw)),
            )
        )
    if spec.allowed_values is not None:
        allowed = [F.lit(value) for value in spec.allowed_values]
        listed = ", ".join(str(value) for value in spec.allowed_values)
        if spec.repeated:
            # SQL text, not F.forall(typed, lambda ...): PySpark names a Python lambda's
            # variable afresh at every call (x_4, x_5...), and the name goes into the generated
            # code, so each query defined (the warm-up's, then the job's) compiled this stage
            # again (docs/operations/streaming.md#the-first-batch-after-a-start).
            members = ", ".join(_sql_literal(value) for value in spec.allowed_values)
            broken = ~F.expr(f"forall({EVENT_COLUMN}.`{name}`, item -> item IN ({members}))")
            prefix = f"{name}: every item must be one of [{listed}], got "
        else:
            broken = ~typed.isin(*allowed)
            prefix = f"{name}: must be one of [{listed}], got "
        rules.append((broken, F.concat(F.lit(prefix), _quoted(raw))))
    if spec.pattern is not None:
        rules.append(
            (
                ~typed.rlike(spec.pattern),
                F.concat(F.lit(f"{name}: does not match {spec.pattern}: "), _quoted(raw)),
            )
        )
    if spec.min_length is not None:
        rules.append(
            (
                F.length(typed) < spec.min_length,
                F.lit(f"{name}: shorter than {spec.min_length} character(s)"),
            )
        )
    if spec.minimum is not None:
        rules.append(
            (
                typed < F.lit(spec.minimum),
                F.concat(F.lit(f"{name}: must be >= {spec.minimum}, got "), _quoted(raw)),
            )
        )
    if spec.maximum is not None:
        rules.append(
            (
                typed > F.lit(spec.maximum),
                F.concat(F.lit(f"{name}: must be <= {spec.maximum}, got "), _quoted(raw)),
            )
        )
    # A rule on a null value is not broken (nullability has its own rule).
    return [(F.coalesce(broken, F.lit(False)), message) for broken, message in rules]


def rejection_reason(payload_text: Column, unpack_error: Column | None = None) -> Column:
    """Every broken rule of the row, ``"; "``-separated, or null when the event is valid.

    Expects the columns made by :func:`parse_events`. Valid rows, the common case, only pay
    for the boolean checks: the messages are built for broken rows alone.
    """
    specs = field_specs()
    known = [F.lit(spec.name) for spec in specs]
    unknown = F.array_except(F.json_object_keys(payload_text), F.array(*known))
    # JSON is UTF-8 (RFC 8259): other bytes are refused whole, not parsed with replacement
    # characters into a "valid" event; nor quoted, which would put them in the reason.
    not_utf8 = F.coalesce(~F.is_valid_utf8(payload_text), F.lit(False))
    not_an_object = payload_text.isNotNull() & ~not_utf8 & F.col(KEY_COUNT_COLUMN).isNull()
    present_count = reduce(
        lambda left, right: left + right,
        [F.col(RAW_COLUMN)[spec.name].isNotNull().cast("int") for spec in specs],
    )
    row_rules: list[Rule] = [
        (payload_text.isNull(), F.lit("payload is empty")),
        (not_utf8, F.lit("payload is not valid UTF-8")),
        (not_an_object, F.concat(F.lit("payload is not a JSON object: "), _quoted(payload_text))),
        (
            F.coalesce(F.col(KEY_COUNT_COLUMN) > present_count, F.lit(False)),
            F.concat(F.lit("unknown fields: "), F.array_join(F.array_sort(unknown), ", ")),
        ),
    ]
    if unpack_error is not None:
        row_rules.insert(0, (unpack_error.isNotNull(), F.concat(F.lit("envelope: "), unpack_error)))
    field_rules = [rule for spec in field_specs() for rule in _field_rules(spec)]
    # A payload that is not a JSON object breaks every field rule too; report it once.
    is_object = F.col(KEY_COUNT_COLUMN).isNotNull()
    object_rules = [(is_object & broken, message) for broken, message in field_rules]
    rules = row_rules + object_rules
    any_broken = reduce(lambda left, right: left | right, [broken for broken, _ in rules])
    messages = F.concat_ws("; ", *[F.when(broken, message) for broken, message in rules])
    return F.when(any_broken, messages)


def _parse_schema() -> T.StructType:
    """The event schema with scalar string fields read as VARIANT, to see their JSON type.

    Spark's JSON reader turns a JSON number into a string for a StringType field (a zip code
    sent as the number 3149 would become "3149"); reading it as a variant keeps the JSON type,
    so the rules can refuse anything but a JSON string, as the pydantic model does.
    """
    fields = [
        T.StructField(field.name, T.VariantType(), True)
        if isinstance(field.dataType, T.StringType)
        else field
        for field in spark_schema().fields
    ]
    return T.StructType(fields)


def _raw_schema() -> T.StructType:
    """Every event field as VARIANT: presence, JSON null and the raw value of each."""
    return T.StructType(
        [T.StructField(name, T.VariantType(), True) for name in spark_schema().names]
    )


def _typed_event(parsed: Column) -> Column:
    """The typed event struct from the parsed one: variants back to strings when they are."""
    values = []
    for field in spark_schema().fields:
        value = parsed[field.name]
        if isinstance(field.dataType, T.StringType):
            value = F.when(
                F.schema_of_variant(value) == "STRING", F.variant_get(value, "$", "string")
            )
        values.append(value.alias(field.name))
    return F.struct(*values)


def parse_events(
    frame: DataFrame,
    payload_column: str = "payload",
    unpack_error_column: str | None = "unpack_error",
) -> DataFrame:
    """Add the typed ``event`` struct, the raw field map and ``rejection_reason`` to ``frame``.

    ``payload_column`` holds the JSON of one event (binary or string). Rows whose reason is
    null are valid events; the others go to the dead-letter sink with the reason.

    When ``frame`` has the source's ``decoded`` column (option ``decoder``, see
    :mod:`streaming.event_decoder`), rows it holds are valid events already typed: they are
    taken as they are, and only the other rows are parsed and checked here.
    """
    decoded = F.col(DECODED_COLUMN) if DECODED_COLUMN in frame.columns else None

    def undecoded_only(expression: Column) -> Column:
        # Inside a CASE branch, the parse runs for the rows the decoder declined alone.
        return expression if decoded is None else F.when(decoded.isNull(), expression)

    # Two projections on purpose: the JSON is parsed once into columns, then every rule reads
    # those columns. Built as one expression, Spark would inline from_json into each of the
    # ~150 rule expressions and parse every payload that many times (several times slower:
    # docs/operations/streaming.md#measurements).
    payload_text = F.col("payload_text")
    # Only valid UTF-8 is parsed (see rejection_reason); null for the rest.
    text = F.when(F.is_valid_utf8(payload_text), payload_text)
    parsed = frame.select(
        "*", F.col(payload_column).cast(T.StringType()).alias("payload_text")
    ).select(
        "*",
        undecoded_only(F.from_json(text, _parse_schema(), {"mode": "PERMISSIVE"})).alias(_PARSED),
        undecoded_only(F.from_json(text, _raw_schema(), {"mode": "PERMISSIVE"})).alias(RAW_COLUMN),
        # json_object_keys is null for anything but a JSON object (size(null) is not).
        undecoded_only(
            F.when(F.json_object_keys(text).isNotNull(), F.size(F.json_object_keys(text)))
        ).alias(KEY_COUNT_COLUMN),
    )
    event = _typed_event(F.col(_PARSED))
    if decoded is not None:
        event = F.when(decoded.isNotNull(), decoded).otherwise(event)
    parsed = parsed.withColumn(EVENT_COLUMN, event).drop(_PARSED)
    unpack_error = F.col(unpack_error_column) if unpack_error_column else None
    reason = undecoded_only(rejection_reason(F.col("payload_text"), unpack_error))
    return parsed.withColumn(REASON_COLUMN, reason)
