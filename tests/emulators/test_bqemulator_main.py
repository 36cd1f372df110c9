"""The bqemulator entry point that bounds DuckDB's memory: its connect wrapper, in-process."""

from __future__ import annotations

import duckdb

from emulators.bqemulator_main import bounded_connect


def _memory_limit(connection: duckdb.DuckDBPyConnection) -> str:
    (row,) = connection.execute("SELECT current_setting('memory_limit')").fetchall()
    return str(row[0])


def test_every_connection_gets_the_bound_unless_its_caller_sets_a_limit() -> None:
    connect = bounded_connect(duckdb.connect, "1GB")
    assert _memory_limit(connect(":memory:")) == "953.6 MiB"
    assert _memory_limit(connect(":memory:", config={"memory_limit": "2GB"})) == "1.8 GiB"
    assert _memory_limit(connect(":memory:", config={"threads": 1})) == "953.6 MiB"
