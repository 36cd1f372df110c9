"""A Spark standalone cluster on this machine: one Master and N Workers from the installed pyspark.

Each process is started with ``$SPARK_HOME/bin/spark-class`` exactly as an operator starts
them (``org.apache.spark.deploy.master.Master`` / ``org.apache.spark.deploy.worker.Worker``),
in a process group of its own, on loopback ports chosen here; each Worker has its own work
directory and its own number of cores. The executors a Worker launches for an application are
its children, in its process group, so :meth:`StandaloneCluster.kill_worker` (``SIGKILL`` of
the group) takes the Worker and its executors down at once, like a lost node.

Example::

    with StandaloneCluster(work_dir, workers=2, cores=1) as cluster:
        run_job(master=cluster.master_url)
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import subprocess
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.processes import (
    free_port,
    kill_process_group,
    start_process_group,
    wait_for_port,
    wait_until,
)

log = logging.getLogger(__name__)


def spark_home() -> Path:
    """The installed pyspark's directory, which is a complete ``SPARK_HOME``."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyspark is not installed: pip install -e '.[stream]'")
    return Path(spec.origin).parent


@dataclass
class StandaloneWorker:
    """One Worker process: its web UI port tells its executors apart in Spark's log URLs."""

    index: int
    process: subprocess.Popen[bytes]
    web_ui_port: int
    work_dir: Path


class StandaloneCluster:
    """A Master and ``workers`` Workers with ``cores`` cores and ``memory`` each."""

    def __init__(
        self, work_dir: Path, workers: int = 2, cores: int = 1, memory: str = "2g"
    ) -> None:
        self.work_dir = work_dir
        self.worker_count = workers
        self.cores = cores
        self.memory = memory
        self.port = free_port()
        self.web_ui_port = free_port()
        self.workers: list[StandaloneWorker] = []
        self._stack = ExitStack()
        self._master: subprocess.Popen[bytes] | None = None

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        home = spark_home()
        return {
            **os.environ,
            "SPARK_HOME": str(home),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(self.work_dir / "logs"),
            "SPARK_NO_DAEMONIZE": "1",
        }

    def start(self, timeout: float = 180.0) -> StandaloneCluster:
        """Start the Master, then the Workers; returns once every Worker has registered."""
        (self.work_dir / "logs").mkdir(parents=True, exist_ok=True)
        spark_class = str(spark_home() / "bin" / "spark-class")
        self._master = start_process_group(
            [
                spark_class, "org.apache.spark.deploy.master.Master",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--webui-port", str(self.web_ui_port),
            ],
            self.work_dir / "logs" / "master.log",
            env=self.environment(),
        )  # fmt: skip
        self._stack.callback(kill_process_group, self._master)
        wait_for_port(self.port, timeout=timeout, process=self._master)
        for index in range(self.worker_count):
            work_dir = self.work_dir / f"worker-{index}"
            work_dir.mkdir(parents=True, exist_ok=True)
            web_ui_port = free_port()
            process = start_process_group(
                [
                    spark_class, "org.apache.spark.deploy.worker.Worker",
                    "--host", "127.0.0.1", "--cores", str(self.cores),
                    "--memory", self.memory, "--work-dir", str(work_dir),
                    "--webui-port", str(web_ui_port), self.master_url,
                ],
                self.work_dir / "logs" / f"worker-{index}.log",
                env=self.environment(),
            )  # fmt: skip
            self._stack.callback(kill_process_group, process)
            self.workers.append(StandaloneWorker(index, process, web_ui_port, work_dir))
        wait_until(
            lambda: self.alive_workers() == self.worker_count,
            timeout,
            f"{self.worker_count} workers registered with {self.master_url}",
            self._master,
        )
        log.info(
            "spark standalone cluster up master=%s workers=%d", self.master_url, len(self.workers)
        )
        return self

    def state(self) -> dict[str, Any]:
        """The Master's JSON status (``/json/`` of its web UI)."""
        url = f"http://127.0.0.1:{self.web_ui_port}/json/"
        with urllib.request.urlopen(url, timeout=10) as response:
            state: dict[str, Any] = json.load(response)
        return state

    def alive_workers(self) -> int:
        try:
            return int(self.state().get("aliveworkers", 0))
        except OSError:
            return 0

    def worker_of_log_url(self, url: str) -> int | None:
        """Which Worker serves an executor's log URL (``http://host:<worker ui port>/...``)."""
        for worker in self.workers:
            if f":{worker.web_ui_port}/" in url:
                return worker.index
        return None

    def kill_worker(self, index: int) -> None:
        """``SIGKILL`` a Worker and its executors (its process group): a lost node."""
        process = self.workers[index].process
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
