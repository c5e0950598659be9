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


def _contender(name: str):
    """(model, reset_grad) for ``name``, or None where micrograd is not installed."""
    if name == "ours":
        import autograd_core as ag

        return ScalarMLP(ag.Scalar), zero_grad_ours
    try:
        import micrograd.engine as micrograd
    except ImportError:
        return None
    return ScalarMLP(micrograd.Value), zero_grad_micrograd


def _worker(name: str) -> None:
    from .timing import timed_round

    contender = _contender(name)
    if contender is None:
        print("missing", flush=True)
        return
    model, reset = contender
    xs, ys = scalar_data()
    print("ready", flush=True)
    for line in sys.stdin:
        inner, pause_gc = (int(v) for v in line.split())
        wall, cpu = timed_round(lambda: scalar_step(model, xs, ys, reset), inner, bool(pause_gc))
        print(f"{wall} {cpu}", flush=True)


def _collector(name: str, steps: int = 20) -> None:
    """Print what the garbage collector does during ``name``'s demo step, in this process:
    the tracked objects one forward adds, and per step each generation's collections and
    their time (``gc.callbacks``); for the profile in benchmarks/README.md."""
    import gc
    import time

    contender = _contender(name)
    if contender is None:
        sys.exit("micrograd is not installed")
    model, reset = contender
    xs, ys = scalar_data()
    before = len(gc.get_objects())
    loss = sum((model(x) - y) ** 2 for x, y in zip(xs, ys))
    print(f"{name}: one forward adds {len(gc.get_objects()) - before:,} tracked objects "
          f"(the process holds {before:,} before it)")
    del loss
    for _ in range(3):
        scalar_step(model, xs, ys, reset)
    counts, seconds, started = [0, 0, 0], [0.0, 0.0, 0.0], [0.0]

    def note(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            counts[info["generation"]] += 1
            seconds[info["generation"]] += time.perf_counter() - started[0]

    gc.collect()
    gc.callbacks.append(note)
    start = time.perf_counter()
    for _ in range(steps):
        scalar_step(model, xs, ys, reset)
    total = time.perf_counter() - start
    gc.callbacks.remove(note)
    per_generation = ", ".join(
        f"generation {g}: {counts[g] / steps:.1f} in {seconds[g] / steps * 1e3:.1f} ms"
        for g in range(3))
    print(f"{name}: {total / steps * 1e3:.1f} ms per step with gc on; collections per step, "
          f"{per_generation}")


if __name__ == "__main__":
    _USAGE = "usage: python -m benchmarks.scalar_demo worker|collector ours|micrograd [steps]"
    args = sys.argv[1:]
    if len(args) not in (2, 3) or args[0] not in ("worker", "collector") \
            or args[1] not in ("ours", "micrograd") or (len(args) == 3 and not args[2].isdigit()):
        sys.exit(_USAGE)
    if args[0] == "worker":
        _worker(args[1])
    else:
        _collector(args[1], *(int(a) for a in args[2:]))
