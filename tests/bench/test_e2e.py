"""bench.e2e end to end at a tiny rate: the last line has exactly issue 11's keys, every event
arrives once, and no server outlives the run."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.e2e import E2EBench, StreamingJobExited, Window, find_max, side_by_side
from bench.offered_load import TICK_SECONDS, LoadWindow, OfferedLoad
from bench.pipeline_sampler import Sample, delivery_trend, slope

SUMMARY_KEYS = {
    "offered_events_per_s", "delivered_events_per_s", "max_sustained_events_per_s",
    "freshness_p50_s", "freshness_p95_s", "freshness_p99_s", "trigger_seconds",
    "exactly_once", "cpu_ms_per_1k_events",
}  # fmt: skip
CPU_KEYS = {"postgres", "api", "producer", "pubsub_emulator", "stream", "bigquery_emulator"}


def _processes_naming(text: str) -> list[str]:
    """Command lines of the running processes that contain ``text``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        if text in command:
            found.append(command)
    return found


# A fresh JVM's first batches take minutes on a loaded 2-core machine (load ~30: 107 s).
@pytest.mark.timeout(1500)
def test_tiny_run_prints_issue_keys_and_delivers_every_event_once() -> None:
    # A 16-second window: on a loaded machine (two test workers) an 8-second one could end
    # before the first 2-second batch landed, and the delivered rate (its slope) read 0.
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.e2e", "--rate", "300", "--freshness-rate", "200",
         "--duration", "16", "--warmup", "4", "--trigger-seconds", "2",
         "--calibration-events", "500", "--drain-timeout", "240"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=1200)
    finally:
        if process.poll() is None:
            process.terminate()  # SIGTERM: the bench stops its servers (SIGKILL would orphan)
            process.communicate(timeout=120)
    completed = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert set(result) == SUMMARY_KEYS
    assert set(result["cpu_ms_per_1k_events"]) == CPU_KEYS
    assert result["exactly_once"] is True
    assert result["trigger_seconds"] == 2
    assert result["delivered_events_per_s"] > 0
    assert 0 < result["freshness_p50_s"] <= result["freshness_p95_s"] <= result["freshness_p99_s"]
    (data_dir,) = re.findall(r"postgres started port=\d+ data_dir=(\S+)", completed.stderr)
    assert _processes_naming(data_dir) == []
    assert not Path(data_dir).exists()


def _window(target: float, delivered: float, drained: bool = True) -> Window:
    """A window at ``target`` events/s that the load achieved, delivering ``delivered``."""
    load = LoadWindow(
        target_events_per_second=target, started_at=0.0, seconds=60.0, events=int(60 * target),
        transactions=60, first_sequence=1, last_sequence=int(60 * target),
        backend_cpu_seconds=1.0,
    )  # fmt: skip
    return Window(
        load=load, delivered_events_per_second=delivered, backlog_slope=0.0,
        max_producer_lag=0, max_pubsub_backlog=0, cpu_seconds={}, drain_seconds=1.0,
        drained=drained,
    )  # fmt: skip


def test_a_window_whose_backlog_did_not_drain_does_not_hold() -> None:
    assert _window(1_000, 1_000).holds
    assert not _window(1_000, 1_000, drained=False).holds


def test_find_max_goes_halfway_after_a_drained_failure_and_stops_after_an_undrained_one() -> None:
    measured: list[float] = []

    def measure(rate: float, undrained_above: float) -> Window:
        measured.append(rate)
        # Delivers up to 1,300 events/s; far above, the backlog outlasts the drain timeout.
        return _window(rate, min(rate, 1_300), drained=rate < undrained_above)

    # 1,000 held, x1.25 = 1,250 held, 1,562.5 failed (drained), halfway 1,406.25 failed.
    assert find_max(_window(1_000, 1_000), lambda r: measure(r, 2_000), windows=4) == 1_250
    assert measured == [1_250, 1_562.5, 1_406.25]
    measured.clear()
    # The same search with 1,562.5 left undrained: no window after it.
    assert find_max(_window(1_000, 1_000), lambda r: measure(r, 1_500), windows=4) == 1_250
    assert measured == [1_250, 1_562.5]


class _Logs:
    """The two methods of LocalPipeline that E2EBench uses to restart the job, on files."""

    def __init__(self, directory: Path, first_log: str) -> None:
        self.directory = directory
        self.started: list[tuple[str, ...]] = []
        self.log_path("stream").write_text(first_log)

    def log_path(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def log(self, name: str, characters: int = 6000) -> str:
        return self.log_path(name).read_text()[-characters:]

    def start(self, name: str, *arguments: str, **env: str) -> subprocess.Popen[bytes]:
        self.started.append((name, *arguments))
        return subprocess.Popen(["sleep", "30"])


def _bench_with_exited_stream(tmp_path: Path, log: str) -> tuple[E2EBench, _Logs]:
    logs = _Logs(tmp_path, log)
    bench = E2EBench(logs, trigger_seconds=10)  # type: ignore[arg-type]
    exited = subprocess.Popen(["false"])
    exited.wait()
    bench.stream_starts.append(exited)
    return bench, logs


def test_a_job_that_missed_pysparks_connect_back_is_started_again_on_its_checkpoint(
    tmp_path: Path,
) -> None:
    bench, logs = _bench_with_exited_stream(
        tmp_path, "SocketTimeoutException ... Python worker failed to connect back.\n"
    )
    try:
        bench.keep_stream_running()
        assert logs.started == [("stream-2", "stream", "--trigger-interval", "10 seconds")]
        assert bench.stream_logs() == [tmp_path / "stream.log", tmp_path / "stream-2.log"]
    finally:
        bench.stream_starts[-1].kill()
        bench.stream_starts[-1].wait()
        bench.close()


def test_a_job_that_exited_for_another_reason_ends_the_run_with_its_log(tmp_path: Path) -> None:
    bench, logs = _bench_with_exited_stream(tmp_path, "msg=stream failed error=disk full\n")
    try:
        with pytest.raises(StreamingJobExited, match="disk full"):
            bench.keep_stream_running()
        assert logs.started == []
    finally:
        bench.close()


class _SlowWriter(OfferedLoad):
    """An offered load whose every transaction takes three ticks, one event per order."""

    def __init__(self) -> None:
        super().__init__("postgresql://unused")
        self.items_per_order = 1.0
        self.transactions: list[int] = []

    async def write(self, orders: int) -> int:
        self.transactions.append(orders)
        await asyncio.sleep(3 * TICK_SECONDS)
        return orders

    def backend_pid(self) -> int:
        return os.getpid()


def test_a_writer_slower_than_a_tick_catches_up_in_larger_transactions() -> None:
    load = _SlowWriter()
    window = asyncio.run(load.run(events_per_second=1_000, seconds=1.0))
    # A tick's worth is 100 events; three ticks (or more, on a loaded machine) pass during
    # each transaction, so every one after the first writes what the clock made due
    # meanwhile, about 300 (a tick's worth each, before).
    assert min(load.transactions[1:]) >= 250, load.transactions
    assert window.events == sum(load.transactions) >= 1_000


def _kept_up_window(rate: int, trigger: int, batch_seconds: int, seconds: int) -> list[Sample]:
    """Samples every second of a window that starts drained, at ``rate`` events/s, where each
    trigger's batch lands ``batch_seconds`` after it with what was committed up to it."""
    samples = []
    for at in range(seconds + 1):
        landed = [start for start in range(0, at + 1, trigger) if start + batch_seconds <= at]
        delivered = rate * max(landed) if landed else 0
        committed = rate * at
        samples.append(Sample(at, committed, committed, committed, committed, delivered))
    return samples


def test_a_pipeline_that_keeps_up_holds_its_rate_in_a_window_a_few_triggers_long() -> None:
    # 1,500 events/s, 10 s trigger, 8 s batches, 60 s window: delivery keeps up, but nothing
    # lands in the first 18 s while the backlog ramps up to one trigger's worth.
    samples = _kept_up_window(rate=1500, trigger=10, batch_seconds=8, seconds=60)
    fitted_to_every_sample = slope([(s.at, s.delivered) for s in samples])
    assert fitted_to_every_sample < 0.95 * 1500  # what the bench measured before: 1,337/s

    delivered, backlog_growth = delivery_trend(samples)

    assert delivered == pytest.approx(1500, rel=0.01)
    assert abs(backlog_growth) <= 0.01 * 1500


def _details(p95: float, delivered: float, stream_cpu: float) -> dict[str, object]:
    """What :func:`bench.e2e.run` returns, reduced to what the last line reads."""
    return {
        "offered_events_per_s": 2_000, "delivered_events_per_s": delivered,
        "max_sustained_events_per_s": None, "freshness_p50_s": p95 / 2, "freshness_p95_s": p95,
        "freshness_p99_s": p95 + 1, "trigger_seconds": 10, "exactly_once": True,
        "cpu_ms_per_1k_events": {name: stream_cpu for name in (*CPU_KEYS, "gcs_emulator")},
    }  # fmt: skip


def test_both_write_methods_keep_issue_keys_and_compare_storage_write_to_load() -> None:
    line = side_by_side(_details(20.0, 1_800, 200.0), _details(15.0, 1_900, 250.0))
    assert set(line) == SUMMARY_KEYS | {"storage_write", "ratio_storage_write_vs_load"}
    assert line["freshness_p95_s"] == 20.0  # the load run's figures at the top level
    assert set(line["storage_write"]) == SUMMARY_KEYS
    assert set(line["storage_write"]["cpu_ms_per_1k_events"]) == CPU_KEYS
    assert line["ratio_storage_write_vs_load"] == {
        "freshness_p50_s": 0.75, "freshness_p95_s": 0.75, "delivered_events_per_s": 1.06,
        "max_sustained_events_per_s": None, "stream_cpu_ms_per_1k_events": 1.25,
    }  # fmt: skip


def test_write_method_accepts_load_storage_write_or_both_and_refuses_anything_else() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.e2e", "--write-method", "streaming_inserts"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 2
    assert "invalid choice: 'streaming_inserts'" in completed.stderr
    assert "'load', 'storage_write', 'both'" in completed.stderr
