"""micrograd's demo step, the same Python over our ``Scalar`` and micrograd's ``Value``, used
by the ``scalar`` and ``scalar_compiled`` workloads; for ``scalar``, each contender is timed in a
process of its own (``python -m benchmarks.scalar_demo worker ours|micrograd``), the two
processes taking turns round by round.

Why processes of their own: "micrograd as users run it" is a process holding micrograd and the
user's script, no more. With the collector on, every full collection walks every tracked object
in the process: torch adds about 140,000 of them (the benchmark's process imports it for other
workloads), and numpy with our library about 15,000 more than micrograd's own 8,000, which
made micrograd's gc-on step 15-35% slower when it shared a process with us. So each contender
gets exactly what its users have: micrograd alone (this module needs neither numpy nor our
library), and our library with numpy.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

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
    """Points in [-1, 1]^2 labelled by the sign of x0 * x1 (pure Python: the micrograd process
    imports nothing else)."""
    rnd = random.Random(seed)
    xs = [[rnd.uniform(-1, 1), rnd.uniform(-1, 1)] for _ in range(n)]
    return xs, [1.0 if a * b > 0 else -1.0 for a, b in xs]


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


class _Contender:
    """One contender's demo step in a process of its own, run one timed round at a time."""

    def __init__(self, name: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.scalar_demo", "worker", name], cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)
        self.available = self.process.stdout.readline().strip() == "ready"

    def round(self, inner: int, pause_gc: bool) -> tuple[float, float]:
        """(wall, CPU) seconds per step over ``inner`` steps, the worker's own clocks."""
        self.process.stdin.write(f"{inner} {int(pause_gc)}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"scalar demo worker ended (exit code {self.process.wait()})")
        wall, cpu = map(float, line.split())
        return wall, cpu

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def times_in_own_processes(rounds: int, inner: int) -> dict:
    """{"gc on" | "gc paused": {"ours" | "micrograd": timing.Median}} of one demo step, each
    contender in its own process, taking turns (micrograd left out where it is not
    installed). Each worker times its rounds as timing.interleaved does, in the same order."""
    from .timing import medians, round_order

    contenders = {name: _Contender(name) for name in ("ours", "micrograd")}
    try:
        if not contenders["micrograd"].available:
            contenders.pop("micrograd").close()
        times = {}
        for pause_gc, case in ((False, "gc on"), (True, "gc paused")):
            samples = {name: [] for name in contenders}
            for contender in contenders.values():  # warm-up
                contender.round(1, pause_gc)
            for round_ in range(rounds):
                for name in round_order(list(contenders), round_):
                    samples[name].append(contenders[name].round(inner, pause_gc))
            times[case] = medians(samples)
        return times
    finally:
        for contender in contenders.values():
            contender.close()


def _worker(name: str) -> None:
    from .timing import timed_round

    if name == "ours":
        import autograd_core as ag

        model, reset = ScalarMLP(ag.Scalar), zero_grad_ours
    else:
        try:
            import micrograd.engine as micrograd
        except ImportError:
            print("missing", flush=True)
            return
        model, reset = ScalarMLP(micrograd.Value), zero_grad_micrograd
    xs, ys = scalar_data()
    print("ready", flush=True)
    for line in sys.stdin:
        inner, pause_gc = (int(v) for v in line.split())
        wall, cpu = timed_round(lambda: scalar_step(model, xs, ys, reset), inner, bool(pause_gc))
        print(f"{wall} {cpu}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] != ["worker"] or len(sys.argv) != 3:
        sys.exit("usage: python -m benchmarks.scalar_demo worker ours|micrograd")
    _worker(sys.argv[2])
