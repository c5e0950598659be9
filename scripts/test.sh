#!/usr/bin/env bash
# Set up everything (scripts/setup.sh) and run the test suite; arguments go to pytest.
# The README's test command and CI's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
