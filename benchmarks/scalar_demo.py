"""micrograd's demo step, the same Python over our ``Scalar`` and micrograd's ``Value``, timed
in a process of its own (``python -m benchmarks.scalar_demo worker ROUNDS INNER``), used by the
``scalar`` and ``scalar_compiled`` workloads.

Why a process of its own: "micrograd as users run it" is a process holding micrograd (or our
library) and the user's script, not one that has also imported torch and jax for the other
workloads. With the collector on, every full collection walks every tracked object in the
process; torch alone adds about 140,000 of them, which slows both contenders' collections and
moved the gc-on ratio from about 0.20x (a plain process) to 0.22x-0.24x (the benchmark's).
Both contenders share the fresh process and are interleaved in it as everywhere else.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


class ScalarMLP:
    """micrograd's demo MLP (ReLU hidden layers, linear output) over any Value-like class, so
    that ours and micrograd run exactly the same Python."""

    def __init__(self, value, sizes=(2, 16, 16, 1), seed: int = 0):
        rnd = random.Random(seed)
        self.layers = [[([value(rnd.uniform(-1, 1)) for _ in range(n_in)], value(0.0))
                        for _ in range(n_out)] for n_in, n_out in zip(sizes[:-1], sizes[1:])]

    def parameters(self) -> list:
        return [p for layer in self.layers for w, b in layer for p in (*w, b)]

    def __call__(self, x):
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            out = [sum((wi * xi for wi, xi in zip(w, x)), b) for w, b in layer]
            x = out if i == last else [v.relu() for v in out]
        return x[0]


def scalar_data(n: int = 50, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2))
    y = np.where(x[:, 0] * x[:, 1] > 0, 1.0, -1.0)
    return x.tolist(), y.tolist()


def scalar_step(model, xs, ys, reset_grad, lr: float = 0.01):
    loss = sum((model(x) - y) ** 2 for x, y in zip(xs, ys))
    for p in model.parameters():
        reset_grad(p)
    loss.backward()
    for p in model.parameters():
        p.data -= lr * p.grad
    return loss


def zero_grad_ours(p):
    p.grad = None


def zero_grad_micrograd(p):
    p.grad = 0.0


def times_in_fresh_process(rounds: int, inner: int) -> dict:
    """{"gc on" | "gc paused": {"ours" | "micrograd": timing.Median}} of one demo step, from a
    fresh process (micrograd left out where it is not installed)."""
    from .timing import Median

    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.scalar_demo", "worker", str(rounds), str(inner)],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
        timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"scalar demo worker failed:\n{result.stdout}\n{result.stderr}")
    times = json.loads(result.stdout.strip().splitlines()[-1])
    return {case: {name: Median(*pair) for name, pair in by_name.items()}
            for case, by_name in times.items()}


def _worker(rounds: int, inner: int) -> None:
    import autograd_core as ag

    from .timing import interleaved

    xs, ys = scalar_data()
    ours = ScalarMLP(ag.Scalar)
    contenders = {"ours": lambda: scalar_step(ours, xs, ys, zero_grad_ours)}
    try:
        import micrograd.engine as micrograd
    except ImportError:
        micrograd = None
    if micrograd is not None:
        theirs = ScalarMLP(micrograd.Value)
        contenders["micrograd"] = lambda: scalar_step(theirs, xs, ys, zero_grad_micrograd)
    times = {}
    for pause_gc, case in ((False, "gc on"), (True, "gc paused")):
        measured = interleaved(contenders, rounds=rounds, warmup=1, inner=inner,
                               pause_gc=pause_gc)
        times[case] = {name: list(median) for name, median in measured.items()}
    print(json.dumps(times), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] != ["worker"] or len(sys.argv) != 4:
        sys.exit("usage: python -m benchmarks.scalar_demo worker ROUNDS INNER")
    _worker(int(sys.argv[2]), int(sys.argv[3]))
