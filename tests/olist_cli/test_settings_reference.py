"""The configuration tables of docs/operations are generated from the settings classes."""

from __future__ import annotations

import re

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from olist_cli import settings_reference
from olist_cli.settings_reference import DOCS, regenerate, table

PROCESS_SETTINGS = {
    "source_db.settings:DatabaseSettings",
    "source_api.settings:ApiSettings",
    "producer.settings:ProducerSettings",
    "streaming.settings:StreamSettings",
    "health.settings:HealthSettings",
    "analytics.settings:AnalyticsSettings",
}


class _Example(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OLIST_")

    plain: int = Field(default=3, description="A plain | piped\nvalue.")
    aliased: str | None = Field(
        default=None, validation_alias="EXAMPLE_HOST", description="Taken from an alias."
    )
    flag: bool = Field(default=False, description="A flag.")


def test_table_names_each_variable_with_its_default_and_description() -> None:
    assert table(_Example).splitlines() == [
        "| variable | default | meaning |",
        "|---|---|---|",
        "| `OLIST_PLAIN` | `3` | A plain \\| piped value. |",
        "| `EXAMPLE_HOST` | unset | Taken from an alias. |",
        "| `OLIST_FLAG` | `false` | A flag. |",
    ]


def test_a_field_without_description_is_refused() -> None:
    class Undocumented(BaseSettings):
        silent: int = 1

    with pytest.raises(ValueError, match=r"Undocumented\.silent has no description"):
        table(Undocumented)


def test_regenerate_replaces_only_what_is_between_the_markers() -> None:
    text = (
        "before\n<!-- settings-table: tests.olist_cli.test_settings_reference:_Example -->\n"
        "| stale |\n<!-- end settings-table -->\nafter\n"
    )
    updated = regenerate(text)
    assert updated.startswith("before\n<!-- settings-table:")
    assert updated.endswith("<!-- end settings-table -->\nafter\n")
    assert "| stale |" not in updated and "`OLIST_PLAIN`" in updated
    assert regenerate(updated) == updated


def test_every_process_settings_class_has_a_table_in_the_operator_docs() -> None:
    targets = {
        match
        for path in DOCS.glob("*.md")
        for match in re.findall(r"<!-- settings-table: ([\w.]+:\w+) -->", path.read_text())
    }
    assert targets == PROCESS_SETTINGS


def test_the_checked_in_tables_are_up_to_date() -> None:
    assert settings_reference.main(["--check"]) == 0
