"""The SQL files of ``analytics/views/`` follow the folder's conventions, and every date-range
table function filters the partition column in the form BigQuery prunes partitions on.

BigQuery prunes a column-partitioned table when the query filters the partitioning column
itself against constant expressions (https://cloud.google.com/bigquery/docs/querying-partitioned-tables,
"Query a time-unit column-partitioned table" and "Best practices for partition pruning": use a
constant filter expression, isolate the partition column). A table function's arguments are
constants of the calling query (https://cloud.google.com/bigquery/docs/table-functions), and
a name that is both a parameter and a column means the column there, so the parameters must not
be column names. bqemulator (DuckDB) reports no bytes processed, so the pruning itself cannot be
measured here: these tests check the SQL that BigQuery would prune on, and
tests/analytics/test_views.py runs every function on bqemulator against the source figures.
"""

from __future__ import annotations

import re

import pytest

from analytics.views import (
    FUNCTION_SUFFIX,
    ViewDefinition,
    ViewFileError,
    _header_entry,
    view_definitions,
)
from schemas import warehouse

WHOLE_HISTORY_ONLY = {"customer_cohorts", "cohort_retention"}
"""A customer's first purchase needs their whole history: no date range can prune these."""

_REFERENCE = re.compile(r"`p\.d\.(\w+)`(\([^)]*\))?")


def _statements(view: ViewDefinition) -> dict[str, str]:
    """``"view"`` / ``"function"`` -> the statement's query (what follows its ``AS``)."""
    found = {}
    for statement in view.statements("p", "d"):
        kind = "function" if "TABLE FUNCTION" in statement else "view"
        found[kind] = re.split(r"\) AS \(|` AS\n", statement, maxsplit=1)[1]
    return found


def test_every_view_says_its_question_and_partition_filter_and_reads_one_base_view() -> None:
    views = view_definitions()
    assert views[0].name == "order_items"
    assert len(views) == 20
    for view in views:
        assert len(view.question) > 30, view.name
        assert view.partition_filter, view.name
        statement = view.statement("p", "d")
        assert statement.count("CREATE OR REPLACE VIEW") == 1
        assert "${" not in statement
        # Only the base view names a table of the stream: the current state (the history,
        # order_events, is read by no view).
        if view.name != "order_items":
            assert "order_items_current`" not in statement, view.name
        assert "order_events`" not in statement, view.name
    tables = set(re.findall(r"`p\.d\.(\w+)`", "\n".join(v.statement("p", "d") for v in views)))
    names = {v.name for v in views} | {v.function for v in views if v.function}
    assert tables - names == {"order_items_current", "dim_geolocation"}


def test_a_view_is_created_after_the_views_and_functions_it_reads() -> None:
    created: set[str] = set()
    for view in view_definitions():
        for statement in view.statements("p", "d"):
            defined, body = re.split(r"\) AS \(|` AS\n", statement, maxsplit=1)
            read = {name for name, _ in _REFERENCE.findall(body)} - {
                "order_items_current",
                "dim_geolocation",
            }
            assert read <= created, f"{view.name} reads {read - created} before they exist"
            created.add(re.findall(r"CREATE OR REPLACE [A-Z ]+ `p\.d\.(\w+)", defined)[0])


def test_the_one_filter_on_purchase_dates_is_the_partition_column_against_the_arguments() -> None:
    (base,) = (v for v in view_definitions() if v.name == "order_items")
    statements = _statements(base)
    # The base view renames nothing: its purchase_date is the table's partitioning column.
    assert statements["view"].split() == ["SELECT", "*", "FROM", "`p.d.order_items_current`"]
    assert warehouse.PARTITION_FIELD == "purchase_date"
    assert statements["function"].split() == [
        *("SELECT", "*", "FROM", "`p.d.order_items`"),
        *("WHERE", "purchase_date", "BETWEEN", "start_date", "AND", "end_date", ")"),
    ]
    columns = {field.name for field in warehouse.order_events_table_fields()}
    assert {"start_date", "end_date"}.isdisjoint(columns), "a parameter would mean the column"


@pytest.mark.parametrize(
    "view", [v for v in view_definitions() if v.name != "order_items"], ids=lambda v: v.name
)
def test_every_function_reads_items_only_through_the_partition_filter(
    view: ViewDefinition,
) -> None:
    statements = _statements(view)
    if view.name in WHOLE_HISTORY_ONLY:
        assert view.function is None
        assert "whole history" in view.partition_filter
        return
    assert view.function == f"{view.name}{FUNCTION_SUFFIX}"
    for name, arguments in _REFERENCE.findall(statements["function"]):
        if name.startswith("dim_"):
            continue  # a dimension table: small, not partitioned
        # Every read of the events is another date-range function with the same arguments,
        # so the filter on purchase_date reaches order_items_between whole and unchanged.
        assert name.endswith(FUNCTION_SUFFIX), f"{view.name} reads {name} unfiltered"
        assert arguments == "(start_date, end_date)", f"{view.name}: {name}{arguments}"
    # The view is the function over every date BigQuery has (so both answer the same).
    assert statements["view"].split() == [
        *("SELECT", "*", "FROM", f"`p.d.{view.function}`(DATE"),
        *("'0001-01-01',", "DATE", "'9999-12-31')"),
    ]
    assert f"{view.function}`(DATE '" in view.partition_filter


def test_a_header_without_a_question_is_refused() -> None:
    with pytest.raises(ViewFileError, match=r"x\.sql: no '-- Question:' line"):
        _header_entry("-- View: x\nCREATE OR REPLACE VIEW", "Question", "x.sql")
    view = ViewDefinition("v", "01_v.sql", "q", "f", "SELECT '${project}.${dataset}'")
    assert view.statement("olist-local", "olist") == "SELECT 'olist-local.olist'"


def test_statements_split_at_a_semicolon_ending_a_line_of_code_not_of_a_comment() -> None:
    view = ViewDefinition(
        "v",
        "01_v.sql",
        "q",
        "f",
        "-- a; b;\nCREATE x AS (\n  SELECT 1\n);\n\nCREATE y AS\nSELECT 2\n",
    )
    assert view.statements("p", "d") == [
        "-- a; b;\nCREATE x AS (\n  SELECT 1\n)",
        "CREATE y AS\nSELECT 2",
    ]
