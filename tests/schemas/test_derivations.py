"""The derived schemas (JSON Schema, Arrow, Spark, BigQuery) agree with OrderEvent."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import jsonschema
import pyarrow as pa
import pytest
from pydantic import ValidationError
from pyspark.sql import types as T

from schemas import derive, fields
from schemas.examples import EXAMPLE_EVENT as SAMPLE
from schemas.fast_validation import FastEventValidator
from schemas.order_event import (
    EVENT_FIELDS,
    SCHEMA_VERSION,
    OrderEvent,
    event_id_for,
    item_key_for,
)

NULLABLE = {
    "order_approved_at", "order_delivered_carrier_date", "order_delivered_customer_date",
    "product_category_name", "product_category_name_english", "product_weight_g",
    "product_length_cm", "product_height_cm", "product_width_cm", "payment_total",
    "payment_installments_max", "review_score", "review_creation_date",
    "review_answer_timestamp", "item_key", "item_version", "change_type", "changed_at",
}  # fmt: skip
V2_FIELDS = ("item_key", "item_version", "change_type", "changed_at")
DECIMALS = {"price", "freight_value", "payment_total"}
TIMESTAMPS = {name for name in EVENT_FIELDS if name.endswith(("_timestamp", "_at", "_date"))}
INTEGERS = {
    "schema_version", "source_sequence", "order_item_id", "product_weight_g",
    "product_length_cm", "product_height_cm", "product_width_cm",
    "payment_installments_max", "review_score", "item_version",
}  # fmt: skip


def test_sample_event_validates_and_round_trips_through_json() -> None:
    event = OrderEvent.model_validate(SAMPLE)
    assert event.price == Decimal("29.99")
    assert event.order_purchase_timestamp == datetime(2017, 10, 2, 10, 56, 33, tzinfo=UTC)
    assert OrderEvent.model_validate_json(event.model_dump_json()) == event


def test_every_derived_form_has_the_same_fields_in_the_same_order() -> None:
    assert [spec.name for spec in fields.field_specs()] == list(EVENT_FIELDS)
    assert derive.arrow_schema().names == list(EVENT_FIELDS)
    assert derive.spark_schema().fieldNames() == list(EVENT_FIELDS)
    assert [f["name"] for f in derive.bigquery_schema_json()] == list(EVENT_FIELDS)
    assert list(derive.json_schema()["properties"]) == list(EVENT_FIELDS)


def test_nullability_agrees_in_every_derived_form() -> None:
    arrow = derive.arrow_schema()
    spark = derive.spark_schema()
    bigquery = {f["name"]: f["mode"] for f in derive.bigquery_schema_json()}
    required_json = set(derive.json_schema()["required"])
    for name in EVENT_FIELDS:
        nullable = name in NULLABLE
        assert arrow.field(name).nullable is nullable, name
        assert spark[name].nullable is nullable, name
        expected_mode = (
            "REPEATED" if name == "payment_types" else ("NULLABLE" if nullable else "REQUIRED")
        )
        assert bigquery[name] == expected_mode, name
        # pydantic lists every field without a default as required; nullable ones accept null.
        # Fields added by a later schema version have a default (absent from older events).
        assert (name in required_json) is (name not in V2_FIELDS), name


def test_types_agree_in_every_derived_form() -> None:
    arrow = derive.arrow_schema()
    spark = derive.spark_schema()
    bigquery = {f["name"]: f for f in derive.bigquery_schema_json()}
    for name in EVENT_FIELDS:
        if name in DECIMALS:
            assert arrow.field(name).type == pa.decimal128(12, 2)
            assert spark[name].dataType == T.DecimalType(12, 2)
            assert (
                bigquery[name]["type"],
                bigquery[name]["precision"],
                bigquery[name]["scale"],
            ) == ("NUMERIC", "12", "2")
        elif name in TIMESTAMPS:
            assert arrow.field(name).type == pa.timestamp("us", tz="UTC")
            assert spark[name].dataType == T.TimestampType()
            assert bigquery[name]["type"] == "TIMESTAMP"
        elif name in INTEGERS:
            assert arrow.field(name).type == pa.int64()
            assert spark[name].dataType == T.LongType()
            assert bigquery[name]["type"] == "INTEGER"
        elif name == "payment_types":
            assert arrow.field(name).type == pa.list_(
                pa.field("element", pa.string(), nullable=False)
            )
            assert spark[name].dataType == T.ArrayType(T.StringType(), containsNull=False)
            assert bigquery[name]["type"] == "STRING"
        else:
            assert arrow.field(name).type == pa.string(), name
            assert spark[name].dataType == T.StringType(), name
            assert bigquery[name]["type"] == "STRING", name


def test_bigquery_client_schema_matches_the_json_file() -> None:
    fields = derive.bigquery_schema()
    assert [field.to_api_repr()["name"] for field in fields] == list(EVENT_FIELDS)
    assert fields[EVENT_FIELDS.index("price")].precision == 12


def test_json_schema_accepts_the_sample_and_rejects_bad_events() -> None:
    schema = derive.json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(SAMPLE)
    for field, bad in [
        ("price", -1.0),
        ("price", "29.99x"),
        ("customer_state", "XX"),
        ("order_status", "lost"),
        ("schema_version", 3),
        ("review_score", 6),
        ("change_type", "merged"),
        ("item_version", 0),
        ("item_key", "not-a-uuid"),
        ("customer_zip_code_prefix", 3149),
    ]:
        with pytest.raises(jsonschema.ValidationError):
            validator.validate({**SAMPLE, field: bad})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({k: v for k, v in SAMPLE.items() if k != "order_id"})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**SAMPLE, "unexpected": 1})


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("price", -0.01),
        ("customer_state", "XX"),
        ("schema_version", 3),
        ("order_id", "abc"),
        ("change_type", "merged"),
        ("item_version", 0),
    ],
)
def test_model_rejects_out_of_range_values(field: str, bad: object) -> None:
    with pytest.raises(ValidationError) as error:
        OrderEvent.model_validate({**SAMPLE, field: bad})
    assert field in str(error.value)


def test_arrow_table_from_validated_events_has_the_derived_schema() -> None:
    event = OrderEvent.model_validate(SAMPLE)
    table = pa.Table.from_pylist([event.model_dump()], schema=derive.arrow_schema())
    assert table.num_rows == 1
    assert table.column("price")[0].as_py() == Decimal("29.99")


def test_spark_reads_a_json_event_with_the_derived_schema(spark: Any) -> None:
    frame = spark.read.schema(derive.spark_schema()).json(
        spark.sparkContext.parallelize([json.dumps(SAMPLE)])
    )
    row = frame.collect()[0]
    assert row.price == Decimal("29.99")
    assert row.payment_types == ["credit_card", "voucher"]
    assert row.customer_zip_code_prefix == "03149"


def test_event_id_is_stable_per_version_and_distinct_per_item_and_version() -> None:
    order = "e481f51cbdc54678b7cc49136f2d6af7"
    first = event_id_for(order, 1, 1)
    assert first == event_id_for(order, 1, 1)
    assert len({first, event_id_for(order, 2, 1), event_id_for(order, 1, 2)}) == 3
    assert OrderEvent.model_fields["event_id"].metadata  # pattern constraint present


def test_item_key_is_the_same_for_every_version_and_the_schema_v1_event_id() -> None:
    order = "e481f51cbdc54678b7cc49136f2d6af7"
    assert item_key_for(order, 1) == event_id_for(order, 1)  # the id schema v1 gave the item
    assert item_key_for(order, 1) != item_key_for(order, 2)
    assert item_key_for(order, 1) not in {event_id_for(order, 1, v) for v in (1, 2, 3)}


def test_schema_version_attribute_matches_the_model() -> None:
    accepted = typing.get_args(OrderEvent.model_fields["schema_version"].annotation)
    assert accepted == (1, SCHEMA_VERSION) == (1, 2)


def test_a_schema_v1_event_without_the_v2_fields_stays_valid() -> None:
    v1 = {key: value for key, value in SAMPLE.items() if key not in V2_FIELDS}
    v1 |= {"schema_version": 1, "event_id": event_id_for(SAMPLE["order_id"], 1)}
    event = OrderEvent.model_validate(v1)
    assert (event.item_key, event.item_version, event.change_type, event.changed_at) == (
        (None,) * 4
    )
    jsonschema.Draft202012Validator(derive.json_schema()).validate(v1)
    assert FastEventValidator().validate([json.dumps(v1).encode()])[0] is not None


def test_the_v2_fields_are_nullable_and_last() -> None:
    assert EVENT_FIELDS[-len(V2_FIELDS) :] == V2_FIELDS
    for spec in fields.field_specs()[-len(V2_FIELDS) :]:
        assert spec.nullable


def test_checked_in_generated_files_are_not_stale() -> None:
    for path, content in derive.generated_files().items():
        assert path.exists(), f"{path} is missing: run python -m schemas.derive"
        assert path.read_text() == content, f"{path} is stale: run python -m schemas.derive"


def test_warehouse_table_is_the_event_then_derived_then_lineage_columns() -> None:
    from schemas import warehouse

    table = json.loads((derive.BIGQUERY_SCHEMA_DIR / "order_events.json").read_text())
    names = [field["name"] for field in table]
    derived = [spec.name for spec in warehouse.DERIVED_FIELDS]
    lineage = [spec.name for spec in warehouse.LINEAGE_FIELDS]
    assert names == [*EVENT_FIELDS, *derived, *lineage]
    assert table[: len(EVENT_FIELDS)] == derive.bigquery_schema_json()
    assert warehouse.PARTITION_FIELD in derived
    assert set(warehouse.CLUSTERING_FIELDS) <= set(EVENT_FIELDS)
    arrow = derive.arrow_schema(warehouse.order_events_table_fields())
    assert arrow.field("purchase_date").type == pa.date32()
    assert arrow.field("delivered_late").type == pa.bool_()
    spark = derive.spark_schema(warehouse.order_events_table_fields())
    assert spark["delivery_time_hours"].dataType == T.DoubleType()


def test_field_specs_carry_the_model_constraints() -> None:
    specs = {spec.name: spec for spec in fields.field_specs()}
    assert specs["review_score"].minimum == 1 and specs["review_score"].maximum == 5
    assert specs["payment_total"].minimum == 0  # a constraint inside an Optional alias
    assert specs["order_id"].pattern == "^[0-9a-f]{32}$"
    assert specs["customer_city"].min_length == 1
    assert specs["schema_version"].allowed_values == (1, SCHEMA_VERSION)
    assert specs["change_type"].allowed_values == ("created", "updated", "deleted")
    assert "SP" in (specs["customer_state"].allowed_values or ())
    assert "boleto" in (specs["payment_types"].allowed_values or ())
