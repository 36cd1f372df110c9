"""The API's asyncpg pool: opened with the session settings the queries rely on, and the one
place where driver errors meaning "the database is unreachable" become
:class:`~source_db.connection.DatabaseUnavailable` (answered 503 by the app).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from source_api.errors import DatabaseNotInitialised
from source_api.settings import ApiSettings
from source_db.connection import DatabaseUnavailable, redact_dsn

log = logging.getLogger(__name__)

# Errors that say nothing about the request, only that the server is gone, restarting, out of
# connections or too slow; clients retry them. Anything else (a missing table, a bug in SQL)
# propagates as a 500 with its traceback in the log.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # connection refused or reset
    TimeoutError,  # command_timeout or connect timeout
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # connection closed underneath the pool
    asyncpg.OperatorInterventionError,  # admin shutdown, cannot connect now, query cancelled
    asyncpg.InsufficientResourcesError,  # too many connections
)


@contextmanager
def database_errors(action: str) -> Iterator[None]:
    """Translate driver errors raised inside: unreachable -> DatabaseUnavailable, missing
    schema -> DatabaseNotInitialised; anything else propagates unchanged."""
    try:
        yield
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError) as error:
        log.error("database schema missing action=%s error=%r", action, error)
        raise DatabaseNotInitialised(
            f"the source database has no Olist schema ({error}); run 'olist db init' against "
            "OLIST_DATABASE_URL, then retry"
        ) from error
    except UNAVAILABLE_ERRORS as error:
        log.warning("database unavailable action=%s error=%r", action, error)
        raise DatabaseUnavailable(
            f"the source database did not answer while {action} "
            f"({type(error).__name__}: {error}); retry later"
        ) from error


SERVER_SETTINGS = {
    # Timestamps render as ISO 8601 with the session offset: make it +00:00.
    "TimeZone": "UTC",
    "application_name": "olist-source-api",
    # Page plans are index lookups; a JIT compile (jit_above_cost is reached once the tables
    # are large) would add tens of milliseconds per page and save none.
    "jit": "off",
}
"""Session settings of every connection the API opens."""


async def open_pool(settings: ApiSettings) -> asyncpg.Pool:
    """Open the pool; raise DatabaseUnavailable naming the DSN when it cannot connect."""
    with database_errors(f"connecting to {redact_dsn(settings.dsn)}"):
        pool = await asyncpg.create_pool(
            settings.dsn,
            min_size=settings.api_pool_min_size,
            max_size=settings.api_pool_max_size,
            command_timeout=settings.api_command_timeout,
            server_settings=SERVER_SETTINGS,
        )
    assert pool is not None  # create_pool returns the pool once initialised
    return pool


async def open_connection(settings: ApiSettings) -> asyncpg.Connection:
    """One connection outside the pool, with the pool's session settings and timeout."""
    return await asyncpg.connect(
        settings.dsn,
        command_timeout=settings.api_command_timeout,
        server_settings=SERVER_SETTINGS,
    )


async def close_pool(pool: asyncpg.Pool, timeout: float) -> None:
    """Close the pool, waiting up to ``timeout`` s for queries in flight, then terminate it."""
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except TimeoutError:
        log.warning("pool close timed out timeout_s=%s action=terminate", timeout)
        pool.terminate()
