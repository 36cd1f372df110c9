"""Each deployable installs from its own lock without PySpark, pandas or the BigQuery client.

The slow tests build one virtualenv per role from ``requirements/<role>.lock`` (what its image
installs), then install the project itself, ``--no-deps``, like ``pip install --no-deps .``. The
virtualenvs are kept under ``.local/role-venvs/`` keyed by a hash of pyproject.toml and the
lock, so only the first run after a dependency change pays for the install; the project itself
is rebuilt every run, so the code tested is the working tree's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.locks import exclusive

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
ROLE_VENVS = REPOSITORY_ROOT / ".local" / "role-venvs"
HEAVY_MODULES = ("pyspark", "pandas", "google.cloud.bigquery", "numpy")


@dataclass(frozen=True)
class Role:
    """A deployable: its extra, its ``olist`` command and what its install must leave out."""

    extra: str
    command: str
    help_line: str  # the first line of the command's docstring, as `--help` prints it
    packages: tuple[str, ...]  # every module of these imports with the role's extra alone
    other_extras: frozenset[str]  # modules (dotted name, with their submodules) of other extras
    absent: tuple[str, ...]


API = Role(
    extra="api",
    command="api",
    help_line="Serve the order-event API",
    packages=("schemas", "source_api", "source_db"),
    # The synthetic data (numpy): the `db` extra; the msgspec validator: producer and stream.
    other_extras=frozenset({"source_db.synthetic", "schemas.fast_validation"}),
    absent=(*HEAVY_MODULES, "pyarrow"),
)
PRODUCER = Role(
    extra="producer",
    command="produce",
    help_line="Publish the source API's order events to Pub/Sub",
    packages=("schemas", "producer"),
    other_extras=frozenset(),
    absent=HEAVY_MODULES,
)

# Run inside a role's virtualenv: imports every module of the packages, then tries the modules
# that must be absent; prints what failed and what imported, as JSON.
PROBE = """
import importlib, json, pkgutil, sys
packages, other_extras, absent = json.loads(sys.argv[1])
failed = {}
for package in packages:
    try:
        module = importlib.import_module(package)
    except ModuleNotFoundError as error:
        if error.name == package:
            continue  # not in this layout of the project
        raise
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if any(info.name == other or info.name.startswith(other + ".") for other in other_extras):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError as error:
            failed[info.name] = repr(error)
present = []
for name in absent:
    try:
        importlib.import_module(name)
    except ImportError:
        continue
    present.append(name)
print(json.dumps({"failed": failed, "present": present}))
"""


def run(command: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=900, **kwargs
    )


def checked(command: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = run(command, **kwargs)
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stderr}"
    return result


def uv_command() -> Path:
    # uv comes with the dev lock; it installs in seconds what pip takes a minute for.
    uv = Path(sys.executable).parent / "uv"
    assert uv.exists(), f"no uv beside {sys.executable}: run 'bash scripts/bootstrap.sh'"
    return uv


@pytest.fixture(scope="module")
def project_sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working tree as an sdist, built once per run.

    Not an editable install: what an image gets, package data and all. An sdist, so the wheel
    is built from a clean copy: setuptools' build/ directory keeps files deleted since.
    """
    directory = tmp_path_factory.mktemp("sdist")
    checked([uv_command(), "build", "--quiet", "--sdist", "--out-dir", directory,
             REPOSITORY_ROOT])  # fmt: skip
    (sdist,) = directory.glob("*.tar.gz")
    return sdist


def role_venv(role: Role, project_sdist: Path) -> Path:
    """The role's virtualenv: locked requirements (cached by hash), then the project."""
    lock = REPOSITORY_ROOT / "requirements" / f"{role.extra}.lock"
    digest = hashlib.sha256(sys.version.encode())
    for path in (REPOSITORY_ROOT / "pyproject.toml", lock):
        digest.update(path.read_bytes())
    venv = ROLE_VENVS / f"{role.extra}-{digest.hexdigest()[:16]}"
    python = venv / "bin" / "python"
    uv = uv_command()
    ready = venv / ".requirements-installed"
    # Under `pytest -n 2` another worker may be building the same cache: one at a time.
    with exclusive(ROLE_VENVS.parent / "role-venvs.lock"):
        if not ready.exists():
            for stale in ROLE_VENVS.glob(f"{role.extra}-*"):
                shutil.rmtree(stale)
            checked([uv, "venv", "--quiet", "--python", sys.executable, venv])
            checked([uv, "pip", "install", "--quiet", "--python", python, "--require-hashes",
                     "-r", lock])  # fmt: skip
            ready.write_text(lock.name)
        checked([uv, "pip", "install", "--quiet", "--python", python, "--no-deps",
                 "--reinstall-package", "olist-pipeline", project_sdist])  # fmt: skip
    return venv


def in_venv(venv: Path, command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    # Only the role's virtualenv on PATH, nothing inherited from the dev one; cwd outside the
    # repository so `python -c` cannot import the working tree instead of the installed wheel.
    environment = {"PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
                   "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}  # fmt: skip
    return run(command, cwd=cwd, env=environment)


@pytest.mark.slow
@pytest.mark.parametrize("role", [API, PRODUCER], ids=lambda role: role.extra)
def test_role_installs_alone_and_runs_its_command_without_spark_pandas_or_bigquery(
    role: Role, project_sdist: Path, tmp_path: Path
) -> None:
    venv = role_venv(role, project_sdist)

    command = in_venv(venv, ["olist", role.command, "--help"], tmp_path)
    assert command.returncode == 0, command.stderr
    assert role.help_line in command.stdout

    probe_arguments = json.dumps([role.packages, sorted(role.other_extras), role.absent])
    probe = in_venv(venv, ["python", "-c", PROBE, probe_arguments], tmp_path)
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout)
    assert report["failed"] == {}, f"modules that need more than olist-pipeline[{role.extra}]"
    assert report["present"] == []


@pytest.mark.parametrize("role", [API, PRODUCER], ids=lambda role: role.extra)
def test_role_lock_pins_no_spark_pandas_or_bigquery(role: Role) -> None:
    lock = REPOSITORY_ROOT / "requirements" / f"{role.extra}.lock"
    pinned = {line.split("==", 1)[0] for line in lock.read_text().splitlines() if "==" in line}
    assert "typer" in pinned
    assert pinned.isdisjoint({"pyspark", "pandas", "google-cloud-bigquery", "numpy"})


def test_olist_command_line_loads_no_heavy_package() -> None:
    # Every role's image runs `olist`: its module-level imports must stay light.
    probe = run([sys.executable, "-c",
                 "import sys, olist_cli.main; "
                 f"print([m for m in {(*HEAVY_MODULES, 'pyarrow')!r} if m in sys.modules])"],
                cwd=REPOSITORY_ROOT)  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"


ANALYTICS = Role(
    extra="analytics",
    command="export-dimensions",
    help_line="Copy the dimension tables from PostgreSQL to Cloud Storage and load them",
    packages=("schemas", "analytics"),
    other_extras=frozenset({"schemas.fast_validation"}),
    # BigQuery is this role's job; Spark, pandas and numpy are not.
    absent=("pyspark", "pandas", "numpy"),
)


@pytest.mark.slow
def test_analytics_role_installs_alone_and_runs_its_commands_without_spark_pandas_or_numpy(
    project_sdist: Path, tmp_path: Path
) -> None:
    venv = role_venv(ANALYTICS, project_sdist)
    for command in ("export-dimensions", "create-views", "dashboard"):
        result = in_venv(venv, ["olist", command, "--help"], tmp_path)
        assert result.returncode == 0, result.stderr
    assert (
        ANALYTICS.help_line
        in in_venv(venv, ["olist", "export-dimensions", "--help"], tmp_path).stdout
    )

    # Package data: the view files and the dashboard's template and vendored ECharts.
    data = in_venv(venv, ["python", "-c", (
        "from analytics.views import view_definitions; "
        "from analytics.dashboard.render import ASSETS, ECHARTS; "
        "print(len(view_definitions()), (ASSETS / 'dashboard.html').is_file(), ECHARTS.is_file())"
    )], tmp_path)  # fmt: skip
    assert data.stdout.split() == ["20", "True", "True"], data.stderr

    probe_arguments = json.dumps(
        [ANALYTICS.packages, sorted(ANALYTICS.other_extras), ANALYTICS.absent]
    )
    probe = in_venv(venv, ["python", "-c", PROBE, probe_arguments], tmp_path)
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout)
    assert report["failed"] == {}, "modules that need more than olist-pipeline[analytics]"
    assert report["present"] == []


def test_analytics_lock_pins_no_spark_pandas_or_numpy() -> None:
    lock = REPOSITORY_ROOT / "requirements" / "analytics.lock"
    pinned = {line.split("==", 1)[0] for line in lock.read_text().splitlines() if "==" in line}
    assert {"typer", "asyncpg", "pyarrow", "google-cloud-bigquery"} <= pinned
    assert pinned.isdisjoint({"pyspark", "pandas", "numpy"})
