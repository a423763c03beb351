#!/usr/bin/env bash
# The full benchmark: set up, then time loading, flags, exports and every dashboard page at
# 50,000, 1,000,000 and 10,000,000 exams against baselines measured in the same run, and
# write docs/benchmarks.md. Generated data go to a temporary folder outside the repository
# (about 10 GB at 10 million exams; BENCH_WORKDIR keeps them in a folder of your choice).
# Extra options pass through, e.g. `scripts/bench.sh --max-minutes 120 --timeout 1800`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
VENV="${VENV:-.venv}"
workdir=()
if [ -n "${BENCH_WORKDIR:-}" ]; then
    workdir=(--workdir "$BENCH_WORKDIR")
fi
exec "$VENV/bin/ime" bench --exams 50000 --exams 1000000 --exams 10000000 \
    --out docs/benchmarks.md ${workdir[@]+"${workdir[@]}"} "$@"
