"""Throughput and memory of the producer, end to end, against the seed's way of publishing.

``python -m bench.producer --events 1000000`` starts its own PostgreSQL, fills it with about
that many order-item events (``source_api.db.generator``), starts the source API and the
Pub/Sub emulator, then measures in the same run:

1. **seed, measured**: what the original Airflow operator did per record - one message per
   event, each publish waited for before the next - over the first ``--baseline-events`` events
   read from the same API. (The original system was further capped at 8,000 records a minute,
   133.3 events/s: ``seed_events_per_s``; the speed-up is computed against that figure.)
2. **producer**: ``olist produce --once`` as a child process draining every event from an
   empty cursor. Wall time from spawn to exit (start-up included), peak RSS and CPU of that
   process alone (``os.wait4``), messages from its summary line.

``--sweep`` also drains the same events with other events-per-message and batch settings, the
table the defaults in :mod:`producer.settings` were chosen from.

The topic has no subscription, so the emulator drops messages once it has acknowledged them
(it would otherwise hold every byte in its Java heap); confirmation is what the producer waits
for either way. Prints a table, then, as the last line, one JSON object::

    {"events": N, "events_per_s": ..., "messages_per_s": ..., "seed_events_per_s": 133.3,
     "speedup_vs_seed": ..., "peak_rss_mb": ..., ...}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import asyncpg
import httpx
import orjson

from emulators._process import free_port, kill_process_group, start_process_group, wait_for_port
from emulators.postgres import LocalPostgres
from emulators.pubsub import PubSubEmulator
from producer.pubsub_admin import init_pubsub
from producer.settings import ProducerSettings, PubSubSettings
from schemas.envelope import encode_events
from source_api.db import reference_data
from source_api.db.generator import generate_dataset
from source_api.db.schema import init_database

log = logging.getLogger("bench.producer")

SEED_EVENTS_PER_SECOND = round(8000 / 60, 1)
"""The original system: 1,000 records per DAG run, at most 8,000 records a minute."""

SUMMARY = re.compile(r"published events=(\d+) messages=(\d+)")


@dataclass(frozen=True)
class Run:
    """One drain of every event by ``olist produce --once``."""

    name: str
    events: int
    messages: int
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds


def _mean_items_per_order() -> float:
    weights = reference_data.ITEMS_PER_ORDER_WEIGHTS
    return sum(count * weight for count, weight in enumerate(weights, 1)) / sum(weights)


async def _fill(dsn: str, events: int, seed: int) -> int:
    await init_database(dsn)
    orders = max(1, math.ceil(events / _mean_items_per_order()))
    report = await generate_dataset(dsn, orders=orders, seed=seed)
    log.info("generated orders=%d items=%d seconds=%.1f", orders, report.items, report.seconds)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("VACUUM ANALYZE")
        return int(await connection.fetchval("SELECT count(*) FROM olist.order_items"))
    finally:
        await connection.close()


def _start_api(dsn: str, workdir: Path) -> tuple[Popen[bytes], str]:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OLIST_")}
    environment.update(
        OLIST_DATABASE_URL=dsn, OLIST_API_PORT=str(port), OLIST_API_LOG_LEVEL="WARNING"
    )
    process = start_process_group(
        [sys.executable, "-m", "source_api.server"], workdir / "api.log", environment
    )
    wait_for_port(port, timeout=60, process=process)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        if httpx.get(f"{url}/healthz").status_code == 200:
            break
        time.sleep(0.1)
    return process, url


def _measure_seed(api_url: str, topic: str, events: int) -> float:
    """One message per event, each publish confirmed before the next: the original operator."""
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    published = 0
    started = time.perf_counter()
    with httpx.Client(base_url=api_url, timeout=60) as client:
        after: str | None = None
        while published < events:
            params: dict[str, str | int] = {"limit": min(1000, events - published)}
            if after is not None:
                params["after"] = after
            page = orjson.loads(client.get("/v1/order-events", params=params).content)
            for event in page["events"]:
                message = encode_events(
                    [orjson.dumps(event)], event["source_sequence"], event["source_sequence"]
                )
                publisher.publish(topic, message.data, **message.attributes).result()
                published += 1
            after = page["next_cursor"]
            if not page["has_more"]:
                break
    seconds = time.perf_counter() - started
    publisher.stop()
    return published / seconds


def _drain(
    name: str,
    settings: ProducerSettings,
    workdir: Path,
) -> Run:
    cursor = workdir / f"cursor-{name}.json"
    cursor.unlink(missing_ok=True)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OLIST_")}
    for key, value in settings.model_dump().items():
        if value is not None:
            environment[f"OLIST_{key.upper()}"] = str(value)
    environment["OLIST_CURSOR_LOCATION"] = str(cursor)
    log_path = workdir / f"producer-{name}.log"
    started = time.perf_counter()
    process = start_process_group(
        [sys.executable, "-m", "olist_cli", "--log-level", "WARNING", "produce", "--once"],
        log_path,
        environment,
    )
    # wait4 gives the rusage of this child alone (RUSAGE_CHILDREN would mix in the others).
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    output = log_path.read_text(errors="replace")
    match = SUMMARY.search(output)
    if process.returncode != 0 or match is None:
        raise RuntimeError(f"producer run {name} failed ({process.returncode}):\n{output[-3000:]}")
    return Run(
        name=name,
        events=int(match.group(1)),
        messages=int(match.group(2)),
        seconds=seconds,
        peak_rss_mb=usage.ru_maxrss / 1024,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )


SWEEP: list[tuple[str, dict[str, object]]] = [
    ("n=1", {"events_per_message": 1}),
    ("n=100", {"events_per_message": 100}),
    ("n=500", {"events_per_message": 500}),
    ("n=2000", {"events_per_message": 2000}),
    ("n=1000 batch=10msg", {"events_per_message": 1000, "batch_max_messages": 10}),
    ("n=1000 latency=50ms", {"events_per_message": 1000, "batch_max_latency_seconds": 0.05}),
    ("n=1000 window=2", {"events_per_message": 1000, "max_pages_in_flight": 2}),
    ("n=1000 page=1000", {"events_per_message": 1000, "api_page_size": 1000}),
]


async def run(events: int, seed: int, baseline_events: int, sweep: bool) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory(prefix="olist-bench-producer-") as directory:
        workdir = Path(directory)
        postgres = LocalPostgres().start()
        emulator = PubSubEmulator().start()
        api: Popen[bytes] | None = None
        try:
            os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
            total = await _fill(postgres.dsn, events, seed)
            log.info("source ready events=%d", total)
            api, api_url = _start_api(postgres.dsn, workdir)
            names = PubSubSettings(gcp_project="olist-bench")
            init_pubsub(names)
            # No subscription on the events topic: the emulator drops what it acknowledged.
            from google.cloud import pubsub_v1

            pubsub_v1.SubscriberClient().delete_subscription(subscription=names.subscription_path())
            settings = ProducerSettings(
                **names.model_dump(), api_url=api_url, metrics_port=0, metrics_host="127.0.0.1"
            )
            seed_measured = _measure_seed(api_url, names.topic_path(), baseline_events)
            log.info("seed way measured events_per_s=%.1f", seed_measured)
            main = _drain("default", settings, workdir)
            runs = [main]
            if sweep:
                for name, overrides in SWEEP:
                    runs.append(_drain(name, settings.model_copy(update=overrides), workdir))
        finally:
            if api is not None:
                kill_process_group(api)
            emulator.stop()
            postgres.stop()
    _print_table(runs, seed_measured, settings)
    return {
        "events": main.events,
        "events_per_s": round(main.events_per_second, 1),
        "messages_per_s": round(main.messages_per_second, 1),
        "seed_events_per_s": SEED_EVENTS_PER_SECOND,
        "speedup_vs_seed": round(main.events_per_second / SEED_EVENTS_PER_SECOND, 1),
        "peak_rss_mb": round(main.peak_rss_mb, 1),
        "seed_way_measured_events_per_s": round(seed_measured, 1),
        "speedup_vs_seed_way_measured": round(main.events_per_second / seed_measured, 1),
        "producer_cpu_s": round(main.cpu_seconds, 1),
        "seconds": round(main.seconds, 2),
        "events_per_message": settings.events_per_message,
    }


def _print_table(runs: list[Run], seed_measured: float, settings: ProducerSettings) -> None:
    print()
    print(
        f"defaults: events_per_message={settings.events_per_message} "
        f"api_page_size={settings.api_page_size} max_pages_in_flight="
        f"{settings.max_pages_in_flight} batch_max_messages={settings.batch_max_messages} "
        f"batch_max_latency_s={settings.batch_max_latency_seconds}"
    )
    header = (
        f"{'run':<22}{'events':>10}{'messages':>10}{'seconds':>9}{'events/s':>11}"
        f"{'msgs/s':>9}{'cpu s':>8}{'peak RSS MB':>13}"
    )
    print(header)
    print("-" * len(header))
    print(f"{'seed (8,000/min cap)':<22}{'':>10}{'':>10}{'':>9}{SEED_EVENTS_PER_SECOND:>11,.1f}")
    print(f"{'seed way, measured':<22}{'':>10}{'':>10}{'':>9}{seed_measured:>11,.1f}")
    for run_ in runs:
        print(
            f"{run_.name:<22}{run_.events:>10,}{run_.messages:>10,}{run_.seconds:>9.1f}"
            f"{run_.events_per_second:>11,.0f}{run_.messages_per_second:>9,.1f}"
            f"{run_.cpu_seconds:>8.1f}{run_.peak_rss_mb:>13.0f}"
        )
    print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to drain")
    parser.add_argument("--seed", type=int, default=1, help="generator seed")
    parser.add_argument(
        "--baseline-events", type=int, default=2000, help="events published the seed's way"
    )
    parser.add_argument(
        "--sweep", action="store_true", help="also drain with other batching settings"
    )
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level="INFO", format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    result = asyncio.run(
        run(arguments.events, arguments.seed, arguments.baseline_events, arguments.sweep)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
