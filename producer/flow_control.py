"""Flow control: how much the producer hands to the Pub/Sub client before it waits.

``OLIST_FLOW_CONTROL_MAX_MESSAGES`` and ``OLIST_FLOW_CONTROL_MAX_BYTES`` bound the messages
and payload bytes given to the client and not yet confirmed. They are enforced here, a page at
a time, on the event loop, instead of by the client's own flow control: that one sizes every
message by serialising it (``ByteSize()`` in upb copies the whole message), three times per
message, a measurable share of the producer's CPU with 1.3 MB messages
(docs/design/producer.md#measurements). The client's flow control is therefore off
(:func:`producer.publisher.flow_control`).

A page larger than the limits on its own is let through when nothing else is in flight, so a
limit below one page slows the producer down but never blocks it.
"""

from __future__ import annotations

import asyncio


class PageFlowControl:
    """Messages and bytes handed to Pub/Sub and unconfirmed, and a wait for room (event loop)."""

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError(
                f"flow control limits must be positive, found max_messages={max_messages} "
                f"max_bytes={max_bytes}"
            )
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.messages = 0
        self.bytes = 0
        self._room = asyncio.Event()

    def _fits(self, messages: int, size: int) -> bool:
        if self.messages == 0 and self.bytes == 0:
            return True
        return self.messages + messages <= self.max_messages and self.bytes + size <= self.max_bytes

    async def acquire(self, messages: int, size: int) -> None:
        """Wait until ``messages`` more messages of ``size`` bytes in all fit, then count them."""
        while not self._fits(messages, size):
            self._room.clear()
            await self._room.wait()
        self.messages += messages
        self.bytes += size

    def release(self, messages: int, size: int) -> None:
        """Those messages are settled (confirmed or failed): make room."""
        self.messages -= messages
        self.bytes -= size
        self._room.set()
