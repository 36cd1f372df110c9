"""Checks a fixed-width pattern (``^[0-9a-f]{32}$``) over a whole page of strings at once.

It exists for speed alone. Python's ``re`` is called once per string, and an event has eight
patterned fields (ids, zip codes). A pattern that is a fixed sequence of character classes and
literal characters says only "length L, character i in set S_i"; checking that for 2,000
strings is one ``join``, one ASCII encode and one ``bytes.translate`` per position over the
column of that position, a small fraction of ``re``'s cost per string. ``bench.producer``
measures validation with and without it (``FastEventValidator(fixed_width_patterns=False)``);
the figures are in docs/design/producer.md#measurements. :func:`compile_fixed_width` returns
``None`` for any other pattern, which is then checked with ``re`` as usual.

Supported syntax: ``^`` at the start, ``$`` at the end, then atoms - an ASCII letter, digit or
one of ``-_:/ ,@`` as a literal, or a class ``[...]`` of such characters and ``a-z`` ranges -
each optionally repeated ``{n}`` times. That is the syntax where Rust's ``regex`` (pydantic's)
and Python's ``re`` agree on every ASCII string, and non-ASCII strings never match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_LITERALS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:/ ,@")
_ATOM = re.compile(r"\[(?P<klass>[^\]\\^\[]+)\]|(?P<literal>[^\[\]\\^$.*+?{}()|])")
_REPEAT = re.compile(r"\{(?P<count>[0-9]+)\}")


@dataclass(frozen=True)
class FixedWidthPattern:
    """``allowed[i]``: the bytes position ``i`` may hold; every match has ``len(allowed)``."""

    pattern: str
    allowed: tuple[bytes, ...]

    def matches_all(self, values: Sequence[str]) -> bool:
        """Whether every one of ``values`` matches (``True`` for none)."""
        if not values:
            return True
        width = len(self.allowed)
        if set(map(len, values)) != {width}:
            return False
        try:
            data = "".join(values).encode("ascii")
        except UnicodeEncodeError:
            return False
        if len(set(self.allowed)) == 1:
            return not data.translate(None, self.allowed[0])
        return not any(
            data[position::width].translate(None, allowed)
            for position, allowed in enumerate(self.allowed)
        )


def _class_bytes(klass: str) -> bytes | None:
    members: set[str] = set()
    index = 0
    while index < len(klass):
        first = klass[index]
        if index + 2 < len(klass) and klass[index + 1] == "-":
            last = klass[index + 2]
            if not (first in _LITERALS and last in _LITERALS and first <= last):
                return None
            members.update(chr(code) for code in range(ord(first), ord(last) + 1))
            index += 3
        else:
            members.add(first)
            index += 1
    if not members <= _LITERALS:
        return None
    return "".join(sorted(members)).encode("ascii")


def compile_fixed_width(pattern: str) -> FixedWidthPattern | None:
    """The page-wide form of ``pattern``, or ``None`` if it is not a fixed-width pattern."""
    if not (pattern.startswith("^") and pattern.endswith("$")) or pattern.endswith("\\$"):
        return None
    body, position, allowed = pattern[1:-1], 0, []
    while position < len(body):
        atom = _ATOM.match(body, position)
        if atom is None:
            return None
        if atom["klass"] is not None:
            members = _class_bytes(atom["klass"])
        elif atom["literal"] in _LITERALS:
            members = atom["literal"].encode("ascii")
        else:
            members = None
        if members is None:
            return None
        position = atom.end()
        count = 1
        repeat = _REPEAT.match(body, position)
        if repeat is not None:
            count = int(repeat["count"])
            position = repeat.end()
        allowed.extend([members] * count)
    if not allowed:
        return None
    return FixedWidthPattern(pattern, tuple(allowed))
