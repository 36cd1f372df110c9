"""The human part of a bench's output: a two-column table of labelled figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def print_table(rows: Sequence[tuple[str, str]]) -> None:
    """Print ``(label, value)`` rows with the values aligned after the longest label."""
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")


def memory_rows(label: str, total_mb: int, by_kind_mb: Mapping[str, int]) -> list[tuple[str, str]]:
    """Rows for :func:`print_table`: a memory figure, then one indented row per process kind."""
    return [
        (label, f"{total_mb:,} MB"),
        *[(f"  {kind}", f"{size:,} MB") for kind, size in by_kind_mb.items()],
    ]
