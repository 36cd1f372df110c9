"""Benches stop cleanly on ``timeout``: SIGTERM and SIGHUP unwind every server they started."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator
from types import FrameType

log = logging.getLogger("bench.termination")


@contextlib.contextmanager
def exit_on_termination() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run through ``SystemExit``, so every ``with`` unwinds.

    Python's default for SIGTERM (what ``timeout`` sends) ends the process at once: nothing
    is stopped, and PostgreSQL, which ``pg_ctl`` detaches from our process group, runs on with
    a backend mid-COMMIT. Signals arriving while the servers stop are ignored.
    """
    handled = (signal.SIGTERM, signal.SIGHUP)
    previous = {number: signal.getsignal(number) for number in handled}

    def stop(number: int, frame: FrameType | None) -> None:
        for other in handled:
            signal.signal(other, signal.SIG_IGN)
        log.warning("stopping on signal=%s", signal.Signals(number).name)
        raise SystemExit(128 + number)

    for number in handled:
        signal.signal(number, stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
