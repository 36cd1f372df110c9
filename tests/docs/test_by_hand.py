"""docs/operations/by-hand.md, run as written: its ``bash`` blocks, in order, in a fresh folder.

The folder holds links to the repository's files (not ``.local/``), so the page's relative
paths (``.venv/bin/...``, ``streaming/job.py``, ``.local/``) mean what they mean in a checkout,
and its state cannot mix with the developer's. Only the ports of the API and the metrics
servers are chosen here (through the variables the page mentions), as the machine is shared.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.processes import free_port
from tests.fixtures.producer import REPOSITORY_ROOT

pytestmark = pytest.mark.slow

PAGE = REPOSITORY_ROOT / "docs" / "operations" / "by-hand.md"
SHELL_BLOCK = re.compile(r"^```bash\n(.*?)^```$", re.MULTILINE | re.DOTALL)
MARKER = "### by-hand block"


def shell_blocks(markdown: str) -> list[str]:
    """The ``bash`` fenced blocks of a page, in order (``text`` blocks are examples only)."""
    return SHELL_BLOCK.findall(markdown)


def block_outputs(stdout: str) -> list[list[str]]:
    """The lines each block printed, split on the markers the script echoes between blocks."""
    return [part.splitlines()[1:] for part in stdout.split(MARKER)[1:]]


def test_shell_blocks_are_found_in_order() -> None:
    blocks = shell_blocks(PAGE.read_text())

    assert blocks[0].startswith('eval "$(.venv/bin/olist services up)"')
    assert blocks[-1].endswith(".venv/bin/olist services down\n")
    assert len(blocks) == 9


def test_by_hand_page_runs_as_written_and_bigquery_ends_with_every_source_event_once() -> None:
    blocks = shell_blocks(PAGE.read_text())
    script = "set -euo pipefail\n" + "".join(
        f"echo '{MARKER} {index}'\n{block}" for index, block in enumerate(blocks)
    )
    # Not pytest's tmp_path: pytest makes /tmp/pytest-of-<user> private again whenever a
    # session starts, and PostgreSQL runs as another user than root.
    work = Path(tempfile.mkdtemp(prefix="olist-by-hand-"))
    for entry in REPOSITORY_ROOT.iterdir():
        if entry.name not in {".local", ".git"}:
            (work / entry.name).symlink_to(entry)
    api_port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OLIST_")}
    environment.update(
        OLIST_API_PORT=str(api_port),
        OLIST_API_URL=f"http://127.0.0.1:{api_port}",
        OLIST_METRICS_PORT="0",  # the job: no status server; the producer: any free port
    )
    try:
        completed = subprocess.run(
            ["bash", "-c", script], cwd=work, env=environment, capture_output=True, text=True,
            timeout=3600,  # a bound against a hang, not a performance expectation
        )  # fmt: skip
    finally:
        _stop_what_the_page_started(work)
        shutil.rmtree(work, ignore_errors=True)
    assert completed.returncode == 0, f"{completed.stdout[-3000:]}\n{completed.stderr[-6000:]}"

    outputs = block_outputs(completed.stdout)
    assert len(outputs) == len(blocks)
    source_events = int(outputs[1][-1])  # psql's count of the source's events
    bq_output = outputs[6]
    header = bq_output.index("events,distinct_events")
    assert bq_output[header + 1] == f"{source_events},{source_events}", bq_output
    assert source_events > 200  # 200 orders, at least one item each
    python_rows = [line.split() for line in outputs[7]]
    assert len(python_rows) == 5 and all(len(row) == 3 for row in python_rows), outputs[7]


def _stop_what_the_page_started(work: Path) -> None:
    """After a failure half-way: the API and the services, if the page did not stop them."""
    pid_file = work / ".local" / "api.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
    if (work / ".local" / "services" / "services.json").exists():
        subprocess.run(
            [sys.executable, "-m", "olist_cli", "services", "down", "--dir",
             str(work / ".local" / "services")],
            capture_output=True, timeout=600,
        )  # fmt: skip
