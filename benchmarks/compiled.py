"""The ``compiled`` workload: ``ag.compile`` against the hand-written numpy floor and jax.jit.

- mlp_step (784-256-128-10 ReLU MLP, softmax cross-entropy, plain SGD) at batch 32, 128 and
  1024: our compiled step (traced, then replayed) against ``models.NumpyStep`` (in-place numpy,
  the floor) and, where jax is installed, the same step under ``jax.jit`` (XLA on one worker
  thread, see ``_jax``; the parameters updated functionally as a jax program does). All
  interleaved in one process.
- op_overhead: the chain of ``workloads._chain`` (add/mul/tanh, 16 elements), compiled, against
  the same arithmetic written in raw numpy: the cost of one op once the engine is out of the way.
- memory: peak traced memory (tracemalloc) of compiled mlp_step runs against the floor's.
"""

from __future__ import annotations

import gc
import os
import tracemalloc

import numpy as np

import autograd_core as ag

from .models import NumpyStep, OursStep, batch, initial_weights
from .timing import interleaved

FLOOR_TARGET = 1.03     # compiled / numpy floor
JAX_TARGET = 1.0        # compiled / jax.jit: faster
CHAIN_TARGET = 1.5      # compiled / raw numpy, per op
MEMORY_TARGET = 1.05    # compiled peak / floor peak


def _jax():
    """jax, single-threaded like numpy here, or None when it is not installed.

    XLA_FLAGS alone does not make it so: the CPU client runs a compiled program on a pool of
    worker threads sized by the CPUs the process may use (measured here: two busy "XLAEigen"
    threads on this 2-core machine, with the flag set). So the client is made while this thread
    may use one CPU only (its pool then has one worker), and every thread is then allowed all
    the CPUs again: the pool keeps its size."""
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cpus is not None:
        os.sched_setaffinity(0, {min(cpus)})
    try:
        import jax

        jax.config.update("jax_platforms", "cpu")
        jax.devices()  # makes the CPU client (and its thread pool) now
    except ImportError:
        return None
    finally:
        if cpus is not None:
            for thread in os.listdir("/proc/self/task"):
                try:
                    os.sched_setaffinity(int(thread), cpus)
                except OSError:  # a thread that ended meanwhile
                    pass
    return jax


class JaxStep:
    """The same SGD step as a jitted jax function of (params, x, y) -> (new params, loss)."""

    def __init__(self, jax, weights, lr: float = 0.01):
        jnp = jax.numpy
        self.params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in weights]

        def loss_fn(params, x, y):
            h = x
            for i, (w, b) in enumerate(params):
                h = h @ w + b
                if i < len(params) - 1:
                    h = jax.nn.relu(h)
            logp = jax.nn.log_softmax(h, axis=-1)
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        def step(params, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            return [(w - lr * gw, b - lr * gb) for (w, b), (gw, gb) in zip(params, grads)], loss

        self.step = jax.jit(step, donate_argnums=0)

    def __call__(self, x, y):
        self.params, loss = self.step(self.params, x, y)
        loss.block_until_ready()
        return loss


def _compiled_ours(weights):
    step = OursStep(weights)
    return ag.compile(lambda x, y: step(x, y))


def mlp_rows(s, Row, compare) -> list:
    jax = _jax()
    weights = initial_weights()
    rows = []
    for size in ((32, 128) if s.quick else (32, 128, 1024)):
        x, y = batch(size)
        xt = ag.Tensor(x)
        compiled, floor = _compiled_ours(weights), NumpyStep(weights)
        contenders = {"ours": lambda c=compiled, a=xt, b=y: c(a, b),
                      "numpy": lambda f=floor, a=x, b=y: f(a, b)}
        if jax is not None:
            theirs = JaxStep(jax, weights)
            xj, yj = jax.numpy.asarray(x), jax.numpy.asarray(y)
            contenders["jax"] = lambda t=theirs, a=xj, b=yj: t(a, b)
        inner = max(1, (4096 // size) // (4 if s.quick else 1))
        times = interleaved(contenders, rounds=s.rounds, warmup=3, inner=inner)
        case = f"compiled mlp_step batch {size}"
        rows.append(compare("compiled", case, times, "numpy", "numpy floor", FLOOR_TARGET))
        if "jax" in times:
            rows.append(compare("compiled", case, times, "jax", "jax.jit", JAX_TARGET))
    return rows


def chain_rows(s, compare, chain, numpy_chain, ops: int) -> list:
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, 16).astype(np.float32)
    c0 = rng.uniform(0.5, 1.5, 16).astype(np.float32)
    x, c = ag.Tensor(x0, requires_grad=True), ag.Tensor(c0)

    @ag.compile
    def ours():
        chain(x, c, ag.tanh).sum().backward()
        grad = x.grad
        x.grad = None
        return grad

    times = interleaved({"ours": ours, "numpy": lambda: numpy_chain(x0, c0)},
                        rounds=s.rounds * 5, warmup=3, inner=5)
    return [compare("compiled", f"compiled op_overhead add/mul/tanh x{ops}, 16 elements", times,
                    "numpy", "raw numpy (no engine)", CHAIN_TARGET, "us/op", 1e6 / ops)]


def memory_rows(s, Row, traced_run) -> list:
    size, steps = 1024, (50 if s.quick else 500)
    weights = initial_weights()
    x, y = batch(size)
    xt = ag.Tensor(x)
    floor_peak, _ = traced_run(lambda: NumpyStep(weights), x, y, steps)
    ours_peak, ours_growth = traced_run(lambda: _compiled_ours(weights), xt, y, steps)
    replay_peak, state = _replay_peak(weights, xt, y, steps)
    case = f"compiled mlp_step batch {size}, {steps} steps"
    state_note = (f"optimizer state held: {state:.2f} MiB (state is made by the first update "
                  "that uses it: none for SGD at momentum 0, as for the floor)")
    return [Row("compiled", case + ": peak", "MiB", ours_peak, "numpy floor", floor_peak,
                MEMORY_TARGET, note="the two traced (eager) calls included; " + state_note),
            Row("compiled", case + ": peak of the replays", "MiB", replay_peak, "numpy floor",
                floor_peak, MEMORY_TARGET, note=state_note),
            Row("compiled", case + ": growth", "MiB", ours_growth, target=1.0)]


def _replay_peak(weights, x, y, steps: int) -> tuple[float, float]:
    """(peak MiB of the replayed steps alone, MiB of optimizer state), traced by tracemalloc
    from before the model is made, its peak reset once the step is traced and replayed once."""
    mib = 1024 * 1024
    gc.collect()
    tracemalloc.start()
    try:
        step = OursStep(weights)
        compiled = ag.compile(lambda a, b: step(a, b))
        for _ in range(3):  # two traced calls, then the first replay
            compiled(x, y)
        tracemalloc.reset_peak()
        for _ in range(steps):
            compiled(x, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    state = sum(value.data.nbytes for buffers in step.optimizer.state  # not the read-only
                for value in buffers.values()  # zeros standing in for an unused state
                if isinstance(value, ag.Tensor) and value.data.flags.writeable)
    return peak / mib, state / mib


def compiled(s) -> list:
    """The rows of the ``compiled`` workload (see the module docstring)."""
    from . import workloads  # the shared row type and helpers (workloads imports this module)

    return (mlp_rows(s, workloads.Row, workloads._compare)
            + chain_rows(s, workloads._compare, workloads._chain, workloads._numpy_chain,
                         workloads.CHAIN_OPS)
            + memory_rows(s, workloads.Row, workloads._traced_run))
