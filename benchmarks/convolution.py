"""The ``conv2d`` workload: forward and backward of two convolution layers at batch 64, the first
two layers of a small MNIST CNN, against PyTorch's ``F.conv2d`` in the same process; and the
peak memory of that step.

The step: x (64, 1, 28, 28) -> conv 32 channels 3x3 (+ bias) -> (64, 32, 26, 26) -> conv 64
channels 3x3 (+ bias) -> (64, 64, 24, 24), loss = sum of the output, backward to both weights and
biases (the input batch needs no gradient), float32, same weights on both sides.

Memory: ours is the peak of tracemalloc (which sees numpy's buffers) during one step, above what
was held before it. PyTorch's CPU allocator keeps no statistics, so for both libraries the
second number is the growth of the process's peak resident set (VmHWM, reset through
/proc/self/clear_refs) over one step above the resident set before it, each measured in a fresh
subprocess after a warm-up step; large buffers are mmap'ed and given back on free, so the
high-water mark is the step's peak. (Linux only; elsewhere that row is left out.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np

import autograd_core as ag

BATCH = 64
TARGET_TIME = 1.5
TARGET_MEMORY = 1.5


def conv_weights(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)

    def he(shape):
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    return {"x": rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32),
            "w1": he((32, 1, 3, 3)), "b1": np.zeros(32, np.float32),
            "w2": he((64, 32, 3, 3)), "b2": np.zeros(64, np.float32)}


def our_step(arrays: dict):
    x = ag.Tensor(arrays["x"])
    params = {k: ag.Tensor(v, requires_grad=True) for k, v in arrays.items() if k != "x"}

    def step():
        for p in params.values():
            p.grad = None
        h = ag.conv2d(x, params["w1"], params["b1"])
        out = ag.conv2d(h, params["w2"], params["b2"])
        out.sum().backward()
        return params["w2"].grad

    return step


def torch_step(torch, arrays: dict):
    import torch.nn.functional as F

    x = torch.from_numpy(arrays["x"])
    params = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items() if k != "x"}

    def step():
        for p in params.values():
            p.grad = None
        h = F.conv2d(x, params["w1"], params["b1"])
        out = F.conv2d(h, params["w2"], params["b2"])
        out.sum().backward()
        return params["w2"].grad

    return step


def _rss_kib(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_rss_growth(who: str) -> float:
    """MiB by which one step (after a warm-up step) raises the resident set of a fresh process
    above what it held before the step: Linux's peak (VmHWM) is reset through
    /proc/self/clear_refs first. Run as ``python -m benchmarks.convolution rss ours|torch``."""
    if who == "torch":
        import torch

        torch.set_num_threads(1)
        step = torch_step(torch, conv_weights())
    else:
        step = our_step(conv_weights())
    step()
    import gc

    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident set to the current one
    before = _rss_kib("VmRSS")
    step()
    return (_rss_kib("VmHWM") - before) / 1024


def _rss_in_subprocess(who: str, threads: int) -> float | None:
    env_threads = {"OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-m", "benchmarks.convolution", "rss", who],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env_threads})
    if done.returncode != 0:  # not Linux, or no /proc
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def traced_peak(step) -> float:
    """MiB: tracemalloc's peak during one step (after a warm-up) above what was held before."""
    step()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - before) / 2**20


def conv2d(s) -> list:
    from .timing import interleaved
    from .workloads import Row, _compare

    arrays = conv_weights()
    if s.quick:
        arrays["x"] = arrays["x"][:8]
    ours = our_step(arrays)
    contenders = {"ours": ours}
    if s.torch is not None:
        theirs = torch_step(s.torch, arrays)
        contenders["torch"] = theirs
        np.testing.assert_allclose(ours().data, theirs().numpy(), rtol=2e-3, atol=2e-3)
    times = interleaved(contenders, rounds=s.rounds)
    batch = len(arrays["x"])
    case = f"batch {batch}, 1x28x28 -> 32 3x3 -> 64 3x3, fwd+bwd, float32"
    rows = []
    if "torch" in times:
        rows.append(_compare("conv2d", case, times, "torch", "PyTorch", TARGET_TIME))
    else:
        rows.append(Row("conv2d", case, "ms", times["ours"].wall * 1e3))
    traced = traced_peak(ours)
    ours_rss = None if s.quick else _rss_in_subprocess("ours", s.threads)
    torch_rss = None if s.quick or s.torch is None else _rss_in_subprocess("torch", s.threads)
    if torch_rss is None:
        rows.append(Row("conv2d", "peak memory (tracemalloc)", "MiB", traced))
        return rows
    note = (f"ours by tracemalloc; PyTorch by peak-RSS growth of a fresh process over one step "
            f"(ours by the same measure: {ours_rss:.1f} MiB)" if ours_rss is not None
            else "PyTorch by peak-RSS growth of a fresh process over one step")
    rows.append(Row("conv2d", f"batch {batch}: peak memory of one step", "MiB", traced,
                    "PyTorch (RSS)", torch_rss, TARGET_MEMORY, note=note))
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["rss"]:
        print(json.dumps(_peak_rss_growth(sys.argv[2])))
