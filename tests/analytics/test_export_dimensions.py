"""``olist export-dimensions`` on the session's pipeline run: objects, tables, idempotence."""

from __future__ import annotations

import io
import threading

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from schemas.derive import arrow_schema
from schemas.dimensions import DIMENSIONS, dimension
from tests.fixtures.analytics import AnalyticsWarehouse

pytestmark = pytest.mark.slow

SOURCE_ROWS = {
    "customers": "SELECT customer_id, customer_unique_id, customer_zip_code_prefix, "
    "customer_city, customer_state FROM olist.customers",
    "sellers": "SELECT seller_id, seller_zip_code_prefix, seller_city, seller_state "
    "FROM olist.sellers",
    "products": "SELECT product_id, product_category_name, product_weight_g FROM olist.products",
}


def _lake_object(warehouse: AnalyticsWarehouse, name: str) -> bytes:
    gcs = warehouse.pipeline.gcs
    assert gcs is not None
    bucket = gcs.storage_client().bucket(warehouse.pipeline.bucket)
    return bytes(bucket.blob(name).download_as_bytes())


def test_dimension_tables_hold_the_source_rows(analytics_warehouse: AnalyticsWarehouse) -> None:
    for name, sql in SOURCE_ROWS.items():
        source = analytics_warehouse.source(sql)
        columns = list(source[0])
        loaded = analytics_warehouse.pipeline.query(
            f"SELECT {', '.join(columns)} FROM "
            f"{analytics_warehouse.pipeline.table(dimension(name).bigquery_table)}"
        )
        key = columns[0]
        assert sorted(loaded, key=lambda r: r[key]) == sorted(source, key=lambda r: r[key]), name
    (translated,) = analytics_warehouse.pipeline.query(
        "SELECT COUNTIF(product_category_name_english IS NOT NULL) AS n FROM "
        f"{analytics_warehouse.pipeline.table('dim_products')}"
    )
    (expected,) = analytics_warehouse.source(
        "SELECT count(t.product_category_name_english) AS n FROM olist.products p "
        "LEFT JOIN olist.product_category_name_translation t USING (product_category_name)"
    )
    assert translated["n"] == expected["n"] > 0


def test_geolocation_is_one_row_per_zip_prefix_with_mean_coordinates(
    analytics_warehouse: AnalyticsWarehouse,
) -> None:
    loaded = {row["zip_code_prefix"]: row for row in analytics_warehouse.view("dim_geolocation")}
    source = analytics_warehouse.source(
        """SELECT geolocation_zip_code_prefix AS zip, count(*) AS points,
                  avg(geolocation_lat) AS latitude, avg(geolocation_lng) AS longitude
           FROM olist.geolocation GROUP BY 1"""
    )
    assert set(loaded) == {row["zip"] for row in source}
    for row in source:
        area = loaded[row["zip"]]
        assert area["points"] == row["points"]
        assert area["latitude"] == pytest.approx(row["latitude"], rel=1e-12)
        assert area["longitude"] == pytest.approx(row["longitude"], rel=1e-12)


def test_parquet_and_csv_objects_are_written_under_dimensions_table(
    analytics_warehouse: AnalyticsWarehouse,
) -> None:
    for table in DIMENSIONS:
        folder = f"dimensions/{table.name}/{table.name}"
        parquet = pq.read_table(io.BytesIO(_lake_object(analytics_warehouse, f"{folder}.parquet")))
        assert parquet.schema.names == arrow_schema(table.fields).names
        csv = pa_csv.read_csv(io.BytesIO(_lake_object(analytics_warehouse, f"{folder}.csv")))
        assert csv.column_names == parquet.schema.names
        assert csv.num_rows == parquet.num_rows > 0, table.name


def test_exporting_again_replaces_each_table_whole_while_readers_query_it(
    analytics_warehouse: AnalyticsWarehouse,
) -> None:
    pipeline = analytics_warehouse.pipeline
    table = pipeline.table("dim_customers")
    (before,) = pipeline.query(f"SELECT COUNT(*) AS n FROM {table}")
    seen: list[int] = []
    done = threading.Event()

    def read_while_exporting() -> None:
        while not done.is_set():
            seen.append(pipeline.query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])

    reader = threading.Thread(target=read_while_exporting)
    reader.start()
    try:
        pipeline.run("export-dimensions-again", "export-dimensions", "--table", "customers")
    finally:
        done.set()
        reader.join()
    (after,) = pipeline.query(
        f"SELECT COUNT(*) AS n, COUNT(DISTINCT customer_id) AS d FROM {table}"
    )
    assert (
        after["n"]
        == after["d"]
        == before["n"]
        == len(analytics_warehouse.source("SELECT 1 FROM olist.customers"))
    )
    assert seen and set(seen) == {before["n"]}, f"a reader saw {sorted(set(seen))}"
