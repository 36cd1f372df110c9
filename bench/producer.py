"""Throughput and memory of the producer, end to end, against the seed's way of publishing.

``python -m bench.producer --events 1000000`` starts its own PostgreSQL, fills it with about
that many order-item events (``source_db.synthetic.generator``), starts the source API and the
Pub/Sub emulator, then measures in the same run:

1. **seed, measured**: what the original Airflow operator did per record - one message per
   event, each publish waited for before the next - over the first ``--baseline-events`` events
   read from the same API. (The original system was further capped at 8,000 records a minute,
   133.3 events/s: ``seed_events_per_s``; the speed-up is computed against that figure.)
2. **producer**: ``olist produce --once`` as a child process draining every event from an
   empty cursor. Wall time from spawn to exit (start-up included), peak RSS and CPU of that
   process alone (``os.wait4``), messages from its summary line; meanwhile the CPU of the API,
   of PostgreSQL and of the emulator (``other_cpu_s``), read from ``/proc``.
3. **producer, synthetic source**: the same drain from a minimal HTTP server in this process
   that follows the API contract and renders pages from one real event (fresh ``order_id``,
   ``event_id`` and ``source_sequence`` per event). It shows what the producer itself sustains
   when the source is not the bottleneck.

``--sweep`` also drains the synthetic source with other events-per-message, batch and window
settings: the table the defaults in :mod:`producer.settings` were chosen from.
``--synthetic-only`` runs the synthetic-source drains alone (no PostgreSQL, API or seed
baseline; about a minute): the quick measure of the producer's own CPU per event.

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
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import httpx
import orjson

from bench.process_usage import peak_resident_set, session_cpu_seconds, tree_cpu_seconds
from bench.source_data import fill_source_database
from emulators.postgres import LocalPostgres
from emulators.pubsub import PubSubEmulator
from harness.processes import free_port, kill_process_group, start_process_group, wait_for_port
from producer.pubsub_admin import init_pubsub
from producer.settings import ProducerSettings, PubSubSettings
from schemas.envelope import encode_events
from schemas.examples import EXAMPLE_EVENT
from schemas.log_format import configure_logging

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
    other_cpu_seconds: dict[str, float]
    """CPU of the other servers during the run (API, PostgreSQL, emulator), by name."""

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds


def _start_api(dsn: str, workdir: Path) -> tuple[Popen[bytes], str]:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OLIST_")}
    environment.update(OLIST_DATABASE_URL=dsn, OLIST_API_PORT=str(port), OLIST_LOG_LEVEL="WARNING")
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


class SyntheticSource:
    """A real HTTP server speaking ``GET /v1/order-events`` from one template event.

    The cursor is the decimal sequence; ``total`` events exist. Each event is the template's
    JSON text with a fresh ``source_sequence``, ``order_id`` and ``event_id`` formatted in
    (~1 µs of CPU per event, so the server leaves the machine to the producer). Runs in a
    thread of the bench process (the bench's main thread only waits for the producer).
    """

    def __init__(self, template: dict[str, object], total: int) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlsplit

        from schemas import event_id_for

        marker_sequence, marker_order = 987654321987, "f" * 31 + "e"
        marker_event = event_id_for(marker_order, 1)
        rendered = orjson.dumps(
            {
                **template,
                "source_sequence": marker_sequence,
                "order_id": marker_order,
                "order_item_id": 1,
                "event_id": marker_event,
            }
        ).decode()
        for marker in (str(marker_sequence), marker_order, marker_event):
            if rendered.count(marker) != 1:
                raise ValueError(f"template event already holds {marker!r}: pick another")
        event_format = (
            rendered.replace("{", "{{")
            .replace("}", "}}")
            .replace(str(marker_sequence), "{sequence}")
            .replace(marker_event, "{event_id}")
            .replace(marker_order, "{order_id}")
        )
        source = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                after = int(query.get("after", ["0"])[0])
                limit = int(query.get("limit", ["1000"])[0])
                last = min(total, after + limit)
                events = []
                for sequence in range(after + 1, last + 1):
                    events.append(
                        event_format.format(
                            sequence=sequence,
                            order_id=f"{sequence:032x}",
                            # Unique and UUID-shaped; the md5 of event_id_for would cost
                            # this server more CPU than the producer spends per event.
                            event_id=f"00000000-0000-4000-8000-{sequence:012x}",
                        )
                    )
                has_more = "true" if last < total else "false"
                body = (
                    f'{{"events":[{",".join(events)}],"next_cursor":"{last}",'
                    f'"has_more":{has_more},"head_sequence":{total}}}'
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                source.requests += 1

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.requests = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SyntheticSource:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _drain(
    name: str,
    settings: ProducerSettings,
    workdir: Path,
    watched: dict[str, Callable[[], float]] | None = None,
) -> Run:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower())
    cursor = workdir / f"cursor-{slug}.json"
    cursor.unlink(missing_ok=True)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OLIST_")}
    for key, value in settings.model_dump().items():
        if value is not None:
            environment[f"OLIST_{key.upper()}"] = str(value)
    environment["OLIST_CURSOR_LOCATION"] = str(cursor)
    log_path = workdir / f"producer-{slug}.log"
    servers = watched or {}
    before = {other: cpu() for other, cpu in servers.items()}
    started = time.perf_counter()
    process = start_process_group(
        [sys.executable, "-m", "olist_cli", "--log-level", "WARNING", "produce", "--once"],
        log_path,
        environment,
    )
    peak = peak_resident_set(process.pid).start()
    # wait4 gives the CPU of this child alone (RUSAGE_CHILDREN would mix in the others).
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    others = {other: cpu() - before[other] for other, cpu in servers.items()}
    peak.stop()
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
        peak_rss_mb=peak.peak_bytes / 2**20,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        other_cpu_seconds=others,
    )


SWEEP: list[tuple[str, dict[str, object]]] = [
    ("n=1", {"events_per_message": 1}),
    ("n=100", {"events_per_message": 100}),
    ("n=500", {"events_per_message": 500}),
    ("n=2000", {"events_per_message": 2000}),
    ("batch_max_messages=10", {"batch_max_messages": 10}),
    ("batch_latency=50ms", {"batch_max_latency_seconds": 0.05}),
    ("window=2 pages", {"max_pages_in_flight": 2}),
    ("window=16 pages", {"max_pages_in_flight": 16}),
    ("page=1000", {"api_page_size": 1000}),
    ("page=5000", {"api_page_size": 5000}),
]
"""Configurations the sweep drains the synthetic source with (defaults otherwise)."""


def _pubsub_names(emulator: PubSubEmulator) -> PubSubSettings:
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
    names = PubSubSettings(gcp_project="olist-bench")
    init_pubsub(names)
    # No subscription on the events topic: the emulator drops what it acknowledged.
    from google.cloud import pubsub_v1

    pubsub_v1.SubscriberClient().delete_subscription(subscription=names.subscription_path())
    return names


def _synthetic_runs(
    template: dict[str, object],
    total: int,
    settings: ProducerSettings,
    workdir: Path,
    sweep: bool,
    watched: dict[str, Callable[[], float]],
) -> list[Run]:
    with SyntheticSource(template, total) as synthetic:
        synthetic_settings = settings.model_copy(update={"api_url": synthetic.url})
        runs = [_drain("synthetic source", synthetic_settings, workdir, watched)]
        if sweep:
            for name, overrides in SWEEP:
                runs.append(
                    _drain(
                        f"synthetic {name}",
                        synthetic_settings.model_copy(update=overrides),
                        workdir,
                        watched,
                    )
                )
    return runs


async def run(
    events: int, seed: int, baseline_events: int, sweep: bool
) -> dict[str, float | int | dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="olist-bench-producer-") as directory:
        workdir = Path(directory)
        postgres = LocalPostgres().start()
        emulator = PubSubEmulator().start()
        api: Popen[bytes] | None = None
        try:
            names = _pubsub_names(emulator)
            total = await fill_source_database(postgres.dsn, events, seed)
            log.info("source ready events=%d", total)
            api, api_url = _start_api(postgres.dsn, workdir)
            assert postgres.data_dir is not None and emulator._process is not None
            postmaster = int((postgres.data_dir / "postmaster.pid").read_text().split()[0])
            api_session, emulator_session = api.pid, emulator._process.pid
            watched: dict[str, Callable[[], float]] = {
                "api": lambda: session_cpu_seconds(api_session),
                "postgresql": lambda: tree_cpu_seconds(postmaster),
                "pubsub_emulator": lambda: session_cpu_seconds(emulator_session),
            }
            settings = ProducerSettings(
                **names.model_dump(), api_url=api_url, metrics_port=0, metrics_host="127.0.0.1"
            )
            seed_measured = _measure_seed(api_url, names.topic_path(), baseline_events)
            log.info("seed way measured events_per_s=%.1f", seed_measured)
            main = _drain("API + PostgreSQL", settings, workdir, watched)
            template = orjson.loads(
                httpx.get(f"{api_url}/v1/order-events", params={"limit": 1}).content
            )["events"][0]
            del watched["api"], watched["postgresql"]
            synthetic = _synthetic_runs(template, total, settings, workdir, sweep, watched)
        finally:
            if api is not None:
                kill_process_group(api)
            emulator.stop()
            postgres.stop()
    _print_table([main, *synthetic], seed_measured, settings)
    alone = synthetic[0]
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
        "other_cpu_s": {name: round(value, 1) for name, value in main.other_cpu_seconds.items()},
        "producer_alone_events_per_s": round(alone.events_per_second, 1),
        "producer_alone_cpu_s": round(alone.cpu_seconds, 1),
        "producer_alone_peak_rss_mb": round(alone.peak_rss_mb, 1),
        "seconds": round(main.seconds, 2),
        "events_per_message": settings.events_per_message,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def run_synthetic_only(events: int, sweep: bool) -> dict[str, float | int | dict[str, float]]:
    """Only the synthetic-source drains (no PostgreSQL, no API): the producer's own speed."""
    with tempfile.TemporaryDirectory(prefix="olist-bench-producer-") as directory:
        emulator = PubSubEmulator().start()
        try:
            names = _pubsub_names(emulator)
            settings = ProducerSettings(
                **names.model_dump(), metrics_port=0, metrics_host="127.0.0.1"
            )
            assert emulator._process is not None
            emulator_session = emulator._process.pid
            watched = {"pubsub_emulator": lambda: session_cpu_seconds(emulator_session)}
            runs = _synthetic_runs(
                dict(EXAMPLE_EVENT), events, settings, Path(directory), sweep, watched
            )
        finally:
            emulator.stop()
    _print_table(runs, None, settings)
    alone = runs[0]
    return {
        "events": alone.events,
        "producer_alone_events_per_s": round(alone.events_per_second, 1),
        "producer_alone_cpu_s": round(alone.cpu_seconds, 1),
        "producer_alone_cpu_us_per_event": round(1e6 * alone.cpu_seconds / alone.events, 2),
        "producer_alone_peak_rss_mb": round(alone.peak_rss_mb, 1),
        "other_cpu_s": {name: round(value, 1) for name, value in alone.other_cpu_seconds.items()},
        "seconds": round(alone.seconds, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _print_table(runs: list[Run], seed_measured: float | None, settings: ProducerSettings) -> None:
    print()
    print(
        f"defaults: events_per_message={settings.events_per_message} "
        f"api_page_size={settings.api_page_size} max_pages_in_flight="
        f"{settings.max_pages_in_flight} batch_max_messages={settings.batch_max_messages} "
        f"batch_max_latency_s={settings.batch_max_latency_seconds}"
    )
    header = (
        f"{'run':<34}{'events':>10}{'messages':>10}{'seconds':>9}{'events/s':>11}"
        f"{'msgs/s':>9}{'cpu s':>8}{'peak RSS MB':>13}"
    )
    print(header)
    print("-" * len(header))
    print(f"{'seed (8,000/min cap)':<22}{'':>10}{'':>10}{'':>9}{SEED_EVENTS_PER_SECOND:>11,.1f}")
    if seed_measured is not None:
        print(f"{'seed way, measured':<34}{'':>10}{'':>10}{'':>9}{seed_measured:>11,.1f}")
    for run_ in runs:
        print(
            f"{run_.name:<34}{run_.events:>10,}{run_.messages:>10,}{run_.seconds:>9.1f}"
            f"{run_.events_per_second:>11,.0f}{run_.messages_per_second:>9,.1f}"
            f"{run_.cpu_seconds:>8.1f}{run_.peak_rss_mb:>13.0f}"
        )
    print()
    print("CPU seconds during each run (the machine has", os.cpu_count(), "cores):")
    for run_ in runs:
        others = " ".join(f"{name}={value:.1f}" for name, value in run_.other_cpu_seconds.items())
        print(
            f"  {run_.name}: producer={run_.cpu_seconds:.1f} "
            f"({1e6 * run_.cpu_seconds / run_.events:.1f} us/event) {others} "
            f"wall={run_.seconds:.1f}"
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
    parser.add_argument(
        "--synthetic-only",
        action="store_true",
        help="only the synthetic-source drain (no PostgreSQL or API): quick, the producer alone",
    )
    arguments = parser.parse_args(argv)
    configure_logging("INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if arguments.synthetic_only:
        result = run_synthetic_only(arguments.events, arguments.sweep)
    else:
        result = asyncio.run(
            run(arguments.events, arguments.seed, arguments.baseline_events, arguments.sweep)
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
