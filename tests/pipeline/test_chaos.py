"""Chaos run (issue 15 §9): the whole pipeline under SIGKILLs, then every event exactly once.

The local pipeline runs on servers of its own (PostgreSQL, the Pub/Sub emulator,
fake-gcs-server, the BigQuery emulator with a data directory) while ``olist simulate`` writes
orders and their life-cycle changes, and poison messages are published straight to the topic.
A schedule drawn from one seed (:mod:`harness.chaos`) SIGKILLs each of the producer, the
streaming job, the API, PostgreSQL, the Pub/Sub emulator, fake-gcs-server and the BigQuery
emulator several times; each comes back on the same port with the same data, the way its
Deployment or StatefulSet brings it back. A process that exits on its own (the job when
BigQuery is gone, the simulator when PostgreSQL is) is restarted like a pod with
``restartPolicy: Always``.

The Pub/Sub emulator has no persistence at all (no data directory: ``gcloud``'s
``--data-dir`` only holds its ``env.yaml``), so a restart loses the topic, the subscriptions
and every message not yet staged by the job; it also numbers messages from 1 again. After
each restart the test does what the runbook prescribes when Pub/Sub lost messages
(docs/operations/producer.md, "replay from an earlier point"): ``olist setup`` recreates the
resources, the producer is stopped, its cursor deleted and the producer started again, so the
whole feed is published again; the sink loads each ``event_id`` once and the job's state
drops copies within ``OLIST_DEDUP_WINDOW`` (24 hours) before they reach the lake. Poison
messages cannot be replayed from a source: those published and not yet in the rejected table
when the emulator was killed are "at risk", may be lost with it, and are counted. The job
knows a redelivered rejected message by its message id *and* publish time
(:mod:`streaming.rejected_key`): poison given the id of earlier poison by a restarted emulator
is rejected like any other, and counted in the report. Six poison messages follow the last
kill, so every run checks the rejected table with messages nothing could lose.

Then it asserts: BigQuery ``order_events`` and the lake hold every source event (every feed
version) exactly once and nothing else; the rejected table and the lake's rejected rows hold
each poison message at most once, nothing but poison, and every poison message that was not
at risk. Length and seed: ``OLIST_CHAOS_SECONDS``, ``OLIST_CHAOS_SEED``,
``OLIST_CHAOS_KILLS_PER_COMPONENT``; a failure names the seed and the kills done.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.api_core.exceptions import GoogleAPIError
from google.cloud import pubsub_v1
from requests.exceptions import RequestException

from harness.chaos import ChaosSettings, KillLog, PlannedKill, kill_schedule
from harness.pipeline import SERVERS, CommandFailed, LocalPipeline
from harness.processes import free_port, wait_for_port
from schemas.envelope import (
    ATTRIBUTE_ENVELOPE_VERSION,
    ATTRIBUTE_EVENT_COUNT,
    encode_events,
)
from tests.fixtures.producer import source_event_ids

SETTINGS = ChaosSettings()
"""Read at import: the autouse fixture removes OLIST_* variables before each test runs."""
DRAIN_TIMEOUT_SECONDS = 600.0
"""After the chaos phase: time for the last restarts and the backlog (a shared 2-core machine
under load takes minutes to start Spark; an idle one seconds)."""
pytestmark = [
    pytest.mark.slow,
    # Each kill costs a restart (a JVM for three of them): the whole run takes several times the
    # chaos phase, plus the drain.
    pytest.mark.timeout(int(SETTINGS.seconds * 6 + DRAIN_TIMEOUT_SECONDS + 300)),
]
log = logging.getLogger(__name__)
POISON_EVERY_SECONDS = (1.0, 5.0)
POISON_AFTER_CHAOS = 6


class Supervisor:
    """The pipeline's processes, started again whenever one has exited (``restartPolicy``)."""

    def __init__(self, pipeline: LocalPipeline, starters: dict[str, Callable[[str], Any]]):
        self.pipeline = pipeline
        self.starters = starters
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: Counter[str] = Counter()
        self.exits: list[tuple[str, int]] = []
        self.stopped: set[str] = set()

    def start(self, name: str) -> None:
        self.starts[name] += 1
        self.processes[name] = self.starters[name](f"{name}-{self.starts[name]}")

    def kill(self, name: str) -> str:
        """SIGKILL ``name``'s process group; says whether it was running."""
        process = self.processes[name]
        if process.poll() is not None:
            return f"was not running (exit {process.returncode})"
        self.pipeline.crash(process)
        return "killed"

    def stop(self, name: str) -> int:
        """SIGTERM, as an operator's ``kubectl scale --replicas=0``; not restarted after."""
        self.stopped.add(name)
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return process.wait(timeout=120)

    def resume(self, name: str) -> None:
        self.stopped.discard(name)
        self.start(name)

    def keep_running(self) -> None:
        for name, process in self.processes.items():
            if name not in self.stopped and process.poll() is not None:
                self.exits.append((name, process.returncode))
                log.warning("chaos restart name=%s exit=%s", name, process.returncode)
                self.start(name)


class PoisonInjector:
    """Publishes poison messages of the kinds issue 15 §1 names, each unique, and tracks them."""

    def __init__(self, topic: str, rng: random.Random) -> None:
        self.topic = topic
        self.rng = rng
        self.publisher = pubsub_v1.PublisherClient()
        self.published: list[bytes] = []
        self.uncertain: list[bytes] = []
        self.at_risk: set[bytes] = set()
        self.epoch = 0
        """Restarts of the emulator so far: it numbers messages from 1 again after each."""
        self.ids: dict[bytes, tuple[int, str]] = {}

    def message(self, number: int) -> tuple[bytes, dict[str, str]]:
        kind = self.rng.randrange(5)
        marker = f'{{"poison": {number}, "city": "São Paulo"}}'
        if kind == 0:  # not UTF-8 at all
            return b"\xff\xfe{" + marker.encode(), {}
        if kind == 1:  # Latin-1 JSON
            return marker.encode("latin-1"), {}
        packed = encode_events([marker.encode()], number, number, compression="zstd")
        if kind == 2:  # a zstd envelope cut short
            return packed.data[:-5], packed.attributes
        if kind == 3:  # an event count int() refuses
            return marker.encode(), {**packed.attributes, ATTRIBUTE_EVENT_COUNT: "²"}
        return packed.data, {**packed.attributes, ATTRIBUTE_ENVELOPE_VERSION: "7"}

    def inject(self) -> None:
        data, attributes = self.message(len(self.published) + len(self.uncertain) + 1)
        try:
            message_id = self.publisher.publish(self.topic, data, **attributes).result(timeout=10)
        except (GoogleAPIError, TimeoutError) as error:  # it may still land later
            log.warning("poison publish uncertain error=%s", type(error).__name__)
            self.uncertain.append(data)
            return
        self.published.append(data)
        self.ids[data] = (self.epoch, str(message_id))

    def shadowed(self) -> set[bytes]:
        """Poison whose message id an earlier emulator gave to earlier poison.

        A restarted emulator hands out 1, 2, ... again; the job keys rejected rows by message
        id and publish time, so these must be rejected like any other (the report counts them).
        """
        earlier = {(epoch, message_id) for epoch, message_id in self.ids.values()}
        return {
            data
            for data, (epoch, message_id) in self.ids.items()
            if any(e < epoch and m == message_id for e, m in earlier)
        }

    def mark_at_risk(self, rejected: set[bytes] | None) -> None:
        """The emulator is about to lose its messages: what is not rejected yet may go."""
        self.at_risk |= {
            data
            for data in [*self.published, *self.uncertain]
            if rejected is None or data not in rejected
        }


def _rejected_payloads(pipeline: LocalPipeline) -> list[bytes]:
    rows = pipeline.query(f"SELECT raw_payload FROM {pipeline.table('order_events_rejected')}")
    return [bytes(row["raw_payload"]) for row in rows]


def _loaded_event_ids(pipeline: LocalPipeline) -> list[str]:
    return [row["event_id"] for row in pipeline.query(f"SELECT event_id FROM {pipeline.table()}")]


def _source_events(database_url: str) -> dict[str, int]:
    return asyncio.run(source_event_ids(database_url))


def test_sigkills_of_every_component_lose_and_duplicate_no_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = SETTINGS.seed
    schedule = kill_schedule(seed, SETTINGS.seconds, SETTINGS.kills_per_component)
    kills = KillLog(tmp_path / "chaos-kills.jsonl", seed)
    with LocalPipeline(tmp_path, namespace="chaos") as pipeline:
        pipeline.start_postgres(tmp_path / "postgres")  # crash-safe: a kill loses no commit
        pipeline.start_pubsub()
        pipeline.start_gcs(tmp_path / "gcs")
        pipeline.start_bigquery(data_dir=tmp_path / "bigquery")
        assert pipeline.pubsub is not None and pipeline.postgres is not None
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pipeline.pubsub.host)
        database_url = pipeline.postgres.dsn
        cursor = tmp_path / "producer-cursor.json"
        api_port = free_port()
        pipeline.variables.update(
            OLIST_CURSOR_LOCATION=str(cursor),
            OLIST_TRIGGER_INTERVAL="2 seconds",
            OLIST_API_URL=f"http://127.0.0.1:{api_port}",
            OLIST_API_KEY="chaos-run-api-key",
        )
        pipeline.run("db-init", "db", "init")
        pipeline.run("setup-0", "setup")
        stream_env = pipeline.stream_env(OLIST_MAX_RECORDS_PER_TRIGGER="500")
        producer_port = free_port()

        def start_api(name: str) -> subprocess.Popen[bytes]:
            process = pipeline.start(name, "api", OLIST_API_PORT=str(api_port))
            wait_for_port(api_port, timeout=120, process=process)
            return process

        supervisor = Supervisor(
            pipeline,
            {
                "api": start_api,
                "producer": lambda name: pipeline.start(
                    name, "produce", OLIST_EVENTS_PER_MESSAGE="20",
                    OLIST_METRICS_PORT=str(producer_port),
                ),
                "stream": lambda name: pipeline.start(name, "stream", **stream_env),
                "simulate": lambda name: pipeline.start(
                    name, "simulate", "--rate", "3", "--days-per-minute", "60",
                    "--seed", str(seed * 1000 + supervisor.starts["simulate"]),
                ),
            },
        )  # fmt: skip
        for name in ("api", "simulate", "producer", "stream"):
            supervisor.start(name)
        topic = f"projects/{pipeline.project}/topics/{pipeline.variables['OLIST_PUBSUB_TOPIC']}"
        rng = random.Random(seed)
        poison = PoisonInjector(topic, rng)
        setups = 0

        def recover_pubsub() -> None:
            """The runbook's replay: resources again, producer from the start of the feed."""
            nonlocal setups
            for _ in range(10):
                setups += 1
                try:
                    pipeline.run(f"setup-{setups}", "setup", timeout=120)
                    break
                except CommandFailed:
                    time.sleep(2)
            else:
                raise AssertionError(f"olist setup kept failing; {kills.summary()}")
            supervisor.stop("producer")
            cursor.unlink(missing_ok=True)
            supervisor.resume("producer")

        def execute(kill: PlannedKill) -> str:
            if kill.component in SERVERS:
                if kill.component == "pubsub":
                    try:
                        poison.mark_at_risk(set(_rejected_payloads(pipeline)))
                    except (GoogleAPIError, RequestException):  # BigQuery down: all at risk
                        poison.mark_at_risk(None)
                pipeline.kill_server(kill.component)
                time.sleep(kill.downtime_seconds)
                pipeline.restart_server(kill.component)
                if kill.component == "pubsub":
                    poison.epoch += 1
                    recover_pubsub()
                    return "restarted; olist setup; producer replayed from the start"
                return "restarted"
            outcome = supervisor.kill(kill.component)
            time.sleep(kill.downtime_seconds)
            supervisor.start(kill.component)
            return f"{outcome}; restarted"

        kills.started = started = time.monotonic()
        next_poison = started + rng.uniform(*POISON_EVERY_SECONDS)
        pending = list(schedule)
        while pending or time.monotonic() - started < SETTINGS.seconds:
            supervisor.keep_running()
            now = time.monotonic()
            if pending and now - started >= pending[0].at_seconds:
                kill = pending.pop(0)
                killed_at = kills.elapsed()
                kills.record(kill, killed_at, execute(kill))
            elif now >= next_poison:
                poison.inject()
                next_poison = now + rng.uniform(*POISON_EVERY_SECONDS)
            else:
                time.sleep(0.2)
        chaos_seconds = time.monotonic() - started
        assert supervisor.stop("simulate") in (0, -signal.SIGTERM), pipeline.log(
            f"simulate-{supervisor.starts['simulate']}"
        )

        # Poison after the last kill too: a run whose every poison message was at risk would
        # prove nothing about the rejected table.
        for _ in range(POISON_AFTER_CHAOS):
            poison.inject()
        # Drain: everything the source serves reaches BigQuery, every safe poison is rejected.
        deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
        safe_poison = set(poison.published) - poison.at_risk
        while True:
            supervisor.keep_running()
            expected = _source_events(database_url)
            try:
                loaded = set(_loaded_event_ids(pipeline))
                rejected = set(_rejected_payloads(pipeline))
            except (GoogleAPIError, RequestException):  # BigQuery mid-restart: ask again
                loaded, rejected = set(), set()
            if loaded >= set(expected) and rejected >= safe_poison:
                break
            log.warning(
                "chaos drain source_events=%d missing_events=%d missing_poison=%d",
                len(expected), len(set(expected) - loaded), len(safe_poison - rejected),
            )  # fmt: skip
            assert time.monotonic() < deadline, (
                f"after {DRAIN_TIMEOUT_SECONDS:.0f} s of drain: {len(set(expected) - loaded)} "
                f"of {len(expected)} events and {len(safe_poison - rejected)} poison messages "
                f"missing; {kills.summary()}"
            )
            time.sleep(3)
        # One more trigger after the last load, so a batch in flight is committed, then stop.
        time.sleep(6)
        for name in ("producer", "stream", "api"):
            supervisor.stop(name)

        expected = _source_events(database_url)
        failure = f"{kills.summary()}; restarts after exits {supervisor.exits}"
        warehouse = Counter(_loaded_event_ids(pipeline))
        lake = Counter(row["event_id"] for row in pipeline.lake_rows())
        rejected_rows = Counter(_rejected_payloads(pipeline))
        lake_rejected = Counter(
            bytes(row["raw_payload"]) for row in pipeline.lake_rows("rejected/")
        )
        injected = set(poison.published) | set(poison.uncertain)
        report = {
            "seed": seed,
            "chaos_seconds": round(chaos_seconds, 1),
            "kills": len(kills.entries),
            "kills_by_component": dict(Counter(str(e["component"]) for e in kills.entries)),
            "restarts_after_exit": dict(Counter(name for name, _ in supervisor.exits)),
            "source_events": len(expected),
            "bigquery_rows": sum(warehouse.values()),
            "lake_rows": sum(lake.values()),
            "poison_published": len(poison.published),
            "poison_uncertain": len(poison.uncertain),
            "poison_at_risk": len(poison.at_risk),
            "poison_lost_with_the_emulator": len(poison.at_risk - set(rejected_rows)),
            "poison_with_a_reused_message_id": len(poison.shadowed()),
            "rejected_rows": sum(rejected_rows.values()),
        }
        (tmp_path / "chaos-report.json").write_text(json.dumps(report, indent=2))
        print("chaos report", json.dumps(report))

        assert len(kills.entries) == len(schedule), failure
        assert set(warehouse) == set(expected), failure
        assert max(warehouse.values()) == 1, failure
        assert set(lake) == set(expected), failure
        assert max(lake.values()) == 1, failure
        assert set(rejected_rows) <= injected, failure
        assert set(rejected_rows) >= safe_poison, failure
        assert max(rejected_rows.values(), default=1) == 1, failure
        assert lake_rejected == rejected_rows, failure
