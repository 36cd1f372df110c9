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


LONGEST_FIRST = (
    # Node id prefixes, longest first; seconds each took in the last sequential run (2 cores).
    # Under `pytest -n 2` (scripts/test.sh) they start first, so no long test is left for last
    # while the other worker sits idle.
    "tests/pipeline/test_chaos.py",  # 188
    "tests/pipeline/test_cluster.py",  # 143 the fault test, 60 the other
    "tests/analytics/",  # 78 the shared warehouse, then the dashboard and the views
    "tests/pipeline/test_end_to_end.py",  # 131 the crash test, then three shorter ones
    "tests/pipeline/test_lifecycle_end_to_end.py",  # 127
    "tests/streaming/test_storage_write_crashes.py",  # the kill -9 points
    "tests/health/",  # the running pipeline shared with the Airflow DAG's tests
    "tests/bench/test_e2e.py",  # 96
    "tests/deploy/test_manifest_launch.py",  # 95
    "tests/pipeline/test_local_run.py",  # 94
    "tests/bench/test_backlog.py",  # 80
    "tests/docs/test_by_hand.py",  # 77
    "tests/packaging/test_role_installs.py",
)

SHARED_FIXTURE_GROUPS = {
    # A session fixture that costs a pipeline run is built once per xdist worker: its tests
    # go to one worker together (an xdist_group), so it is built once in the whole run.
    "analytics_warehouse": "analytics-warehouse",
    "running_pipeline": "running-pipeline",
    "airflow_runner": "running-pipeline",  # the DAG's tests also use the running pipeline
    "rendered": "k3s-renders",
}

HEAVIEST_GROUP = ("tests/pipeline/test_chaos.py", "tests/pipeline/test_cluster.py")
"""The two heaviest files (a dozen JVMs between them) run one after the other, never at once."""


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks Spark tests slow, puts shared-fixture tests in xdist groups, longest first.

    A test that needs Spark is slow: the shared JVM alone takes seconds to start. The groups
    and the order only matter to ``pytest -n 2 --dist loadgroup`` (scripts/test.sh).
    """
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "spark" in fixtures:
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("xdist_group") is not None:
            continue
        if item.nodeid.startswith(HEAVIEST_GROUP):
            item.add_marker(pytest.mark.xdist_group("chaos-and-cluster"))
            continue
        for fixture, group in SHARED_FIXTURE_GROUPS.items():
            if fixture in fixtures:
                item.add_marker(pytest.mark.xdist_group(group))
                break

    def rank(item: pytest.Item) -> int:
        for position, prefix in enumerate(LONGEST_FIRST):
            if item.nodeid.startswith(prefix):
                return position
        return len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keeps its order
