"""Columns of the dimension tables: customers, sellers, products and zip-prefix geolocation.

The single definition of each dimension's columns (:class:`DimensionTable`), from which the
Parquet files (:func:`schemas.derive.arrow_schema`) and the BigQuery tables
(:func:`schemas.derive.bigquery_schema`) are derived. The columns are those of the source
tables in ``source_db/sql/schema.sql`` with their real names (misspellings included), except
``products.product_category_name_english`` (joined from the category translation) and the
geolocation, which is one row per zip prefix (the source file repeats each prefix many times).
``tests/schemas/test_dimensions.py`` proves each agrees with the source database.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.fields import FieldSpec


@dataclass(frozen=True)
class DimensionTable:
    """One dimension: its name (``dimensions/<name>/`` in the lake, ``dim_<name>`` in BigQuery)."""

    name: str
    fields: tuple[FieldSpec, ...]
    description: str

    @property
    def bigquery_table(self) -> str:
        return f"dim_{self.name}"


def _string(name: str, nullable: bool = False, description: str = "") -> FieldSpec:
    return FieldSpec(name, "string", nullable, description=description)


def _count(name: str, description: str = "") -> FieldSpec:
    return FieldSpec(name, "int64", True, description=description)


CUSTOMERS = DimensionTable(
    "customers",
    (
        _string("customer_id", description="Customer of one order (one id per order)."),
        _string("customer_unique_id", description="The person: the same across their orders."),
        _string("customer_zip_code_prefix", description="First 5 digits of the zip code."),
        _string("customer_city"),
        _string("customer_state", description="Two-letter state code."),
    ),
    "One row per customer_id, as in the source table.",
)

SELLERS = DimensionTable(
    "sellers",
    (
        _string("seller_id"),
        _string("seller_zip_code_prefix", description="First 5 digits of the zip code."),
        _string("seller_city"),
        _string("seller_state", description="Two-letter state code."),
    ),
    "One row per seller, as in the source table.",
)

PRODUCTS = DimensionTable(
    "products",
    (
        _string("product_id"),
        _string("product_category_name", True, "Category in Portuguese; null if unknown."),
        _string("product_category_name_english", True, "Category in English; null if unknown."),
        _count("product_name_lenght", "Characters in the product name (source spelling)."),
        _count("product_description_lenght", "Characters in the description (source spelling)."),
        _count("product_photos_qty"),
        _count("product_weight_g"),
        _count("product_length_cm"),
        _count("product_height_cm"),
        _count("product_width_cm"),
    ),
    "One row per product with its English category name.",
)

GEOLOCATION = DimensionTable(
    "geolocation",
    (
        _string("zip_code_prefix", description="First 5 digits of the zip code (the key)."),
        FieldSpec("latitude", "float64", False, description="Mean latitude of its points."),
        FieldSpec("longitude", "float64", False, description="Mean longitude of its points."),
        _string("city", description="Most frequent city among its points."),
        _string("state", description="Most frequent state among its points."),
        FieldSpec("points", "int64", False, description="Rows of the source file for the prefix."),
    ),
    "One row per zip code prefix: the source's geolocation rows aggregated.",
)

DIMENSIONS: tuple[DimensionTable, ...] = (CUSTOMERS, SELLERS, PRODUCTS, GEOLOCATION)
"""Every dimension table, in export order."""


def dimension(name: str) -> DimensionTable:
    """The dimension called ``name``; ``KeyError`` naming the known ones otherwise."""
    for table in DIMENSIONS:
        if table.name == name:
            return table
    raise KeyError(f"no dimension {name!r}; known: {', '.join(t.name for t in DIMENSIONS)}")
