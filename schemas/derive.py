"""Derive every physical schema of the event from its field specs (:mod:`schemas.fields`).

Each target (JSON Schema, Arrow, Spark, BigQuery) is a small mapping from the list of
:class:`~schemas.fields.FieldSpec`; ``python -m schemas.derive`` writes the forms kept in the
repository (``--check`` verifies them). Libraries are imported inside the function that needs
them, so importing :mod:`schemas` stays cheap for processes that use only one target.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas import warehouse
from schemas.fields import FieldSpec, field_specs
from schemas.order_event import SCHEMA_VERSION, OrderEvent

if TYPE_CHECKING:
    import pyarrow
    from google.cloud import bigquery
    from pyspark.sql import types as spark_types

BIGQUERY_SCHEMA_DIR = Path(__file__).parent / "bigquery"
JSON_SCHEMA_DIR = Path(__file__).parent / "jsonschema"


# --- JSON Schema (the payload of a Pub/Sub message) --------------------------------------


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one event as it travels in JSON."""
    schema = OrderEvent.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://olist-pipeline.invalid/schemas/order_event/v{SCHEMA_VERSION}.json"
    # Serialization mode drops numeric bounds; restore them for the money fields.
    for spec in field_specs():
        if spec.type == "decimal":
            prop = schema["properties"][spec.name]
            precision, scale = spec.decimal_digits()
            largest = float("9" * (precision - scale) + "." + "9" * scale)
            number = {"type": "number", "minimum": 0, "maximum": largest}
            prop.pop("type", None)
            if spec.nullable:
                prop["anyOf"] = [number, {"type": "null"}]
            else:
                prop.update(number)
    return schema


# --- Apache Arrow -------------------------------------------------------------------------


def arrow_schema(specs: Sequence[FieldSpec] | None = None) -> pyarrow.Schema:
    """Arrow schema of an event row (or of ``specs``: Parquet files, Spark Arrow batches)."""
    import pyarrow as pa

    scalars: dict[str, pa.DataType] = {
        "string": pa.string(),
        "bytes": pa.binary(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }

    def arrow_type(spec: FieldSpec) -> pa.DataType:
        scalar = scalars.get(spec.type) or pa.decimal128(*spec.decimal_digits())
        return pa.list_(pa.field("element", scalar, nullable=False)) if spec.repeated else scalar

    return pa.schema(
        [
            pa.field(
                spec.name,
                arrow_type(spec),
                nullable=spec.nullable,
                metadata={"description": spec.description},
            )
            for spec in (field_specs() if specs is None else specs)
        ],
        metadata={"schema_version": str(SCHEMA_VERSION)},
    )


# --- Spark --------------------------------------------------------------------------------


def spark_schema(specs: Sequence[FieldSpec] | None = None) -> spark_types.StructType:
    """Spark ``StructType`` of an event row (or of ``specs``)."""
    from pyspark.sql import types as T

    scalars = {
        "string": T.StringType(),
        "bytes": T.BinaryType(),
        "int64": T.LongType(),
        "float64": T.DoubleType(),
        "bool": T.BooleanType(),
        "date": T.DateType(),
        "timestamp": T.TimestampType(),
    }

    def spark_type(spec: FieldSpec) -> T.DataType:
        scalar = scalars.get(spec.type) or T.DecimalType(*spec.decimal_digits())
        return T.ArrayType(scalar, containsNull=False) if spec.repeated else scalar

    return T.StructType(
        [
            T.StructField(
                spec.name,
                spark_type(spec),
                nullable=spec.nullable,
                metadata={"comment": spec.description},
            )
            for spec in (field_specs() if specs is None else specs)
        ]
    )


# --- BigQuery -----------------------------------------------------------------------------

_BIGQUERY_TYPES = {
    "string": "STRING",
    "bytes": "BYTES",
    "int64": "INTEGER",
    "float64": "FLOAT",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "decimal": "NUMERIC",
}


def bigquery_schema_json(specs: Sequence[FieldSpec] | None = None) -> list[dict[str, Any]]:
    """BigQuery schema in the JSON form ``bq mk --schema`` reads (the event, or ``specs``)."""
    fields = []
    for spec in field_specs() if specs is None else specs:
        field: dict[str, Any] = {
            "name": spec.name,
            "type": _BIGQUERY_TYPES[spec.type],
            "mode": "REPEATED" if spec.repeated else ("NULLABLE" if spec.nullable else "REQUIRED"),
            "description": spec.description,
        }
        if spec.type == "decimal":
            field["precision"] = str(spec.precision)
            field["scale"] = str(spec.scale)
        fields.append(field)
    return fields


def bigquery_schema(specs: Sequence[FieldSpec] | None = None) -> list[bigquery.SchemaField]:
    """BigQuery ``SchemaField`` list for the client library."""
    from google.cloud import bigquery

    return [bigquery.SchemaField.from_api_repr(field) for field in bigquery_schema_json(specs)]


# --- checked-in generated files -----------------------------------------------------------


def generated_files() -> dict[Path, str]:
    """The generated files kept in the repository, with the content they must have."""

    def dump(value: Any) -> str:
        return json.dumps(value, indent=2, ensure_ascii=False) + "\n"

    return {
        BIGQUERY_SCHEMA_DIR / "order_events.json": dump(
            bigquery_schema_json(warehouse.order_events_table_fields())
        ),
        BIGQUERY_SCHEMA_DIR / "order_events_rejected.json": dump(
            bigquery_schema_json(warehouse.REJECTED_FIELDS)
        ),
        JSON_SCHEMA_DIR / f"order_event.v{SCHEMA_VERSION}.json": dump(json_schema()),
    }


def write_generated_files() -> list[Path]:
    """Rewrite the generated files; returns the ones whose content changed."""
    changed = []
    for path, content in generated_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != content:
            path.write_text(content)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    """``python -m schemas.derive [--check]``: rewrite (or, with --check, verify) the files."""
    import sys

    arguments = sys.argv[1:] if argv is None else argv
    if "--check" in arguments:
        stale = [
            str(p)
            for p, text in generated_files().items()
            if not p.exists() or p.read_text() != text
        ]
        if stale:
            print(
                "stale generated schema files (run python -m schemas.derive):",
                *stale,
                file=sys.stderr,
            )
            return 1
        return 0
    for changed_path in write_generated_files():
        print(f"wrote {changed_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
