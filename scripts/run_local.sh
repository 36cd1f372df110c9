#!/usr/bin/env bash
# The main job on local, embedded defaults: bootstraps the virtualenv, then runs the whole
# pipeline (PostgreSQL, API, producer, Pub/Sub emulator, streaming job, Cloud Storage and
# BigQuery emulators) and prints analytics from BigQuery. Extra arguments go to
# `olist local-run` (e.g. --orders 50000 --keep .local/run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
exec python -m olist_cli local-run "$@"
