"""The human part of a bench's output: a two-column table of labelled figures."""

from __future__ import annotations

from collections.abc import Sequence


def print_table(rows: Sequence[tuple[str, str]]) -> None:
    """Print ``(label, value)`` rows with the values aligned after the longest label."""
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")
