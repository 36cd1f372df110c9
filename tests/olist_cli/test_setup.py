"""``olist setup`` creates every resource and the analytics views, and ``olist stream`` refuses
to start without the resources."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest
from google.cloud import pubsub_v1

from analytics.views import view_definitions
from emulators.bigquery import BigQueryEmulator
from emulators.gcs import FakeGcsServer
from emulators.pubsub import PubSubEmulator
from streaming.exit_codes import ExitCode
from streaming.preflight import missing_resources
from streaming.settings import StreamSettings
from tests.fixtures.producer import REPOSITORY_ROOT

_counter = itertools.count(1)


@pytest.fixture
def names(
    pubsub_emulator: PubSubEmulator, gcs_server: FakeGcsServer, bigquery_emulator: BigQueryEmulator
) -> dict[str, str]:
    """Variables naming resources no other test uses, on the session's emulators."""
    suffix = f"{os.getpid()}-{next(_counter)}"
    return {
        "PUBSUB_EMULATOR_HOST": pubsub_emulator.host,
        "STORAGE_EMULATOR_HOST": gcs_server.endpoint,
        "OLIST_BIGQUERY_API_ENDPOINT": bigquery_emulator.endpoint,
        "OLIST_GCP_PROJECT": bigquery_emulator.project,
        "OLIST_PUBSUB_TOPIC": f"setup-{suffix}",
        "OLIST_PUBSUB_SUBSCRIPTION": f"setup-{suffix}-stream",
        "OLIST_PUBSUB_DEAD_LETTER_TOPIC": f"setup-{suffix}-dead",
        "OLIST_PUBSUB_DEAD_LETTER_SUBSCRIPTION": f"setup-{suffix}-dead-inspect",
        "OLIST_LAKE_BUCKET": f"olist-setup-{suffix}",
        "OLIST_BIGQUERY_DATASET": f"olist_setup_{suffix.replace('-', '_')}",
    }


def olist(*arguments: str, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OLIST_")}
    environment.update(variables, PYTHONPATH=str(REPOSITORY_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "olist_cli", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,  # a bound against a hang, not a performance expectation
    )


def settings_of(variables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> StreamSettings:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return StreamSettings()


def test_setup_creates_every_resource_and_view_and_a_second_run_changes_nothing(
    names: dict[str, str], bigquery_emulator: BigQueryEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(names, monkeypatch)
    views = view_definitions()
    assert len(missing_resources(settings)) == 3  # subscription, bucket, dataset

    first = olist("setup", variables=names)
    second = olist("setup", variables=names)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert first.stdout == second.stdout
    project, dataset = names["OLIST_GCP_PROJECT"], names["OLIST_BIGQUERY_DATASET"]
    assert first.stdout.splitlines() == [
        f"ready projects/{project}/topics/{names['OLIST_PUBSUB_TOPIC']}",
        f"ready projects/{project}/subscriptions/{names['OLIST_PUBSUB_SUBSCRIPTION']}",
        f"ready projects/{project}/topics/{names['OLIST_PUBSUB_DEAD_LETTER_TOPIC']}",
        f"ready projects/{project}/subscriptions/{names['OLIST_PUBSUB_DEAD_LETTER_SUBSCRIPTION']}",
        f"ready gs://{names['OLIST_LAKE_BUCKET']}",
        f"ready {project}.{dataset}.order_events",
        f"ready {project}.{dataset}.order_items_current",
        f"ready {project}.{dataset}.order_events_rejected",
        f"ready {len(views)} views in {project}.{dataset}: {', '.join(v.name for v in views)}",
    ]
    assert missing_resources(settings) == []
    with bigquery_emulator.client() as client:
        made = {t.table_id: t.table_type for t in client.list_tables(f"{project}.{dataset}")}
        functions = {r.routine_id for r in client.list_routines(f"{project}.{dataset}")}
        # The views answer (over the empty tables) once setup has run, twice.
        (kpis,) = client.query(f"SELECT orders FROM `{project}.{dataset}.kpis`").result()
    assert {v.name: made.get(v.name) for v in views} == {v.name: "VIEW" for v in views}
    assert functions == {v.function for v in views if v.function}
    assert kpis["orders"] == 0
    subscription = pubsub_v1.SubscriberClient().get_subscription(
        subscription=settings.subscription_path
    )
    assert subscription.dead_letter_policy.dead_letter_topic.endswith(
        names["OLIST_PUBSUB_DEAD_LETTER_TOPIC"]
    )


def test_stream_without_setup_stops_at_once_naming_what_is_missing_and_the_command(
    names: dict[str, str],
) -> None:
    result = olist("stream", variables=names)

    assert result.returncode == 3 == ExitCode.MISSING_RESOURCES.value
    project, dataset = names["OLIST_GCP_PROJECT"], names["OLIST_BIGQUERY_DATASET"]
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert errors == [
        next(line for line in result.stderr.splitlines() if "stream cannot start" in line)
    ]
    assert (
        f"stream cannot start: missing Pub/Sub subscription projects/{project}/subscriptions/"
        f"{names['OLIST_PUBSUB_SUBSCRIPTION']}; Cloud Storage bucket "
        f"gs://{names['OLIST_LAKE_BUCKET']}; BigQuery dataset {project}.{dataset} and its "
        "tables: create them with `olist setup`"
    ) in errors[0]
    assert "Traceback" not in result.stderr
    assert "spark" not in result.stderr.lower()  # stopped before Spark started


def test_preflight_names_a_single_missing_table(
    names: dict[str, str], bigquery_emulator: BigQueryEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert olist("setup", variables=names).returncode == 0
    settings = settings_of(names, monkeypatch)
    table = f"{settings.gcp_project}.{settings.bigquery_dataset}.order_events_rejected"
    with bigquery_emulator.client() as client:
        client.delete_table(table)

    assert missing_resources(settings) == [f"BigQuery table {table}"]


def test_stream_with_invalid_settings_logs_one_line_and_exits_2(names: dict[str, str]) -> None:
    result = olist("stream", variables={**names, "OLIST_READ_PARTITIONS": "zero"})

    assert result.returncode == 2 == ExitCode.BAD_SETTINGS.value
    assert "stream failed error=invalid configuration: OLIST_READ_PARTITIONS:" in result.stderr
    assert "Traceback" not in result.stderr
