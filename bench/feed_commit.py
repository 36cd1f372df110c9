"""Cost of the feed at COMMIT for large transactions, before and after ``ANALYZE``.

``python -m bench.feed_commit`` starts its own PostgreSQL and writes new orders the way
``bench.e2e``'s offered load does (:class:`bench.offered_load.OfferedLoad`: ``olist simulate``'s
writer, one transaction of ``--orders`` orders each), then measures in the same run:

1. **fresh**: ``--transactions`` transactions on the new database (no statistics yet);
2. **after ANALYZE**: as many again after an ``ANALYZE`` of the whole database (what
   autovacuum's analyse brings into any long run; issue 11 found the flush's plan going bad
   there: COMMITs of 2,000 orders over 100 s);
3. **baseline**: the same transaction with the feed's triggers off, rolled back, and the
   feed's cost per event (:meth:`OfferedLoad.feed_cost`), after the ANALYZE:
   ``feed_render_us_per_event`` against inserts with every trigger off (foreign-key checks
   included in it), ``feed_only_us_per_event`` against inserts with the checks on.

A transaction that does not finish within ``bench.offered_load.COMMIT_TIMEOUT_SECONDS`` is
reported as ``null`` and ends the run. Prints a table, then one JSON line with the median
seconds per transaction of each phase and their ratios to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import time
from typing import Any

from bench.offered_load import COMMIT_TIMEOUT_SECONDS, OfferedLoad
from bench.process_usage import cpu_seconds
from bench.report import print_table
from emulators.postgres import LocalPostgres
from schemas.log_format import configure_logging
from source_db.ddl import init_database

log = logging.getLogger("bench.feed_commit")


async def _transactions(load: OfferedLoad, orders: int, count: int) -> list[tuple[float, float]]:
    """Wall and backend CPU seconds of ``count`` transactions of ``orders`` new orders; stops
    at the first that times out (its wall time is then ``inf``)."""
    measured = []
    for _ in range(count):
        pid = load.backend_pid()
        cpu_before, started = cpu_seconds(pid), time.perf_counter()
        try:
            await load.write(orders)
        except TimeoutError:
            log.warning("transaction timed out orders=%d seconds=%.0f", orders,
                        COMMIT_TIMEOUT_SECONDS)  # fmt: skip
            measured.append((float("inf"), float("inf")))
            break
        measured.append((time.perf_counter() - started, cpu_seconds(pid) - cpu_before))
    return measured


def _median(values: list[tuple[float, float]], index: int) -> float | None:
    value = statistics.median(pair[index] for pair in values)
    return None if value == float("inf") else round(value, 3)


async def run(orders: int, transactions: int) -> dict[str, Any]:
    with LocalPostgres() as server:
        await init_database(server.dsn)
        load = OfferedLoad(server.dsn)
        await load.open()
        try:
            fresh = await _transactions(load, orders, transactions)
            await load.analyze()
            analysed = await _transactions(load, orders, transactions)
            timed_out = any(wall == float("inf") for wall, _ in fresh + analysed)
            # After a timeout the backend may still be committing: no baseline on it.
            cost = None if timed_out else await load.feed_cost(round(orders * load.items_per_order))
        finally:
            await load.close()
    items_per_transaction = round(orders * load.items_per_order)
    result: dict[str, Any] = {
        "orders_per_transaction": orders,
        "items_per_transaction": items_per_transaction,
        "fresh_transaction_s": _median(fresh, 0),
        "fresh_backend_cpu_s": _median(fresh, 1),
        "analysed_transaction_s": _median(analysed, 0),
        "analysed_backend_cpu_s": _median(analysed, 1),
        "analysed_transactions_s": [
            None if wall == float("inf") else round(wall, 3) for wall, _ in analysed
        ],
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if cost is not None:
        # Backend CPU of one transaction without the feed (triggers off, rolled back).
        baseline = cost["insert_without_feed_us_per_event"] * items_per_transaction / 1e6
        result.update(cost)
        result["baseline_backend_cpu_s"] = round(baseline, 3)
        for phase in ("fresh", "analysed"):
            result[f"{phase}_cpu_ratio_to_baseline"] = round(
                result[f"{phase}_backend_cpu_s"] / baseline, 2
            )
    if result["fresh_transaction_s"] and result["analysed_transaction_s"]:
        result["analysed_to_fresh_ratio"] = round(
            result["analysed_transaction_s"] / result["fresh_transaction_s"], 2
        )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.feed_commit", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--orders", type=int, default=2_000, help="orders per transaction")
    parser.add_argument("--transactions", type=int, default=3, help="transactions per phase")
    arguments = parser.parse_args(argv)
    configure_logging("INFO")
    result = asyncio.run(run(arguments.orders, arguments.transactions))
    print_table([(key, str(value)) for key, value in result.items()])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
