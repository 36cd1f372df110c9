"""Create (or bring up to date) the Olist tables and the ``order_events`` view."""

from __future__ import annotations

from importlib import resources

from source_db.connection import connect

SCHEMA_SQL = resources.files("source_db").joinpath("sql/schema.sql")


def schema_sql() -> str:
    """The idempotent DDL of the source database."""
    return SCHEMA_SQL.read_text(encoding="utf-8")


async def init_database(dsn: str) -> None:
    """Apply the DDL; safe to run on every start (every statement is idempotent)."""
    connection = await connect(dsn)
    try:
        # One transaction, one advisory lock: two processes initialising at once do not race.
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(4242000)")
            await connection.execute(schema_sql())
    finally:
        await connection.close()
