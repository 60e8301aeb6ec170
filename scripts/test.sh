#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run the whole suite:
# lint (ruff), types (mypy) and pytest (unit, end-to-end on the simulated bench, browser).
# Extra arguments go to pytest, e.g. scripts/test.sh -k stack -x
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-venv.sh test
scripts/install-test-deps.sh

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
