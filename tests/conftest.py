"""Shared test configuration: fixtures that run real servers live in tests/fixtures/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# This process forks only to exec (servers, olist processes, Spark's JVM), but PySpark and the
# API fixture fork with a preexec_fn, and then gRPC's fork handler (grpcio 1.85, on by default;
# grpc/grpc#43055) now and then aborts the child when a gRPC channel is open here: the JVM
# "exited before sending its port number", the API died with SIGABRT. Off is gRPC's documented
# setting for fork-then-exec. It is read when grpc is first imported: this file runs before.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

# Every JVM the tests start is short-lived and handles little data: HotSpot's C2 compiler and
# G1's threads cost it more CPU than they save on a 2-core machine. Tiered compilation stopped at
# C1 and the serial collector, for the drivers spark-submit starts (the session fixture, every
# `olist stream`) and a standalone cluster's Master and Workers, cut a small Spark job's wall
# time by a third at load 7-8, where C2's threads compete for the cores; on a quiet machine
# they change nothing (tests/pipeline/test_end_to_end.py + tests/streaming/test_validation.py:
# 332 s vs 339 s). No behaviour changes; the job's own settings and the benches keep the JVM's
# defaults. An empty value (SPARK_SUBMIT_OPTS=" ") runs the tests with the defaults.
for _variable in ("SPARK_SUBMIT_OPTS", "SPARK_DAEMON_JAVA_OPTS"):
    os.environ.setdefault(_variable, "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")

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
    "tests/pipeline/test_cluster.py",  # one run: both Workers, then a killed Worker and driver
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

XDIST_GROUPS = {
    # Node id prefix -> its xdist group: a group's tests run on one worker, one after another.
    # The two heaviest files (a dozen JVMs between them) never run at once.
    "tests/pipeline/test_chaos.py": "chaos-and-cluster",
    "tests/pipeline/test_cluster.py": "chaos-and-cluster",
    # A session fixture that costs a pipeline run is built by each worker that uses it: its
    # tests go to one worker, so it is built once in the whole run.
    "tests/analytics/test_dashboard.py": "analytics-warehouse",
    "tests/analytics/test_export_dimensions.py": "analytics-warehouse",
    "tests/analytics/test_views.py": "analytics-warehouse",
    "tests/health/test_checks.py": "running-pipeline",
    "tests/health/test_dag.py": "running-pipeline",  # also the Airflow home and its database
    # Module-scoped fixtures: a generated dataset, a TLS server, the project's sdist.
    "tests/source_db/test_generator.py": "source-db-generated",
    "tests/source_db/test_database_tls.py": "database-tls",
    "tests/packaging/test_role_installs.py": "role-installs",
}
SHARED_FIXTURE_GROUPS = {
    "analytics_warehouse": "analytics-warehouse",
    "running_pipeline": "running-pipeline",
    "airflow_runner": "running-pipeline",
}
"""Session fixtures that cost a pipeline run, and the group every test using them must be in."""
SHARED_PIPELINE_TIMEOUT = 1800
"""pytest-timeout for their tests: the first one also pays for the fixture, whose own bound
for the pipeline's first batch is 900 s; the default 600 s cut it short on a loaded machine."""


def xdist_group(nodeid: str) -> str | None:
    """The xdist group of a test (None: scheduled on its own), from its node id alone.

    From the node id because the controller, which schedules, collects nothing itself; and not
    with ``@pytest.mark.xdist_group``: xdist 3.8's loadgroup ignores it on pytest 9.2 (it
    rewrites a node id field pytest no longer reads: pytest-dev/pytest-xdist#1386).
    """
    for prefix, group in XDIST_GROUPS.items():
        if nodeid.startswith(prefix):
            return group
    return None


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, called on the controller
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` (scripts/test.sh) with the groups of :data:`XDIST_GROUPS`."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """Each group one unit of work; every other test a unit of its own."""

        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid) or nodeid

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks Spark tests slow, checks the xdist groups, puts the longest tests first.

    A test that needs Spark is slow: the shared JVM alone takes seconds to start. The groups
    and the order only matter under ``pytest -n 2`` (scripts/test.sh).
    """
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "spark" in fixtures:
            item.add_marker(pytest.mark.slow)
        shared = [fixture for fixture in SHARED_FIXTURE_GROUPS if fixture in fixtures]
        for fixture in shared:
            group = SHARED_FIXTURE_GROUPS[fixture]
            if xdist_group(item.nodeid) != group:
                raise pytest.UsageError(
                    f"{item.nodeid} uses {fixture}: add its module to XDIST_GROUPS in "
                    f"tests/conftest.py as {group!r}, or each xdist worker builds its own"
                )
        if shared and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SHARED_PIPELINE_TIMEOUT))

    def rank(item: pytest.Item) -> int:
        for position, prefix in enumerate(LONGEST_FIRST):
            if item.nodeid.startswith(prefix):
                return position
        return len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keeps its order
