"""Schema evolution at run time: a table created from an older schema takes a new nullable field
before the first load; a change the evolution rule forbids is refused before any load job."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from emulators.bigquery import BigQueryEmulator
from emulators.gcs import FakeGcsServer
from schemas import warehouse
from schemas.derive import arrow_schema
from schemas.fields import FieldSpec
from streaming.bigquery_loader import BigQueryTable, SchemaEvolutionError
from streaming.lake_writer import LakeWriter
from streaming.partition_stream import write_parts
from tests.fixtures.warehouse_rows import event_version

NEW_FIELD = FieldSpec("gift_message", "string", True, description="A new optional field.")


def _table(
    emulator: BigQueryEmulator, dataset: str, fields: list[FieldSpec], name: str = "events"
) -> BigQueryTable:
    return BigQueryTable(
        emulator.client(), dataset, name, fields, partition_field=warehouse.PARTITION_FIELD
    )


def test_a_new_optional_field_is_added_to_a_table_created_from_the_old_schema(
    bigquery_emulator: BigQueryEmulator,
    bigquery_dataset: str,
    gcs_server: FakeGcsServer,
    gcs_bucket: str,
) -> None:
    old_fields = warehouse.order_events_table_fields()
    _table(bigquery_emulator, bigquery_dataset, old_fields).ensure_exists()
    new_fields = [*old_fields, NEW_FIELD]
    table = _table(bigquery_emulator, bigquery_dataset, new_fields)
    table.ensure_exists()  # the job's start: the table exists, its schema is evolved
    schema = table.client.get_table(table.table_id).schema
    assert [field.name for field in schema] == [spec.name for spec in new_fields]
    assert (schema[-1].field_type, schema[-1].mode) == ("STRING", "NULLABLE")
    assert table.ensure_schema() == []  # nothing left to add

    # The job that evolved the table writes files with the new field; they load.
    lake = LakeWriter(gcs_server.storage_client(), gcs_bucket, "events", "purchase_date")
    rows = [{**event_version(1, 1), "gift_message": "happy birthday"}, event_version(2, 2)]
    batch = pa.Table.from_pylist(rows, schema=arrow_schema(new_fields))
    written = write_parts(lake, batch, "q", 0, task=0)
    outcome = table.load_batch(lake.load_uris(written, "q", 0), f"olist_{bigquery_dataset}", 0)
    assert outcome.already_done is False
    sql = f"SELECT gift_message FROM `{table.table_id}` ORDER BY source_sequence"
    loaded = [row.gift_message for row in table.client.query(sql).result()]
    assert loaded == ["happy birthday", None]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("required", "gift_message: new REQUIRED field"),
        ("retyped", "price: NUMERIC REQUIRED in the table, STRING REQUIRED in the schema"),
        ("removed", "freight_share: in the table, not in the schema"),
    ],
)
def test_a_change_the_evolution_rule_forbids_is_refused_with_the_fields(
    bigquery_emulator: BigQueryEmulator, bigquery_dataset: str, change: str, message: str
) -> None:
    old_fields = warehouse.order_events_table_fields()
    _table(bigquery_emulator, bigquery_dataset, old_fields).ensure_exists()
    if change == "required":
        fields = [*old_fields, dataclasses.replace(NEW_FIELD, nullable=False)]
    elif change == "retyped":
        fields = [
            dataclasses.replace(spec, type="string", precision=None, scale=None)
            if spec.name == "price"
            else spec
            for spec in old_fields
        ]
    else:
        fields = [spec for spec in old_fields if spec.name != "freight_share"]
    with pytest.raises(SchemaEvolutionError, match=message):
        _table(bigquery_emulator, bigquery_dataset, fields).ensure_exists()
    table = bigquery_emulator.client().get_table(f"{bigquery_dataset}.events")
    assert [field.name for field in table.schema] == [spec.name for spec in old_fields]
