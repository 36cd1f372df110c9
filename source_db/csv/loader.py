"""Load the Kaggle Olist CSV files of a directory into the source database, at COPY speed.

Each file is loaded in its own transaction, in foreign-key order (see ``CSV_TABLES``), with
the table locked against other writers (not readers) until it commits. The files an event is
built from after its order (order items, payments, reviews: :data:`EVENT_FILES_TOGETHER`) share
one transaction instead (a savepoint each), so every item reaches the feed at that commit with
its payments and reviews, one version each: a producer reading during the load never sees an
order half loaded. Each file:

1. the file is parsed and checked in one streaming pass (:mod:`source_db.csv.reader`);
   malformed rows go to the report, valid ones are sent by binary ``COPY`` into a temporary
   staging table that also carries each row's line number;
2. one ``INSERT ... SELECT`` copies the rows whose parents exist and whose key is not in the
   table yet (so loading the same files twice inserts nothing and burns no
   ``source_sequence`` number);
3. if some rows were not inserted, one query counts the orphans (rows whose parent is in
   neither this run nor the database) per missing parent, with the first lines of each; a
   row missing several parents is counted under the first one in the table's ``parents``.
   The other rows not inserted were already present.

A table without parents that is still empty skips staging: its rows are copied straight in.
The feed's versions are written by the commits themselves (docs/design/source-feed.md).

A bad row never stops a load; a file with a foreign header is refused and the others still
load. Only a missing directory or a directory with none of the 9 files
(:mod:`source_db.csv.errors`), or a database that cannot be reached
(:class:`source_db.connection.DatabaseUnavailable`), raise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import asyncpg

from source_db.connection import CONNECT_ERRORS, DatabaseUnavailable, redact_dsn
from source_db.csv.errors import (
    CsvDirectoryNotFound,
    CsvHeaderMismatch,
    DatabaseConnectionLost,
    NoCsvFileRecognised,
)
from source_db.csv.reader import CsvFileReader
from source_db.csv.report import (
    EXAMPLES_PER_REASON,
    FileReport,
    LoadReport,
    RejectedRow,
    Rejection,
)
from source_db.csv.tables import CSV_FILE_NAMES, CSV_TABLES, CsvTable
from source_db.ddl import init_database

__all__ = ["FileReport", "LoadReport", "load_csv_directory"]

T = TypeVar("T")

log = logging.getLogger(__name__)

EVENT_FILES_TOGETHER = frozenset({"order_items", "order_payments", "order_reviews"})
"""Tables loaded in one transaction: an item's event is visible only with its payments and
reviews."""

STAGING_TABLE = "csv_staging"
# Temporary tables live in per-session buffers (8 MB by default); the largest staging table
# (geolocation, ~1M rows) fits in 256 MB, which keeps it off the disk. Must be set before the
# session first touches a temporary table.
TEMP_BUFFERS = "256MB"
# Sorting 112,650 order items by purchase time spills to disk with the default 4 MB.
WORK_MEM = "64MB"


async def load_csv_directory(
    dsn: str, directory: Path, *, initialise_schema: bool = False
) -> LoadReport:
    """Load every Olist file found in ``directory`` and report what happened to each row.

    With ``initialise_schema`` the DDL is applied first, so an empty database works.
    """
    started = time.perf_counter()
    if not directory.is_dir():
        raise CsvDirectoryNotFound(directory)
    present = [table for table in CSV_TABLES if (directory / table.file_name).is_file()]
    if not present:
        raise NoCsvFileRecognised(directory, CSV_FILE_NAMES)
    report = LoadReport(
        directory=str(directory),
        missing_files=[t.file_name for t in CSV_TABLES if t not in present],
    )
    if report.missing_files:
        log.warning("csv files missing directory=%s files=%s", directory, report.missing_files)

    connection = await _connect(dsn)
    try:
        if initialise_schema:
            await init_database(dsn)
        await connection.execute(f"SET temp_buffers = '{TEMP_BUFFERS}'")
        await connection.execute(f"SET work_mem = '{WORK_MEM}'")
        alone = [table for table in present if table.table not in EVENT_FILES_TOGETHER]
        together = [table for table in present if table.table in EVENT_FILES_TOGETHER]
        for table in alone:
            report.files.append(await _load_or_explain(connection, dsn, table, directory))
        if together:
            # One transaction (each file a savepoint in it): the items' versions are written
            # at its commit, with every payment and review.
            loaded: list[FileReport] = []
            transaction = connection.transaction()
            await _in_file(connection, dsn, together[0], transaction.start())
            for table in together:
                loaded.append(await _load_or_explain(connection, dsn, table, directory))
            await _in_file(connection, dsn, together[-1], transaction.commit())
            report.files.extend(loaded)
    finally:
        await connection.close()
    report.seconds = time.perf_counter() - started
    log.info(
        "csv load finished directory=%s files=%d missing=%d seconds=%.2f",
        directory,
        len(report.files),
        len(report.missing_files),
        report.seconds,
    )
    return report


# The server ended the session (stopped, restarted, backend terminated).
_SERVER_GONE = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
)


async def _load_or_explain(
    connection: asyncpg.Connection, dsn: str, table: CsvTable, directory: Path
) -> FileReport:
    step = _load_file(connection, table, directory / table.file_name)
    return await _in_file(connection, dsn, table, step)


async def _in_file(
    connection: asyncpg.Connection, dsn: str, table: CsvTable, step: Awaitable[T]
) -> T:
    """Await ``step``, naming ``table``'s file when the connection to the server is lost."""
    try:
        return await step
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        if not (connection.is_closed() or isinstance(error, _SERVER_GONE)):
            raise
        # Leaving the transaction of a dead connection raises InterfaceError; the server's own
        # reason is the exception it interrupted.
        cause = error.__context__ if isinstance(error, asyncpg.InterfaceError) else None
        raise DatabaseConnectionLost(dsn, table.file_name, cause or error) from error


async def _connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn)
    except CONNECT_ERRORS as error:
        raise DatabaseUnavailable(
            f"could not connect to the source database {redact_dsn(dsn)}: "
            f"{type(error).__name__}: {error}; check OLIST_DATABASE_URL and that the server runs"
        ) from error


async def _load_file(connection: asyncpg.Connection, table: CsvTable, path: Path) -> FileReport:
    started = time.perf_counter()
    report = FileReport(file_name=table.file_name, table=f"olist.{table.table}")
    reader = CsvFileReader(table, path, report)
    try:
        reader.check_header()
    except CsvHeaderMismatch as error:
        report.error = str(error)
    except OSError as error:
        report.error = f"cannot read the file: {error}; check its permissions"
    if report.error is not None:
        log.error("csv file refused file=%s reason=%s", table.file_name, report.error)
        return report

    async with connection.transaction():
        # Writers of this table wait until the file is committed (readers do not): the
        # existence checks below then see every row, and the insert cannot hit a key that
        # another session added meanwhile, so it needs no ON CONFLICT (whose speculative
        # insertion would double the index work).
        await connection.execute(f"LOCK TABLE olist.{table.table} IN SHARE ROW EXCLUSIVE MODE")
        if await _copies_straight_in(connection, table):
            staged = inserted = await _copy_into_table(connection, table, reader)
            orphans = 0
        else:
            staged = await _copy_into_staging(connection, table, reader)
            inserted = _row_count(await connection.execute(_insert_sql(table)))
            # Rows not inserted are orphans or already present; a clean first load skips this.
            orphans = await _count_orphans(connection, table, report) if staged > inserted else 0

    report.loaded = inserted
    report.already_present = staged - orphans - inserted
    report.seconds = time.perf_counter() - started
    log.info(
        "csv file loaded file=%s table=%s rows_read=%d loaded=%d already_present=%d "
        "orphans=%d malformed=%d zip_prefixes_padded=%d seconds=%.2f",
        report.file_name,
        report.table,
        report.rows_read,
        report.loaded,
        report.already_present,
        report.orphans,
        report.malformed,
        report.zip_prefixes_padded,
        report.seconds,
    )
    return report


async def _copies_straight_in(connection: asyncpg.Connection, table: CsvTable) -> bool:
    """Whether the file can skip staging: no parent to check and no row already there.

    The first load of the parentless tables (geolocation's million rows among them) then
    costs one COPY, which writes rows in batches, instead of COPY plus INSERT ... SELECT.
    Valid only under the table lock taken by the caller.
    """
    if table.parents or table.insert_order:
        return False
    return bool(await connection.fetchval(f"SELECT NOT EXISTS (SELECT FROM olist.{table.table})"))


async def _copy_into_table(
    connection: asyncpg.Connection, table: CsvTable, reader: CsvFileReader
) -> int:
    records = (record[1:] for record in reader.records())  # drop the line number
    status = await connection.copy_records_to_table(
        table.table, schema_name="olist", records=records, columns=list(table.table_columns)
    )
    return _row_count(status)


async def _copy_into_staging(
    connection: asyncpg.Connection, table: CsvTable, reader: CsvFileReader
) -> int:
    # Dropped at commit; within the transaction shared by several files, by the next file.
    await connection.execute(f"DROP TABLE IF EXISTS pg_temp.{STAGING_TABLE}")
    await connection.execute(_staging_sql(table))
    status = await connection.copy_records_to_table(
        STAGING_TABLE, records=reader.records(), columns=["line_number", *table.table_columns]
    )
    # The planner knows nothing of a fresh temporary table; the joins below need its size.
    await connection.execute(f"ANALYZE {STAGING_TABLE}")
    return _row_count(status)


def _row_count(status: str) -> int:
    """The row count of a command tag such as ``COPY 42`` or ``INSERT 0 42``."""
    return int(status.rsplit(" ", 1)[1])


def _staging_sql(table: CsvTable) -> str:
    # Built from the target table so the column types are never spelled out twice; CTAS copies
    # no constraint, which is what a staging table wants.
    columns = ", ".join(table.table_columns)
    return (
        f"CREATE TEMP TABLE {STAGING_TABLE} ON COMMIT DROP AS "
        f"SELECT 0::bigint AS line_number, {columns} FROM olist.{table.table} WITH NO DATA"
    )


def _parent_exists(table: CsvTable, index: int) -> str:
    parent = table.parents[index]
    return (
        f"EXISTS (SELECT 1 FROM olist.{parent.table} AS p{index}"
        f" WHERE p{index}.{parent.column} = s.{parent.column})"
    )


async def _count_orphans(
    connection: asyncpg.Connection, table: CsvTable, report: FileReport
) -> int:
    """Add one ``orphan`` rejection per missing parent to ``report``; return how many rows."""
    if not table.parents:
        return 0
    first_missing = " ".join(
        f"WHEN NOT {_parent_exists(table, index)} THEN {index + 1}"
        for index in range(len(table.parents))
    )
    parent_values = ", ".join(f"s.{parent.column}::text" for parent in table.parents)
    rows = await connection.fetch(
        f"""
        WITH classified AS (
            SELECT s.line_number,
                   CASE {first_missing} END AS parent,
                   ARRAY[{parent_values}] AS parent_values
            FROM {STAGING_TABLE} AS s
        ), ranked AS (
            SELECT parent, line_number, parent_values[parent] AS missing_value,
                   count(*) OVER (PARTITION BY parent) AS orphan_count,
                   row_number() OVER (PARTITION BY parent ORDER BY line_number) AS position
            FROM classified
            WHERE parent IS NOT NULL
        )
        SELECT parent, orphan_count, line_number, missing_value
        FROM ranked
        WHERE position <= $1
        ORDER BY parent, line_number
        """,
        EXAMPLES_PER_REASON,
    )
    rejections: dict[int, Rejection] = {}
    for row in rows:
        parent = table.parents[row["parent"] - 1]
        rejection = rejections.get(row["parent"])
        if rejection is None:
            rejection = Rejection("orphan", parent.reason, count=row["orphan_count"])
            rejections[row["parent"]] = rejection
            report.rejections.append(rejection)
        rejection.examples.append(
            RejectedRow(
                row["line_number"],
                f"{parent.column} {row['missing_value']!r} not found in olist.{parent.table}",
            )
        )
    return sum(rejection.count for rejection in rejections.values())


def _insert_sql(table: CsvTable) -> str:
    columns = ", ".join(table.table_columns)
    selected = ", ".join(f"s.{name}" for name in table.table_columns)
    conditions = [_parent_exists(table, index) for index in range(len(table.parents))]
    key_matches = " AND ".join(f"t.{name} = s.{name}" for name in table.key)
    # Filtering out present keys (rather than leaning on ON CONFLICT) also keeps a reload from
    # evaluating column defaults, i.e. from burning source_sequence numbers.
    conditions.append(f"NOT EXISTS (SELECT 1 FROM olist.{table.table} AS t WHERE {key_matches})")
    order = f" ORDER BY {table.insert_order}" if table.insert_order else ""
    return (
        f"INSERT INTO olist.{table.table} ({columns}) "
        f"SELECT {selected} FROM {STAGING_TABLE} AS s "
        f"WHERE {' AND '.join(conditions)}{order}"
    )
