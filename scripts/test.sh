#!/usr/bin/env bash
# Set up, then run the linter and the whole test suite (the tests start their own Redis server).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
