"""Parse Pub/Sub payloads into events and say, per row, every rule the payload breaks.

The rules are not written here: they come from :func:`schemas.derive.field_specs` (types,
nullability, allowed values, patterns, bounds), so the Spark job enforces what the pydantic
model enforces. Everything runs as Spark SQL expressions (no Python UDF on the hot path).

Each payload is parsed twice: into the typed event struct, and into a ``map<string,string>``
of its raw top-level values. A field present in the raw map but null in the typed struct did
not convert to its type. Known leniency of Spark's JSON reader (documented, and caught by the
other rules): a numeric string is accepted for a decimal field, as pydantic's lax mode does. String
fields are read as VARIANT first so that a JSON number is refused where a string is expected.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from schemas.derive import FieldSpec, field_specs, spark_schema

EVENT_COLUMN = "event"
RAW_COLUMN = "raw_fields"
REASON_COLUMN = "rejection_reason"
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


def _field_rules(spec: FieldSpec) -> list[Column]:
    """One column per rule of ``spec``: a message when the rule is broken, else null."""
    typed = F.col(EVENT_COLUMN)[spec.name]
    raw = F.col(RAW_COLUMN)[spec.name]
    name = spec.name
    expected = _TYPE_NAMES[spec.type]
    if spec.repeated:
        expected = f"an array of {expected.removeprefix('a ').removeprefix('an ')}s"
    rules = [
        F.when(~F.map_contains_key(F.col(RAW_COLUMN), F.lit(name)), F.lit(f"{name}: missing")),
        F.when(
            F.map_contains_key(F.col(RAW_COLUMN), F.lit(name)) & raw.isNull(),
            F.lit(f"{name}: null is not allowed") if not spec.nullable else F.lit(None),
        ),
        F.when(
            raw.isNotNull() & typed.isNull(),
            F.concat(F.lit(f"{name}: expected {expected}, got "), _quoted(raw)),
        ),
    ]
    if spec.type == "decimal":
        exact = raw.cast(T.DecimalType(38, 18))
        rules.append(
            F.when(
                typed.isNotNull() & exact.isNotNull() & (typed != exact),
                F.concat(F.lit(f"{name}: more than {spec.scale} decimal places: "), _quoted(raw)),
            )
        )
    if spec.allowed_values is not None:
        allowed = [F.lit(value) for value in spec.allowed_values]
        listed = ", ".join(str(value) for value in spec.allowed_values)
        if spec.repeated:
            broken = ~F.forall(typed, lambda item: item.isin(*allowed))
            message = F.concat(
                F.lit(f"{name}: every item must be one of [{listed}], got "), _quoted(raw)
            )
        else:
            broken = ~typed.isin(*allowed)
            message = F.concat(F.lit(f"{name}: must be one of [{listed}], got "), _quoted(raw))
        rules.append(F.when(broken, message))
    if spec.pattern is not None:
        rules.append(
            F.when(
                ~typed.rlike(spec.pattern),
                F.concat(F.lit(f"{name}: does not match {spec.pattern}: "), _quoted(raw)),
            )
        )
    if spec.min_length is not None:
        rules.append(
            F.when(
                F.length(typed) < spec.min_length,
                F.lit(f"{name}: shorter than {spec.min_length} character(s)"),
            )
        )
    if spec.minimum is not None:
        rules.append(
            F.when(
                typed < F.lit(spec.minimum),
                F.concat(F.lit(f"{name}: must be >= {spec.minimum}, got "), _quoted(raw)),
            )
        )
    if spec.maximum is not None:
        rules.append(
            F.when(
                typed > F.lit(spec.maximum),
                F.concat(F.lit(f"{name}: must be <= {spec.maximum}, got "), _quoted(raw)),
            )
        )
    return rules


def rejection_reason(payload_text: Column, unpack_error: Column | None = None) -> Column:
    """Every broken rule of the row, ``"; "``-separated, or null when the event is valid.

    Expects the columns :data:`EVENT_COLUMN` and :data:`RAW_COLUMN` (see :func:`parse_events`).
    """
    known = [F.lit(spec.name) for spec in field_specs()]
    unknown = F.array_except(F.map_keys(F.col(RAW_COLUMN)), F.array(*known))
    row_rules = [
        F.when(payload_text.isNull(), F.lit("payload is empty")),
        F.when(
            payload_text.isNotNull() & F.col(RAW_COLUMN).isNull(),
            F.concat(F.lit("payload is not a JSON object: "), _quoted(payload_text)),
        ),
        F.when(
            F.size(unknown) > 0,
            F.concat(F.lit("unknown fields: "), F.array_join(F.array_sort(unknown), ", ")),
        ),
    ]
    if unpack_error is not None:
        row_rules.insert(
            0, F.when(unpack_error.isNotNull(), F.concat(F.lit("envelope: "), unpack_error))
        )
    field_rules = [rule for spec in field_specs() for rule in _field_rules(spec)]
    # A payload that is not a JSON object breaks every field rule too; report it once.
    joined_fields = F.when(
        F.col(RAW_COLUMN).isNotNull(), F.nullif(F.concat_ws("; ", *field_rules), F.lit(""))
    )
    reason = F.concat_ws("; ", *row_rules, joined_fields)
    return F.when(reason != "", reason)


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
    """
    text = F.col(payload_column).cast(T.StringType())
    parsed = frame.withColumn("payload_text", text).withColumns(
        {
            EVENT_COLUMN: _typed_event(
                F.from_json(F.col("payload_text"), _parse_schema(), {"mode": "PERMISSIVE"})
            ),
            RAW_COLUMN: F.from_json(
                F.col("payload_text"), T.MapType(T.StringType(), T.StringType())
            ),
        }
    )
    unpack_error = F.col(unpack_error_column) if unpack_error_column else None
    return parsed.withColumn(REASON_COLUMN, rejection_reason(F.col("payload_text"), unpack_error))
