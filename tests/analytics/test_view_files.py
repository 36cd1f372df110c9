"""The SQL files of ``analytics/views/`` follow the folder's conventions."""

from __future__ import annotations

import re

import pytest

from analytics.views import ViewDefinition, ViewFileError, _header_entry, view_definitions


def test_every_view_says_its_question_and_partition_filter_and_reads_one_base_view() -> None:
    views = view_definitions()
    assert views[0].name == "order_items"
    assert len(views) == 18
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
    assert tables - {v.name for v in views} == {"order_items_current", "dim_geolocation"}


def test_a_view_is_created_after_the_views_it_reads() -> None:
    created: set[str] = set()
    names = {v.name for v in view_definitions()}
    for view in view_definitions():
        body = view.statement("p", "d").split(" AS\n", 1)[1]
        read = set(re.findall(r"`p\.d\.(\w+)`", body)) & names
        assert read <= created, f"{view.name} reads {read - created} before they exist"
        created.add(view.name)


def test_a_header_without_a_question_is_refused() -> None:
    with pytest.raises(ViewFileError, match=r"x\.sql: no '-- Question:' line"):
        _header_entry("-- View: x\nCREATE OR REPLACE VIEW", "Question", "x.sql")
    view = ViewDefinition("v", "01_v.sql", "q", "f", "SELECT '${project}.${dataset}'")
    assert view.statement("olist-local", "olist") == "SELECT 'olist-local.olist'"
