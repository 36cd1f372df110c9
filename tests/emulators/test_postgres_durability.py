"""The local PostgreSQL keeps every commit it acknowledged through a SIGKILL of all its processes.

A pipeline's source must never lose a commit its client was told succeeded: the producer may
already have published the events of that commit, and a source that forgets them afterwards
makes the lake hold events the source does not have.
"""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from pathlib import Path

import asyncpg
import pytest

from emulators.postgres import Durability, LocalPostgres
from harness.postgres_crash import kill_postgres

pytestmark = pytest.mark.slow

COMMITS = 400
"""Single-row transactions, the last ones acknowledged a few milliseconds before the kill (an
asynchronous commit reaches the WAL file up to three ``wal_writer_delay`` = 600 ms later)."""


async def _commit_rows_one_by_one(dsn: str, rows: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CREATE TABLE acknowledged (n int PRIMARY KEY)")
        for number in range(rows):
            await connection.execute("INSERT INTO acknowledged VALUES ($1)", number)
    finally:
        await connection.close()


async def _rows(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM acknowledged"))
    finally:
        await connection.close()


async def _settings(dsn: str) -> dict[str, str]:
    connection = await asyncpg.connect(dsn)
    try:
        return {
            name: str(await connection.fetchval(f"SHOW {name}"))
            for name in ("fsync", "synchronous_commit", "full_page_writes")
        }
    finally:
        await connection.close()


def test_every_acknowledged_commit_survives_a_sigkill_of_the_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "postgres"
    with ExitStack() as servers:
        server = servers.enter_context(LocalPostgres(data_dir=data_dir))
        assert asyncio.run(_settings(server.dsn)) == {
            "fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
        }  # fmt: skip
        asyncio.run(_commit_rows_one_by_one(server.dsn, COMMITS))
        assert kill_postgres(data_dir)  # right after the last commit returned
        restarted = servers.enter_context(LocalPostgres(data_dir=data_dir, port=server.port))
        assert asyncio.run(_rows(restarted.dsn)) == COMMITS


def test_only_the_never_killed_session_server_runs_without_durable_commits(
    postgres_server: LocalPostgres,
) -> None:
    assert postgres_server.durability is Durability.NEVER_KILLED
    assert asyncio.run(_settings(postgres_server.dsn)) == {
        "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
    }  # fmt: skip
