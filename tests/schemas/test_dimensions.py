"""The dimension tables of ``schemas.dimensions`` agree with the source database.

Each dimension's export query (``analytics.dimension_queries``) runs on a database created by
``olist db init``: its result columns must have the dimension's names, in order, with the
logical type of the PostgreSQL type; a non-nullable field must come from a NOT NULL column (or
an aggregate that is never null).
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from analytics.dimension_queries import DIMENSION_QUERIES
from schemas.derive import arrow_schema, bigquery_schema_json
from schemas.dimensions import DIMENSIONS, dimension

POSTGRES_TYPES = {
    "bpchar": "string",
    "varchar": "string",
    "text": "string",
    "int4": "int64",
    "int8": "int64",
    "float8": "float64",
}

# (table, column) -> nullable: the dimensions copy the columns of the same-named source tables.
SOURCE_NULLABILITY_QUERY = """
    SELECT table_name, column_name, is_nullable = 'YES' AS nullable
    FROM information_schema.columns WHERE table_schema = 'olist'"""


async def _describe(
    database_url: str,
) -> tuple[dict[str, list[tuple[str, str]]], dict[tuple[str, str], bool]]:
    connection = await asyncpg.connect(database_url)
    try:
        columns = {}
        for name, query in DIMENSION_QUERIES.items():
            statement = await connection.prepare(query)
            columns[name] = [(a.name, a.type.name) for a in statement.get_attributes()]
        nullable = {
            (row["table_name"], row["column_name"]): row["nullable"]
            for row in await connection.fetch(SOURCE_NULLABILITY_QUERY)
        }
        return columns, nullable
    finally:
        await connection.close()


def test_each_dimension_query_returns_the_dimension_columns_with_their_types(
    database_url: str,
) -> None:
    columns, source_nullable = asyncio.run(_describe(database_url))
    for table in DIMENSIONS:
        described = columns[table.name]
        assert [name for name, _ in described] == [f.name for f in table.fields], table.name
        for field, (_, postgres_type) in zip(table.fields, described, strict=True):
            assert POSTGRES_TYPES[postgres_type] == field.type, (table.name, field.name)
            if (table.name, field.name) in source_nullable:
                # Copied columns: NOT NULL in the source table exactly where it is required.
                expected = source_nullable[(table.name, field.name)]
                assert field.nullable == expected, (table.name, field.name)
    # The English category comes through a LEFT JOIN: null for an untranslated category.
    assert dimension("products").fields[2].name == "product_category_name_english"
    assert dimension("products").fields[2].nullable


def test_geolocation_is_keyed_by_zip_prefix_and_its_aggregates_are_required() -> None:
    geolocation = dimension("geolocation")
    assert [f.name for f in geolocation.fields if not f.nullable] == [
        "zip_code_prefix", "latitude", "longitude", "city", "state", "points",
    ]  # fmt: skip
    with pytest.raises(KeyError, match="known: customers, sellers, products, geolocation"):
        dimension("orders")


def test_parquet_and_bigquery_schemas_derive_from_the_same_fields() -> None:
    for table in DIMENSIONS:
        arrow = arrow_schema(table.fields)
        bigquery = bigquery_schema_json(table.fields)
        assert arrow.names == [f["name"] for f in bigquery] == [f.name for f in table.fields]
        assert [not field.nullable for field in arrow] == [
            f["mode"] == "REQUIRED" for f in bigquery
        ]
        assert table.bigquery_table == f"dim_{table.name}"
