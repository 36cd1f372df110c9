#!/usr/bin/env bash
# Creates (or refreshes) the project's virtualenv and checks the system packages the
# pipeline needs. Sourced by scripts/run_local.sh and scripts/test.sh; prints what is
# missing, with the exact Debian package name, instead of failing later.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${OLIST_VENV:-$ROOT/.venv}"
missing=()

need() {  # need COMMAND DEBIAN-PACKAGE [WHAT]
    if ! command -v "$1" >/dev/null 2>&1; then
        missing+=("$2 (provides '$1'${3:+, $3})")
    fi
}

PYTHON="${OLIST_PYTHON:-}"
if [ -z "$PYTHON" ]; then
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            PYTHON="$candidate"
            break
        fi
    done
fi
[ -n "$PYTHON" ] || missing+=("python3.11 and python3.11-venv (Python >= 3.11)")

# PostgreSQL server binaries: on Debian they live outside PATH.
if ! command -v initdb >/dev/null 2>&1; then
    pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ]; then
        export PATH="$pg_bin:$PATH"
    else
        missing+=("postgresql (provides 'initdb', 'pg_ctl', 'postgres')")
    fi
fi
need java openjdk-17-jre-headless "Java 17 for Spark and the Pub/Sub emulator"
if command -v java >/dev/null 2>&1; then
    java_major="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
    if [ "${java_major:-0}" -lt 17 ]; then
        missing+=("openjdk-17-jre-headless (found Java ${java_major:-unknown}, need 17 or newer)")
    fi
fi
# kubectl renders the k3s manifests (`kubectl kustomize`, scripts/deploy_checks.sh).
need kubectl kubectl "from Google's Cloud SDK apt repository, like the Pub/Sub emulator"
PUBSUB_EMULATOR="${OLIST_PUBSUB_EMULATOR_BIN:-/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator}"
if [ ! -x "$PUBSUB_EMULATOR" ]; then
    missing+=("google-cloud-cli-pubsub-emulator (provides $PUBSUB_EMULATOR, from Google's Cloud SDK apt repository)")
fi
# Chromium for the dashboard's browser test (driven by Playwright through its executable
# path, so Playwright's own browser download is never needed). As root, install it here.
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "olist-pipeline: installing the Debian package chromium" >&2
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
    fi
    need chromium chromium "headless browser of the dashboard test"
fi

if [ "${#missing[@]}" -gt 0 ]; then
    echo "olist-pipeline: missing system packages:" >&2
    for m in "${missing[@]}"; do echo "  - $m" >&2; done
    echo "Install them (e.g. 'apt-get install <package>') and run this command again." >&2
    exit 1
fi

stamp="$VENV/.olist-installed"
if [ ! -x "$VENV/bin/python" ]; then
    echo "olist-pipeline: creating virtualenv in $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi
# The exact versions CI tested: requirements/dev.lock (written by scripts/lock.sh), then the
# project itself. Reinstall only when the lock or pyproject.toml changed: a fresh clone pays
# once, later runs are instant.
want="$(cat "$ROOT/pyproject.toml" "$ROOT/requirements/dev.lock" | sha256sum | cut -d' ' -f1) $ROOT"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "olist-pipeline: installing the locked Python packages into $VENV" >&2
    # uv, at the lock's own version, installs the lock on a fresh machine in about 45 s, where
    # pip takes 2.5 min (most of either is PySpark's 456 MB source archive, built once, cached).
    uv_version="$(sed -n 's/^uv==\([^ ;]*\).*/\1/p' "$ROOT/requirements/dev.lock")"
    if [ "$("$VENV/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$uv_version" ]; then
        "$VENV/bin/python" -m pip install --quiet --no-deps "uv==$uv_version" >&2
    fi
    # sync, not install: packages the lock no longer lists leave the virtualenv too.
    "$VENV/bin/uv" pip sync --quiet --python "$VENV/bin/python" --require-hashes \
        "$ROOT/requirements/dev.lock" >&2
    "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e "$ROOT" >&2
    echo "$want" > "$stamp"
fi

export OLIST_VENV="$VENV"
export PATH="$VENV/bin:$PATH"
export PYSPARK_PYTHON="$VENV/bin/python"
export PYSPARK_DRIVER_PYTHON="$VENV/bin/python"
