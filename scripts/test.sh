#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
VENV="${VENV:-.venv}"
# The browser tests drive Debian's Chromium; a downloaded browser is never used.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
exec "$VENV/bin/python" -m pytest "$@"
