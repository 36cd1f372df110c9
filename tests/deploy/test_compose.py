"""docker-compose.yml runs the same commands with settings its processes read.

``docker-compose config`` (scripts/deploy_checks.sh) proves the file is valid Compose; these
tests prove it means what the code does: every ``olist`` command exists, every ``OLIST_*``
variable is a setting of the process it is given to and holds a value the settings accept,
every dependency waits for a healthcheck or a completed init service.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import yaml
from typer.testing import CliRunner

from olist_cli.main import app as olist
from tests.deploy.manifests import (
    OLIST_ENTRYPOINT_IMAGES,
    PROJECT_IMAGES,
    REPOSITORY_ROOT,
    SETTINGS,
    settings_from,
    unknown_variables,
)

COMPOSE = REPOSITORY_ROOT / "docker-compose.yml"
VERSION = tomllib.loads((REPOSITORY_ROOT / "pyproject.toml").read_text())["project"]["version"]


def services() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def process_of(service: dict[str, Any]) -> str | None:
    image, command = service["image"].split(":")[0], list(service.get("command", []))
    if image == "olist-stream":
        assert command == ["olist", "stream"]
        return "stream"
    if image not in OLIST_ENTRYPOINT_IMAGES or "entrypoint" in service:
        return None
    words = [word for word in command if not word.startswith("-")][:2]
    return next(c for c in (" ".join(words), words[0]) if c in SETTINGS)


def test_every_olist_service_runs_a_real_command_with_settings_of_that_process() -> None:
    runner = CliRunner()
    checked = set()
    for name, service in services().items():
        process = process_of(service)
        if process is None:
            continue
        command = [w for w in service["command"] if w != "olist"]
        result = runner.invoke(olist, [*command, "--help"])
        assert result.exit_code == 0, f"{name}: olist {' '.join(command)}: {result.output}"
        variables = {key: str(value) for key, value in service.get("environment", {}).items()}
        assert unknown_variables(process, variables) == set(), name
        settings_from(process, variables)
        checked.add(process)
    assert checked == {"api", "db init", "generate", "simulate", "setup", "produce", "stream",
                       "health", "export-dimensions", "dashboard"}  # fmt: skip


def test_dependencies_wait_for_health_or_completion() -> None:
    all_services = services()
    for name, service in all_services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in all_services, f"{name} -> {dependency}"
            wanted = condition["condition"]
            if wanted == "service_healthy":
                assert "healthcheck" in all_services[dependency], dependency
            else:
                assert wanted == "service_completed_successfully", (name, dependency)
                assert "healthcheck" not in all_services[dependency], dependency


def test_images_are_pinned_and_state_is_in_named_volumes() -> None:
    document = yaml.safe_load(COMPOSE.read_text())
    for name, service in document["services"].items():
        image = service["image"]
        assert re.search(r":[^/:]*\d[^/:]*$", image) and not image.endswith(":latest"), name
        if image.split(":")[0] in PROJECT_IMAGES:
            assert image.endswith(f":{VERSION}"), name
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in document["volumes"], f"{name}: {volume}"
