"""``olist export-dimensions``: dimension tables from PostgreSQL to Cloud Storage and BigQuery.

For each table of :data:`schemas.dimensions.DIMENSIONS`:

1. ``COPY (query) TO STDOUT (FORMAT csv)`` (:mod:`analytics.dimension_queries`): one pass in
   the server, no row-by-row fetch;
2. the CSV read by Arrow with the dimension's schema and written as one Parquet file,
   ``gs://<bucket>/<prefix>/<table>/<table>.parquet`` (and ``<table>.csv`` with a header when
   asked), overwritten: an object upload is atomic, a reader gets the old or the new file;
3. a BigQuery load job of that file into ``dim_<table>`` with ``WRITE_TRUNCATE``: the job
   replaces the table's contents when it commits, so a query sees the previous snapshot or the
   new one, never a half-loaded table.

Running it again with the same source gives the same objects and tables (idempotent).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING

from analytics.clients import bigquery_client, storage_client
from analytics.dimension_queries import DIMENSION_QUERIES
from analytics.settings import AnalyticsSettings
from schemas.derive import arrow_schema, bigquery_schema
from schemas.dimensions import DIMENSIONS, DimensionTable

if TYPE_CHECKING:
    import pyarrow as pa
    from google.cloud import bigquery, storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportedDimension:
    """What one dimension's export wrote."""

    table: str
    rows: int
    parquet_uri: str
    csv_uri: str | None
    bigquery_table: str
    seconds: float


async def copy_out_csv(database_url: str, query: str) -> bytes:
    """The rows of ``query`` as PostgreSQL CSV (no header), through ``COPY ... TO STDOUT``."""
    import asyncpg

    buffer = io.BytesIO()
    connection = await asyncpg.connect(database_url)
    try:
        await connection.copy_from_query(query, output=buffer, format="csv")
    finally:
        await connection.close()
    return buffer.getvalue()


def csv_to_arrow(data: bytes, table: DimensionTable) -> pa.Table:
    """PostgreSQL CSV -> an Arrow table with the dimension's schema.

    PostgreSQL writes NULL as an empty unquoted field and an empty string as ``""``; Arrow is
    told the same, so both survive.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    schema = arrow_schema(table.fields)
    if not data:
        return schema.empty_table()
    parsed = pa_csv.read_csv(
        io.BytesIO(data),
        read_options=pa_csv.ReadOptions(column_names=schema.names),
        convert_options=pa_csv.ConvertOptions(
            column_types=schema,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    return pa.Table.from_arrays(parsed.columns, schema=schema)


def parquet_bytes(rows: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(rows, sink, compression="zstd")
    return sink.getvalue()


def _csv_with_header(data: bytes, table: DimensionTable) -> bytes:
    return (",".join(spec.name for spec in table.fields) + "\n").encode() + data


def load_snapshot(
    client: bigquery.Client, uri: str, table_id: str, table: DimensionTable
) -> bigquery.LoadJob:
    """Replace ``table_id`` by the Parquet file at ``uri`` in one load job (atomic)."""
    from google.cloud import bigquery

    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
        schema=bigquery_schema(table.fields),
    )
    job = client.load_table_from_uri(uri, table_id, job_config=config)
    job.result()
    return job


def export_dimension(
    settings: AnalyticsSettings,
    table: DimensionTable,
    storage: storage.Client,
    bigquery: bigquery.Client,
    with_csv: bool = False,
) -> ExportedDimension:
    """Copy one dimension out of PostgreSQL, write it to the lake and load it into BigQuery."""
    started = time.perf_counter()
    data = asyncio.run(
        copy_out_csv(settings.database_url.get_secret_value(), DIMENSION_QUERIES[table.name])
    )
    rows = csv_to_arrow(data, table)
    bucket = storage.bucket(settings.lake_bucket)
    folder = f"{settings.lake_dimensions_prefix}/{table.name}"
    parquet_name = f"{folder}/{table.name}.parquet"
    bucket.blob(parquet_name).upload_from_string(
        parquet_bytes(rows), content_type="application/vnd.apache.parquet"
    )
    csv_uri = None
    if with_csv:
        csv_name = f"{folder}/{table.name}.csv"
        bucket.blob(csv_name).upload_from_string(
            _csv_with_header(data, table), content_type="text/csv"
        )
        csv_uri = f"gs://{settings.lake_bucket}/{csv_name}"
    parquet_uri = f"gs://{settings.lake_bucket}/{parquet_name}"
    table_id = f"{settings.gcp_project}.{settings.bigquery_dataset}.{table.bigquery_table}"
    load_snapshot(bigquery, parquet_uri, table_id, table)
    seconds = time.perf_counter() - started
    log.info(
        "dimension exported table=%s rows=%d uri=%s bigquery=%s seconds=%.2f",
        table.name, rows.num_rows, parquet_uri, table_id, seconds,
    )  # fmt: skip
    return ExportedDimension(
        table.name, rows.num_rows, parquet_uri, csv_uri, table_id, round(seconds, 3)
    )


def export_dimensions(
    settings: AnalyticsSettings, with_csv: bool = False, tables: list[str] | None = None
) -> list[ExportedDimension]:
    """Export every dimension (or those named in ``tables``); creates the dataset if needed."""
    selected = [t for t in DIMENSIONS if tables is None or t.name in tables]
    storage = storage_client(settings)
    with closing(bigquery_client(settings)) as bigquery:
        bigquery.create_dataset(
            f"{settings.gcp_project}.{settings.bigquery_dataset}", exists_ok=True
        )
        return [export_dimension(settings, t, storage, bigquery, with_csv) for t in selected]
