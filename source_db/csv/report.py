"""What a CSV load did, per file: rows read, loaded, already present, and every rejected row.

For each loaded file ``rows_read == loaded + already_present + orphans + malformed``. Rejected
rows are grouped by kind (``orphan``: a parent row is missing; ``malformed``: the row itself
cannot be stored) and reason, with the count and the first :data:`EXAMPLES_PER_REASON` rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

EXAMPLES_PER_REASON = 5

RejectionKind = Literal["orphan", "malformed"]


@dataclass
class RejectedRow:
    """One rejected row: the physical line where its record starts (header is line 1)."""

    line: int
    message: str


@dataclass
class Rejection:
    """All rows of one file rejected for one reason."""

    kind: RejectionKind
    reason: str
    count: int = 0
    examples: list[RejectedRow] = field(default_factory=list)


@dataclass
class FileReport:
    """The outcome of one file. ``error`` is set when the file was refused as a whole."""

    file_name: str
    table: str
    rows_read: int = 0
    loaded: int = 0
    already_present: int = 0
    zip_prefixes_padded: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def orphans(self) -> int:
        return sum(r.count for r in self.rejections if r.kind == "orphan")

    @property
    def malformed(self) -> int:
        return sum(r.count for r in self.rejections if r.kind == "malformed")

    def rejected(self, kind: RejectionKind, reason: str) -> int:
        """How many rows were rejected for ``reason`` (0 when none)."""
        return sum(r.count for r in self.rejections if r.kind == kind and r.reason == reason)


@dataclass
class LoadReport:
    """The outcome of ``load_csv_directory``: one :class:`FileReport` per file found."""

    directory: str
    files: list[FileReport] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def file(self, file_name: str) -> FileReport:
        """The report of ``file_name``; ``KeyError`` when that file was not loaded."""
        for report in self.files:
            if report.file_name == file_name:
                return report
        raise KeyError(f"{file_name} is not in the report (found: {self.file_names})")

    @property
    def file_names(self) -> list[str]:
        return [report.file_name for report in self.files]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data, with the per-file totals written out."""
        files = []
        for report in self.files:
            data = asdict(report)
            data["seconds"] = round(report.seconds, 3)
            data["orphans"] = report.orphans
            data["malformed"] = report.malformed
            files.append(data)
        return {
            "directory": self.directory,
            "seconds": round(self.seconds, 3),
            "missing_files": self.missing_files,
            "files": files,
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n", "utf-8")


_COLUMNS = ("file", "rows read", "loaded", "already present", "orphans", "malformed")


def render_report(report: LoadReport) -> str:
    """A table for people, then the reasons and first examples of every rejected row."""
    rows = [
        (
            f.file_name,
            *(
                ("refused",) * 5
                if f.error
                else tuple(
                    f"{count:,}"
                    for count in (f.rows_read, f.loaded, f.already_present, f.orphans, f.malformed)
                )
            ),
        )
        for f in report.files
    ]
    widths = [max(len(str(cells[i])) for cells in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]

    def line(cells: tuple[object, ...]) -> str:
        first, *numbers = (str(cell) for cell in cells)
        return "  ".join(
            [first.ljust(widths[0])]
            + [n.rjust(w) for n, w in zip(numbers, widths[1:], strict=True)]
        )

    out = [line(_COLUMNS), "  ".join("-" * w for w in widths)]
    out += [line(cells) for cells in rows]
    out.append(f"{len(report.files)} file(s) in {report.seconds:.1f} s from {report.directory}")
    if report.missing_files:
        out.append("missing (not loaded): " + ", ".join(report.missing_files))
    for f in report.files:
        notes = []
        if f.error:
            notes.append(f"  refused: {f.error}")
        if f.zip_prefixes_padded:
            notes.append(
                f"  {f.zip_prefixes_padded} zip prefix(es) of fewer than 5 digits "
                "left-padded with zeros"
            )
        for rejection in f.rejections:
            notes.append(f"  {rejection.count} {rejection.kind}: {rejection.reason}")
            notes += [f"      line {row.line}: {row.message}" for row in rejection.examples]
        if notes:
            out += ["", f.file_name, *notes]
    return "\n".join(out)
