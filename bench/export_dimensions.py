"""Speed of the dimension export's read path: ``COPY ... TO STDOUT`` -> Arrow -> Parquet.

``python -m bench.export_dimensions --rows 1000000`` starts its own PostgreSQL, fills
``olist.geolocation`` with that many rows shaped like the real file (about 19,000 zip prefixes,
many rows per prefix, exact duplicates), then measures, in the same run:

1. **export path, raw table**: ``COPY (SELECT every column) TO STDOUT (FORMAT csv)`` read by
   Arrow and written as Parquet (what ``olist export-dimensions`` does with a table);
2. **baseline, row by row**: the same rows fetched as asyncpg records, turned into Arrow from
   Python lists and written as Parquet;
3. **the geolocation dimension itself**: the per-prefix aggregation of
   :mod:`analytics.dimension_queries` through the export path (the rows that reach BigQuery).

Cloud Storage and BigQuery are left out: one object upload and one load job per table, the same
for both ways. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable

import asyncpg

from analytics.dimension_queries import DIMENSION_QUERIES
from analytics.export_dimensions import copy_out_csv, csv_to_arrow, parquet_bytes
from emulators.postgres import LocalPostgres
from schemas.dimensions import DimensionTable, dimension
from schemas.fields import FieldSpec
from source_db.ddl import init_database

RAW_GEOLOCATION = DimensionTable(
    "geolocation_raw",
    (
        FieldSpec("geolocation_id", "int64", False),
        FieldSpec("geolocation_zip_code_prefix", "string", False),
        FieldSpec("geolocation_lat", "float64", False),
        FieldSpec("geolocation_lng", "float64", False),
        FieldSpec("geolocation_city", "string", False),
        FieldSpec("geolocation_state", "string", False),
    ),
    "The source table as it is.",
)
RAW_QUERY = "SELECT * FROM olist.geolocation ORDER BY geolocation_id"

FILL = """
INSERT INTO olist.geolocation
SELECT n, lpad(((n * 7919) % 19000 + 1000)::text, 5, '0'),
       -23.5 + ((n * 7919) % 19000) / 1000.0 + (n % 3) * 0.001,
       -46.6 - ((n * 7919) % 19000) / 1000.0,
       'city ' || ((n * 7919) % 19000) % 5000, 'SP'
FROM generate_series(1::bigint, $1::bigint) AS n"""


def timed(run: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    rows = run()
    return rows, time.perf_counter() - started


async def _row_by_row(database_url: str) -> int:
    import pyarrow as pa

    from schemas.derive import arrow_schema

    connection = await asyncpg.connect(database_url)
    try:
        records = await connection.fetch(RAW_QUERY)
    finally:
        await connection.close()
    schema = arrow_schema(RAW_GEOLOCATION.fields)
    columns = [[record[i] for record in records] for i in range(len(schema))]
    arrays = [pa.array(column, field.type) for column, field in zip(columns, schema, strict=True)]
    table = pa.Table.from_arrays(arrays, schema=schema)
    parquet_bytes(table)
    return int(table.num_rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    arguments = parser.parse_args(argv)
    with LocalPostgres() as server:
        asyncio.run(init_database(server.dsn))

        async def fill() -> None:
            connection = await asyncpg.connect(server.dsn)
            try:
                await connection.execute(FILL, arguments.rows)
                await connection.execute("ANALYZE olist.geolocation")
            finally:
                await connection.close()

        asyncio.run(fill())

        def export_path(query: str, table: DimensionTable) -> Callable[[], int]:
            def run() -> int:
                data = asyncio.run(copy_out_csv(server.dsn, query))
                rows = csv_to_arrow(data, table)
                parquet_bytes(rows)
                return int(rows.num_rows)

            return run

        results = {
            "export path (COPY -> Arrow -> Parquet), raw table": timed(
                export_path(RAW_QUERY, RAW_GEOLOCATION)
            ),
            "baseline: row by row (asyncpg records -> Arrow -> Parquet)": timed(
                lambda: asyncio.run(_row_by_row(server.dsn))
            ),
            "geolocation dimension (aggregated per prefix), export path": timed(
                export_path(DIMENSION_QUERIES["geolocation"], dimension("geolocation"))
            ),
        }
    print(f"{'way':<62} {'rows':>10} {'seconds':>8} {'rows/s':>12}")
    for way, (rows, seconds) in results.items():
        print(f"{way:<62} {rows:>10,} {seconds:>8.2f} {rows / seconds:>12,.0f}")
    (copy_rows, copy_s), (fetch_rows, fetch_s), (dim_rows, dim_s) = results.values()
    print(json.dumps({
        "rows": copy_rows, "copy_rows_per_s": round(copy_rows / copy_s),
        "row_by_row_rows_per_s": round(fetch_rows / fetch_s),
        "speedup_vs_row_by_row": round(fetch_s / copy_s, 2),
        "geolocation_dimension_rows": dim_rows, "geolocation_dimension_seconds": round(dim_s, 2),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
