#!/usr/bin/env bash
# The whole test suite on a fresh machine: bootstraps the virtualenv, checks the system
# packages, lints, then runs pytest against real servers it starts itself.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
ruff check .
ruff format --check .
mypy  # what [tool.mypy] in pyproject.toml lists: strict on the packages, tests without annotations
python -m schemas.derive --check
python -m olist_cli.settings_reference --check
bash scripts/lock.sh --check
bash scripts/deploy_checks.sh  # Dockerfile, k3s manifests, compose file: offline (tests/deploy/ reads its renders)
# Two workers (pytest-xdist): tests sharing an expensive fixture carry an xdist_group and go to
# one worker together; tests/conftest.py starts the longest first. OLIST_TEST_WORKERS=0 (or a
# trailing -n 0) runs in this process, e.g. to debug one test with -s or --pdb.
exec python -m pytest -n "${OLIST_TEST_WORKERS:-2}" --dist loadgroup --no-loadscope-reorder "$@"
