"""The human table's rows shared by the benches (``bench.report``)."""

from __future__ import annotations

from bench.report import memory_rows


def test_memory_rows_give_the_total_then_one_indented_row_per_process_kind() -> None:
    rows = memory_rows("peak summed RSS", 5123, {"driver": 1200, "jvm": 3923})
    assert rows == [
        ("peak summed RSS", "5,123 MB"),
        ("  driver", "1,200 MB"),
        ("  jvm", "3,923 MB"),
    ]
