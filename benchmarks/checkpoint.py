"""The ``checkpoint`` workload: what ``ag.checkpoint`` saves in memory and costs in time.

A 50-layer MLP (Dense 64-64 + LeakyReLU per layer, float32, batch 2048), one forward and
backward pass of a squared-output loss, without checkpointing and with each run of 5 layers
checkpointed (10 segments). Peak traced memory (tracemalloc sees numpy's buffers) is measured
from the start of the forward pass to the end of backward; the time is the median per step.
Gradients are checked to be bit-identical before anything is reported. A second memory row with
Tanh layers shows the smaller saving where each layer's saved output is shared with the next
layer (one saved activation per layer in the plain graph, instead of two).
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

import autograd_core as ag
import nn

from .timing import interleaved

DEPTH, WIDTH, BATCH, SEGMENT = 50, 64, 2048, 5


def _model(activation) -> nn.Sequential:
    layers = []
    for i in range(DEPTH):
        layers += [nn.Dense(WIDTH, WIDTH, rng=i), activation()]
    return nn.Sequential(*layers)


def _step(model, x, segmented: bool) -> None:
    model.zero_grad()
    h = x
    if segmented:
        for first in range(0, len(model), 2 * SEGMENT):
            h = ag.checkpoint(model[first:first + 2 * SEGMENT], h)
    else:
        h = model(h)
    (h * h).mean().backward()


def _peak(model, x, segmented: bool) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        _step(model, x, segmented)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / (1024 * 1024)


def checkpoint(s) -> list:
    from .workloads import Row  # workloads imports this module for its table

    rows = []
    x = ag.Tensor(np.random.default_rng(0).standard_normal((BATCH, WIDTH)), dtype=np.float32)
    for activation in (nn.LeakyReLU, nn.Tanh):
        model = _model(activation)
        grads = []
        for segmented in (False, True):
            _step(model, x, segmented)
            grads.append([p.grad.data.copy() for p in model.parameters()])
        if not all(np.array_equal(a, b) for a, b in zip(*grads)):
            raise AssertionError("checkpoint: gradients differ from those without it")
        plain, segmented = _peak(model, x, False), _peak(model, x, True)
        case = (f"{DEPTH}-layer MLP ({activation.__name__}), batch {BATCH}: peak memory, "
                f"{DEPTH // SEGMENT} segments")
        target = 0.333 if activation is nn.LeakyReLU else None  # a 3x saving at least
        rows.append(Row("checkpoint", case, "MiB", segmented, "no checkpointing", plain, target,
                        note="gradients bit-identical"))
        if activation is nn.LeakyReLU:
            times = interleaved({"ours": lambda m=model: _step(m, x, True),
                                 "plain": lambda m=model: _step(m, x, False)},
                                rounds=1 if s.quick else s.rounds)
            ours, other = times["ours"], times["plain"]
            rows.append(Row("checkpoint", f"{DEPTH}-layer MLP (LeakyReLU), batch {BATCH}: time "
                            "per step", "ms", ours.wall * 1e3, "no checkpointing",
                            other.wall * 1e3, 1.6, note="one extra forward pass per segment",
                            cpu_ratio=ours.cpu / other.cpu if other.cpu else None))
    return rows
