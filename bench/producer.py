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

4. **speed-only devices, with and without**: parts that exist only to be faster than a
   well-kept library, each measured against that library in the same run, on the same
   synthetic source (``--repeat`` pairs, in alternating order; the table gives the medians,
   the saving and the range of the ratios, and each device's CPU saving as a share of the
   producer's CPU per event):

   * the HTTP client, :class:`producer.source_connection.SourceConnection` (asyncio protocol +
     httptools) against ``httpx.AsyncClient`` (:mod:`bench.httpx_source`, the client it
     replaced): a drain by ``olist produce --once`` with each (events/s; producer CPU per
     event), also with start-up excluded (less the median of drains of an empty source by the
     same command, both clients), and up to 200,000 events read page by page by each client
     alone, in a process of its own (CPU per event);
   * the fixed-width pattern check, :mod:`schemas.fixed_width_pattern`, against ``re``:
     :class:`schemas.fast_validation.FastEventValidator` with and without it on the same 20
     pages, in this process (CPU per event).

``--sweep`` also drains the synthetic source with other events-per-message, batch and window
settings: the table the defaults in :mod:`producer.settings` were chosen from.
``--synthetic-only`` runs the synthetic-source drains alone (no PostgreSQL, API or seed
baseline; about a minute): the quick measure of the producer's own CPU per event.

The topic has no subscription, so the emulator drops messages once it has acknowledged them
(it would otherwise hold every byte in its Java heap); confirmation is what the producer waits
for either way. Prints a table, then, as the last line, one JSON object::

    {"events": N, "events_per_s": ..., "messages_per_s": ..., "seed_events_per_s": 133.3,
     "speedup_vs_seed": ..., "peak_rss_mb": ..., ...,
     "devices": {"http_client_drain_cpu_us_per_event": {"with": ..., "without": ...,
     "gain": ..., "gain_range": [..., ...]}, ..., "repeat": ...}}
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import multiprocessing
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

import httpx
import msgspec
import orjson

from bench.httpx_source import HttpxConnection
from bench.process_usage import peak_resident_set, session_cpu_seconds, tree_cpu_seconds
from bench.source_data import fill_source_database
from emulators.postgres import LocalPostgres
from emulators.pubsub import PubSubEmulator
from harness.processes import free_port, kill_process_group, start_process_group, wait_for_port
from producer.pubsub_admin import init_pubsub
from producer.settings import ProducerSettings, PubSubSettings
from producer.source_client import EVENTS_PATH, parse_page
from producer.source_connection import SourceConnection
from schemas.envelope import encode_events
from schemas.examples import EXAMPLE_EVENT
from schemas.fast_validation import FastEventValidator
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
    environment.update(
        OLIST_DATABASE_URL=dsn,
        OLIST_API_PORT=str(port),
        OLIST_LOG_LEVEL="WARNING",
        OLIST_API_AUTH_DISABLED="true",  # the bench measures the producer, not the key check
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


class SyntheticSource:
    """A real HTTP server speaking ``GET /v1/order-events`` from one template event.

    The cursor is the decimal sequence; ``total`` events exist. Each event is the template's
    JSON text with a fresh ``source_sequence``, ``order_id`` and ``event_id`` formatted in
    (a fraction of the producer's CPU per event, so the server leaves the machine to the
    producer: docs/design/producer.md#measurements). Runs in a
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
    command: tuple[str, ...] = ("-m", "olist_cli", "--log-level", "WARNING"),
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
    log_path.unlink(missing_ok=True)  # the summary line searched below must be this run's
    servers = watched or {}
    before = {other: cpu() for other, cpu in servers.items()}
    started = time.perf_counter()
    process = start_process_group(
        [sys.executable, *command, "produce", "--once"],
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


@dataclass
class Comparison:
    """One measure of a speed-only device, taken with it and without it once per repetition."""

    device: str
    measure: str
    higher_is_better: bool
    with_device: list[float] = field(default_factory=list)
    without_device: list[float] = field(default_factory=list)

    def record(self, with_device: bool, value: float) -> None:
        (self.with_device if with_device else self.without_device).append(value)

    @property
    def gains(self) -> list[float]:
        """How many times better the measure is with the device, one per repetition."""
        pairs = zip(self.with_device, self.without_device, strict=True)
        if self.higher_is_better:
            return [with_ / without for with_, without in pairs]
        return [without / with_ for with_, without in pairs]

    @property
    def savings(self) -> list[float]:
        """How much better the measure is with the device, in its unit, one per repetition."""
        pairs = zip(self.with_device, self.without_device, strict=True)
        sign = 1 if self.higher_is_better else -1
        return [sign * (with_ - without) for with_, without in pairs]

    def summary(self) -> dict[str, float | list[float]]:
        return {
            "with": round(statistics.median(self.with_device), 3),
            "without": round(statistics.median(self.without_device), 3),
            "gain": round(statistics.median(self.gains), 3),
            "gain_range": [round(min(self.gains), 3), round(max(self.gains), 3)],
            "saving": round(statistics.median(self.savings), 3),
            "with_each": [round(value, 3) for value in self.with_device],
            "without_each": [round(value, 3) for value in self.without_device],
        }


@dataclass
class DeviceRuns:
    """The with/without measures of every speed-only device, and the drains behind them."""

    drains_with: list[Run] = field(default_factory=list)
    drains_without: list[Run] = field(default_factory=list)
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    start_up_cpu_seconds: float = 0.0
    """Median CPU of a drain of an empty source (both clients), taken off each drain's."""

    def add(self, key: str, device: str, measure: str, higher_is_better: bool) -> Comparison:
        self.comparisons[key] = Comparison(device, measure, higher_is_better)
        return self.comparisons[key]


DEVICE_READ_EVENTS = 200_000
"""Events each HTTP client reads in-process per repetition (fewer if the source has fewer)."""

DEVICE_VALIDATION_PAGES = 20
"""Pages (of ``api_page_size`` events) both validators check per repetition."""


def _read_pages(client: str, url: str, page_size: int, events: int) -> float:
    """CPU seconds this process spends reading ``events`` from the start with ``client``.

    Runs in a process of its own, as the producer does: in the bench's process the client
    would share the GIL with the synthetic source's threads, and pay for the hand-overs.
    """
    connection_class = SourceConnection if client == "httptools" else HttpxConnection
    connection = connection_class(
        url, {"Accept": "application/json"}, timeout=60, connect_timeout=5
    )

    async def read_all() -> float:
        # One page first, outside the timing: connecting and lazy imports are start-up.
        await connection.get(EVENTS_PATH, {"limit": 1})
        started, read = time.process_time(), 0
        while read < events:
            limit = min(page_size, events - read)
            response = await connection.get(EVENTS_PATH, {"after": str(read), "limit": limit})
            if response.status != 200:
                raise RuntimeError(f"synthetic source answered {response.status}")
            # SyntheticSource's cursor is the last sequence: nothing is decoded in the timing.
            read += limit
        seconds = time.process_time() - started
        await connection.aclose()
        return seconds

    return asyncio.run(read_all())


def _first_pages(url: str, page_size: int) -> list[list[msgspec.Raw]]:
    """The raw events of the source's first pages, as the producer's validation gets them."""
    pages = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for index in range(DEVICE_VALIDATION_PAGES):
            params: dict[str, str | int] = {"after": str(index * page_size), "limit": page_size}
            page = parse_page(client.get(EVENTS_PATH, params=params).content)
            if page.events:
                pages.append(page.events)
    return pages


def _validation_seconds(validator: FastEventValidator, pages: list[list[msgspec.Raw]]) -> float:
    """CPU seconds of this thread to validate every page; checks that every event passed.

    The collector is off meanwhile: the producer freezes its start-up objects out of it
    (``gc.freeze()``), which the bench's own heap, far larger, would otherwise make costly.
    """
    gc.collect()
    gc.disable()
    try:
        started = time.thread_time()
        outcomes = [validator.validate(page) for page in pages]
        seconds = time.thread_time() - started
    finally:
        gc.enable()
    if any(None in structs for structs in outcomes):
        raise RuntimeError("a synthetic event failed the fast path: the comparison is unfair")
    return seconds


def _compare_devices(
    url: str,
    empty_url: str,
    settings: ProducerSettings,
    workdir: Path,
    watched: dict[str, Callable[[], float]],
    total: int,
    repeat: int,
) -> DeviceRuns:
    """Each speed-only device against the library it replaced, ``repeat`` times, same source."""
    runs = DeviceRuns()
    drain_rate = runs.add("http_client_drain_events_per_s", "HTTP client", "drain events/s", True)
    working_rate = runs.add(
        "http_client_drain_events_per_s_after_start_up", "HTTP client", "drain events/s*", True
    )
    drain_cpu = runs.add(
        "http_client_drain_cpu_us_per_event",
        "HTTP client",
        "producer CPU µs/event*",
        False,
    )
    read_cpu = runs.add(
        "http_client_read_cpu_us_per_event", "HTTP client", "page reads, CPU µs/event", False
    )
    patterns = runs.add(
        "fixed_width_patterns_validate_us_per_event",
        "fixed-width patterns",
        "validation CPU µs/event",
        False,
    )
    page_size, read_events = settings.api_page_size, min(total, DEVICE_READ_EVENTS)
    validators = (FastEventValidator(), FastEventValidator(fixed_width_patterns=False))
    pages = _first_pages(url, page_size)
    validated = sum(map(len, pages))
    reader = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    empty_settings = settings.model_copy(update={"api_url": empty_url})
    start_ups: list[Run] = []
    for repetition in range(repeat):
        # Alternate which variant goes first, so a drift of the machine's load over the run
        # does not favour one of them.
        order = (True, False) if repetition % 2 == 0 else (False, True)
        for with_device in order:
            client = "httptools" if with_device else "httpx"
            # Both variants run through bench.httpx_source, so both import httpx.
            command = ("-m", "bench.httpx_source", client)
            start_ups.append(
                _drain(f"empty source, {client}", empty_settings, workdir, None, command)
            )
            run_ = _drain(f"synthetic source, {client}", settings, workdir, watched, command)
            (runs.drains_with if with_device else runs.drains_without).append(run_)
            drain_rate.record(with_device, run_.events_per_second)
        for with_device in order:
            client = "httptools" if with_device else "httpx"
            reading = reader.submit(_read_pages, client, url, page_size, read_events)
            read_cpu.record(with_device, 1e6 * reading.result() / read_events)
        for with_device in order:
            seconds = _validation_seconds(validators[0 if with_device else 1], pages)
            patterns.record(with_device, 1e6 * seconds / validated)
        log.info("speed-only devices: repetition %d of %d done", repetition + 1, repeat)
    reader.shutdown()
    # Both variants start the same way (same command, same imports): the median of all their
    # empty drains is the start-up of each, steadier than the one taken just before it.
    start_up_seconds = statistics.median(run_.seconds for run_ in start_ups)
    start_up_cpu = statistics.median(run_.cpu_seconds for run_ in start_ups)
    for with_device, drains in ((True, runs.drains_with), (False, runs.drains_without)):
        for run_ in drains:
            working_rate.record(with_device, run_.events / (run_.seconds - start_up_seconds))
            drain_cpu.record(with_device, 1e6 * (run_.cpu_seconds - start_up_cpu) / run_.events)
    runs.start_up_cpu_seconds = start_up_cpu
    return runs


def _synthetic_runs(
    template: dict[str, object],
    total: int,
    settings: ProducerSettings,
    workdir: Path,
    sweep: bool,
    watched: dict[str, Callable[[], float]],
    repeat: int,
) -> tuple[list[Run], DeviceRuns]:
    with SyntheticSource(template, total) as synthetic, SyntheticSource(template, 0) as empty:
        synthetic_settings = settings.model_copy(update={"api_url": synthetic.url})
        runs = [_drain("synthetic source", synthetic_settings, workdir, watched)]
        devices = _compare_devices(
            synthetic.url, empty.url, synthetic_settings, workdir, watched, total, repeat
        )
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
    return runs, devices


async def run(
    events: int, seed: int, baseline_events: int, sweep: bool, repeat: int
) -> dict[str, object]:
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
            synthetic, devices = _synthetic_runs(
                template, total, settings, workdir, sweep, watched, repeat
            )
        finally:
            if api is not None:
                kill_process_group(api)
            emulator.stop()
            postgres.stop()
    _print_table([main, *synthetic], seed_measured, settings)
    _print_devices(devices)
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
        "devices": _device_summary(devices),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def run_synthetic_only(events: int, sweep: bool, repeat: int) -> dict[str, object]:
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
            runs, devices = _synthetic_runs(
                dict(EXAMPLE_EVENT), events, settings, Path(directory), sweep, watched, repeat
            )
        finally:
            emulator.stop()
    _print_table(runs, None, settings)
    _print_devices(devices)
    alone = runs[0]
    return {
        "events": alone.events,
        "producer_alone_events_per_s": round(alone.events_per_second, 1),
        "producer_alone_cpu_s": round(alone.cpu_seconds, 1),
        "producer_alone_cpu_us_per_event": round(1e6 * alone.cpu_seconds / alone.events, 2),
        "producer_alone_peak_rss_mb": round(alone.peak_rss_mb, 1),
        "other_cpu_s": {name: round(value, 1) for name, value in alone.other_cpu_seconds.items()},
        "seconds": round(alone.seconds, 2),
        "devices": _device_summary(devices),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _shares_of_producer_cpu(devices: DeviceRuns) -> dict[str, float]:
    """Each device's CPU saving per event over the producer's CPU per event with every device.

    The producer's CPU is that of its drains, start-up excluded. The HTTP client's saving is
    given twice: between the two drains (what the producer gains, noisy), and between the
    in-process reads (the client alone); the pattern check's comes from in-process validation.
    """
    comparisons = devices.comparisons
    drains = comparisons["http_client_drain_cpu_us_per_event"]
    savings = {
        "http_client_drains": drains.savings,
        "http_client_reads": comparisons["http_client_read_cpu_us_per_event"].savings,
        "fixed_width_patterns": comparisons["fixed_width_patterns_validate_us_per_event"].savings,
    }
    producer = statistics.median(drains.with_device)
    return {name: round(statistics.median(saved) / producer, 3) for name, saved in savings.items()}


def _device_summary(devices: DeviceRuns) -> dict[str, object]:
    summary: dict[str, object] = {
        key: comparison.summary() for key, comparison in devices.comparisons.items()
    }
    summary["saving_share_of_producer_cpu"] = _shares_of_producer_cpu(devices)
    summary["start_up_cpu_s"] = round(devices.start_up_cpu_seconds, 3)
    summary["repeat"] = len(devices.drains_with)
    return summary


def _print_devices(devices: DeviceRuns) -> None:
    repeat = len(devices.drains_with)
    print(
        f"Speed-only devices, with and without, same synthetic source ({repeat} pair(s), "
        "alternating order; medians, and the range of the gains):"
    )
    header = (
        f"{'device':<22}{'measure':<26}{'with':>11}{'without':>11}{'saved':>10}{'gain x':>8}"
        f"{'gain range':>12}"
    )
    print(header)
    print("-" * len(header))
    for comparison in devices.comparisons.values():
        summary = comparison.summary()
        low, high = summary["gain_range"]  # type: ignore[misc]
        print(
            f"{comparison.device:<22}{comparison.measure:<26}{summary['with']:>11,.2f}"
            f"{summary['without']:>11,.2f}{summary['saving']:>10,.2f}{summary['gain']:>8.2f}"
            f"{f'{low:.2f}-{high:.2f}':>12}"
        )
    shares = _shares_of_producer_cpu(devices)
    print(
        "  with: SourceConnection (httptools), fixed-width pattern check; without: "
        "httpx.AsyncClient, re in msgspec.\n"
        "  saved: median over the pairs of without - with (with - without for a rate); "
        "gain > 1: the device is better.\n"
        "  * start-up excluded: each drain's CPU (or wall time) less the median of drains of an "
        f"empty source by both variants ({devices.start_up_cpu_seconds:.2f} CPU s).\n"
        "  CPU saved per event, as a share of the producer's (start-up excluded, every device "
        "on): " + ", ".join(f"{device} {share:.0%}" for device, share in shares.items())
    )
    print()


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
        "--repeat",
        type=int,
        default=1,
        help="with/without pairs of the speed-only devices (alternating order)",
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
        result = run_synthetic_only(arguments.events, arguments.sweep, arguments.repeat)
    else:
        result = asyncio.run(
            run(
                arguments.events,
                arguments.seed,
                arguments.baseline_events,
                arguments.sweep,
                arguments.repeat,
            )
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
