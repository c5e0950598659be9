"""The ``distributed`` workload: data-parallel throughput over MPI (nn.distributed).

The Fashion-MNIST MLP step (784-256-128-10, Adam, float32) at batch 128 per process, timed in
2 ranks under ``mpiexec -n 2`` against 1 plain process, each with 1 BLAS thread: examples per
second (the ratio is the speedup; the target is at least 1.7x), for the sharded optimizer step
(``dist.ShardedOptimizer``: reduce-scatter, each rank's Adam on half of the parameters,
allgather) and for the unsharded one (allreduce, every rank's Adam on all of them); the share
of the sharded 2-rank step spent in communication (the reduce-scatter and the allgather,
waiting for the other rank included), and one blocking allreduce of the whole gradient on its
own (its bandwidth). The third row's note breaks each rank's CPU time per step down (forward
and backward, ``finish()``: packing, the collective and waiting, and the optimizer step, with
the allgather when sharded), against the lone process's: CPU time is what stays comparable
when other programs load the machine.

Each measurement is a fresh subprocess (``python -m benchmarks.distributed worker ...``), the
two kinds alternating, and the medians are reported with the CPU time of all the processes
(which load from other programs does not inflate the way it inflates wall time).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BATCH = 128  # per rank


def _mpiexec() -> str | None:
    found = Path(sys.executable).parent / "mpiexec"
    return str(found) if found.exists() else shutil.which("mpiexec")


def _run_worker(ranks: int, steps: int, mode: str = "plain") -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "benchmarks.distributed", "worker", str(steps), mode]
    if ranks > 1:
        # Each rank on a core of its own (Open MPI binds them when there are enough cores):
        # --oversubscribe would make waiting ranks yield, which under load made the allreduce
        # ~100x slower here (48 ms against 0.3 ms for the 0.9 MiB gradient).
        over = ["--oversubscribe"] if (os.cpu_count() or 1) < ranks else []
        command = [_mpiexec(), "-n", str(ranks), *over] + command
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"distributed benchmark worker ({ranks} ranks) failed:\n"
                           f"{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def distributed(s) -> list:
    from .workloads import Row

    if _mpiexec() is None:
        s.log("distributed skipped: no mpiexec (pip install -e '.[distributed]')")
        return []
    steps = 20 if s.quick else 150
    rounds = 1 if s.quick else max(3, s.rounds // 3)
    load = os.getloadavg()[0]
    kinds = [(1, "plain"), (2, "sharded"), (2, "unsharded")]
    runs = {kind: [] for kind in kinds}
    for round_ in range(rounds):  # the kinds in a rotating order, so none always goes first
        for kind in kinds[round_ % 3:] + kinds[:round_ % 3]:
            runs[kind].append(_run_worker(kind[0], steps, kind[1]))

    def median(kind, key):
        return statistics.median(run[key] for run in runs[kind])

    # Seconds per 1,000 examples (lower is better, as every row of the table).
    alone = (1, "plain")
    one, one_cpu = median(alone, "step_s") / BATCH * 1e6, median(alone, "cpu_s") / BATCH
    sharded, unsharded = (2, "sharded"), (2, "unsharded")

    def speed_row(kind, label):
        two = median(kind, "step_s") / (2 * BATCH) * 1e6
        two_cpu = median(kind, "cpu_s") / (2 * BATCH)
        note = (f"speedup {one / two:.2f}x (target >= 1.7x); CPU time {two_cpu * 1e6:.1f} "
                f"against {one_cpu * 1e6:.1f} ms/1k examples (all ranks' processes); load "
                f"average {load:.2f} before, {os.getloadavg()[0]:.2f} after, on "
                f"{os.cpu_count()} cores")
        return Row("distributed", f"2 ranks vs 1 process, MLP step, batch {BATCH} per rank, "
                   f"{label}", "ms/1k examples", two, "1 process", one, round(1 / 1.7, 3), note,
                   cpu_ratio=two_cpu / one_cpu)

    def phases(kind, ranks, key="phases"):  # each rank's CPU ms per step and phase, median
        return [{name: statistics.median(run[key][r][name] for run in runs[kind]) * 1e3
                 for name in runs[kind][0][key][r]} for r in range(ranks)]

    def breakdown(key):
        return "; ".join(
            f"{label}: " + ", ".join(f"{name} {ms:.2f}" for name, ms in part.items())
            for label, part in [("1 process", phases(alone, 1, key)[0])]
            + [(f"sharded rank {r}", part) for r, part in enumerate(phases(sharded, 2, key))]
            + [(f"unsharded rank {r}", part) for r, part in
               enumerate(phases(unsharded, 2, key))])
    full = runs[sharded][0]
    share = median(sharded, "comm_s") / median(sharded, "step_s")
    return [
        speed_row(sharded, "sharded optimizer step"),
        speed_row(unsharded, "unsharded (every rank steps the whole model)"),
        Row("distributed", "communication share of the sharded 2-rank step", "%", 100 * share,
            note=f"buckets {[round(b / 1024) for b in full['bucket_bytes']]} KiB; step "
                 f"{median(sharded, 'step_s') * 1e3:.2f} ms, reduce-scatter + allgather "
                 f"{median(sharded, 'comm_s') * 1e3:.2f} ms (unsharded: allreduce "
                 f"{median(unsharded, 'comm_s') * 1e3:.2f} ms of "
                 f"{median(unsharded, 'step_s') * 1e3:.2f}); CPU ms per step "
                 f"({breakdown('phases')}); the same without waiting for the other rank to "
                 f"arrive (a barrier before each phase, lower quartiles) "
                 f"({breakdown('quiet_phases')})"),
        Row("distributed", f"one blocking allreduce of the {full['grad_bytes'] / 2**20:.2f} MiB "
            "gradient, 2 ranks", "ms", median(sharded, "allreduce_s") * 1e3,
            note=f"{full['grad_bytes'] / median(sharded, 'allreduce_s') / 1e9:.2f} GB/s "
                 "(shared memory)"),
    ]


# ---- the worker (one process per rank) ----------------------------------------------------------

def _worker(steps: int, mode: str) -> None:
    import nn
    from autograd_core import Tensor
    from examples.datasets import fashion_mnist
    from examples.fashion_mnist import make_model

    ranks = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))
    dp = None
    rank = 0
    model = make_model(0)
    if ranks > 1:
        from nn import distributed as dist
        rank, ranks = dist.init()
        dp = dist.DataParallel(model)
    (x, y), _ = fashion_mnist(limit=8192)
    optimizer = nn.Adam(model.parameters(), lr=1e-3)
    if mode == "sharded":
        optimizer = dist.ShardedOptimizer(optimizer, dp)
    batches = [(x[i:i + BATCH], y[i:i + BATCH])
               for i in range(rank * BATCH, len(x) - BATCH, ranks * BATCH)]

    clock = time.process_time
    phases = {"compute": 0.0, "finish": 0.0, "optimizer": 0.0}  # this rank's CPU seconds

    def step(i, sync=None):
        xb, yb = batches[i % len(batches)]
        t0 = clock()
        optimizer.zero_grad()
        nn.cross_entropy(model(Tensor._from_op(xb, None)), Tensor._from_op(yb, None)).backward()
        t1 = clock()
        if sync is not None:  # each phase starts when both ranks are there: no wait to arrive
            sync()
            t1 = clock()
        if dp is not None:
            dp.finish()
        t2 = clock()
        if sync is not None:
            sync()
            t2 = clock()
        optimizer.step()
        t3 = clock()
        phases["compute"] += t1 - t0
        phases["finish"] += t2 - t1
        phases["optimizer"] += t3 - t2
        return t1 - t0, t2 - t1, t3 - t2

    for i in range(10):
        step(i)
    if dp is not None:
        dp.comm.Barrier()
        dp.comm_seconds = 0.0
    phases.update(dict.fromkeys(phases, 0.0))
    started, cpu_started = time.perf_counter(), time.process_time()
    for i in range(steps):
        step(i)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    mine = {name: seconds / steps for name, seconds in phases.items()}
    result = {"step_s": wall / steps, "cpu_s": cpu / steps, "comm_s": 0.0, "allreduce_s": 0.0,
              "bucket_bytes": [], "grad_bytes": sum(p.data.nbytes for p in model.parameters()),
              "phases": [mine]}
    if dp is not None:
        from mpi4py import MPI
        total_cpu = dp.comm.allreduce(cpu)  # every rank's CPU time counts
        result.update(cpu_s=total_cpu / steps, comm_s=dp.comm_seconds / steps,
                      bucket_bytes=dp.bucket_sizes, phases=dp.comm.gather(mine))
        flat = np.concatenate([p.data.ravel() for p in model.parameters()])
        times = []
        for _ in range(20):
            dp.comm.Barrier()
            t = time.perf_counter()
            dp.comm.Allreduce(MPI.IN_PLACE, flat)
            times.append(time.perf_counter() - t)
        result["allreduce_s"] = statistics.median(times)
    # The phases again without the waits for the other rank (a barrier before each), lower
    # quartiles: what each phase costs in itself, which load from other programs inflates
    # less than the wall time (the 1-process run takes the same steps without barriers).
    sync = dp.comm.Barrier if dp is not None else None
    if sync is not None:
        sync()
    quiet = np.array([step(i, sync) for i in range(60)])
    quiet = dict(zip(phases, (np.percentile(quiet, 25, axis=0)).tolist()))
    result["quiet_phases"] = dp.comm.gather(quiet) if dp is not None else [quiet]
    if rank == 0:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "worker":
        _worker(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit("usage: python -m benchmarks distributed (this module's worker is internal)")
