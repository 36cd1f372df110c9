"""``spark-submit streaming/job.py``: the JVM is the parent, the Python driver its child.

docs/operations/streaming.md#stopping-the-job says to send SIGTERM to the Python driver, found
with ``pgrep -P <spark-submit pid> -f streaming/job.py``: the query then stops between batches
and the JVM exits with the driver's code, 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.pipeline import LocalPipeline
from harness.processes import kill_process_group, start_process_group, wait_until

pytestmark = pytest.mark.slow

JOB = Path(__file__).resolve().parents[2] / "streaming" / "job.py"


def test_spark_submit_stops_cleanly_when_its_python_driver_gets_sigterm(
    pipeline: LocalPipeline,
) -> None:
    spark_submit = Path(sys.executable).parent / "spark-submit"
    log = pipeline.log_path("spark-submit")
    environment = {**pipeline.env, **pipeline.stream_env(), "PYSPARK_PYTHON": sys.executable}
    process = start_process_group(
        [str(spark_submit), "--master", "local[2]", str(JOB)], log, env=environment
    )
    try:
        wait_until(
            lambda: "stream started" in log.read_text(errors="replace"),
            timeout=900,  # a bound against a hang: Spark's start on a loaded 2-core machine
            what="the query to start",
            process=process,
        )
        found = subprocess.run(
            ["pgrep", "-P", str(process.pid), "-f", "streaming/job.py"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        (driver,) = (int(pid) for pid in found.stdout.split())
        os.kill(driver, signal.SIGTERM)
        code = process.wait(timeout=900)
    finally:
        kill_process_group(process)
    output = log.read_text(errors="replace")
    assert code == 0, output[-4000:]
    assert "stop requested signal=SIGTERM" in output
    assert "query stopped cleanly" in output
