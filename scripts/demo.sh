#!/usr/bin/env bash
# Set up everything (scripts/setup.sh) and run the main demo, examples/spiral.py: it prints the
# accuracies and where it wrote the decision-boundary plot and the computation-graph SVG.
# Arguments go to the example (bash scripts/demo.sh --quick, --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m examples.spiral "$@"
