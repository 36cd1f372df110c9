"""Interval strings (``"5 minutes"``) read exactly as Spark reads them, or refused.

The trigger interval and the deduplication window are handed to Spark as strings
(``Trigger.ProcessingTime``, ``withWatermark``); Spark parses them only when the query starts.
This module accepts the subset of Spark's interval grammar (``IntervalUtils.stringToInterval``,
Spark 4.3) that both places accept, so a value that passes the settings' validation also
starts, and one Spark would refuse fails at validation with the rule it breaks:

- an optional leading ``interval``, then one or more ``<number> <unit>`` pairs
  (``"1 hour 30 minutes"``), case-insensitive;
- units spelled in full, singular or plural: ``week``, ``day``, ``hour``, ``minute``,
  ``second``, ``millisecond``, ``microsecond`` (Spark refuses ``min``, ``s``, ``h``, ``d``);
- a fraction only on seconds (``"1.5 seconds"``; Spark refuses ``"0.5 minutes"``);
- no months or years (Spark's trigger refuses them; a month has no fixed length);
- a total above zero (stricter than Spark, which takes ``"0 seconds"`` as "as fast as it can").

``tests/streaming/test_intervals.py`` checks this against Spark's own parser on a corpus.
"""

from __future__ import annotations

import re

_MICROSECONDS = {
    "week": 7 * 86_400_000_000,
    "day": 86_400_000_000,
    "hour": 3_600_000_000,
    "minute": 60_000_000,
    "second": 1_000_000,
    "millisecond": 1_000,
    "microsecond": 1,
}
_PAIR = re.compile(r"([+-]?)(\d+)(?:\.(\d+))?\s+([a-z]+)")


class IntervalError(ValueError):
    """An interval string Spark would refuse (or that the job refuses: zero, months)."""


def _unit(word: str, interval: str) -> str:
    singular = word[:-1] if word.endswith("s") else word
    if singular in ("month", "year"):
        raise IntervalError(
            f"interval {interval!r}: months and years have no fixed length; use days or weeks"
        )
    if singular not in _MICROSECONDS:
        raise IntervalError(
            f"interval {interval!r}: unknown unit {word!r}; use one of "
            + ", ".join(f"{unit}(s)" for unit in _MICROSECONDS)
            + " spelled in full (Spark refuses abbreviations such as 'min' or 's')"
        )
    return singular


def interval_microseconds(interval: str) -> int:
    """Microseconds in ``interval``, or :class:`IntervalError` naming the broken rule."""
    text = interval.strip().lower()
    if text.startswith("interval "):
        text = text[len("interval ") :].strip()
    if not text:
        raise IntervalError(f"interval {interval!r}: expected '<number> <unit>', e.g. '5 minutes'")
    total = 0
    position = 0
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None:
            raise IntervalError(
                f"interval {interval!r}: expected '<number> <unit>' pairs, e.g. '5 minutes' "
                "or '1 hour 30 minutes'"
            )
        sign, whole, fraction, word = match.groups()
        unit = _unit(word, interval)
        if fraction is not None and unit != "second":
            raise IntervalError(
                f"interval {interval!r}: only seconds may have a fraction (Spark refuses "
                f"'{whole}.{fraction} {word}'); write e.g. '30 seconds' for half a minute"
            )
        amount = int(whole) * _MICROSECONDS[unit]
        if fraction is not None:
            amount += int(fraction[:6].ljust(6, "0"))
        total += -amount if sign == "-" else amount
        position = match.end()
        while position < len(text) and text[position] == " ":
            position += 1
    if total <= 0:
        raise IntervalError(f"interval {interval!r}: must be positive")
    return total


def interval_seconds(interval: str) -> float:
    """Seconds in ``interval`` (see :func:`interval_microseconds` for what is accepted)."""
    return interval_microseconds(interval) / 1_000_000
