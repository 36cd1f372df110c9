"""Errors of the CSV loader. A bad row is never one: it is counted in the load report.

::

    CsvLoadError
    ├── CsvDirectoryNotFound      DIR does not exist or is not a directory
    ├── NoCsvFileRecognised       DIR holds none of the 9 Kaggle file names
    ├── CsvHeaderMismatch         one file's header differs (that file is refused, not the load)
    └── DatabaseConnectionLost    the connection broke during a file (earlier files stay loaded);
                                  also a :class:`~source_db.connection.DatabaseUnavailable`

A server that cannot be reached at all raises :class:`source_db.connection.DatabaseUnavailable`.
"""

from __future__ import annotations

from pathlib import Path

from source_db.connection import DatabaseUnavailable, redact_dsn


class CsvLoadError(RuntimeError):
    """A load could not run at all; the message says what to fix."""


class CsvDirectoryNotFound(CsvLoadError):
    def __init__(self, directory: Path) -> None:
        super().__init__(
            f"expected a directory holding the Olist CSV files, found no directory at "
            f"'{directory}': pass the folder where the Kaggle archive was unzipped"
        )
        self.directory = directory


class NoCsvFileRecognised(CsvLoadError):
    def __init__(self, directory: Path, expected: tuple[str, ...]) -> None:
        present = sorted(path.name for path in directory.iterdir() if path.is_file())
        found = repr(present[:10]) if present else "no file"
        if len(present) > 10:
            found += f" and {len(present) - 10} more"
        super().__init__(
            f"expected at least one of the Olist files ({', '.join(expected)}) in "
            f"'{directory}', found {found}: keep the Kaggle file names as they are"
        )
        self.directory = directory


class DatabaseConnectionLost(CsvLoadError, DatabaseUnavailable):
    def __init__(self, dsn: str, file_name: str, cause: BaseException) -> None:
        super().__init__(
            f"lost the connection to the source database {redact_dsn(dsn)} while loading "
            f"{file_name}: {type(cause).__name__}: {cause}; that file was rolled back and the "
            "files before it are loaded: run the same command again to finish"
        )
        self.dsn = redact_dsn(dsn)
        self.file_name = file_name


class CsvHeaderMismatch(CsvLoadError):
    """One file's header is not the Kaggle one; that file is refused, the others still load."""

    def __init__(self, file_name: str, expected: tuple[str, ...], found: list[str]) -> None:
        super().__init__(
            f"expected the header {','.join(expected)} (in any order), found "
            f"{','.join(found) if found else 'an empty file'}: restore the file from the "
            "Kaggle archive"
        )
        self.file_name = file_name
