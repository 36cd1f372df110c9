"""The user manual of the Pub/Sub source (``PubSubDataSource``'s docstring) tells the truth.

Its options table lists exactly the options :func:`parse_options` knows, each with the type
and default :class:`PubSubOptions` gives it, ``docs/connectors/pubsub.md`` states the same
defaults, and the example runs as written.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import textwrap
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connectors.pubsub import PubSubDataSource, PubSubOptions, parse_options
from connectors.pubsub.options import _KNOWN_OPTIONS
from emulators.pubsub import PubSubEmulator

OPERATOR_DOCS = Path(__file__).resolve().parents[2] / "docs" / "connectors" / "pubsub.md"

REQUIRED = {"subscription": "projects/demo-project/subscriptions/orders", "stagingLocation": "s"}

FIELD_OF_OPTION = {"subscription": "subscription_path"}
"""Options whose ``PubSubOptions`` field is not their name in snake case."""

NOT_A_CONSTANT = {
    "project": "from subscription",  # folded into subscription_path
    "emulatorHost": "$PUBSUB_EMULATOR_HOST",  # the driver's environment
    "stagingEndpoint": "$STORAGE_EMULATOR_HOST",  # the driver's environment
    "numPartitions": "CPUs of the driver",  # os.cpu_count() when the options are parsed
}
"""What the table says for the options whose default is not a constant of ``PubSubOptions``."""


@dataclass(frozen=True)
class OptionRow:
    name: str
    type: str
    default: str
    meaning: str


def options_table() -> dict[str, OptionRow]:
    """The rows of the options table (an RST simple table) of the class docstring, by name."""
    doc = inspect.getdoc(PubSubDataSource) or ""
    lines = doc.splitlines()
    rules = [index for index, line in enumerate(lines) if re.fullmatch(r"=+( +=+)+", line)]
    assert len(rules) == 3, f"expected one table (3 rule lines) in the docstring, found {rules}"
    spans = [match.span() for match in re.finditer(r"=+", lines[rules[0]])]
    assert [lines[rules[0] + 1][start:end].strip() for start, end in spans] == [
        "Option",
        "Type",
        "Default",
        "Meaning",
    ]
    rows: list[list[str]] = []
    for line in lines[rules[1] + 1 : rules[2]]:
        cells = [line[start:end].strip() for start, end in spans[:-1]]
        cells.append(line[spans[-1][0] :].strip())
        if cells[0]:
            rows.append(cells)
        else:  # a continuation line of the meaning
            assert not any(cells[1:3]), line
            rows[-1][3] += " " + cells[3]
    return {name.lower(): OptionRow(name, *rest) for name, *rest in rows}


def _field(option: str) -> dataclasses.Field[Any]:
    name = FIELD_OF_OPTION.get(option) or re.sub(r"(?<!^)(?=[A-Z])", "_", option).lower()
    return next(field for field in dataclasses.fields(PubSubOptions) if field.name == name)


def _documented(value: object) -> str:
    if value is dataclasses.MISSING:
        return "required"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _type_name(hint: Any) -> str:
    arguments = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = arguments
    if typing.get_origin(hint) is typing.Literal:
        (hint,) = {type(value) for value in typing.get_args(hint)}
    return hint.__name__


def test_the_options_table_lists_every_option_with_its_type_and_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    table = options_table()
    assert sorted(table) == sorted(_KNOWN_OPTIONS)
    parsed = parse_options(REQUIRED)
    hints = typing.get_type_hints(PubSubOptions)
    for row in table.values():
        assert row.meaning, row
        if row.name in NOT_A_CONSTANT:
            assert row.default == NOT_A_CONSTANT[row.name], row
            continue
        field = _field(row.name)
        expected = (_type_name(hints[field.name]), _documented(field.default))
        assert (row.type, row.default) == expected, row
        if field.default is not dataclasses.MISSING:
            assert getattr(parsed, field.name) == field.default, row  # what a user gets
    # The defaults the table states in words.
    assert parsed.num_partitions == (os.cpu_count() or 1)
    assert parsed.emulator_host is None
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "localhost:8085")
    assert parse_options(REQUIRED).emulator_host == "localhost:8085"
    bare = parse_options({**REQUIRED, "subscription": "orders", "project": "demo-project"})
    assert bare.subscription_path == REQUIRED["subscription"]


def test_the_operator_docs_state_the_same_defaults() -> None:
    section = OPERATOR_DOCS.read_text().split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    documented = {
        match["name"]: match["default"].replace("`", "").strip("() ")
        for match in re.finditer(r"^\| `(?P<name>\w+)` \| (?P<default>[^|]+) \|", section, re.M)
    }
    assert documented == {row.name: row.default for row in options_table().values()}


def test_the_class_docstring_example_runs(
    spark: Any, pubsub_emulator: PubSubEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = inspect.getdoc(PubSubDataSource) or ""
    example = textwrap.dedent(doc.split("::\n", 1)[1])
    exec(compile(example, "PubSubDataSource example", "exec"), {})
    try:
        assert capsys.readouterr().out.splitlines()[-1] == "30 rows"
    finally:
        spark.catalog.dropTempView("orders")
