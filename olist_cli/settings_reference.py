"""The configuration tables of ``docs/operations/*.md``, generated from the settings classes.

Every process reads its configuration from one pydantic-settings class; each field's
``Field(description=...)`` is the only place its meaning is written. This module renders those
classes as Markdown tables between markers in the operator docs, so the docs cannot drift::

    <!-- settings-table: producer.settings:ProducerSettings -->
    | variable | default | meaning |
    ...
    <!-- end settings-table -->

``python -m olist_cli.settings_reference`` rewrites the tables in place; ``--check`` (run by
``scripts/test.sh``) exits 1 and names the stale files instead.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "operations"
BEGIN = re.compile(r"<!-- settings-table: (?P<target>[\w.]+:\w+) -->\n")
END = "<!-- end settings-table -->"


def settings_class(target: str) -> type[BaseSettings]:
    """``module.path:ClassName`` -> the settings class."""
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, BaseSettings)):
        raise TypeError(f"{target} is not a pydantic-settings class")
    return cls


def variable_names(cls: type[BaseSettings], name: str, field: FieldInfo) -> list[str]:
    """The environment variables that set ``name`` (an alias replaces the prefixed name)."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    prefix = str(cls.model_config.get("env_prefix", ""))
    return [f"{prefix}{name}".upper()]


def rendered_default(field: FieldInfo) -> str:
    """The default as an operator would type it; ``unset`` when there is none."""
    if field.default_factory is not None:
        default: object = field.default_factory()  # type: ignore[call-arg]
    else:
        default = field.default
    if default is None or default is PydanticUndefined:
        return "unset"
    if isinstance(default, SecretStr):
        return "(secret)"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, Enum):
        default = default.value
    if isinstance(default, tuple | list | frozenset | set):
        default = ",".join(str(item) for item in default)
    return f"`{default}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def table(cls: type[BaseSettings]) -> str:
    """The Markdown table of every field of ``cls``, in declaration order."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in cls.model_fields.items():
        if not field.description:
            raise ValueError(f"{cls.__name__}.{name} has no description: write one")
        variables = " / ".join(f"`{v}`" for v in variable_names(cls, name, field))
        lines.append(
            f"| {variables} | {_cell(rendered_default(field))} | {_cell(field.description)} |"
        )
    return "\n".join(lines) + "\n"


def regenerate(text: str) -> str:
    """``text`` with every marked table replaced by the table of its settings class."""

    def blocks() -> Iterator[str]:
        position = 0
        for match in BEGIN.finditer(text):
            end = text.find(END, match.end())
            if end < 0:
                raise ValueError(f"'{match.group(0).strip()}' has no '{END}'")
            yield text[position : match.end()]
            yield table(settings_class(match["target"]))
            position = end
        yield text[position:]

    return "".join(blocks())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a table is out of date")
    arguments = parser.parse_args(argv)
    stale = []
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        updated = regenerate(text)
        if updated == text:
            continue
        stale.append(path)
        if not arguments.check:
            path.write_text(updated, encoding="utf-8")
            print(f"rewrote the settings tables of {path}")
    if arguments.check and stale:
        names = ", ".join(str(path) for path in stale)
        print(
            f"settings tables out of date in {names}: run 'python -m olist_cli.settings_reference'",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
