"""The shared connection module: DSNs are redacted in every form, and a refused connection is
one error, :class:`DatabaseUnavailable`, whoever opens it."""

from __future__ import annotations

import pytest

from harness.processes import free_port
from source_db.connection import DatabaseUnavailable, connect, redact_dsn
from source_db.csv.errors import CsvLoadError, DatabaseConnectionLost


@pytest.mark.parametrize(
    ("dsn", "redacted"),
    [
        (
            "postgresql://olist:secret@127.0.0.1:5432/olist",
            "postgresql://olist:***@127.0.0.1:5432/olist",
        ),
        (
            "postgresql://olist:se@c/r?et@db.example/olist?sslmode=require",
            "postgresql://olist:***@db.example/olist?sslmode=require",
        ),
        ("postgres://:secret@db/olist", "postgres://:***@db/olist"),
        (
            "postgresql://olist:secret@h1:5432,h2:5433/olist",
            "postgresql://olist:***@h1:5432,h2:5433/olist",
        ),
        (
            "postgresql://olist@db/olist?sslmode=require&password=secret&application_name=x",
            "postgresql://olist@db/olist?sslmode=require&password=***&application_name=x",
        ),
        (
            "postgresql:///olist?host=/tmp&PASSWORD=secret",
            "postgresql:///olist?host=/tmp&PASSWORD=***",
        ),
        (
            "host=127.0.0.1 user=olist password=secret dbname=olist",
            "host=127.0.0.1 user=olist password=*** dbname=olist",
        ),
        (
            r"host=db password = 'se cr\'et' sslpassword=key dbname=olist",
            "host=db password = *** sslpassword=*** dbname=olist",
        ),
    ],
)
def test_redact_dsn_hides_the_password_in_every_dsn_form(dsn: str, redacted: str) -> None:
    assert redact_dsn(dsn) == redacted


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://olist@127.0.0.1:5432/olist",
        "postgresql:///olist?host=/tmp",
        "host=127.0.0.1 user=olist dbname=olist",
    ],
)
def test_redact_dsn_leaves_a_dsn_without_password_unchanged(dsn: str) -> None:
    assert redact_dsn(dsn) == dsn


def test_an_at_sign_in_the_query_hides_more_but_never_the_password() -> None:
    redacted = redact_dsn("postgresql://olist:secret@db/olist?options=a@b")
    assert "secret" not in redacted
    assert redacted == "postgresql://olist:***@b"


async def test_connect_to_a_closed_port_raises_database_unavailable_naming_the_server() -> None:
    port = free_port()
    with pytest.raises(
        DatabaseUnavailable,
        match=f"expected a reachable PostgreSQL server at 127.0.0.1:{port}/olist",
    ):
        await connect(f"postgresql://olist:secret@127.0.0.1:{port}/olist")


def test_a_connection_lost_during_a_csv_load_is_both_a_load_error_and_database_unavailable() -> (
    None
):
    error = DatabaseConnectionLost(
        "postgresql://olist:secret@db/olist", "olist_orders_dataset.csv", ConnectionResetError()
    )
    assert isinstance(error, CsvLoadError)
    assert isinstance(error, DatabaseUnavailable)
    assert "postgresql://olist:***@db/olist" in str(error)
