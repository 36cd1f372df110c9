"""``olist stream`` that SIGKILLs its own process group (driver and JVM) at one named point.

Run as ``python -m tests.streaming.crashing_stream`` with ``STORAGE_WRITE_CRASH_AT`` set to:

- ``before_commit``: the batch's tasks appended and finalized their PENDING streams, the
  driver has not called ``BatchCommitWriteStreams``;
- ``after_commit``: the streams are committed, the merge has not run;
- ``before_checkpoint``: the batch is merged (``foreachBatch`` returned), Spark has not written
  its commit to the checkpoint.

Only the first batch with valid rows crashes; the line ``crash point reached point=P
batch_id=N`` is printed first. Test code only: the job itself has no such hook.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from olist_cli.main import app
from streaming.batch_writer import BatchOutcome, BatchWriter
from streaming.bigquery_storage_write import StorageWriteStaging

POINTS = ("before_commit", "after_commit", "before_checkpoint")


def crash(point: str, batch_id: int) -> None:
    print(f"crash point reached point={point} batch_id={batch_id}", file=sys.stderr, flush=True)
    os.killpg(os.getpgid(0), signal.SIGKILL)


def install(point: str) -> None:
    commit = StorageWriteStaging.commit
    call = BatchWriter.__call__

    def commit_then_maybe_crash(
        self: StorageWriteStaging, streams: Any, job_prefix: str, batch_id: int
    ) -> Any:
        if point == "before_commit":
            crash(point, batch_id)
        outcome = commit(self, streams, job_prefix, batch_id)
        if point == "after_commit":
            crash(point, batch_id)
        return outcome

    def batch_then_maybe_crash(self: BatchWriter, frame: Any, batch_id: int) -> None:
        outcomes: list[BatchOutcome] = []
        on_batch = self.on_batch

        def record(outcome: BatchOutcome) -> None:
            outcomes.append(outcome)
            if on_batch is not None:
                on_batch(outcome)

        self.on_batch = record
        try:
            call(self, frame, batch_id)
        finally:
            self.on_batch = on_batch
        if point == "before_checkpoint" and any(item.valid_rows for item in outcomes):
            crash(point, batch_id)

    StorageWriteStaging.commit = commit_then_maybe_crash  # type: ignore[method-assign,assignment]
    BatchWriter.__call__ = batch_then_maybe_crash  # type: ignore[method-assign]


if __name__ == "__main__":
    chosen = os.environ["STORAGE_WRITE_CRASH_AT"]
    if chosen not in POINTS:
        raise SystemExit(f"STORAGE_WRITE_CRASH_AT={chosen!r}: expected one of {POINTS}")
    install(chosen)
    app(["stream"])
