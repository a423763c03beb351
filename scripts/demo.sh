#!/usr/bin/env bash
# Set up, make the demo data and database on first run, and start the dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
VENV="${VENV:-.venv}"
export IME_DB="${IME_DB:-data/ime.duckdb}"
if [ ! -f "$IME_DB" ]; then
    "$VENV/bin/ime" demo --out data/demo --exams "${DEMO_EXAMS:-50000}"
    "$VENV/bin/ime" load data/demo
fi
exec "$VENV/bin/ime" serve --port "${PORT:-8501}"
