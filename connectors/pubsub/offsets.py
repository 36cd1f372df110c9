"""Offsets of the Pub/Sub source: the number of the last staged batch, ``{"batch": k}``.

Pub/Sub has no replayable position, so the source invents one: every time the driver pulls
messages for a micro-batch it stages them durably under the next batch number. Batch numbers
grow by one per staged batch; ``{"batch": 0}`` (the initial offset) means nothing staged yet.
The range ``(start, end]`` of a micro-batch is therefore the staged batches
``start.batch + 1 .. end.batch``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.pubsub.errors import OffsetError


@dataclass(frozen=True, order=True)
class BatchOffset:
    """Position after staged batch ``batch`` (0: before the first one)."""

    batch: int

    def __post_init__(self) -> None:
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 0:
            raise OffsetError(f"batch offset must be a non-negative integer, found {self.batch!r}")

    @classmethod
    def from_dict(cls, offset: Mapping[str, Any]) -> BatchOffset:
        """Read an offset Spark handed back (the dict this class wrote with :meth:`to_dict`)."""
        if not isinstance(offset, Mapping) or set(offset) != {"batch"}:
            raise OffsetError(
                f'expected an offset of the form {{"batch": <int>}} written by the pubsub '
                f"source, found {offset!r}; was the checkpoint written by another source?"
            )
        return cls(offset["batch"])

    @classmethod
    def from_json(cls, text: str) -> BatchOffset:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as error:
            raise OffsetError(f"offset is not JSON: {text!r} ({error})") from error

    def to_dict(self) -> dict[str, int]:
        return {"batch": self.batch}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def next(self) -> BatchOffset:
        return BatchOffset(self.batch + 1)


INITIAL_OFFSET = BatchOffset(0)
