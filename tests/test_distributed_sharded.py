"""nn.distributed.ShardedOptimizer: the optimizer step sharded across 2 ranks (ZeRO stage 1),
tested with real ranks (``mpiexec -n 2``) against a plain single-process reference computed
here, as tests/test_distributed.py does (its launcher and helpers are reused). Each launch checks
several things, to keep the number of (slow-starting) MPI jobs small."""

from __future__ import annotations

import json

import numpy as np

import nn
from autograd_core import Tensor
from tests.test_distributed import (
    assert_same_params,
    check_ok,
    data,
    load_params,
    make_model,
    run_ranks,
)


def _two_groups(model, cls, **hyper):
    """The model's first layer in one group (lr 0.05), the rest in another (lr 0.02)."""
    first = list(model[0].parameters())
    rest = [p for p in model.parameters() if all(p is not q for q in first)]
    return cls([{"params": first}, {"params": rest, "lr": 0.02}], lr=0.05, **hyper)


def _assert_same_state(got: dict, want: dict, tol: float) -> None:
    assert list(got) == list(want)  # the unsharded format, key for key
    for key, value in want.items():
        if isinstance(value, np.ndarray):
            assert got[key].shape == value.shape and got[key].dtype == value.dtype, key
            np.testing.assert_allclose(got[key], value, rtol=0, atol=tol, err_msg=key)
        else:
            assert got[key] == value, (key, got[key], value)


def _load(path) -> dict:
    with np.load(path) as saved:
        return {key: saved[key] for key in saved.files}


# ---- the hand-written loop: Adam and SGD, several buckets, groups, no_sync, clipping ----------

def _reference_loop(cls, clip: float | None, **hyper):
    """One process on the combined batches of the ranks' loop below."""
    model = make_model(0)
    opt = _two_groups(model, cls, **hyper)
    x, y = data()
    norms = []
    for step in range(3):
        opt.zero_grad()
        # the global batch: 10 examples, as two micro-batches' mean (the ranks' no_sync step)
        for start in (10 * step, 10 * step + 5):
            xb, yb = x[start:start + 5], y[start:start + 5]
            (nn.cross_entropy(model(Tensor(xb)), Tensor(yb)) * 0.5).backward()
        if clip is not None:
            norms.append(nn.clip_grad_norm_(model.parameters(), clip))
        opt.step()
    return model.state_dict(), opt.state_dict(), norms


LOOP = """
    import json
    def loop(cls, clip, name, **hyper):
        model = make_model(0 if RANK == 0 else 5)   # rank 0's weights are broadcast
        dp = dist.DataParallel(model, bucket_bytes=256)   # several buckets, some padded
        first = list(model[0].parameters())
        rest = [p for p in model.parameters() if all(p is not q for q in first)]
        inner = cls([{"params": first}, {"params": rest, "lr": 0.02}], lr=0.05, **hyper)
        opt = dist.ShardedOptimizer(inner, dp)
        x, y = data()
        norms = []
        for step in range(3):
            opt.zero_grad()
            # rank r takes examples [10 step + 5 r, +5): two micro-batches of 2 and 3 (uneven,
            # each weighted by its share of the global batch of 10), the first under no_sync
            mine = slice(10 * step + 5 * RANK, 10 * step + 5 * RANK + 5)
            xb, yb = x[mine], y[mine]
            with dp.no_sync():
                (nn.cross_entropy(model(Tensor(xb[:2])), Tensor(yb[:2])) * (2 / 5)).backward()
            (nn.cross_entropy(model(Tensor(xb[2:])), Tensor(yb[2:])) * (3 / 5)).backward()
            dp.finish(contribution=0.5)
            assert all(p.grad is None for p in model.parameters())   # only shards exist
            try:   # the plain clip would clip nothing: it refuses, saying what to call
                nn.clip_grad_norm_(model.parameters(), 1.0)
                raise AssertionError("nn.clip_grad_norm_ clipped sharded gradients")
            except RuntimeError as error:
                assert "ShardedOptimizer's clip_grad_norm_" in str(error), error
            if clip is not None:
                norms.append(opt.clip_grad_norm_(clip))
            opt.step()
        save_params(model, name)
        state = opt.state_dict()          # a collective: every rank gathers the full state
        np.savez(OUT / f"{name}_state_rank{RANK}.npz",
                 **{k: v for k, v in state.items() if k != "type"})
        (OUT / f"{name}_norms{RANK}.json").write_text(json.dumps(norms))
        return model, dp, opt, inner, state
"""


def test_sharded_adam_and_sgd_equal_one_process_with_groups_no_sync_and_clipping(tmp_path):
    result = run_ranks(tmp_path, LOOP + """
    loop(nn.Adam, 0.5, "adam", weight_decay=0.1)
    model, dp, opt, inner, state = loop(nn.SGD, None, "sgd", momentum=0.9, nesterov=True,
                                        weight_decay=0.05)
    # the wrapped optimizer refuses to step or save stale state while sharded
    for call in (inner.step, inner.state_dict):
        try:
            call()
        except RuntimeError as error:
            assert "ShardedOptimizer" in str(error) and "close()" in str(error), error
        else:
            raise AssertionError("the wrapped optimizer stepped")
    # a step without dp.finish() would re-apply the last gradient: refused, nothing changed
    before = [p.data.copy() for p in model.parameters()]
    try:
        opt.step()
    except RuntimeError as error:
        assert "dp.finish()" in str(error), error
    else:
        raise AssertionError("no error")
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters()))
    # a bad state dict is refused whole, on every rank: parameters and state untouched
    from autograd_core.errors import StateDictError
    bad = dict(state, **{"state.0.momentum": np.zeros((2, 2))})
    try:
        opt.load_state_dict(bad)
    except StateDictError as error:
        assert "state.0.momentum" in str(error), error
    else:
        raise AssertionError("no error")
    after = opt.state_dict()
    assert all(np.array_equal(after[k], state[k]) for k in state if k != "type")
    # a good one is split between the ranks and gathered back whole
    changed = dict(state, **{"state.1.momentum": state["state.1.momentum"] + 1.5,
                             "group.1.hyper.lr": 0.125, "step_count": 7})
    opt.load_state_dict(changed)
    got = opt.state_dict()
    assert all(np.array_equal(got[k], changed[k]) for k in state if k != "type")
    assert opt.param_groups[1]["lr"] == 0.125 and opt.step_count == 7
    opt.load_state_dict(state)
    # close() gathers the full state back into the SGD, which then steps on its own
    opt.close()
    assert all(np.array_equal(inner.state_dict()[k], state[k]) for k in state if k != "type")
    # only elementwise optimizers are sharded
    class Scaled(nn.SGD):
        pass
    for bad_opt, kind in ((Scaled(model.parameters(), lr=0.1), TypeError),
                          (nn.SGD(model.parameters(), lr=0.1, differentiable=True), ValueError)):
        try:
            dist.ShardedOptimizer(bad_opt, dp)
        except kind as error:
            assert "ShardedOptimizer" in str(error), error
        else:
            raise AssertionError("accepted")
    """)
    check_ok(result)
    for name, cls, clip, hyper in (
            ("adam", nn.Adam, 0.5, {"weight_decay": 0.1}),
            ("sgd", nn.SGD, None, {"momentum": 0.9, "nesterov": True, "weight_decay": 0.05})):
        want_params, want_state, want_norms = _reference_loop(cls, clip, **hyper)
        rank0, rank1 = load_params(tmp_path, name, 0), load_params(tmp_path, name, 1)
        assert_same_params(rank0, rank1, 0.0)  # bit for bit: the allgather copies
        assert_same_params(rank0, want_params, 1e-6)
        want_state.pop("type")
        for r in (0, 1):
            _assert_same_state(_load(tmp_path / f"{name}_state_rank{r}.npz"), want_state, 1e-6)
            # the global norm, from the shards' partial sums, is the one process's
            norms = json.loads((tmp_path / f"{name}_norms{r}.json").read_text())
            np.testing.assert_allclose(norms, want_norms, rtol=1e-12)
    # the clipping bit: the norm was above max_norm in every step (so the check means something)
    assert min(json.loads((tmp_path / "adam_norms0.json").read_text())) > 0.5


# ---- fit(shard_optimizer=True) and checkpoints, both ways --------------------------------------

def _fit_one_process(epochs: int, initial=None, checkpoint=None):
    model = make_model(0)
    opt = nn.Adam(model.parameters(), lr=0.05, weight_decay=0.01)
    if initial is not None:
        nn.load_checkpoint(initial, model, opt)
    nn.fit(model, nn.cross_entropy, opt, data(), epochs=epochs, batch_size=8, rng=3,
           initial_epoch=0 if initial is None else 1, checkpoint=checkpoint)
    return model, opt


def test_fit_sharded_checkpoints_resume_sharded_or_not(tmp_path):
    # A checkpoint from one unsharded process (after epoch 1) resumes in a sharded 2-rank fit;
    # the sharded fit's checkpoint (written by rank 0, the full state) resumes in one process.
    _fit_one_process(1, checkpoint=tmp_path / "plain_epoch1.nn")
    result = run_ranks(tmp_path, """
        # an optimizer that cannot be sharded is refused before the model changes (rank 1's
        # own weights are not replaced by rank 0's broadcast)
        class Custom(nn.SGD):
            pass
        model = make_model(RANK)
        before = model.state_dict()
        try:
            nn.fit(model, nn.cross_entropy, Custom(model.parameters(), lr=0.1), data(),
                   epochs=1, rng=0, distributed=True, shard_optimizer=True)
        except TypeError as error:
            assert "elementwise" in str(error) and "shard_optimizer" in str(error), error
        else:
            raise AssertionError("accepted")
        assert all(np.array_equal(v, model.state_dict()[k]) for k, v in before.items())

        model = make_model(4)
        opt = nn.Adam(model.parameters(), lr=0.05, weight_decay=0.01)
        epoch = dist.load_checkpoint(OUT / "plain_epoch1.nn", model, opt)["epoch"]
        nn.fit(model, nn.cross_entropy, opt, data(), epochs=2, batch_size=4, rng=3,
               initial_epoch=epoch, distributed=True, shard_optimizer=True)
        save_params(model, "resumed")
        np.savez(OUT / f"resumed_state_rank{RANK}.npz",   # gathered back into the Adam
                 **{k: v for k, v in opt.state_dict().items() if k != "type"})
        model = make_model(0)
        opt = nn.Adam(model.parameters(), lr=0.05, weight_decay=0.01)
        nn.fit(model, nn.cross_entropy, opt, data(), epochs=1, batch_size=4, rng=3,
               distributed=True, shard_optimizer=True, checkpoint=OUT / "sharded_epoch1.nn")
    """)
    check_ok(result)
    unbroken, unbroken_opt = _fit_one_process(2)
    want_state = unbroken_opt.state_dict()
    want_state.pop("type")
    for r in (0, 1):
        assert_same_params(load_params(tmp_path, "resumed", r), unbroken.state_dict(), 1e-6)
        _assert_same_state(_load(tmp_path / f"resumed_state_rank{r}.npz"), want_state, 1e-6)
    # the sharded checkpoint holds the full state, in the unsharded format: one process resumes
    saved = nn.load_checkpoint(tmp_path / "sharded_epoch1.nn")
    _, one_epoch = _fit_one_process(1)
    assert sorted(saved["optimizer"]) == sorted(one_epoch.state_dict())
    resumed, _ = _fit_one_process(2, initial=tmp_path / "sharded_epoch1.nn")
    assert_same_params(resumed.state_dict(), unbroken.state_dict(), 1e-6)


def test_fit_shard_optimizer_needs_distributed():
    model = make_model(0)
    opt = nn.SGD(model.parameters(), lr=0.1)
    try:
        nn.fit(model, nn.cross_entropy, opt, data(), epochs=1, shard_optimizer=True)
    except ValueError as error:
        assert "distributed=True" in str(error)
    else:
        raise AssertionError("no error")
