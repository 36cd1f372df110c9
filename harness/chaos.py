"""The kill schedule of a chaos run: which component is SIGKILLed when, drawn from one seed.

``tests/pipeline/test_chaos.py`` runs the whole local pipeline while this schedule kills and
restarts its processes and servers. The schedule depends only on the seed, the run's length and
the kills per component, so a failing run is replayed exactly by its seed::

    OLIST_CHAOS_SEED=1234 OLIST_CHAOS_SECONDS=600 python -m pytest tests/pipeline/test_chaos.py

Every kill done is appended to a JSON Lines log (:class:`KillLog`) with the seed, the planned
and the actual time, so a failure names the kill that preceded it.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

COMPONENTS = ("producer", "stream", "api", "postgres", "pubsub", "gcs", "bigquery")
"""What a chaos run kills: the pipeline's processes and every server it depends on."""


class ChaosSettings(BaseSettings):
    """How long a chaos run lasts and what it kills (``OLIST_CHAOS_*``)."""

    model_config = SettingsConfigDict(env_prefix="OLIST_CHAOS_", extra="ignore")

    seed: int = Field(default=15, ge=0, description="Seed of the kill schedule and the poison.")
    seconds: float = Field(
        default=100.0,
        gt=0,
        description="Length of the chaos phase (kills, orders, poison); the drain comes after.",
    )
    kills_per_component: int = Field(
        default=2, ge=1, description="SIGKILLs of each component during the chaos phase."
    )


@dataclass(frozen=True)
class PlannedKill:
    """One kill: ``component`` at ``at_seconds`` into the run, down for ``downtime_seconds``."""

    at_seconds: float
    component: str
    downtime_seconds: float


def kill_schedule(
    seed: int,
    seconds: float,
    kills_per_component: int,
    components: tuple[str, ...] = COMPONENTS,
    max_downtime_seconds: float = 3.0,
) -> list[PlannedKill]:
    """``kills_per_component`` kills of each component at random times in the run, in order.

    Kills fall between 5% and 90% of the run, so the first ones find the pipeline running and
    the last ones leave it time to have work in flight. The same arguments give the same list.
    """
    rng = random.Random(seed)
    kills = [
        PlannedKill(
            at_seconds=round(rng.uniform(0.05, 0.9) * seconds, 2),
            component=component,
            downtime_seconds=round(rng.uniform(0.0, max_downtime_seconds), 2),
        )
        for component in components
        for _ in range(kills_per_component)
    ]
    return sorted(kills, key=lambda kill: (kill.at_seconds, kill.component))


class KillLog:
    """The kills of one run, one JSON line each, in ``path`` and in the log."""

    def __init__(self, path: Path, seed: int) -> None:
        self.path = path
        self.seed = seed
        self.started = time.monotonic()
        self.entries: list[dict[str, object]] = []

    def elapsed(self) -> float:
        """Seconds since the run started (the clock of :attr:`PlannedKill.at_seconds`)."""
        return time.monotonic() - self.started

    def record(self, kill: PlannedKill, killed_at: float, outcome: str) -> None:
        """Record ``kill``, done at ``killed_at`` (:meth:`elapsed`), and back (restarted and
        recovered) now, with ``outcome``."""
        entry = {
            "seed": self.seed,
            **asdict(kill),
            "killed_at_seconds": round(killed_at, 2),
            "back_after_seconds": round(self.elapsed() - killed_at, 2),
            "outcome": outcome,
        }
        self.entries.append(entry)
        with self.path.open("a") as handle:
            handle.write(json.dumps(entry) + "\n")
        log.warning(
            "chaos kill seed=%d component=%s planned_s=%.2f killed_s=%.2f back_after_s=%.2f "
            "outcome=%s",
            self.seed, kill.component, kill.at_seconds, killed_at, entry["back_after_seconds"],
            outcome,
        )  # fmt: skip

    def summary(self) -> str:
        """``component=count`` of the kills done, e.g. for a failure message."""
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[str(entry["component"])] = counts.get(str(entry["component"]), 0) + 1
        listed = " ".join(f"{name}={count}" for name, count in sorted(counts.items()))
        return f"seed={self.seed} kills={len(self.entries)} ({listed}); log {self.path}"
