"""Run the checks: every component, or one (what each task of the Airflow DAG runs).

A check that raises is reported as a failure of its component, never as a crash of the run:
the person on call sees which component could not be checked and why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from health.checks import bigquery, producer, pubsub, source_api, storage, streaming
from health.probes import Probes
from health.result import CheckResult, Status, unmeasured
from health.settings import HealthSettings

log = logging.getLogger(__name__)

COMPONENTS: dict[str, Callable[[Probes], list[CheckResult]]] = {
    "source_api": source_api.check,
    "producer": producer.check,
    "pubsub": pubsub.check,
    "streaming": streaming.check,
    "bigquery": bigquery.check,
    "storage": storage.check,
}
"""Every component, in pipeline order."""


def check_component(component: str, probes: Probes) -> list[CheckResult]:
    """The results of one component; an unexpected error is one failed result."""
    try:
        results = COMPONENTS[component](probes)
    except Exception as error:
        log.exception("health check crashed component=%s", component)
        results = [
            unmeasured(
                component, "check", Status.FAIL,
                f"{component} check could not run: {type(error).__name__}: {error}",
            )
        ]  # fmt: skip
    for result in results:
        log.log(
            logging.INFO if result.status is Status.OK else logging.WARNING,
            "health component=%s check=%s status=%s value=%s threshold=%r message=%r",
            result.component, result.check, result.status, result.value, result.threshold,
            result.message,
        )  # fmt: skip
    return results


def run_checks(
    settings: HealthSettings | None = None, components: list[str] | None = None
) -> list[CheckResult]:
    """Run ``components`` (default: all) once, sharing one :class:`Probes`."""
    probes = Probes(settings or HealthSettings())
    try:
        return [
            result
            for component in components or list(COMPONENTS)
            for result in check_component(component, probes)
        ]
    finally:
        probes.close()
