"""The Spark validation enforces the rules of schemas.OrderEvent, with a reason per broken rule."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError
from pyspark.sql import functions as F

from connectors.pubsub.decoding import DECODED_COLUMN
from schemas.examples import EXAMPLE_EVENT as SAMPLE
from schemas.fields import field_specs
from schemas.order_event import OrderEvent
from streaming.analytics import derived_columns
from streaming.event_decoder import OrderEventDecoder
from streaming.validation import EVENT_COLUMN, REASON_COLUMN, parse_events

FREE_TEXT = {
    spec.name
    for spec in field_specs()
    if spec.type == "string" and not (spec.pattern or spec.allowed_values)
}


def _reasons(spark: Any, payloads: list[bytes | None]) -> list[str | None]:
    frame = spark.createDataFrame(
        [(index, payload) for index, payload in enumerate(payloads)], "i int, payload binary"
    )
    rows = parse_events(frame, unpack_error_column=None).orderBy("i").select(REASON_COLUMN)
    return [row[0] for row in rows.collect()]


def _mutations() -> list[tuple[str, dict[str, Any]]]:
    """Events that each break (or keep) the rules of one field in a way both sides agree on."""
    cases: list[tuple[str, dict[str, Any]]] = [("valid sample", dict(SAMPLE))]
    for spec in field_specs():
        name = spec.name
        without = {k: v for k, v in SAMPLE.items() if k != name}
        cases.append((f"{name} missing", without))
        cases.append((f"{name} null", {**SAMPLE, name: None}))
        if spec.type in ("int64", "decimal", "timestamp"):
            cases.append((f"{name} not a value", {**SAMPLE, name: "not-a-value"}))
        if spec.repeated:
            cases.append((f"{name} scalar", {**SAMPLE, name: "credit_card"}))
            cases.append((f"{name} unknown item", {**SAMPLE, name: ["cash"]}))
            cases.append((f"{name} empty", {**SAMPLE, name: []}))
        elif spec.type == "string" and name not in FREE_TEXT:
            cases.append((f"{name} number", {**SAMPLE, name: 12345}))
            cases.append((f"{name} wrong text", {**SAMPLE, name: "ZZ-not-valid"}))
        if name in FREE_TEXT and not spec.nullable:
            cases.append((f"{name} empty string", {**SAMPLE, name: ""}))
        if spec.minimum is not None:
            cases.append((f"{name} below minimum", {**SAMPLE, name: spec.minimum - 1}))
        if spec.maximum is not None:
            cases.append((f"{name} above maximum", {**SAMPLE, name: spec.maximum + 1}))
    cases.append(("unknown field", {**SAMPLE, "coupon": "X"}))
    cases.append(("three decimals", {**SAMPLE, "price": 10.125}))
    cases.append(("too many digits", {**SAMPLE, "price": 12345678901.5}))
    return cases


def test_spark_validation_agrees_with_the_pydantic_model(spark: Any) -> None:
    cases = _mutations()
    reasons = _reasons(spark, [json.dumps(event).encode() for _, event in cases])
    disagreements = []
    for (label, event), reason in zip(cases, reasons, strict=True):
        try:
            OrderEvent.model_validate_json(json.dumps(event))
            model_valid = True
        except ValidationError:
            model_valid = False
        if model_valid != (reason is None):
            disagreements.append((label, model_valid, reason))
    assert disagreements == []
    assert sum(reason is None for reason in reasons) > 10  # valid variants exist too
    assert len(cases) > 120


def test_every_broken_rule_is_named_in_the_reason(spark: Any) -> None:
    bad = {**SAMPLE, "price": -1, "customer_state": "XX", "schema_version": 3, "extra": 1}
    del bad["order_id"]
    (reason,) = _reasons(spark, [json.dumps(bad).encode()])
    assert reason is not None
    parts = reason.split("; ")
    assert "unknown fields: extra" in parts
    assert "order_id: missing" in parts
    assert "schema_version: must be one of [1, 2], got '3'" in parts
    assert "price: must be >= 0, got '-1'" in parts
    assert any(part.startswith("customer_state: must be one of [AC, AL") for part in parts)
    assert len(parts) == 5


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"not json", "payload is not a JSON object: 'not json'"),
        (b"[1, 2]", "payload is not a JSON object: '[1, 2]'"),
        (b"", "payload is not a JSON object: ''"),
        (None, "payload is empty"),
        (
            json.dumps({**SAMPLE, "review_score": "five"}).encode(),
            "review_score: expected an integer, got 'five'",
        ),
        (
            json.dumps({**SAMPLE, "order_purchase_timestamp": "yesterday"}).encode(),
            "order_purchase_timestamp: expected an ISO 8601 timestamp, got 'yesterday'",
        ),
        (
            json.dumps({**SAMPLE, "price": 10.125}).encode(),
            "price: more than 2 decimal places: '10.125'",
        ),
    ],
)
def test_unparseable_and_mistyped_payloads_get_a_precise_reason(
    spark: Any, payload: bytes | None, expected: str
) -> None:
    assert _reasons(spark, [payload]) == [expected]


def test_unpack_errors_from_the_source_are_reasons(spark: Any) -> None:
    frame = spark.createDataFrame(
        [(json.dumps(SAMPLE).encode(), "message declares event_count=3 but carries 1 events")],
        "payload binary, unpack_error string",
    )
    (row,) = parse_events(frame).select(REASON_COLUMN).collect()
    assert row[0] == "envelope: message declares event_count=3 but carries 1 events"


def test_valid_event_is_parsed_with_exact_types(spark: Any) -> None:
    frame = spark.createDataFrame([(json.dumps(SAMPLE).encode(),)], "payload binary")
    (event,) = parse_events(frame, unpack_error_column=None).select(f"{EVENT_COLUMN}.*").collect()
    assert event.price == Decimal("29.99")
    assert event.payment_total == Decimal("38.71")
    assert event.order_purchase_timestamp == datetime(2017, 10, 2, 10, 56, 33)  # UTC session
    assert event.payment_types == ["credit_card", "voucher"]
    assert event.customer_zip_code_prefix == "03149"


def test_analytics_columns(spark: Any) -> None:
    # Dates are São Paulo's: midnight of 2017-10-18 there (daylight saving time, UTC-2) is
    # 02:00 UTC; 08:00 there on the 19th is 10:00 UTC.
    late = {
        **SAMPLE,
        "order_delivered_customer_date": "2017-10-19T10:00:00+00:00",
        "order_estimated_delivery_date": "2017-10-18T02:00:00+00:00",
    }
    # 23:00 in São Paulo on the promised day, already the next day in UTC: on time.
    same_day = {**late, "order_delivered_customer_date": "2017-10-19T01:00:00+00:00"}
    undelivered = {**SAMPLE, "order_delivered_customer_date": None, "price": 0}
    # Bought at 23:30 in São Paulo on 2018-03-09 (UTC-3), 02:30 UTC on the 10th.
    late_evening = {**SAMPLE, "order_purchase_timestamp": "2018-03-10T02:30:00+00:00"}
    frame = spark.createDataFrame(
        [
            (i, json.dumps(event).encode())
            for i, event in enumerate([SAMPLE, late, same_day, undelivered, late_evening])
        ],
        "i int, payload binary",
    )
    events = parse_events(frame, unpack_error_column=None).orderBy("i").select(f"{EVENT_COLUMN}.*")
    rows = events.withColumns(derived_columns()).collect()
    on_time, late_row, same_day_row, undelivered_row, late_evening_row = rows
    assert on_time.purchase_date == date(2017, 10, 2)
    assert late_evening_row.purchase_date == date(2018, 3, 9)
    # 2017-10-02 10:56:33 -> 2017-10-10 21:25:13
    assert on_time.delivery_time_hours == pytest.approx(202 + 28 / 60 + 40 / 3600)
    assert on_time.delivery_time_days == pytest.approx(on_time.delivery_time_hours / 24)
    assert on_time.delivery_delay_days == pytest.approx(-(7 + (2 * 3600 + 34 * 60 + 47) / 86400))
    assert on_time.delivered_late is False
    assert on_time.freight_share == pytest.approx(8.72 / 29.99)
    assert late_row.delivered_late is True
    assert late_row.delivery_delay_days == pytest.approx(1 + 8 / 24)
    assert same_day_row.delivered_late is False  # delivered on the promised day
    assert undelivered_row.delivery_time_hours is None
    assert undelivered_row.delivered_late is None
    assert undelivered_row.freight_share is None  # price 0


def test_valid_rows_pass_the_filter_the_job_uses(spark: Any) -> None:
    payloads = [json.dumps(SAMPLE).encode(), b"{}", json.dumps({**SAMPLE, "price": -5}).encode()]
    frame = spark.createDataFrame([(p,) for p in payloads], "payload binary")
    parsed = parse_events(frame, unpack_error_column=None)
    assert parsed.where(F.col(REASON_COLUMN).isNull()).count() == 1
    assert parsed.where(F.col(REASON_COLUMN).isNotNull()).count() == 2
    assert datetime.now(UTC).year >= 2026


def _decoded_frame(spark: Any, payloads: list[bytes]) -> Any:
    """Rows as the source delivers them with the job's decoder (payload null where decoded)."""
    decoded = OrderEventDecoder().decode(payloads)
    kept = [None if decoded[i].is_valid else payload for i, payload in enumerate(payloads)]
    table = pa.table(
        {
            "i": pa.array(range(len(payloads)), pa.int32()),
            "payload": pa.array(kept, pa.binary()),
            DECODED_COLUMN: decoded,
        }
    )
    return spark.createDataFrame(table)


def test_event_decoder_decodes_only_events_the_model_accepts() -> None:
    cases = _mutations()
    decoded = OrderEventDecoder().decode([json.dumps(event).encode() for _, event in cases])
    accepted_invalid = []
    for (label, event), entry in zip(cases, decoded, strict=True):
        if not entry.is_valid:
            continue
        try:
            OrderEvent.model_validate_json(json.dumps(event))
        except ValidationError:
            accepted_invalid.append(label)
    assert accepted_invalid == []
    assert decoded[0].is_valid  # the sample
    assert sum(entry.is_valid for entry in decoded) > 10


def test_decoded_rows_give_the_same_events_and_reasons_as_parsing_in_spark(spark: Any) -> None:
    payloads = [json.dumps(event).encode() for _, event in _mutations()]
    payloads.append(
        json.dumps({**SAMPLE, "order_purchase_timestamp": "2017-10-02T13:56:33+03:00"}).encode()
    )
    parsed_in_spark = spark.createDataFrame(
        [(index, payload) for index, payload in enumerate(payloads)], "i int, payload binary"
    )
    columns = [REASON_COLUMN, *[f"{EVENT_COLUMN}.{name}" for name in OrderEvent.model_fields]]

    def rows(frame: Any) -> list[Any]:
        parsed = parse_events(frame, unpack_error_column=None).orderBy("i")
        return [tuple(row) for row in parsed.select(*columns).collect()]

    expected = rows(parsed_in_spark)
    assert rows(_decoded_frame(spark, payloads)) == expected
    assert expected[-1][1 + list(OrderEvent.model_fields).index("order_purchase_timestamp")] == (
        datetime(2017, 10, 2, 10, 56, 33)
    )


def test_the_rules_are_the_same_expression_every_time_a_query_is_defined(spark: Any) -> None:
    # Spark's generated code is cached by its text: a name that changed between two
    # definitions (PySpark names a Python lambda's variable afresh at every call) made the
    # job's query compile the validation stage again after the warm-up had compiled it.
    from streaming.validation import rejection_reason

    first, second = (str(rejection_reason(F.col("payload_text"))) for _ in range(2))
    assert first == second
    assert "forall(event.payment_types, item -> item IN ('credit_card'," in first.replace("`", "")
