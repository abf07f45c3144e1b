#!/usr/bin/env bash
# Set up, then run the linter and the whole test suite (the tests start their own Redis server).
set -euo pipefail
cd "$(dirname "$0")/.."
# The dashboard test drives Debian's Chromium (Playwright never downloads a browser here).
EXTRA_DEBIAN_PACKAGES=chromium scripts/setup.sh requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
