"""Where every event of a running pipeline is, sampled every second, for ``bench.e2e``.

Each :class:`Sample` counts events at each stage: committed in PostgreSQL (the offered load's
commit log), read by the producer (its persisted cursor, ``olist_producer_cursor_sequence``),
published to Pub/Sub (``olist_producer_events_published_total``) and written to BigQuery by
the streaming job (``totals.valid_rows`` of its ``/status``). The differences are the backlogs:
producer lag (committed - cursor) and the Pub/Sub plus stream backlog (published - delivered).
The Pub/Sub emulator counts nothing itself (no Cloud Monitoring, no backlog in its API; see
``health/checks/pubsub.py``), so the backlog in Pub/Sub is what was published and not yet
delivered.

Also here: when each micro-batch's rows became queryable (:func:`batch_done_times`, from the
job's ``batch done`` log line, written after the BigQuery write returned), and the statistics
the benchmark reports (:func:`slope`, :func:`percentile`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from harness.pipeline import get_json

log = logging.getLogger(__name__)

_BATCH_DONE = re.compile(r"^ts=(\S+ \S+) .*msg=batch done batch_id=(\d+) ")


@dataclass(frozen=True)
class Sample:
    """Events at each stage at one instant (``time.time()``)."""

    at: float
    committed: int
    committed_last_sequence: int
    producer_cursor: int
    published: int
    delivered: int

    @property
    def producer_lag(self) -> int:
        return max(0, self.committed_last_sequence - self.producer_cursor)

    @property
    def pubsub_backlog(self) -> int:
        """Published, not yet in BigQuery: in Pub/Sub or in the stream's running batch."""
        return max(0, self.published - self.delivered)


def prometheus_values(url: str, timeout: float = 5.0) -> dict[str, float]:
    """Every unlabelled sample of a Prometheus ``/metrics`` page by name."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        text = response.read().decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


class PipelineSampler:
    """Samples the pipeline every ``interval`` seconds in a thread, from :meth:`start` to
    :meth:`stop`; ``committed()`` gives (events committed, last sequence) of the load."""

    def __init__(
        self,
        committed: Callable[[], tuple[int, int]],
        producer_metrics_url: str,
        stream_status_url: str,
        interval: float = 1.0,
    ) -> None:
        self.samples: list[Sample] = []
        self._committed = committed
        self._producer = producer_metrics_url
        self._stream = stream_status_url
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipeline-sampler", daemon=True)

    def start(self) -> PipelineSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> Sample:
        """One sample now."""
        committed, last_sequence = self._committed()
        producer = prometheus_values(self._producer)
        status = get_json(self._stream, timeout=5.0)
        return Sample(
            at=time.time(),
            committed=committed,
            committed_last_sequence=last_sequence,
            producer_cursor=int(producer.get("olist_producer_cursor_sequence", 0)),
            published=int(producer.get("olist_producer_events_published_total", 0)),
            delivered=int(status["totals"]["valid_rows"]),
        )

    def between(self, start: float, end: float) -> list[Sample]:
        return [sample for sample in self.samples if start <= sample.at <= end]

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.samples.append(self.sample())
            except OSError as error:  # a busy process answering late: the next sample tells
                log.warning("pipeline sample missed error=%s", error)
            next_at += self._interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))


def batch_done_times(stream_log: Path) -> dict[int, float]:
    """When each micro-batch's rows were in BigQuery (``time.time()`` scale), by batch id,
    from the job's ``batch done`` lines (the logging clock is the machine's local time)."""
    done: dict[int, float] = {}
    for line in stream_log.read_text(errors="replace").splitlines():
        match = _BATCH_DONE.match(line)
        if match:
            stamp = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
            done[int(match.group(2))] = stamp.timestamp()  # naive: local time, as logged
    return done


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of ``(x, y)`` points; 0 for fewer than two distinct x."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def at_batch_landings(samples: Sequence[Sample]) -> list[Sample]:
    """The samples taken just after a micro-batch landed (``delivered`` went up since the one
    before): the same phase of every trigger.

    Rows reach BigQuery a batch at a time, so ``delivered`` is a staircase with one step per
    trigger and the backlog a sawtooth of height rate x trigger. A slope fitted to every
    sample of a window only a few triggers long depends on where the teeth fall (a 60 s
    window at a 10 s trigger: off by up to a sixth of the rate); fitted to these samples it
    does not.
    """
    return [
        sample
        for previous, sample in itertools.pairwise(samples)
        if sample.delivered > previous.delivered
    ]


def delivery_trend(samples: Sequence[Sample]) -> tuple[float, float]:
    """(delivered events/s, backlog growth in events/s) over ``samples``, fitted to the
    samples at batch landings (:func:`at_batch_landings`) when at least three batches landed,
    else to every sample."""
    landings = at_batch_landings(samples)
    points = landings if len(landings) >= 3 else list(samples)
    delivered = slope([(s.at, s.delivered) for s in points])
    backlog = slope([(s.at, s.committed - s.delivered) for s in points])
    return delivered, backlog


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """The ``share`` quantile (0..1) of ascending values, nearest rank."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, min(len(sorted_values), math.ceil(share * len(sorted_values))))
    return sorted_values[rank - 1]
