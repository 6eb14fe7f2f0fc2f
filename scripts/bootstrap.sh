#!/usr/bin/env bash
# One-time (and idempotent) set-up of a fresh machine of this kind: apt packages, PostgreSQL running with
# PostGIS, the virtualenv with pinned requirements and the project installed editable.
# Re-runs take a second: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

apt_install() {
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "bootstrap: apt-get install ${missing[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# PostgreSQL 15 + PostGIS (the machine image ships PostgreSQL; PostGIS comes from apt); chromium screenshots the
# daily report. docker-compose.yaml is validated against the Compose schema in tests (no Docker client needed).
apt_install postgresql-15 postgresql-15-postgis-3 chromium
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "bootstrap: starting PostgreSQL 15"
    $SUDO pg_ctlcluster --skip-systemctl-redirect 15 main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 >/dev/null || { echo "bootstrap: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }

# Virtualenv, re-installed only when a requirements file or pyproject.toml changed.
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "bootstrap: installing the virtualenv (.venv)"
    [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -r requirements-dev.txt
    .venv/bin/pip install -q --no-deps -e .
    echo "$want" > "$stamp"
fi
echo "bootstrap: ready ($(.venv/bin/python --version), $(.venv/bin/airflow version 2>/dev/null | tail -1 | sed 's/^/airflow /'))"
