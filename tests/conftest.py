"""Shared test configuration: fixtures that run real servers live in tests/fixtures/."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures.spark",
    "tests.fixtures.postgres",
    "tests.fixtures.pubsub",
    "tests.fixtures.source_topic",
    "tests.fixtures.producer",
    "tests.fixtures.olist_csv",
    "tests.fixtures.api",
    "tests.fixtures.gcs",
    "tests.fixtures.bigquery",
    "tests.fixtures.pipeline",
]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts without OLIST_* variables from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("OLIST_") and name != "OLIST_PUBSUB_EMULATOR_BIN":
            monkeypatch.delenv(name)
    yield
