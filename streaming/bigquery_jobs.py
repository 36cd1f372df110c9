"""Run a BigQuery job at most once per deterministic id, with a timeout on every call.

The sink names each job from the checkpoint's query id, the batch id and the step
(``olist_<query>_order_events_42_stage``), so a replayed batch finds the job of its earlier
attempt instead of running it again. :meth:`JobRunner.run_once`:

1. looks the id up (``get_job``): a job that succeeded is not run again; one still running is
   waited for; one that failed frees the next id (``..._r1``, ``..._r2``...);
2. otherwise inserts the job. The client retries a job insert whose response was lost, and
   the retry then gets **409 Conflict** for the same id: the job exists and may be running, so
   it is fetched and waited for like in 1, never replaced by ``_r1`` while it runs;
3. waits for the job with ``job_timeout_seconds``. A job still running then raises
   :class:`BigQueryJobTimeout`: the batch fails and replays, and the replay waits for the same
   job again (step 1) instead of starting a second one.

Every API call carries ``request_timeout_seconds``. Looking the id up first is also what
makes this hold on the emulator, which would run a reused job id again where the service
answers 409 (docs/design/emulators.md).
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

MAX_ATTEMPTS_PER_JOB = 20


class BigQueryJobError(RuntimeError):
    """A job failed; the message carries BigQuery's errors and the job id."""


class BigQueryLoadError(BigQueryJobError):
    """A load job failed, or a batch cannot be loaded as it is."""


class BigQueryJobTimeout(BigQueryJobError):
    """A job was still running after the timeout; the batch fails and the replay waits again."""


class Job(Protocol):
    """What the runner needs of a job (any of the client's job classes)."""

    @property
    def job_id(self) -> str: ...

    @property
    def state(self) -> str | None: ...

    @property
    def error_result(self) -> dict[str, Any] | None: ...

    @property
    def errors(self) -> list[dict[str, Any]] | None: ...

    def result(self, *, timeout: float | None = ...) -> object: ...


class JobClient(Protocol):
    """The part of ``google.cloud.bigquery.Client`` the runner calls."""

    def get_job(self, job_id: str, *, location: str | None = ..., timeout: float = ...) -> Any: ...


@dataclass(frozen=True)
class JobOutcome:
    """The job that did the work, and whether an earlier attempt had already done it."""

    job_id: str
    already_done: bool


@dataclass(frozen=True)
class JobRunner:
    """Runs jobs once per id on one client and location, with the configured timeouts."""

    client: JobClient
    location: str
    request_timeout_seconds: float = 60.0
    job_timeout_seconds: float = 1800.0

    def run_once(self, base_id: str, start: Callable[[str], Job], what: str) -> JobOutcome:
        """Run ``start(job_id)`` unless a job of ``base_id`` already succeeded; wait for it."""
        from google.api_core.exceptions import Conflict

        for attempt in range(MAX_ATTEMPTS_PER_JOB):
            job_id = base_id if attempt == 0 else f"{base_id}_r{attempt}"
            existing = self._existing(job_id)
            if existing is not None:
                if self._wait(existing, what, raise_on_failure=False):
                    log.info("bigquery job already done, skipping what=%s job_id=%s", what, job_id)
                    return JobOutcome(job_id, already_done=True)
                continue  # that attempt failed: the next id is free for a new one
            try:
                job = start(job_id)
            except Conflict:
                # The insert reached BigQuery and the client retried it after losing the
                # response (or a concurrent attempt made it): the same job, maybe running.
                log.warning("bigquery job insert answered 409, waiting for it job_id=%s", job_id)
                conflicting = self._existing(job_id)
                if conflicting is None or not self._wait(conflicting, what, raise_on_failure=False):
                    continue
                return JobOutcome(job_id, already_done=False)
            self._wait(job, what, raise_on_failure=True)
            return JobOutcome(job_id, already_done=False)
        raise BigQueryJobError(
            f"{what}: {MAX_ATTEMPTS_PER_JOB} attempts failed; see the jobs named {base_id}_r*"
        )

    def find_done(self, base_id: str, what: str) -> str | None:
        """The id of a job of ``base_id`` (or its retries) that succeeded, waiting for a running
        one; None when no attempt succeeded."""
        for attempt in range(MAX_ATTEMPTS_PER_JOB):
            job_id = base_id if attempt == 0 else f"{base_id}_r{attempt}"
            existing = self._existing(job_id)
            if existing is None:
                return None
            if self._wait(existing, what, raise_on_failure=False):
                return job_id
        return None

    def _existing(self, job_id: str) -> Job | None:
        from google.api_core.exceptions import NotFound

        try:
            job: Job = self.client.get_job(
                job_id, location=self.location, timeout=self.request_timeout_seconds
            )
        except NotFound:
            return None
        return job

    def _wait(self, job: Job, what: str, raise_on_failure: bool) -> bool:
        """True once ``job`` succeeded; False (or raise) if it failed; raise on the timeout."""
        from google.api_core.exceptions import GoogleAPICallError

        try:
            job.result(timeout=self.job_timeout_seconds)
        except concurrent.futures.TimeoutError as error:
            raise BigQueryJobTimeout(
                f"{what}: job {job.job_id} still running after {self.job_timeout_seconds:.0f} s "
                "(OLIST_BIGQUERY_JOB_TIMEOUT_SECONDS); the batch fails and its replay waits for "
                "the same job"
            ) from error
        except GoogleAPICallError as error:
            if raise_on_failure:
                raise BigQueryLoadError(
                    f"{what}: job {job.job_id} failed: {job.errors or error}"
                ) from error
            log.warning("earlier attempt failed job_id=%s error=%s", job.job_id, error)
            return False
        return job.error_result is None
