"""Partition planning: the staged messages of a micro-batch cut into Spark tasks.

:func:`plan_partitions` runs on the driver (in ``partitions``); the :class:`PubSubInputPartition`
it returns is pickled to the executor that runs ``read`` for it, so it carries only numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql.datasource import InputPartition


@dataclass(frozen=True)
class StagedSlice:
    """Messages ``first .. first + count - 1`` of staged batch ``batch``, staged at
    ``staged_time_micros`` (from its manifest: executors need not read it)."""

    batch: int
    first: int
    count: int
    staged_time_micros: int


@dataclass(frozen=True)
class PubSubInputPartition(InputPartition):
    """The staged message ranges one Spark task reads."""

    slices: tuple[StagedSlice, ...]


def plan_partitions(
    batches: Sequence[int],
    row_counts: Sequence[pa.ChunkedArray[Any]],
    num_partitions: int,
    staged_times_micros: Sequence[int],
) -> list[PubSubInputPartition]:
    """Cut the messages of ``batches`` into at most ``num_partitions`` contiguous ranges of
    about equal row counts (a message is never split). ``row_counts`` and
    ``staged_times_micros`` hold one entry per batch."""
    sizes = [len(counts) for counts in row_counts]
    total_messages = sum(sizes)
    if total_messages == 0:
        return []
    weights = np.concatenate([counts.to_numpy() for counts in row_counts]).astype(np.int64)
    cumulative = np.cumsum(weights)
    parts = min(num_partitions, total_messages)
    targets = cumulative[-1] * np.arange(1, parts) / parts
    cuts = sorted({0, *np.searchsorted(cumulative, targets, side="left") + 1, total_messages})
    cuts = [cut for cut in cuts if 0 <= cut <= total_messages]
    batch_starts = np.cumsum([0, *sizes])
    partitions = []
    for low, high in itertools.pairwise(cuts):
        if high <= low:
            continue
        slices = []
        for index, batch in enumerate(batches):
            first = max(low, batch_starts[index])
            last = min(high, batch_starts[index + 1])
            if first < last:
                slices.append(
                    StagedSlice(
                        batch,
                        int(first - batch_starts[index]),
                        int(last - first),
                        staged_times_micros[index],
                    )
                )
        partitions.append(PubSubInputPartition(tuple(slices)))
    return partitions
