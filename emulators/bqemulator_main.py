"""``python -m emulators.bqemulator_main start ...``: bqemulator with DuckDB's memory bounded.

bqemulator opens its DuckDB database with the defaults, so DuckDB's buffer manager may take
80 % of the machine's memory, and every write copies the whole table into a time-travel
snapshot first. On one machine shared with the streaming job that is an out-of-memory kill
waiting to happen: draining a 10M-event backlog, the emulator reached 20 GB of a 23 GB
machine at 8M rows and the kernel killed it. bqemulator has no setting for it, so this entry
point passes DuckDB's own ``memory_limit`` (from ``BQEMU_DUCKDB_MEMORY_LIMIT``, e.g.
``4GB``) to every ``duckdb.connect`` of the process, then runs bqemulator's command line
unchanged. DuckDB then evicts cached blocks of a persistent database (``--persistent``) and
spills larger intermediates to its temporary directory instead of growing.
"""

from __future__ import annotations

import os
import runpy
from collections.abc import Callable
from typing import Any

MEMORY_LIMIT_VARIABLE = "BQEMU_DUCKDB_MEMORY_LIMIT"


def bounded_connect(connect: Callable[..., Any], memory_limit: str) -> Callable[..., Any]:
    """``connect`` (``duckdb.connect``) with ``memory_limit`` in its configuration, unless the
    caller sets one itself."""

    def connect_with_limit(
        database: str = ":memory:", read_only: bool = False, config: dict[str, Any] | None = None
    ) -> Any:
        settings = {"memory_limit": memory_limit, **(config or {})}
        return connect(database, read_only=read_only, config=settings)

    return connect_with_limit


def main() -> None:
    memory_limit = os.environ.get(MEMORY_LIMIT_VARIABLE)
    if memory_limit:
        import duckdb

        duckdb.connect = bounded_connect(duckdb.connect, memory_limit)
    runpy.run_module("bqemulator", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
