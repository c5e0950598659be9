"""Workload ``per_example_grads``: the gradient of every example's loss with respect to every
parameter of the 784-256-128-10 ReLU MLP (what DP-SGD clips and influence functions read), at
batch 64: ``vmap`` of a gradient transform against a Python loop of per-example gradients.

Both run the same gradient transform, ``func.grad(loss)`` with respect to a list of (weight, bias)
tuples, so the ratio measures what vmap saves: one batched forward
and backward pass (one matrix product per layer; the per-example weight gradients as one outer
product per example) instead of 64 small ones, each paying the engine's per-op overhead and
reading every weight matrix again.
"""

from __future__ import annotations

import numpy as np

import autograd_core as ag
from autograd_core import func

from .models import SIZES, batch, initial_weights
from .timing import interleaved

BATCH = 64
TARGET = 0.2  # vmap's time / the loop's: at least 5x faster
AGREEMENT = 1e-6  # largest difference allowed between the two (float64)


def loss(params, x, y):
    """Softmax cross-entropy of one example (x: features, y: one-hot target) under the MLP."""
    h = x
    for i, (w, b) in enumerate(params):
        h = ag.linear(h, w, b)
        if i < len(params) - 1:
            h = ag.relu(h)
    return -(y * (h - ag.logsumexp(h))).sum()


def contenders(dtype=np.float64):
    """(vmapped, looped): each computes every example's gradients, as [(dw, db), ...] per layer
    with the batch first (the loop's stacked only when compared)."""
    params = [(ag.Tensor(w.astype(dtype)), ag.Tensor(b.astype(dtype) + 0.01))
              for w, b in initial_weights(sizes=SIZES)]
    x, labels = batch(BATCH)
    xt = ag.Tensor(x.astype(dtype))
    yt = ag.Tensor(np.eye(SIZES[-1], dtype=dtype)[labels])
    per_example = func.vmap(func.grad(loss), in_axes=(None, 0, 0))
    one = func.grad(loss)

    def vmapped():
        return per_example(params, xt, yt)

    def looped():
        return [one(params, xt[i], yt[i]) for i in range(BATCH)]

    return vmapped, looped


def largest_difference(vmapped_result, looped_result) -> float:
    """The largest absolute difference between the two, over every gradient of every example."""
    worst = 0.0
    for layer, (dw, db) in enumerate(vmapped_result):
        for k, got in enumerate((dw, db)):
            expected = np.stack([example[layer][k].data for example in looped_result])
            worst = max(worst, float(np.max(np.abs(got.data - expected))))
    return worst


def per_example_grads(s) -> list:
    from .workloads import Row, _compare

    rows = []
    for dtype in (np.float64, np.float32):
        vmapped, looped = contenders(dtype)
        times = interleaved({"ours": vmapped, "loop": looped}, rounds=s.rounds, warmup=1)
        name = np.dtype(dtype).name
        rows.append(_compare("per_example_grads", f"batch {BATCH}, {name}: vmap(grad)", times,
                             "loop", "Python loop of grad", TARGET))
        if dtype == np.float64:
            difference = largest_difference(vmapped(), looped())
            rows.append(Row("per_example_grads", f"batch {BATCH}, float64: largest difference",
                            "abs", difference, target=AGREEMENT,
                            note="vmap(grad) against the loop, every gradient of every example"))
    return rows
