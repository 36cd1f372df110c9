"""The sink's SQL: partition filters are constants, so BigQuery can prune on them."""

from __future__ import annotations

import datetime as dt
import re

from schemas import warehouse
from streaming.warehouse_merge import (
    current_state_key,
    date_literals,
    merge_script,
    staged_counts_sql,
)

FIELDS = warehouse.order_events_table_fields()
DAYS = [dt.date(2018, 3, 5), dt.date(2017, 10, 2), dt.date(2018, 3, 5)]


def _script() -> str:
    return merge_script(
        "p.d.order_events", "p.d.order_items_current", "p.d.stage", [f.name for f in FIELDS],
        "purchase_date", current_state_key(FIELDS), DAYS,
    )  # fmt: skip


def test_the_batch_dates_are_written_once_each_in_order_as_date_constants() -> None:
    assert date_literals(DAYS) == "(DATE '2017-10-02', DATE '2018-03-05')"
    # No dates (an empty staging table): a list that matches nothing, still valid SQL.
    assert date_literals([]) == "(CAST(NULL AS DATE))"


def test_every_partition_filter_of_the_script_and_the_count_is_a_constant_list() -> None:
    script = _script()
    counts = staged_counts_sql(
        "p.d.order_events", "p.d.stage", "purchase_date", dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        DAYS,
    )  # fmt: skip
    for sql in (script, counts):
        filters = re.findall(r"purchase_date (?:NOT )?IN (\([^)]*\)?)", sql)
        assert filters and set(filters) == {date_literals(DAYS)}
        assert not re.search(r"\bIN \(SELECT", sql)


def test_the_merge_target_is_pruned_unless_an_item_of_the_batch_is_stored_on_another_date() -> None:
    script = _script()
    pruned_on = f"ON T.purchase_date IN {date_literals(DAYS)} AND T.order_id = S.order_id"
    whole_on = "ON T.order_id = S.order_id"
    check, branches = script.split("\nIF items_on_other_dates > 0 THEN\n")
    whole, pruned = branches.split("\nELSE\n")
    assert f"T.purchase_date NOT IN {date_literals(DAYS)}" in check
    assert whole_on in whole and "T.purchase_date IN" not in whole
    assert pruned_on in pruned
    assert script.index("INSERT INTO `p.d.order_events`") < script.index("SET items_on_other")
