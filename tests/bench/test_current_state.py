"""bench.current_state: the logical-size model, the baseline script, a tiny run's JSON line."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from bench.current_state import (
    DELETED_EVERY,
    MIN_BILLED_BYTES,
    PURCHASE_DAYS,
    VERSIONS_PER_ITEM,
    _row_bytes,
    exact_sizes,
    history_insert_script,
    main,
    modelled_sizes,
    versions_table,
)
from schemas import warehouse
from streaming.warehouse_merge import current_state_key, merge_script


def test_logical_bytes_follow_bigquerys_sizes_per_type_with_nulls_free() -> None:
    strings = pa.array(["ab", None, "são"])  # "ã" is 2 bytes of UTF-8
    assert list(_row_bytes(strings)) == [4, 0, 6]
    assert list(_row_bytes(pa.array([1, None], pa.int64()))) == [8, 0]
    assert list(_row_bytes(pa.array([Decimal("1.50"), None], pa.decimal128(12, 2)))) == [16, 0]
    assert list(_row_bytes(pa.array([True, None]))) == [1, 0]
    lists = pa.array([["boleto", "voucher"], [], None], pa.list_(pa.string()))
    assert list(_row_bytes(lists)) == [8 + 9, 0, 0]


def test_the_baseline_script_is_the_jobs_script_without_its_merge() -> None:
    fields = warehouse.order_events_table_fields()
    script = merge_script(
        "p.d.h", "p.d.c", "p.d.s", [f.name for f in fields], "purchase_date",
        current_state_key(fields), [dt.date(2024, 1, 1)],
    )  # fmt: skip
    baseline = history_insert_script(script)
    assert "MERGE" not in baseline and "`p.d.c`" not in baseline
    assert "INSERT INTO `p.d.h`" in baseline
    assert baseline.startswith(script.split("\nSET ")[0])
    assert baseline.rstrip().endswith("COMMIT TRANSACTION;")


def test_synthetic_versions_mark_every_hundredth_item_deleted_at_its_last_version() -> None:
    items = np.arange(0, 300, dtype=np.int64)
    last = versions_table(items, VERSIONS_PER_ITEM - 1, items + 1).to_pydict()
    first = versions_table(items, 0, items + 1).to_pydict()
    assert [i for i, c in enumerate(last["change_type"]) if c == "deleted"] == [
        i for i in range(300) if i % DELETED_EVERY == 0
    ]
    assert set(first["change_type"]) == {"created"}
    assert set(first["order_approved_at"]) == {None}
    assert len(set(last["purchase_date"])) == min(300, PURCHASE_DAYS)


@pytest.mark.slow
def test_a_tiny_run_prints_its_figures_as_a_json_last_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    versions = VERSIONS_PER_ITEM * PURCHASE_DAYS
    main(["--versions", str(versions), "--batch-rows", "20", "--repeats", "1"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    items = versions // VERSIONS_PER_ITEM
    assert (summary["versions"], summary["items"]) == (versions, items)
    assert summary["current_rows"] == items - len(range(0, items, DELETED_EVERY))
    assert summary["history_bytes"] > summary["current_bytes"] > 0
    # Tiny tables: every query is billed the 10 MB minimum per table it reads.
    assert summary["table_read_bytes"] == summary["view_read_bytes"] == MIN_BILLED_BYTES
    # The check for items on other dates reads 2 tables, the MERGE 3 (history, staging, current).
    assert summary["batch_moved_check_bytes"] == 2 * MIN_BILLED_BYTES
    assert summary["batch_merge_bytes"] == 5 * MIN_BILLED_BYTES
    assert summary["break_even_reads_per_batch"] is None
    for name in ("baseline_batch_s", "maintained_batch_s", "table_read_s", "view_read_s"):
        assert summary[name] > 0

    # --model-only sizes the same versions without the emulator: the same bytes billed.
    main(["--versions", str(versions), "--batch-rows", "20", "--model-only"])
    model = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    billed = [name for name in summary if name.endswith("_bytes") or name.startswith("break_")]
    assert len(billed) == 11
    assert {name: model[name] for name in billed} == {name: summary[name] for name in billed}
    assert model["current_rows"] == summary["current_rows"]


def test_the_computed_sizes_equal_the_sizes_of_every_generated_version() -> None:
    items = 2 * PURCHASE_DAYS + 3 * DELETED_EVERY + 7  # partial days, deleted items spread
    for modelled, exact in zip(modelled_sizes(items), exact_sizes(items), strict=True):
        assert modelled.rows == exact.rows
        assert {name: list(sizes) for name, sizes in modelled.by_column.items()} == {
            name: list(sizes) for name, sizes in exact.by_column.items()
        }


def test_the_model_alone_scales_with_the_history_and_bills_the_view_more_past_the_minimum(
    capsys: pytest.CaptureFixture[str],
) -> None:
    small, large = (VERSIONS_PER_ITEM * PURCHASE_DAYS * n for n in (20, 40))
    figures = []
    for versions in (small, large):
        main(["--versions", str(versions), "--batch-rows", "100", "--model-only"])
        figures.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert [f["versions"] for f in figures] == [small, large]
    assert figures[1]["history_bytes"] == 2 * figures[0]["history_bytes"]
    assert figures[1]["current_bytes"] == 2 * figures[0]["current_bytes"]
    assert figures[1]["view_read_bytes"] > figures[1]["table_read_bytes"] == MIN_BILLED_BYTES
