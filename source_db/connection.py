"""Reaching the source database: the one "database unavailable" error and the DSN redactor.

Every user of the database shares these: the tools of this package (generator, simulator, CSV
loader) raise :class:`DatabaseUnavailable` when PostgreSQL cannot be reached, and the API
raises it when a query finds the server gone (its app answers 503 ``database_unavailable``).
Messages and logs name the database with :func:`redact_dsn`, never with its password.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import asyncpg

CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, unreachable, reset
    asyncpg.PostgresError,  # refused by the server: unknown database or role, bad password
    asyncpg.InterfaceError,
)
"""What ``asyncpg.connect`` raises when no connection could be opened."""

REDACTED = "***"

# libpq's key=value form and a URL's query string: every parameter whose name ends in
# "password" (password, sslpassword). A key=value value may be single-quoted with \-escapes.
_KEY_VALUE_PASSWORD = re.compile(r"(\b\w*password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']\S*)", re.I)
_QUERY_PASSWORD = re.compile(r"([?&]\w*password=)[^&#]*", re.I)


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached, refused the connection, or stopped answering.

    Transient: the same call may succeed once the server is back. The message names the
    database (password redacted), what was being done, and what to check.
    """


def redact_dsn(dsn: str) -> str:
    """The DSN without its passwords, fit for messages and logs.

    Handles the URL form (``postgresql://user:secret@host/db``, also when the password holds
    ``@``, ``/`` or ``?``), passwords in its query string (``?password=secret``) and libpq's
    key=value form (``host=h password=secret``); every parameter whose name ends in
    ``password`` (``sslpassword`` too) is hidden.
    """
    scheme, separator, rest = dsn.partition("://")
    if not separator:
        return _KEY_VALUE_PASSWORD.sub(rf"\1{REDACTED}", dsn)
    # The credentials end at the last "@": a password may hold "@", "/" or "?" unencoded, so
    # an "@" further right (in the query) hides the host too, but never shows a password.
    credentials, at, location = rest.rpartition("@")
    user, has_password, _ = credentials.partition(":")
    if at and has_password:
        rest = f"{user}:{REDACTED}@{location}"
    return f"{scheme}://" + _QUERY_PASSWORD.sub(rf"\1{REDACTED}", rest)


def _location(dsn: str) -> str:
    """``host:port/database`` of a URL DSN (defaults filled in)."""
    parts = urlsplit(dsn)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


async def connect(dsn: str) -> asyncpg.Connection:
    """Open a connection, turning refusals into :class:`DatabaseUnavailable`."""
    try:
        return await asyncpg.connect(dsn)
    except CONNECT_ERRORS as error:
        raise DatabaseUnavailable(
            f"expected a reachable PostgreSQL server at {_location(dsn)}, the "
            f"connection failed: {error}; check OLIST_DATABASE_URL and that the server is running"
        ) from error
