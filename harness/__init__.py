"""Running the pipeline's processes on one machine, for tests, benchmarks and the local run.

:mod:`harness.processes` starts and ends child processes (free ports, process groups);
:mod:`harness.pipeline` puts the servers and the ``olist`` processes of a whole pipeline
together. Nothing here runs in production.
"""

from harness.pipeline import CommandFailed, LoadedRows, LocalPipeline, ServerMissing
from harness.processes import (
    MissingSystemPackage,
    ProcessExited,
    free_port,
    kill_process_group,
    start_process_group,
    wait_for_port,
    wait_until,
)

__all__ = [
    "CommandFailed",
    "LoadedRows",
    "LocalPipeline",
    "MissingSystemPackage",
    "ProcessExited",
    "ServerMissing",
    "free_port",
    "kill_process_group",
    "start_process_group",
    "wait_for_port",
    "wait_until",
]
