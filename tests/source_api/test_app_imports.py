"""Serving the API loads none of the tools' heavy packages (the generator's numpy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_api_app_does_not_load_numpy() -> None:
    check = "import sys, source_api.app; print(sorted(m for m in sys.modules if m == 'numpy'))"
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
