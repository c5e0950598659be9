"""The workloads of the benchmark suite: the first five here, the others in their own modules
(all listed in WORKLOADS). Each takes the run's settings and returns rows: one number of ours
against one reference, with the ratio and the target it is held to."""

from __future__ import annotations

import gc
import time
import tracemalloc
from dataclasses import asdict, dataclass

import numpy as np

import autograd_core as ag
import nn

from . import compiled, convolution, transformer
from .checkpoint import checkpoint
from .cnn import cnn_step
from .distributed import distributed
from .models import NumpyStep, OursStep, TorchStep, batch, initial_weights
from .per_example_grads import per_example_grads
from .scalar_compiled import scalar_compiled
from .scalar_demo import times_in_own_processes
from .timing import interleaved, once


@dataclass
class Row:
    """One line of the table: ``ours`` against ``reference`` (lower is better for both)."""

    workload: str
    case: str
    unit: str
    ours: float
    reference: str | None = None   # what we compare against (None: a number on its own)
    theirs: float | None = None
    target: float | None = None    # the largest allowed ratio (or value, when no reference)
    note: str = ""
    cpu_ratio: float | None = None  # the same ratio in CPU time (see timing.Median)

    @property
    def ratio(self) -> float | None:
        if self.theirs is None or self.theirs == 0:
            return None
        return self.ours / self.theirs

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        value = self.ratio if self.reference is not None else self.ours
        return value is not None and value <= self.target

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


@dataclass
class Settings:
    quick: bool
    rounds: int
    threads: int
    torch: object | None       # the torch module, or None when it is not installed
    micrograd: object | None   # micrograd.engine, or None
    log: object = print


# ---- 1. mlp_step --------------------------------------------------------------------------------

MLP_TARGETS = {32: 1.30, 128: 1.10, 1024: 1.05}  # ours / numpy floor


def _mlp_contenders(s: Settings, size: int) -> dict:
    weights = initial_weights()
    x, y = batch(size)
    ours, floor = OursStep(weights), NumpyStep(weights)
    xt = ag.Tensor(x)
    contenders = {"ours": lambda: ours(xt, y), "numpy": lambda: floor(x, y)}
    if s.torch is not None:
        theirs = TorchStep(s.torch, weights)
        xs, ys = s.torch.from_numpy(x), s.torch.from_numpy(y)
        contenders["torch"] = lambda: theirs(xs, ys)
    return contenders


def mlp_step(s: Settings) -> list[Row]:
    rows = []
    for size in ((32, 128) if s.quick else (32, 128, 1024)):
        inner = max(1, (4096 // size) // (4 if s.quick else 1))
        times = interleaved(_mlp_contenders(s, size), rounds=s.rounds, warmup=2, inner=inner)
        case = f"batch {size}"
        rows.append(_compare("mlp_step", case, times, "numpy", "numpy floor", MLP_TARGETS[size]))
        if "torch" in times:
            rows.append(_compare("mlp_step", case, times, "torch", "PyTorch",
                                 1.0 if size == 128 else None))
    return rows


def _compare(workload: str, case: str, times: dict, theirs: str, reference: str,
             target: float | None, unit: str = "ms", scale: float = 1e3) -> Row:
    """A row of ours against ``times[theirs]`` (timing.Median values)."""
    ours, other = times["ours"], times[theirs]
    return Row(workload, case, unit, ours.wall * scale, reference, other.wall * scale, target,
               cpu_ratio=ours.cpu / other.cpu if other.cpu else None)


# ---- 2. op_overhead -----------------------------------------------------------------------------

CHAIN_OPS = 200


def _chain(y, c, tanh):
    for i in range(CHAIN_OPS):
        kind = i % 3
        y = y + c if kind == 0 else y * c if kind == 1 else tanh(y)
    return y


def _numpy_chain(x, c):
    """Forward and backward of the chain by hand: what the op costs with no engine at all."""
    saved = []
    y = x
    for i in range(CHAIN_OPS):
        kind = i % 3
        if kind == 0:
            y = y + c
        elif kind == 1:
            y = y * c
        else:
            y = np.tanh(y)
            saved.append(y)
    grad = np.ones_like(y)
    for i in range(CHAIN_OPS - 1, -1, -1):
        kind = i % 3
        if kind == 1:
            grad = grad * c
        elif kind == 2:
            out = saved.pop()
            grad = grad * (1 - out * out)
    return grad


def op_overhead(s: Settings) -> list[Row]:
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, 16).astype(np.float32)
    c0 = rng.uniform(0.5, 1.5, 16).astype(np.float32)
    x, c = ag.Tensor(x0, requires_grad=True), ag.Tensor(c0)

    def ours():
        _chain(x, c, ag.tanh).sum().backward()
        x.grad = None

    contenders = {"ours": ours, "numpy": lambda: _numpy_chain(x0, c0)}
    if s.torch is not None:
        torch = s.torch
        tx, tc = torch.tensor(x0, requires_grad=True), torch.tensor(c0)

        def theirs():
            _chain(tx, tc, torch.tanh).sum().backward()
            tx.grad = None

        contenders["torch"] = theirs
    times = interleaved(contenders, rounds=s.rounds * 5, warmup=3, inner=5)
    case, scale = f"add/mul/tanh x{CHAIN_OPS}, 16 elements", 1e6 / CHAIN_OPS
    rows = []
    if "torch" in times:
        rows.append(_compare("op_overhead", case, times, "torch", "PyTorch", 1.5, "us/op", scale))
    rows.append(_compare("op_overhead", case, times, "numpy", "raw numpy (no engine)", None,
                         "us/op", scale))
    return rows


# ---- 3. scalar ----------------------------------------------------------------------------------

# ours / micrograd (issue 14): no slower with its collector paused, 5x faster as users run it
SCALAR_TARGETS = {True: 1.0, False: 0.2}


def scalar(s: Settings) -> list[Row]:
    rows = []
    rounds, inner = (s.rounds, 1) if s.quick else (max(3, s.rounds), 3)
    demo = times_in_own_processes(rounds, inner)  # see scalar_demo: a process each
    for pause_gc, case in ((False, "gc on"), (True, "gc paused")):
        times, label = demo[case], f"demo step, {case}"
        if "micrograd" in times:
            rows.append(_compare("scalar", label, times, "micrograd", "micrograd",
                                 SCALAR_TARGETS[pause_gc]))
        else:
            rows.append(Row("scalar", label, "ms", times["ours"].wall * 1e3))
    length = 100_000 if s.quick else 1_000_000
    x = ag.Scalar(0.5)

    def build():
        y = x
        for i in range(length):
            y = y * 0.999999 if i % 2 else y + 1e-6
        return y

    start = time.perf_counter()
    chain = build()
    built = time.perf_counter() - start
    backward = once(chain.backward)
    del chain
    rows.append(Row("scalar", f"chain of {length:,} ops: forward", "s", built))
    rows.append(Row("scalar", f"chain of {length:,} ops: backward", "s", backward,
                    note="micrograd: its recursive sort cannot go this deep"))
    return rows


# ---- 4. memory ----------------------------------------------------------------------------------

def _traced_run(make_step, x, y, steps: int) -> tuple[float, float]:
    """(peak MiB over the run, MiB still held after the last step minus after the first ten),
    traced by tracemalloc (numpy reports its buffers to it). The input batch is made before
    tracing starts, so only the model, its optimizer and the steps are counted."""
    gc.collect()
    tracemalloc.start()
    try:
        step = make_step()
        settled = None
        for i in range(steps):
            step(x, y)
            if i == min(9, steps - 1):
                gc.collect()
                settled = tracemalloc.get_traced_memory()[0]
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    mib = 1024 * 1024
    return peak / mib, (current - settled) / mib


def memory(s: Settings) -> list[Row]:
    size, steps = 1024, (50 if s.quick else 2000)
    weights = initial_weights()
    x, y = batch(size)
    xt = ag.Tensor(x)
    floor_peak, floor_growth = _traced_run(lambda: NumpyStep(weights), x, y, steps)
    ours_peak, ours_growth = _traced_run(lambda: OursStep(weights), xt, y, steps)
    case = f"mlp_step batch {size}, {steps} steps"
    return [Row("memory", case + ": peak", "MiB", ours_peak, "numpy floor", floor_peak, 1.3),
            Row("memory", case + ": growth", "MiB", ours_growth, target=1.0,
                note=f"numpy floor: {floor_growth:.3f} MiB")]


# ---- 5. fashion_mnist_epoch ---------------------------------------------------------------------

def fashion_mnist_epoch(s: Settings) -> list[Row]:
    from examples.datasets import DatasetMissing, fashion_mnist

    try:
        (x, y), _ = fashion_mnist(limit=4096 if s.quick else None)
    except DatasetMissing as error:
        s.log(f"fashion_mnist_epoch skipped: {error}")
        return []
    weights = initial_weights(seed=0)
    ours = OursStep(weights, optimizer="adam", lr=1e-3)
    epochs = {"ours": 0, "torch": 0}

    def our_epoch():
        nn.fit(ours.model, nn.cross_entropy, ours.optimizer, (x, y), epochs=1, batch_size=128,
               rng=epochs["ours"], progress=False)
        epochs["ours"] += 1

    contenders = {"ours": our_epoch}
    if s.torch is None:
        s.log("fashion_mnist_epoch: PyTorch is not installed, so there is nothing to compare with")
    else:
        torch = s.torch
        theirs = TorchStep(torch, weights, optimizer="adam", lr=1e-3)

        def torch_epoch():
            total = 0.0
            for xb, yb in nn.batches(x, y, batch_size=128, shuffle=True, rng=epochs["torch"]):
                total += theirs(torch.from_numpy(xb), torch.from_numpy(yb)).item() * len(xb)
            epochs["torch"] += 1
            return total / len(x)

        contenders["torch"] = torch_epoch
    times = interleaved(contenders, rounds=max(2, s.rounds // 3), warmup=0 if not s.quick else 1)
    case = f"{len(x):,} images, batch 128, Adam, float32"
    if "torch" in times:
        return [_compare("fashion_mnist_epoch", case, times, "torch", "PyTorch", 1.2, "s", 1.0)]
    return [Row("fashion_mnist_epoch", case, "s", times["ours"].wall)]


WORKLOADS = {
    "mlp_step": mlp_step,
    "op_overhead": op_overhead,
    "scalar": scalar,
    "memory": memory,
    "fashion_mnist_epoch": fashion_mnist_epoch,
    "transformer_step": transformer.transformer_step,
    "conv2d": convolution.conv2d,
    "cnn_step": cnn_step,
    "per_example_grads": per_example_grads,
    "distributed": distributed,
    "checkpoint": checkpoint,
    "compiled": compiled.compiled,
    "scalar_compiled": scalar_compiled,
}
