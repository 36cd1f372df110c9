"""The outcome of one check: status, measured value, threshold and a one-line message."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any


class Status(IntEnum):
    """Ordered by severity; its value is the exit code of ``olist health``."""

    OK = 0
    WARN = 1
    FAIL = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class CheckResult:
    """One measurement of one component against its threshold.

    ``value`` is ``None`` when the check could not measure (the message says why);
    ``threshold`` is what the value was compared with, as text (``"<= 900 s"``).
    """

    component: str
    check: str
    status: Status
    value: float | int | str | None
    threshold: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        result = asdict(self)
        result["status"] = str(self.status)
        return result


def graded(
    component: str,
    check: str,
    value: float,
    warn_above: float | None,
    fail_above: float | None,
    unit: str,
    message: str,
) -> CheckResult:
    """Grade ``value`` against upper thresholds (``None``: no such level); ``message`` names
    what was measured, the grade and the threshold are appended."""
    shown = f"{value:g}{unit}"
    if fail_above is not None and value > fail_above:
        status, threshold = Status.FAIL, f"<= {fail_above:g}{unit}"
    elif warn_above is not None and value > warn_above:
        status, threshold = Status.WARN, f"<= {warn_above:g}{unit}"
    else:
        status = Status.OK
        limit = warn_above if warn_above is not None else fail_above
        threshold = f"<= {limit:g}{unit}" if limit is not None else "-"
    verdict = "" if status is Status.OK else f" (over {threshold[3:]})"
    return CheckResult(component, check, status, value, threshold, f"{message}: {shown}{verdict}")


def unmeasured(component: str, check: str, status: Status, message: str) -> CheckResult:
    """A check that could not measure: unreachable component (fail), or nothing to measure."""
    return CheckResult(component, check, status, None, "-", message)


def worst(results: list[CheckResult]) -> Status:
    """The most severe status among ``results`` (OK when there are none)."""
    return max((result.status for result in results), default=Status.OK)
