#!/usr/bin/env bash
# Set up everything (scripts/setup.sh) and run the test suite; arguments go to pytest.
# The README's test command and CI's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# One worker per core (pytest-xdist, in the dev extra): the suite is CPU-bound; `-n 0` after the
# command runs it in one process.
exec .venv/bin/python -m pytest -n auto "$@"
