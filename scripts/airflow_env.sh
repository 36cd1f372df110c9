#!/usr/bin/env bash
# The Airflow virtualenv of the pipeline_health DAG's tests: Airflow 3.3 from PyPI, pinned with
# hashes in requirements/airflow.lock (its own resolution: Airflow's pins are not the
# project's), plus the project itself without dependencies so the DAG imports `health`.
#
#   bash scripts/airflow_env.sh            create or refresh it; prints its python's path
#   bash scripts/airflow_env.sh --lock     re-resolve requirements/airflow.in into the lock
#
# The virtualenv lives in .local/airflow-venv and is rebuilt only when the lock, this script or
# pyproject.toml changed (a stamp holds their hash, as scripts/bootstrap.sh does for .venv):
# a fresh machine pays the install once (about a minute with uv), later runs are instant.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${OLIST_AIRFLOW_VENV:-$ROOT/.local/airflow-venv}"
LOCK="$ROOT/requirements/airflow.lock"
PYTHON="${OLIST_PYTHON:-python3.11}"

# uv at the version the project pins (scripts/lock.sh's rule): .venv's, or a small venv of its own.
uv_version="$(sed -n 's/^ *"uv==\([^"]*\)".*/\1/p' "$ROOT/pyproject.toml")"
UV="${OLIST_VENV:-$ROOT/.venv}/bin/uv"
if [ ! -x "$UV" ] || [ "$("$UV" --version | cut -d' ' -f2)" != "$uv_version" ]; then
    tool_venv="$ROOT/.local/uv-$uv_version"
    if [ ! -x "$tool_venv/bin/uv" ]; then
        "$PYTHON" -m venv "$tool_venv"
        "$tool_venv/bin/python" -m pip install --quiet "uv==$uv_version" >&2
    fi
    UV="$tool_venv/bin/uv"
fi

if [ "${1:-}" = "--lock" ]; then
    {
        echo "# Written by 'bash scripts/airflow_env.sh --lock' from requirements/airflow.in; do not edit."
        # --universal: one lock for the machines' platforms (Linux x86_64 and aarch64).
        "$UV" pip compile --quiet --no-header --python-version 3.11 --generate-hashes \
            --universal "$ROOT/requirements/airflow.in"
    } >"$LOCK"
    echo "requirements/airflow.lock written" >&2
    exit 0
fi

want="$(cat "$LOCK" "$ROOT/pyproject.toml" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1) $ROOT"
stamp="$VENV/.olist-installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "olist-pipeline: installing Airflow into $VENV" >&2
    rm -rf "$VENV"
    "$UV" venv --quiet --python "$PYTHON" "$VENV" >&2
    "$UV" pip sync --quiet --python "$VENV/bin/python" --require-hashes "$LOCK" >&2
    "$UV" pip install --quiet --python "$VENV/bin/python" --no-deps -e "$ROOT" >&2
    echo "$want" >"$stamp"
fi
echo "$VENV/bin/python"
