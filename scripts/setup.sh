#!/usr/bin/env bash
# Set up everything the tests and the examples need on a fresh Debian machine: the one way to
# set up, used by scripts/test.sh and scripts/demo.sh. Idempotent: reuses .venv, installs only
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
    [ "$apt_updated" = 1 ] || { as_root apt-get update -qq; apt_updated=1; }
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    rm -rf .venv
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
        rm -rf .venv
        apt_install python3-venv   # Debian ships venv separately from python3
        "$PYTHON" -m venv .venv
    fi
fi
# The `dot` binary renders graphs (the examples' pictures; tests/test_viz.py renders real files).
command -v dot >/dev/null 2>&1 || apt_install graphviz
# Debian's Chromium: tests/test_explain.py steps through the backward-pass HTML page in it, driven
# by Playwright (pip, dev extra), which is pointed at this browser instead of downloading its own.
[ -x /usr/bin/chromium ] || apt_install chromium
# Fashion-MNIST's IDX files come from Debian, never from a download (its example and tests).
dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || apt_install dataset-fashion-mnist
# The names example learns from the English word list of Debian's wamerican (never downloaded).
[ -e /usr/share/dict/words ] || apt_install wamerican
# The examples extra (matplotlib, tqdm, scikit-learn's bundled datasets) serves the examples and
# their end-to-end tests; dev brings pytest and hypothesis; distributed brings mpi4py and Open
# MPI's mpiexec (.venv/bin/mpiexec), which tests/test_distributed.py launches; special brings
# scipy for digamma/polygamma; onnx brings onnx and onnxruntime (nn.export_onnx and its tests);
# notebooks brings nbclient and ipykernel (tests/test_notebooks.py runs every notebook).
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev,examples,distributed,special,onnx,notebooks]"
