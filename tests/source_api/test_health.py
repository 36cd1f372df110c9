"""Probes and lifecycle: /healthz, /readyz (503 while PostgreSQL is down), graceful SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from emulators.postgres import LocalPostgres
from source_db.ddl import init_database
from tests.fixtures.api import ApiProcess
from tests.fixtures.api_orders import insert_orders

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[LocalPostgres]:
    """A PostgreSQL server this test may stop and start (data kept in tmp_path)."""
    server = LocalPostgres(data_dir=tmp_path / "pg").start()
    try:
        asyncio.run(init_database(server.dsn))
        yield server
    finally:
        server.stop()


async def test_healthz_answers_ok(api_server: ApiProcess) -> None:
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "message": None})


async def test_readyz_answers_ok_when_the_database_answers(api_server: ApiProcess) -> None:
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "message": None})


async def _wait_for_status(client: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        response = await client.get(path)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.1)


async def test_readyz_is_503_while_the_database_is_down_and_recovers(
    own_postgres: LocalPostgres, start_api: Callable[..., ApiProcess]
) -> None:
    await insert_orders(own_postgres.dsn, 2, seed=31)
    api = start_api(own_postgres.dsn)
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        assert (await client.get("/readyz")).status_code == 200
        own_postgres.stop()

        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["status"] == "unavailable"
        assert not_ready.json()["message"].startswith(
            "the source database did not answer while checking readiness ("
        )
        assert not_ready.json()["message"].endswith("); retry later")
        events = await client.get("/v1/order-events")
        assert events.status_code == 503
        assert events.json()["error"] == "database_unavailable"
        assert "event_id" not in events.text
        assert (await client.get("/healthz")).status_code == 200

        own_postgres.start()  # same data directory, same port
        assert (await _wait_for_status(client, "/readyz", 200)).status_code == 200
        served = await _wait_for_status(client, "/v1/order-events", 200)
        # The feed refresher failed while the server was down, then reconnected by itself.
        total = served.json()["head_sequence"] + await insert_orders(own_postgres.dsn, 2, seed=32)
        deadline = time.monotonic() + 30
        while await _feed_size(own_postgres.dsn) != total:
            assert time.monotonic() < deadline, "the feed refresher did not recover"
            await asyncio.sleep(0.05)
        metrics = (await client.get("/metrics")).text
    assert served.status_code == 200
    assert len(served.json()["events"]) == served.json()["head_sequence"] > 0
    failed = 'olist_api_feed_refresh_errors_total{reason="database_unavailable"}'
    assert any(
        line.startswith(failed) and float(line.split()[-1]) >= 1 for line in metrics.splitlines()
    )
    assert "feed refresh failed reason=database_unavailable attempt=1 " in api.log_tail(100_000)


async def _feed_size(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        size: int = await connection.fetchval("SELECT count(*) FROM olist.order_event_feed")
        return size
    finally:
        await connection.close()


async def test_api_refuses_to_start_when_the_database_is_unreachable(
    own_postgres: LocalPostgres,
) -> None:
    dsn = own_postgres.dsn
    own_postgres.stop()
    api = ApiProcess(dsn)
    try:
        with pytest.raises(RuntimeError, match="exited with code 3 before answering /healthz"):
            api.start()
        log = api.log_tail()
        host_port_db = dsn.split("@", 1)[1]
        assert f"api cannot start: expected a reachable PostgreSQL server at {host_port_db}" in log
        assert "Traceback" not in log
    finally:
        api.close()


async def test_sigterm_finishes_requests_and_closes_the_pool(
    api_server: ApiProcess, database_url: str
) -> None:
    async def api_connections() -> int:
        connection = await asyncpg.connect(database_url)
        try:
            return await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                "'olist-source-api' AND datname = current_database()"
            )
        finally:
            await connection.close()

    assert await api_connections() >= 1
    assert api_server.stop() == -signal.SIGTERM  # uvicorn re-raises the signal after cleanup
    log = api_server.log_tail()
    assert "Waiting for application shutdown." in log
    assert "api stopped pool=closed" in log
    assert await api_connections() == 0


async def test_api_starts_again_on_the_same_port_after_a_kill(api_server: ApiProcess) -> None:
    url = api_server.url
    api_server.kill()
    api_server.start()
    assert api_server.url == url
    async with httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/v1/order-events")).status_code == 200


async def test_database_without_the_olist_schema_answers_503_naming_the_fix(
    postgres_server: LocalPostgres, start_api: Callable[..., ApiProcess]
) -> None:
    api = start_api(postgres_server.dsn.rsplit("/", 1)[0] + "/postgres")
    async with httpx.AsyncClient(base_url=api.url) as client:
        response = await client.get("/v1/order-events")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "database_not_initialised"
    assert body["message"].startswith("the source database has no Olist schema (")
    assert body["message"].endswith("run 'olist db init' against OLIST_DATABASE_URL, then retry")
