"""harness.chaos: the kill schedule depends on the seed alone and kills every component."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from harness.chaos import COMPONENTS, KillLog, kill_schedule


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    assert kill_schedule(7, 120.0, 3) == kill_schedule(7, 120.0, 3)
    assert kill_schedule(7, 120.0, 3) != kill_schedule(8, 120.0, 3)


def test_every_component_is_killed_the_given_number_of_times_inside_the_run() -> None:
    schedule = kill_schedule(15, 100.0, 2)
    assert Counter(kill.component for kill in schedule) == {name: 2 for name in COMPONENTS}
    assert [kill.at_seconds for kill in schedule] == sorted(kill.at_seconds for kill in schedule)
    assert all(5.0 <= kill.at_seconds <= 90.0 for kill in schedule)
    assert all(0.0 <= kill.downtime_seconds <= 3.0 for kill in schedule)


def test_the_kill_log_names_the_seed_of_every_kill(tmp_path: Path) -> None:
    kills = KillLog(tmp_path / "kills.jsonl", seed=42)
    for kill in kill_schedule(42, 10.0, 1)[:2]:
        kills.record(kill, kills.elapsed(), "restarted")
    lines = [json.loads(line) for line in (tmp_path / "kills.jsonl").read_text().splitlines()]
    assert [line["seed"] for line in lines] == [42, 42]
    assert [line["outcome"] for line in lines] == ["restarted", "restarted"]
    assert all(line["back_after_seconds"] >= 0 for line in lines)
    assert kills.summary().startswith("seed=42 kills=2 (")
