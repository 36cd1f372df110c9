"""The 9 Kaggle Olist CSV files: name, header, converters, key and parents of each.

``CSV_TABLES`` is in load order: every file comes after the files its foreign keys point to,
so a parent row loaded in this run is visible when its children are checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from source_db.csv import values
from source_db.csv.values import Converter


@dataclass(frozen=True)
class CsvColumn:
    """One column of a file; the database column has the same name."""

    name: str
    convert: Converter


@dataclass(frozen=True)
class ParentKey:
    """A foreign key checked before insert: ``column`` must exist in ``olist.<table>``."""

    column: str
    table: str

    @property
    def reason(self) -> str:
        """How the report names rows rejected for this key."""
        return f"{self.column} not in olist.{self.table}"


@dataclass(frozen=True)
class CsvTable:
    """How one file maps to one table.

    ``row_number_column`` names a key column filled with the 1-based data row number (for the
    geolocation file, which has no key of its own). ``insert_order`` is the SQL ``ORDER BY`` of
    the insert, written against the staging alias ``s``; it matters where a column default
    hands out sequence numbers.
    """

    file_name: str
    table: str
    columns: tuple[CsvColumn, ...]
    key: tuple[str, ...]
    parents: tuple[ParentKey, ...] = ()
    row_number_column: str | None = None
    insert_order: str | None = None

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def table_columns(self) -> tuple[str, ...]:
        """Columns written to the table: the row number column (if any), then the file's."""
        prefix = (self.row_number_column,) if self.row_number_column else ()
        return prefix + self.header

    @property
    def zip_columns(self) -> tuple[int, ...]:
        """Positions of zip prefix columns, whose padding the report counts."""
        return tuple(
            index
            for index, column in enumerate(self.columns)
            if column.convert is values.zip_prefix
        )


_count = values.integer(0, nullable=True)

CSV_TABLES: tuple[CsvTable, ...] = (
    CsvTable(
        file_name="product_category_name_translation.csv",
        table="product_category_name_translation",
        columns=(
            CsvColumn("product_category_name", values.text),
            CsvColumn("product_category_name_english", values.text),
        ),
        key=("product_category_name",),
    ),
    CsvTable(
        file_name="olist_customers_dataset.csv",
        table="customers",
        columns=(
            CsvColumn("customer_id", values.olist_id),
            CsvColumn("customer_unique_id", values.olist_id),
            CsvColumn("customer_zip_code_prefix", values.zip_prefix),
            CsvColumn("customer_city", values.text),
            CsvColumn("customer_state", values.state),
        ),
        key=("customer_id",),
    ),
    CsvTable(
        file_name="olist_geolocation_dataset.csv",
        table="geolocation",
        columns=(
            CsvColumn("geolocation_zip_code_prefix", values.zip_prefix),
            CsvColumn("geolocation_lat", values.coordinate(90)),
            CsvColumn("geolocation_lng", values.coordinate(180)),
            CsvColumn("geolocation_city", values.text),
            CsvColumn("geolocation_state", values.state),
        ),
        key=("geolocation_id",),
        row_number_column="geolocation_id",
    ),
    CsvTable(
        file_name="olist_sellers_dataset.csv",
        table="sellers",
        columns=(
            CsvColumn("seller_id", values.olist_id),
            CsvColumn("seller_zip_code_prefix", values.zip_prefix),
            CsvColumn("seller_city", values.text),
            CsvColumn("seller_state", values.state),
        ),
        key=("seller_id",),
    ),
    CsvTable(
        file_name="olist_products_dataset.csv",
        table="products",
        columns=(
            CsvColumn("product_id", values.olist_id),
            # No foreign key: the real file has categories the translation file lacks.
            CsvColumn("product_category_name", values.optional_text),
            CsvColumn("product_name_lenght", _count),
            CsvColumn("product_description_lenght", _count),
            CsvColumn("product_photos_qty", _count),
            CsvColumn("product_weight_g", _count),
            CsvColumn("product_length_cm", _count),
            CsvColumn("product_height_cm", _count),
            CsvColumn("product_width_cm", _count),
        ),
        key=("product_id",),
    ),
    CsvTable(
        file_name="olist_orders_dataset.csv",
        table="orders",
        columns=(
            CsvColumn("order_id", values.olist_id),
            CsvColumn("customer_id", values.olist_id),
            CsvColumn("order_status", values.order_status),
            CsvColumn("order_purchase_timestamp", values.timestamp),
            CsvColumn("order_approved_at", values.optional_timestamp),
            CsvColumn("order_delivered_carrier_date", values.optional_timestamp),
            CsvColumn("order_delivered_customer_date", values.optional_timestamp),
            CsvColumn("order_estimated_delivery_date", values.timestamp),
        ),
        key=("order_id",),
        parents=(ParentKey("customer_id", "customers"),),
    ),
    CsvTable(
        file_name="olist_order_items_dataset.csv",
        table="order_items",
        columns=(
            CsvColumn("order_id", values.olist_id),
            CsvColumn("order_item_id", values.integer(1)),
            CsvColumn("product_id", values.olist_id),
            CsvColumn("seller_id", values.olist_id),
            CsvColumn("shipping_limit_date", values.timestamp),
            CsvColumn("price", values.money),
            CsvColumn("freight_value", values.money),
        ),
        key=("order_id", "order_item_id"),
        parents=(
            ParentKey("order_id", "orders"),
            ParentKey("product_id", "products"),
            ParentKey("seller_id", "sellers"),
        ),
        # source_sequence (a column default) follows purchase time, so the event feed replays
        # the history in the order it happened.
        insert_order=(
            "(SELECT o.order_purchase_timestamp FROM olist.orders AS o"
            " WHERE o.order_id = s.order_id), s.order_id, s.order_item_id"
        ),
    ),
    CsvTable(
        file_name="olist_order_payments_dataset.csv",
        table="order_payments",
        columns=(
            CsvColumn("order_id", values.olist_id),
            CsvColumn("payment_sequential", values.integer(1)),
            CsvColumn("payment_type", values.payment_type),
            CsvColumn("payment_installments", values.integer(0)),
            CsvColumn("payment_value", values.money),
        ),
        key=("order_id", "payment_sequential"),
        parents=(ParentKey("order_id", "orders"),),
    ),
    CsvTable(
        file_name="olist_order_reviews_dataset.csv",
        table="order_reviews",
        columns=(
            CsvColumn("review_id", values.olist_id),
            CsvColumn("order_id", values.olist_id),
            CsvColumn("review_score", values.integer(1, 5)),
            CsvColumn("review_comment_title", values.optional_text),
            CsvColumn("review_comment_message", values.optional_text),
            CsvColumn("review_creation_date", values.timestamp),
            CsvColumn("review_answer_timestamp", values.optional_timestamp),
        ),
        key=("review_id", "order_id"),
        parents=(ParentKey("order_id", "orders"),),
    ),
)

CSV_FILE_NAMES: tuple[str, ...] = tuple(table.file_name for table in CSV_TABLES)
