"""Shared test configuration: fixtures that run real servers live in tests/fixtures/."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# This process forks only to exec (servers, olist processes, Spark's JVM), but PySpark and the
# API fixture fork with a preexec_fn, and then gRPC's fork handler (grpcio 1.85, on by default;
# grpc/grpc#43055) now and then aborts the child when a gRPC channel is open here: the JVM
# "exited before sending its port number", the API died with SIGABRT. Off is gRPC's documented
# setting for fork-then-exec. It is read when grpc is first imported: this file runs before.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

pytest_plugins = [
    "tests.fixtures.spark",
    "tests.fixtures.postgres",
    "tests.fixtures.pubsub",
    "tests.fixtures.source_topic",
    "tests.fixtures.producer",
    "tests.fixtures.olist_csv",
    "tests.fixtures.api",
    "tests.fixtures.gcs",
    "tests.fixtures.staging",
    "tests.fixtures.gcs_proxy",
    "tests.fixtures.bigquery",
    "tests.fixtures.pipeline",
    "tests.fixtures.analytics",
    "tests.fixtures.deploy",
    "tests.fixtures.health",
    "tests.fixtures.airflow",
]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts without OLIST_* variables from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("OLIST_") and name != "OLIST_PUBSUB_EMULATOR_BIN":
            monkeypatch.delenv(name)
    yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs Spark is slow: the shared JVM alone takes seconds to start."""
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
