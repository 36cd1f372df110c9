"""The streaming job's sinks against fake-gcs-server and the BigQuery emulator."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emulators.bigquery import BigQueryEmulator
from emulators.gcs import FakeGcsServer
from schemas import warehouse
from schemas.derive import arrow_schema
from schemas.examples import EXAMPLE_EVENT as SAMPLE
from schemas.order_event import OrderEvent, event_id_for
from streaming.bigquery_loader import BigQueryLoadError, BigQueryTable
from streaming.lake_writer import LakeWriter, WrittenObject
from streaming.partition_stream import write_parts

SCHEMA = arrow_schema(warehouse.order_events_table_fields())


def _rows(count: int, days: int = 3) -> pa.Table:
    base = OrderEvent.model_validate(SAMPLE).model_dump()
    rows = []
    for index in range(count):
        purchased = base["order_purchase_timestamp"] + dt.timedelta(days=index % days)
        order_id = f"{index:032x}"
        rows.append(
            {
                **base,
                "order_id": order_id,
                "event_id": event_id_for(order_id, 1),
                "source_sequence": index + 1,
                "order_purchase_timestamp": purchased,
                "price": Decimal("10.00") + index,
                "purchase_date": purchased.date(),
                "delivery_time_hours": 48.0,
                "delivery_time_days": 2.0,
                "delivery_delay_days": -3.5,
                "delivered_late": index % 2 == 0,
                "freight_share": 0.5,
                "pubsub_message_id": str(index),
                "pubsub_publish_time": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                "stream_batch_id": 3,
            }
        )
    return pa.Table.from_pylist(rows, schema=SCHEMA)


QUERY = "query-a"


def _write_batch(
    writer: LakeWriter, table: pa.Table, batch_id: int, query_id: str = QUERY
) -> list[WrittenObject]:
    """Write ``table`` as batch ``batch_id`` as the job does: one task's parts, then the batch."""
    written = write_parts(writer, table, query_id, batch_id, task=0)
    writer.finish_batch(written, query_id, batch_id)
    return written


def _objects(gcs_server: FakeGcsServer, bucket: str, prefix: str) -> list[str]:
    client = gcs_server.storage_client()
    return sorted(blob.name for blob in client.list_blobs(bucket, prefix=prefix))


def test_lake_writer_partitions_by_purchase_date_with_deterministic_names(
    gcs_server: FakeGcsServer, gcs_bucket: str
) -> None:
    writer = LakeWriter(gcs_server.storage_client(), gcs_bucket, "events", "purchase_date")
    written = _write_batch(writer, _rows(30), batch_id=3)
    assert [item.name for item in written] == [
        "events/purchase_date=2017-10-02/query=query-a-batch=000000000003-task-0000-part-0000.parquet",
        "events/purchase_date=2017-10-03/query=query-a-batch=000000000003-task-0000-part-0000.parquet",
        "events/purchase_date=2017-10-04/query=query-a-batch=000000000003-task-0000-part-0000.parquet",
    ]
    assert [item.rows for item in written] == [10, 10, 10]
    data = gcs_server.storage_client().bucket(gcs_bucket).blob(written[0].name).download_as_bytes()
    table = pq.read_table(io.BytesIO(data))
    assert table.schema.equals(SCHEMA, check_metadata=False)
    assert set(table.column("purchase_date").to_pylist()) == {dt.date(2017, 10, 2)}
    assert table.column("price")[0].as_py() == Decimal("10.00")


def test_replaying_a_batch_overwrites_and_removes_leftover_parts(
    gcs_server: FakeGcsServer, gcs_bucket: str
) -> None:
    client = gcs_server.storage_client()
    rows = _rows(1500, days=1)
    # A first attempt with a smaller file limit writes two parts for the one partition.
    first = LakeWriter(client, gcs_bucket, "events", "purchase_date", max_rows_per_file=1000)
    _write_batch(first, rows, 5)
    assert len(_objects(gcs_server, gcs_bucket, "events/purchase_date=")) == 2
    # The replay (bigger files) writes one part; the second one must not stay behind.
    replay = LakeWriter(client, gcs_bucket, "events", "purchase_date", max_rows_per_file=5000)
    _write_batch(replay, rows, 5)
    names = _objects(gcs_server, gcs_bucket, "events/purchase_date=")
    assert names == [
        "events/purchase_date=2017-10-02/query=query-a-batch=000000000005-task-0000-part-0000.parquet"
    ]
    total = sum(
        pq.read_table(io.BytesIO(client.bucket(gcs_bucket).blob(name).download_as_bytes())).num_rows
        for name in names
    )
    assert total == 1500
    assert _objects(gcs_server, gcs_bucket, "events/_batches/") == [first.manifest_name(QUERY, 5)]
    assert first.manifest_name(QUERY, 5) == "events/_batches/query=query-a/batch=000000000005.json"


def test_empty_batch_writes_no_data_object(gcs_server: FakeGcsServer, gcs_bucket: str) -> None:
    writer = LakeWriter(gcs_server.storage_client(), gcs_bucket, "events", "purchase_date")
    assert _write_batch(writer, SCHEMA.empty_table(), batch_id=9) == []
    assert _objects(gcs_server, gcs_bucket, "events/purchase_date=") == []


@pytest.fixture
def events_table(bigquery_emulator: BigQueryEmulator, bigquery_dataset: str) -> BigQueryTable:
    table = BigQueryTable(
        bigquery_emulator.client(),
        bigquery_dataset,
        "order_events",
        warehouse.order_events_table_fields(),
        partition_field=warehouse.PARTITION_FIELD,
        clustering_fields=warehouse.CLUSTERING_FIELDS,
    )
    table.ensure_exists()
    table.ensure_exists()  # idempotent
    return table


def _count(table: BigQueryTable) -> Any:
    sql = (
        "SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS d, SUM(price) AS revenue, "
        f"COUNTIF(delivered_late) AS late FROM `{table.table_id}`"
    )
    return next(iter(table.client.query(sql).result()))


def test_table_is_created_partitioned_and_clustered(events_table: BigQueryTable) -> None:
    table = events_table.client.get_table(events_table.table_id)
    assert table.time_partitioning.field == "purchase_date"
    assert table.clustering_fields == list(warehouse.CLUSTERING_FIELDS)
    assert [field.name for field in table.schema] == [
        spec.name for spec in warehouse.order_events_table_fields()
    ]


def test_a_batch_is_loaded_once_even_when_replayed(
    gcs_server: FakeGcsServer,
    gcs_bucket: str,
    bigquery_emulator: BigQueryEmulator,
    events_table: BigQueryTable,
) -> None:
    writer = LakeWriter(gcs_server.storage_client(), gcs_bucket, "events", "purchase_date")
    rows = _rows(300)
    uris = writer.load_uris(_write_batch(writer, rows, 11), QUERY, 11)
    first = events_table.load_batch(uris, "olist_query_a", 11)
    replay = events_table.load_batch(uris, "olist_query_a", 11)
    assert first.already_done is False
    assert replay.already_done is True
    assert replay.job_id == first.job_id == "olist_query_a_order_events_11"
    counts = _count(events_table)
    assert (counts.n, counts.d, counts.late) == (300, 300, 150)
    assert counts.revenue == sum(Decimal("10.00") + i for i in range(300))
    # Another query (a new checkpoint) with the same batch id is a different load.
    events_table.load_batch(uris, "olist_query_b", 11)
    assert _count(events_table).n == 600


def test_a_failed_load_is_retried_under_the_next_job_id(
    gcs_server: FakeGcsServer, gcs_bucket: str, events_table: BigQueryTable
) -> None:
    with pytest.raises(BigQueryLoadError, match="olist_query_c_order_events_4"):
        events_table.load_batch([f"gs://{gcs_bucket}/missing.parquet"], "olist_query_c", 4)
    writer = LakeWriter(gcs_server.storage_client(), gcs_bucket, "events", "purchase_date")
    uris = writer.load_uris(_write_batch(writer, _rows(20), 4), QUERY, 4)
    retried = events_table.load_batch(uris, "olist_query_c", 4)
    assert retried.job_id == "olist_query_c_order_events_4_r1"
    assert events_table.load_batch(uris, "olist_query_c", 4).already_done is True
    assert _count(events_table).n == 20


def test_no_objects_means_no_load_job(events_table: BigQueryTable) -> None:
    result = events_table.load_batch([], "olist_query_d", 1)
    assert (result.job_id, result.already_done) == ("", False)


def test_wildcard_load_uris_load_every_object_of_the_batch_and_nothing_else(
    gcs_server: FakeGcsServer, gcs_bucket: str, events_table: BigQueryTable
) -> None:
    writer = LakeWriter(
        gcs_server.storage_client(), gcs_bucket, "wild", "purchase_date", max_rows_per_file=20
    )
    rows = _rows(200, days=4)
    # Two Spark tasks of batch 8 (30 then 20 rows per date: two parts, then one), and another
    # batch in the same partitions that must not load.
    written = write_parts(writer, rows.slice(0, 120), QUERY, 8, task=0)
    written += write_parts(writer, rows.slice(120), QUERY, 8, task=1)
    assert len(written) == 12
    _write_batch(writer, _rows(30, days=4), 9)
    uris = writer.load_uris(written, QUERY, 8)
    prefix = f"gs://{gcs_bucket}/wild/purchase_date=*/query=query-a-batch=000000000008"
    assert uris == [
        f"{prefix}-task-0000-part-0000.parquet",
        f"{prefix}-task-0000-part-0001.parquet",
        f"{prefix}-task-0001-part-0000.parquet",
    ]
    events_table.load_batch(uris, "olist_query_w", 8)
    counts = _count(events_table)
    assert (counts.n, counts.d) == (200, 200)
    assert counts.revenue == sum(Decimal("10.00") + i for i in range(200))


def _lake_rows(gcs_server: FakeGcsServer, bucket: str, prefix: str) -> list[str]:
    client = gcs_server.storage_client().bucket(bucket)
    return sorted(
        str(event_id)
        for name in _objects(gcs_server, bucket, prefix + "/purchase_date=")
        for event_id in pq.read_table(io.BytesIO(client.blob(name).download_as_bytes()))
        .column("event_id")
        .to_pylist()
    )


def test_a_fresh_checkpoint_never_touches_an_earlier_runs_objects(
    gcs_server: FakeGcsServer, gcs_bucket: str, events_table: BigQueryTable
) -> None:
    """Checkpoint A writes batches 0-2; checkpoint B (batch ids from 0 again) writes more."""
    writer = LakeWriter(gcs_server.storage_client(), gcs_bucket, "events", "purchase_date")
    events = _rows(500)
    runs = {"query-a": [(0, 100), (100, 250), (250, 300)], "query-b": [(300, 420), (420, 500)]}
    for query_id, slices in runs.items():
        for batch_id, (start, stop) in enumerate(slices):
            written = _write_batch(writer, events.slice(start, stop - start), batch_id, query_id)
            uris = writer.load_uris(written, query_id, batch_id)
            events_table.load_batch(uris, f"olist_{query_id}", batch_id)
    expected = sorted(str(event_id) for event_id in events.column("event_id").to_pylist())
    assert _lake_rows(gcs_server, gcs_bucket, "events") == expected
    counts = _count(events_table)
    assert (counts.n, counts.d) == (500, 500)
    assert _objects(gcs_server, gcs_bucket, "events/_batches/") == sorted(
        writer.manifest_name(query_id, batch_id)
        for query_id, slices in runs.items()
        for batch_id in range(len(slices))
    )


def test_a_task_streaming_sorted_batches_writes_one_object_per_date(
    gcs_server: FakeGcsServer, gcs_bucket: str
) -> None:
    """Rows sorted by date arrive in small Arrow batches that cut across dates (as Spark hands
    a task its sorted partition): still one object per date, split only at the size limit."""
    from streaming.partition_stream import PartitionStream

    writer = LakeWriter(
        gcs_server.storage_client(), gcs_bucket, "events", "purchase_date", max_rows_per_file=40
    )
    rows = _rows(600, days=20).sort_by("purchase_date")  # 30 rows per date

    def name(partition: str, part: int) -> str:
        return writer.object_name(QUERY, 1, 0, partition, part)

    stream = PartitionStream(writer, SCHEMA, name)
    for batch in rows.to_batches(max_chunksize=7):
        stream.write(pa.Table.from_batches([batch]))
    written = stream.close()
    assert len(written) == 20
    assert {item.rows for item in written} == {30}
    assert len({item.partition for item in written}) == 20

    # A size limit splits a date into parts: 30 rows at 12 rows per file make 3 parts.
    small = LakeWriter(
        gcs_server.storage_client(), gcs_bucket, "small", "purchase_date", max_rows_per_file=12
    )
    parts = write_parts(small, rows.slice(0, 60), QUERY, 2, task=0)
    assert [(item.partition[-2:], item.name[-12:], item.rows) for item in parts] == [
        ("02", "0000.parquet", 12), ("02", "0001.parquet", 12), ("02", "0002.parquet", 6),
        ("03", "0000.parquet", 12), ("03", "0001.parquet", 12), ("03", "0002.parquet", 6),
    ]  # fmt: skip
    bytes_limited = PartitionStream(writer, SCHEMA, name, max_bytes_per_file=1)
    for batch in rows.slice(0, 30).to_batches(max_chunksize=10):
        bytes_limited.write(pa.Table.from_batches([batch]))
    assert [item.rows for item in bytes_limited.close()] == [10, 10, 10]
