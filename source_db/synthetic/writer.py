"""Writing generated rows into PostgreSQL: binary COPY in foreign-key order, inside the caller's
transaction, and the check that the target has the Olist tables."""

from __future__ import annotations

import logging
import time

import asyncpg

from source_db.synthetic import reference_data as ref
from source_db.synthetic.errors import SchemaMissingError
from source_db.synthetic.tables import TABLE_COLUMNS, Rows

log = logging.getLogger(__name__)

GEOLOCATION_LOCK_KEY = 4242002
"""Advisory lock serialising writers that number ``olist.geolocation`` rows (max(id) + 1)."""


async def write_category_translations(connection: asyncpg.Connection) -> int:
    """Insert the 71 category translations that are missing; return how many were new."""
    status = await connection.execute(
        """
        INSERT INTO olist.product_category_name_translation
            (product_category_name, product_category_name_english)
        SELECT * FROM unnest($1::text[], $2::text[])
        ON CONFLICT (product_category_name) DO NOTHING
        """,
        [name for name, _ in ref.CATEGORY_TRANSLATIONS],
        [english for _, english in ref.CATEGORY_TRANSLATIONS],
    )
    return int(status.rsplit(" ", 1)[-1])


async def write_tables(connection: asyncpg.Connection, rows: Rows) -> dict[str, int]:
    """COPY the rows into their tables in foreign-key order; return rows written per table.

    Runs inside the caller's transaction. Geolocation rows are numbered here, under an
    advisory lock, from the table's current maximum id, so concurrent writers never clash.
    """
    written: dict[str, int] = {}
    for table, columns in TABLE_COLUMNS.items():
        records = rows.get(table) or []
        if not records:
            written[table] = 0
            continue
        if table == "geolocation":
            await connection.execute("SELECT pg_advisory_xact_lock($1)", GEOLOCATION_LOCK_KEY)
            first_id = await connection.fetchval(
                "SELECT coalesce(max(geolocation_id), 0) + 1 FROM olist.geolocation"
            )
            records = [(first_id + number, *row) for number, row in enumerate(records)]
        copy_started = time.monotonic()
        await connection.copy_records_to_table(
            table, schema_name="olist", columns=list(columns), records=records
        )
        written[table] = len(records)
        log.debug(
            "copied table=%s rows=%d seconds=%.3f",
            table, len(records), time.monotonic() - copy_started,
        )  # fmt: skip
    return written


async def require_schema(connection: asyncpg.Connection) -> None:
    """Raise :class:`SchemaMissingError` unless the Olist tables exist."""
    found = await connection.fetchval("SELECT to_regclass('olist.order_items') IS NOT NULL")
    if not found:
        raise SchemaMissingError(
            "expected the Olist schema (table olist.order_items) in the target database, "
            "found none; run `olist db init` first"
        )
