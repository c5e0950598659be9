"""The ``scalar_compiled`` workload: micrograd's demo step through the Scalar compiler.

The same ``ScalarMLP`` step as the ``scalar`` workload (2-16-16-1 ReLU MLP, 50 points, sum of
squared errors, backward, SGD update written as ``p.data -= lr * p.grad``), compiled with
``ag.compile(step, scalar=True)`` (autograd_core/compiler/scalar.py): the first call traces it
eagerly, later calls replay the recorded float operations as one generated Python function.
Before timing, a few compiled steps are checked to give bit-identical losses, gradients and
parameters to the same steps run eagerly on a twin model (the workload raises otherwise).
Timed against micrograd with its garbage collector paused (its fastest), and against our eager
step for scale.
"""

from __future__ import annotations

import math

import autograd_core as ag

from .timing import interleaved

COMPILED_TARGET = 0.2  # compiled / micrograd with gc paused (issue 14: at least 5x faster)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def scalar_compiled(s) -> list:
    # workloads imports this module for its table
    from .scalar_demo import (
        ScalarMLP,
        scalar_data,
        scalar_step,
        zero_grad_micrograd,
        zero_grad_ours,
    )
    from .workloads import Row, _compare

    xs, ys = scalar_data()
    twin, model = ScalarMLP(ag.Scalar), ScalarMLP(ag.Scalar)
    step = ag.compile(lambda: scalar_step(model, xs, ys, zero_grad_ours), scalar=True)
    for _ in range(3):  # trace (no gradients yet), trace (with them), replay
        expected, got = scalar_step(twin, xs, ys, zero_grad_ours), step()
        same = _same(expected.data, got.data) and all(
            _same(a.data, b.data) and _same(a.grad, b.grad)
            for a, b in zip(twin.parameters(), model.parameters()))
        if not same:
            raise AssertionError("scalar_compiled: the compiled step differs from the eager one")
    eager = ScalarMLP(ag.Scalar)
    contenders = {"ours": step,
                  "eager": lambda: scalar_step(eager, xs, ys, zero_grad_ours)}
    if s.micrograd is not None:
        theirs = ScalarMLP(s.micrograd.Value)
        contenders["micrograd"] = lambda: scalar_step(theirs, xs, ys, zero_grad_micrograd)
    rounds, inner = (s.rounds, 1) if s.quick else (max(3, s.rounds), 3)
    times = interleaved(contenders, rounds=rounds, warmup=1, inner=inner, pause_gc=True)
    case = "demo step compiled, gc paused"
    rows = [_compare("scalar_compiled", case, times, "eager", "ours eager (gc paused)", None)]
    if "micrograd" in times:
        rows.insert(0, _compare("scalar_compiled", case, times, "micrograd",
                                "micrograd (gc paused)", COMPILED_TARGET))
    else:
        rows.insert(0, Row("scalar_compiled", case, "ms", times["ours"].wall * 1e3))
    return rows
