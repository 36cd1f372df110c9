"""A ``StreamingQueryListener`` feeding the job's :class:`~streaming.metrics.StreamStatus`.

Spark calls it on the driver, from its listener bus thread, after each batch is committed.
"""

from __future__ import annotations

import json
import logging

from pyspark.sql.streaming.listener import (
    QueryIdleEvent,
    QueryProgressEvent,
    QueryStartedEvent,
    QueryTerminatedEvent,
    StreamingQueryListener,
)

from streaming.metrics import StreamStatus

log = logging.getLogger(__name__)


class StatusListener(StreamingQueryListener):
    def __init__(self, status: StreamStatus) -> None:
        self.status = status

    def onQueryStarted(self, event: QueryStartedEvent) -> None:
        self.status.query_started(str(event.id), str(event.runId))
        log.info("query started id=%s run_id=%s", event.id, event.runId)

    def onQueryProgress(self, event: QueryProgressEvent) -> None:
        progress = json.loads(event.progress.json)
        self.status.progress(progress)
        log.info(
            "batch committed batch_id=%s input_rows=%s rows_per_second=%s duration_ms=%s",
            progress.get("batchId"), progress.get("numInputRows"),
            progress.get("processedRowsPerSecond"),
            (progress.get("durationMs") or {}).get("triggerExecution"),
        )  # fmt: skip

    def onQueryIdle(self, event: QueryIdleEvent) -> None:
        self.status.idle()
        log.debug("query idle id=%s", event.id)

    def onQueryTerminated(self, event: QueryTerminatedEvent) -> None:
        self.status.query_terminated(event.exception)
        if event.exception:
            log.error("query terminated with error id=%s error=%s", event.id, event.exception)
        else:
            log.info("query stopped id=%s", event.id)
