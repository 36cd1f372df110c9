"""``bash scripts/run_local.sh`` (= ``olist local-run``), the README's first command, run as a
newcomer runs it (its bootstrap finds the virtualenv already installed)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from olist_cli.local_run import ANALYTICS_QUERIES

pytestmark = pytest.mark.slow

# Few orders: the first micro-batch writes one Parquet object per purchase day, and fewer days
# are fewer objects (300 orders wrote 307 objects, 20 s of the batch on a 2-core machine).
ORDERS = 60
RUN_LOCAL = Path(__file__).resolve().parents[2] / "scripts" / "run_local.sh"


def test_local_run_loads_every_generated_event_once_and_prints_the_analytics() -> None:
    completed = subprocess.run(
        ["bash", str(RUN_LOCAL), "--orders", str(ORDERS),
         "--trigger-interval", "2 seconds", "--timeout", "300"],
        capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    output = completed.stdout
    assert completed.returncode == 0, f"{output[-3000:]}\n{completed.stderr[-5000:]}"

    generated = re.search(rf"^generated {ORDERS} orders, (\d+) order items ", output, re.M)
    assert generated is not None, output
    items = int(generated.group(1))
    assert items >= ORDERS  # every order has at least one item; each item is one source event
    assert f"\nall {items} source events are in BigQuery exactly once\n" in output
    assert "streaming job stopped on SIGTERM, exit code 0" in output
    for title in ANALYTICS_QUERIES:
        assert f"\n== {title}\n" in output, output
        header, rule, first_row = output.split(f"\n== {title}\n", 1)[1].splitlines()[:3]
        assert set(rule) == {"-", " "} and len(rule) == len(header), f"{title}:\n{header}\n{rule}"
        assert first_row.strip() and not first_row.startswith("=="), f"{title}: no rows"
    # Numbers for people: no NUMERIC as BigQuery returns it (100700.890000000).
    assert not re.search(r"\d\.\d{9}\b", output), "unformatted NUMERIC in the output"
    dashboard = re.search(r"^(/\S+/index\.html)$", output, re.M)
    assert dashboard is not None and Path(dashboard.group(1)).is_file(), output[-2000:]
