"""The direction written in source_db's docstring: source_db imports only schemas and itself,
source_api adds source_db, and serving the API does not load the generator's numpy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_PACKAGES = {
    "schemas", "source_db", "source_api", "producer", "streaming", "connectors", "emulators",
    "olist_cli", "bench", "tests",
}  # fmt: skip


def _pipeline_imports(package: str) -> set[tuple[str, str]]:
    """(module file, imported pipeline package) for every absolute import in ``package``."""
    found = set()
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            top_levels = {name.split(".")[0] for name in names} & PIPELINE_PACKAGES
            found |= {(str(path.relative_to(ROOT)), top) for top in top_levels}
    return found


@pytest.mark.parametrize(
    ("package", "allowed"),
    [
        ("source_db", {"schemas", "source_db"}),
        ("source_api", {"schemas", "source_db", "source_api"}),
    ],
)
def test_package_imports_only_the_packages_below_it(package: str, allowed: set[str]) -> None:
    imports = _pipeline_imports(package)
    assert {top for _, top in imports} <= allowed, sorted(
        (module, top) for module, top in imports if top not in allowed
    )
    assert imports, f"no import found in {package}: the scan is broken"


def test_importing_the_api_app_does_not_load_numpy() -> None:
    check = "import sys, source_api.app; print(sorted(m for m in sys.modules if m == 'numpy'))"
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
