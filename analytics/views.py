"""``olist create-views``: the SQL files of ``analytics/views/`` as BigQuery views and functions.

Each file ``NN_<view>.sql`` holds, under a header comment saying which question it answers
(``-- Question:``) and how to read it with a partition filter (``-- Partition filter:``), one
``CREATE OR REPLACE VIEW`` statement for ``<view>`` and, for every view that can be limited to a
range of purchase dates, a ``CREATE OR REPLACE TABLE FUNCTION <view>_between(start_date DATE,
end_date DATE)`` holding its query; the view is then that function over every date. Statements
end with ``;`` and run one by one in file order. ``${project}`` and ``${dataset}`` stand for
where the events are; files run in name order, so a view comes after the views it reads
(``00_order_items``, the base of all, reads ``order_items_current``, the current state the
streaming job keeps, and ``order_items_between`` is the one filter on its partition column).
Views read the ``dim_*`` tables too: the missing ones are created empty first, so the views
exist before the first ``olist export-dimensions``.
"""

from __future__ import annotations

import re
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from analytics.clients import bigquery_client
from analytics.settings import AnalyticsSettings
from schemas.derive import bigquery_schema
from schemas.dimensions import DIMENSIONS

if TYPE_CHECKING:
    from google.cloud import bigquery

_FILE_NAME = re.compile(r"^\d\d_(?P<view>[a-z_]+)\.sql$")
_TABLE_FUNCTION = re.compile(
    r"CREATE OR REPLACE TABLE FUNCTION `\$\{project\}\.\$\{dataset\}\.(?P<name>\w+)`\("
    r"\s*start_date DATE, end_date DATE\s*\) AS \("
)
FUNCTION_SUFFIX = "_between"
"""``<view>_between(start_date, end_date)``: the view's query limited to those purchase dates."""


class ViewFileError(ValueError):
    """A file of ``analytics/views/`` breaks the folder's conventions (named in the message)."""


@dataclass(frozen=True)
class ViewDefinition:
    """One view: its name, the question it answers, and its SQL with placeholders."""

    name: str
    file_name: str
    question: str
    partition_filter: str
    sql: str

    @property
    def function(self) -> str | None:
        """The name of the view's date-range table function, if the file defines one."""
        return f"{self.name}{FUNCTION_SUFFIX}" if _TABLE_FUNCTION.search(self.sql) else None

    def statement(self, project: str, dataset: str) -> str:
        """The file's SQL for ``project.dataset`` (one or more statements ending with ``;``)."""
        return Template(self.sql).substitute(project=project, dataset=dataset)

    def statements(self, project: str, dataset: str) -> list[str]:
        """The file's statements for ``project.dataset``, one per query job, in file order."""
        statements, lines = [], []
        for line in self.statement(project, dataset).splitlines():
            code = not line.lstrip().startswith("--")
            lines.append(line.removesuffix(";") if code else line)
            if code and line.rstrip().endswith(";"):
                statements.append("\n".join(lines).strip())
                lines = []
        if "\n".join(lines).strip():
            statements.append("\n".join(lines).strip())
        return statements


def _header_entry(sql: str, label: str, file_name: str) -> str:
    lines = sql.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(f"-- {label}:"):
            text = [line.removeprefix(f"-- {label}:").strip()]
            for following in lines[index + 1 :]:
                if not following.startswith("--   "):
                    break
                text.append(following.removeprefix("--").strip())
            return " ".join(text)
    raise ViewFileError(f"{file_name}: no '-- {label}:' line in its header comment")


def view_definitions() -> list[ViewDefinition]:
    """Every view of ``analytics/views/``, in the order they must be created."""
    folder = Path(__file__).resolve().parent / "views"
    definitions = []
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise ViewFileError(f"{entry.name}: expected NN_<view_name>.sql")
        sql = entry.read_text()
        name = match["view"]
        if sql.count(f"CREATE OR REPLACE VIEW `${{project}}.${{dataset}}.{name}` AS") != 1:
            raise ViewFileError(
                f"{entry.name}: expected CREATE OR REPLACE VIEW `${{project}}.${{dataset}}.{name}`"
            )
        functions = [match["name"] for match in _TABLE_FUNCTION.finditer(sql)]
        if sql.count("TABLE FUNCTION") != len(functions) or functions not in (
            [],
            [f"{name}{FUNCTION_SUFFIX}"],
        ):
            raise ViewFileError(
                f"{entry.name}: expected at most one CREATE OR REPLACE TABLE FUNCTION "
                f"`${{project}}.${{dataset}}.{name}{FUNCTION_SUFFIX}`(start_date DATE, "
                f"end_date DATE), found {functions or 'a malformed one'}"
            )
        definitions.append(
            ViewDefinition(
                name=name,
                file_name=entry.name,
                question=_header_entry(sql, "Question", entry.name),
                partition_filter=_header_entry(sql, "Partition filter", entry.name),
                sql=sql,
            )
        )
    return definitions


def create_missing_dimension_tables(client: bigquery.Client, project: str, dataset: str) -> None:
    """Empty ``dim_*`` tables where none exist yet (a later export replaces them)."""
    from google.cloud import bigquery

    for table in DIMENSIONS:
        client.create_table(
            bigquery.Table(
                f"{project}.{dataset}.{table.bigquery_table}", schema=bigquery_schema(table.fields)
            ),
            exists_ok=True,
        )


def create_views(settings: AnalyticsSettings) -> list[str]:
    """Create or replace every view in the settings' dataset; returns their names in order."""
    project, dataset = settings.gcp_project, settings.bigquery_dataset
    with closing(bigquery_client(settings)) as client:
        create_missing_dimension_tables(client, project, dataset)
        names = []
        for view in view_definitions():
            for statement in view.statements(project, dataset):
                client.query(statement).result()
            names.append(view.name)
        return names
