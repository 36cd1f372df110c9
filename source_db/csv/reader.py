"""Read one Olist CSV file into typed records, recording every malformed row in its report.

Runs in one pass and streams: :meth:`CsvFileReader.records` is a generator fed straight into a
binary ``COPY``, so a million-row file is never held in memory. Parsing follows RFC 4180 as
the Kaggle files use it: a UTF-8 byte order mark is dropped from any file (``utf-8-sig``),
quoting may change from row to row, quoted fields may hold commas, ``""`` and line breaks
(kept byte for byte: ``newline=""``), blank lines are skipped, and an empty field is NULL
where the column allows it.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from source_db.csv.errors import CsvHeaderMismatch
from source_db.csv.report import EXAMPLES_PER_REASON, FileReport, RejectedRow, Rejection
from source_db.csv.tables import CsvTable
from source_db.csv.values import ZIP_PREFIX_DIGITS, BadValue

# PostgreSQL text cannot hold NUL; lone surrogates are the bytes that were not UTF-8
# (decoded with "surrogateescape" so one bad byte rejects one row, not the whole file).
_UNSTORABLE = re.compile("[\x00\udc80-\udcff]")
_SCAN_CHUNK_BYTES = 1 << 20


class CsvFileReader:
    """Turns the rows of one file into ``(line, [row number,] value, ...)`` tuples.

    The first item is the physical line where the record starts, carried to the staging table
    so orphans found later are reported by line too. Malformed rows, the number of rows read
    and the zip prefixes padded are written to ``report`` while the generator runs.
    """

    def __init__(self, table: CsvTable, path: Path, report: FileReport) -> None:
        self.table = table
        self.path = path
        self.report = report
        self._malformed: dict[str, Rejection] = {}

    def records(self) -> Iterator[tuple[object, ...]]:
        """Yield one tuple per valid row; raise :class:`CsvHeaderMismatch` before the first."""
        table = self.table
        converters = [column.convert for column in table.columns]
        width = len(converters)
        zip_columns = table.zip_columns
        key_positions = [table.header.index(name) for name in table.key if name in table.header]
        check_duplicates = table.row_number_column is None
        numbered = table.row_number_column is not None
        first_seen: dict[object, int] = {}
        report = self.report
        check_text = _holds_unstorable_text(self.path)

        with self._open() as handle:
            reader = csv.reader(handle, strict=True)
            order = self._column_order(reader)
            end_of_previous = reader.line_num
            row_number = 0
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    line, end_of_previous = end_of_previous + 1, reader.line_num
                    row_number += 1
                    report.rows_read += 1
                    self._reject(line, "bad CSV syntax", f"{error}")
                    continue
                line, end_of_previous = end_of_previous + 1, reader.line_num
                if not row:
                    continue
                row_number += 1
                report.rows_read += 1

                if len(row) != width:
                    self._reject(
                        line,
                        "wrong number of fields",
                        f"expected {width} fields, found {len(row)}",
                    )
                    continue
                if check_text and _UNSTORABLE.search("".join(row)) is not None:
                    self._reject(
                        line,
                        "NUL or bytes that are not UTF-8",
                        "found a NUL character or bytes that are not valid UTF-8",
                    )
                    continue
                if order is not None:
                    row = [row[index] for index in order]
                try:
                    converted = [
                        convert(value) for convert, value in zip(converters, row, strict=True)
                    ]
                except BadValue:
                    self._reject_field(line, row)
                    continue

                if check_duplicates:
                    key = (
                        converted[key_positions[0]]
                        if len(key_positions) == 1
                        else tuple(converted[position] for position in key_positions)
                    )
                    first_line = first_seen.setdefault(key, line)
                    if first_line != line:
                        self._reject(
                            line,
                            "duplicate key in the file",
                            f"{', '.join(table.key)} = {key!r} already on line {first_line}",
                        )
                        continue
                for position in zip_columns:
                    if len(row[position]) != ZIP_PREFIX_DIGITS:
                        report.zip_prefixes_padded += 1
                if numbered:
                    yield (line, row_number, *converted)
                else:
                    yield (line, *converted)

    def check_header(self) -> None:
        """Raise :class:`CsvHeaderMismatch` unless the header names the table's columns."""
        with self._open() as handle:
            self._column_order(csv.reader(handle, strict=True))

    def _open(self) -> TextIO:
        return self.path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")

    def _column_order(self, reader: Iterator[list[str]]) -> list[int] | None:
        """Read the header; return the positions that put the file's columns in table order
        (``None`` when they already are)."""
        expected = self.table.header
        try:
            header = next(reader, [])
        except csv.Error as error:
            raise CsvHeaderMismatch(self.table.file_name, expected, [f"<{error}>"]) from error
        found = [name.strip() for name in header]
        if sorted(found) != sorted(expected):
            raise CsvHeaderMismatch(self.table.file_name, expected, header)
        if tuple(found) == expected:
            return None
        return [found.index(name) for name in expected]

    def _reject_field(self, line: int, row: list[str]) -> None:
        """Find the first field that does not convert (the fast path only knew one failed)."""
        for column, value in zip(self.table.columns, row, strict=True):
            try:
                column.convert(value)
            except BadValue as error:
                self._reject(line, f"{column.name}: {error.problem}", f"{column.name}: {error}")
                return
        raise AssertionError(f"line {line}: a converter failed once and then accepted {row!r}")

    def _reject(self, line: int, reason: str, message: str) -> None:
        rejection = self._malformed.get(reason)
        if rejection is None:
            rejection = self._malformed[reason] = Rejection("malformed", reason)
            self.report.rejections.append(rejection)
        rejection.count += 1
        if len(rejection.examples) < EXAMPLES_PER_REASON:
            rejection.examples.append(RejectedRow(line, message))


def _holds_unstorable_text(path: Path) -> bool:
    """Whether any row must be checked for NUL or non-UTF-8 bytes.

    One pass over the raw bytes in C (fast: docs/operations/loading-csv.md#measurements)
    spares a per-row check of the valid files, which is all of the published ones.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        while chunk := handle.read(_SCAN_CHUNK_BYTES):
            if b"\x00" in chunk:
                return True
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return True
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return True
    return False
