"""In-order confirmation tracking: which cursor is safe to persist.

Pages are registered in the order they were fetched. Pub/Sub confirms their messages in any
order; the safe cursor is the one of the last page such that it *and every page before it*
is fully confirmed. Persisting anything further could skip an event whose publish is still
unconfirmed, which a crash would then lose.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Cursor:
    """A position in the event feed.

    ``value`` is the API's opaque ``next_cursor`` (``None`` = before the first event);
    ``last_sequence`` is the ``source_sequence`` of the last event it covers, for logs and lag.
    """

    value: str | None
    last_sequence: int = 0


class ConfirmationTracker:
    """Pages in flight, and the safe cursor behind them."""

    def __init__(self, start: Cursor) -> None:
        self._safe = start
        self._next_index = 0
        # (page index, cursor after the page) in fetch order.
        self._pending: deque[tuple[int, Cursor]] = deque()
        self._confirmed: set[int] = set()
        self._pages_behind = 0

    @property
    def safe_cursor(self) -> Cursor:
        """Cursor up to which every event is confirmed by Pub/Sub."""
        return self._safe

    @property
    def pages_behind(self) -> int:
        """How many registered pages the safe cursor covers."""
        return self._pages_behind

    @property
    def in_flight(self) -> int:
        """Pages registered and not yet behind the safe cursor."""
        return len(self._pending)

    def register(self, cursor_after: Cursor) -> int:
        """Record a page about to be published; returns its index for :meth:`confirm`."""
        index = self._next_index
        self._next_index += 1
        self._pending.append((index, cursor_after))
        return index

    def confirm(self, index: int) -> bool:
        """Mark page ``index`` fully confirmed; returns whether the safe cursor moved."""
        if index >= self._next_index or index in self._confirmed:
            raise ValueError(f"page {index} was never registered or is already confirmed")
        if self._pending and index < self._pending[0][0]:
            raise ValueError(f"page {index} is already behind the safe cursor")
        self._confirmed.add(index)
        moved = False
        while self._pending and self._pending[0][0] in self._confirmed:
            page_index, cursor = self._pending.popleft()
            self._confirmed.discard(page_index)
            self._safe = cursor
            self._pages_behind += 1
            moved = True
        return moved
