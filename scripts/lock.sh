#!/usr/bin/env bash
# Pins every Python package: resolves pyproject.toml into uv.lock (one resolution for all
# roles, Linux x86_64 and aarch64, Python >= 3.11), then exports from it the requirement files
# that get installed, each with exact versions and hashes:
#
#   requirements/dev.lock        everything the tests need; scripts/bootstrap.sh installs it
#   requirements/api.lock        the source API image        (olist-pipeline[api])
#   requirements/producer.lock   the producer image          (olist-pipeline[producer])
#   requirements/stream.lock     the streaming job's image   (olist-pipeline[stream])
#   requirements/health.lock     the health checks (olist-pipeline[health])
#   requirements/analytics.lock  the analytics jobs (export-dimensions, views, dashboard)
#   requirements/db.lock         the db image: generate, simulate (olist-pipeline[db])
#   requirements/emulators.lock  the emulators image: bqemulator (olist-pipeline[emulators])
#
# and, from deploy/checks/requirements.in (not the project's extras: checkov's pins would
# constrain the project's), requirements/deploy-checks.lock: the tools of
# scripts/deploy_checks.sh, installed into a virtualenv of their own.
#
# The project itself is not in them: install it with `pip install --no-deps .` after them.
#
#   bash scripts/lock.sh             after changing dependencies in pyproject.toml
#   bash scripts/lock.sh --upgrade   the newest versions pyproject.toml allows
#   bash scripts/lock.sh --check     exit 1 when a file is not what pyproject.toml gives (test.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${OLIST_VENV:-$ROOT/.venv}"
ROLES=(dev api producer stream db emulators health analytics)
DEPLOY_CHECKS_IN="$ROOT/deploy/checks/requirements.in"

mode="write"
case "${1:-}" in
    "") ;;
    --check) mode="check" ;;
    --upgrade) mode="upgrade" ;;
    *)
        echo "usage: bash scripts/lock.sh [--check | --upgrade]" >&2
        exit 2
        ;;
esac

# The uv pinned in the dev extra: the lock's format and resolution depend on uv's version.
uv_version="$(sed -n 's/^ *"uv==\([^"]*\)".*/\1/p' "$ROOT/pyproject.toml")"
if [ -z "$uv_version" ]; then
    echo "scripts/lock.sh: no \"uv==VERSION\" in pyproject.toml's dev extra" >&2
    exit 1
fi
UV="$VENV/bin/uv"
if [ ! -x "$UV" ] || [ "$("$UV" --version | cut -d' ' -f2)" != "$uv_version" ]; then
    # No bootstrapped .venv yet, or one with another uv: a small venv of its own, kept.
    tool_venv="$ROOT/.local/uv-$uv_version"
    if [ ! -x "$tool_venv/bin/uv" ]; then
        echo "scripts/lock.sh: installing uv $uv_version into $tool_venv" >&2
        python3 -m venv "$tool_venv"
        "$tool_venv/bin/python" -m pip install --quiet "uv==$uv_version" >&2
    fi
    UV="$tool_venv/bin/uv"
fi

export_role() {  # export_role ROLE OUTPUT
    # --no-header: the file names this script instead of uv's own command line.
    {
        echo "# Written by 'bash scripts/lock.sh' from uv.lock; do not edit."
        echo "# olist-pipeline[$1]; then: pip install --no-deps <the project>"
        "$UV" export --quiet --frozen --no-header --no-emit-project --extra "$1" \
            --directory "$ROOT"
    } >"$2"
}

compile_deploy_checks() {  # compile_deploy_checks OUTPUT [uv pip compile options]
    # Starts from OUTPUT's pins when it exists (uv keeps them), so --check is reproducible.
    local output="$1"
    shift
    "$UV" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
        --no-header --custom-compile-command "bash scripts/lock.sh" "$@" \
        "$DEPLOY_CHECKS_IN" -o "$output"
}

cd "$ROOT"
if [ "$mode" = "check" ]; then
    if ! "$UV" lock --quiet --check --directory "$ROOT"; then
        echo "uv.lock is out of date with pyproject.toml: run 'bash scripts/lock.sh'" >&2
        exit 1
    fi
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    stale=()
    for role in "${ROLES[@]}"; do
        export_role "$role" "$scratch/$role.lock"
        cmp -s "$scratch/$role.lock" "requirements/$role.lock" || stale+=("requirements/$role.lock")
    done
    if [ -f requirements/deploy-checks.lock ]; then
        cp requirements/deploy-checks.lock "$scratch/deploy-checks.lock"
    fi
    compile_deploy_checks "$scratch/deploy-checks.lock"
    cmp -s "$scratch/deploy-checks.lock" requirements/deploy-checks.lock ||
        stale+=(requirements/deploy-checks.lock)
    if [ "${#stale[@]}" -gt 0 ]; then
        echo "out of date with uv.lock: ${stale[*]}; run 'bash scripts/lock.sh'" >&2
        exit 1
    fi
    exit 0
fi

if [ "$mode" = "upgrade" ]; then
    "$UV" lock --upgrade --directory "$ROOT"
    compile_deploy_checks requirements/deploy-checks.lock --upgrade
else
    "$UV" lock --directory "$ROOT"
    compile_deploy_checks requirements/deploy-checks.lock
fi
mkdir -p requirements
for role in "${ROLES[@]}"; do
    export_role "$role" "requirements/$role.lock"
done
echo "uv.lock and requirements/{$(IFS=,; echo "${ROLES[*]}"),deploy-checks}.lock written" >&2
