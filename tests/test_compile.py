"""ag.compile: a traced-and-replayed function gives exactly (bit for bit) what the eager function
gives, values, gradients, optimizer state and buffers; it retraces on a new signature, reads its
inputs at call time, and refuses (TraceError) what a replay could not reproduce."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_core as ag
import nn
from autograd_core.compiler import TraceError
from autograd_core.engine import Variable
from tests.op_specs import COMPOSITE_SPECS, TENSOR_SPECS

CALLS = 4  # two recorded calls, then replays


def _same(a, b) -> bool:
    a = a.data if isinstance(a, Variable) else a
    b = b.data if isinstance(b, Variable) else b
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def _outputs(value) -> list:
    """The float Tensors in an op's result (some ops return tuples)."""
    if isinstance(value, ag.Tensor):
        return [value] if value.dtype.kind == "f" else []
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _outputs(v)]
    return []


# ---- random small graphs from the op registry --------------------------------------------------
SPECS = [s for s in TENSOR_SPECS + COMPOSITE_SPECS if s.kind != "untracked"]


def _graph(spec, case):
    """A small graph around one op: its Tensor inputs feed it (and, once more, the loss), its
    outputs are used twice (so gradients meet and are summed), then backward."""
    positions = [i for i, a in enumerate(case.args) if isinstance(a, ag.Tensor)]

    def f(*tensors):
        args = list(case.args)
        for i, t in zip(positions, tensors):
            args[i] = t
        outs = _outputs(spec.run(case, args))
        loss = None
        for out in outs:
            term = (out * out).sum() + ag.tanh(out).sum()
            loss = term if loss is None else loss + term
        differentiable = [t for t in tensors if t.requires_grad]
        if loss is not None and loss.requires_grad:
            loss.backward()
        return outs, [t.grad for t in differentiable]

    return positions, f


def _fresh(case, positions, shift: float):
    """New leaf Tensors with the case's shapes, values moved by ``shift`` (0: the same)."""
    fresh = []
    for i in positions:
        t = case.args[i]
        data = t.data + np.asarray(shift, t.dtype) if t.dtype.kind == "f" else t.data.copy()
        fresh.append(ag.Tensor(data, requires_grad=t.requires_grad))
    return fresh


@settings(max_examples=60)
@given(spec=st.sampled_from(SPECS), data=st.data())
def test_random_graphs_compiled_equal_eager(spec, data):
    """Forward values and every gradient of a compiled graph equal the eager ones exactly, on
    the recorded calls and on the replays (where the input values also change)."""
    case = data.draw(spec.cases, label="case")
    positions, f = _graph(spec, case)
    compiled = ag.compile(f)
    for call in range(CALLS):
        shift = 0.0 if call < 2 else 1e-3 * call  # replays see new values of the same shapes
        eager_out, eager_grads = f(*_fresh(case, positions, shift))
        out, grads = compiled(*_fresh(case, positions, shift))
        assert len(out) == len(eager_out) and len(grads) == len(eager_grads)
        for a, b in zip(out, eager_out):
            assert _same(a, b), (spec.id, call)
        for a, b in zip(grads, eager_grads):
            assert (a is None) == (b is None) and (a is None or _same(a, b)), (spec.id, call)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
@settings(max_examples=1)
@given(data=st.data())
def test_every_spec_replays(spec, data):
    """Every primitive and composite spec, once, through the replay (the property test above
    samples them at random)."""
    case = data.draw(spec.cases, label="case")
    positions, f = _graph(spec, case)
    compiled = ag.compile(f)
    for _ in range(3):
        eager_out, eager_grads = f(*_fresh(case, positions, 0.0))
        out, grads = compiled(*_fresh(case, positions, 0.0))
        assert all(_same(a, b) for a, b in zip(out, eager_out)), spec.id
        assert all(a is b is None or _same(a, b) for a, b in zip(grads, eager_grads)), spec.id


# ---- signatures, inputs read at call time ------------------------------------------------------

def _counting(fn):
    """fn, counting the calls that run it eagerly (traces)."""
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        return fn(*args, **kwargs)

    return wrapped, calls


def test_changed_shape_retraces_and_stays_exact():
    w = ag.Tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2), requires_grad=True)

    def f(x):
        loss = ag.tanh(x @ w).sum()
        loss.backward()
        return loss

    body, traces = _counting(f)
    compiled = ag.compile(body)
    for rows in (4, 4, 4, 4, 5, 5, 5, 4):
        x = ag.Tensor(np.arange(rows * 3, dtype=np.float32).reshape(rows, 3) / 10)
        w.grad = None
        loss = compiled(x)
        got = w.grad.data.copy()
        w.grad = None
        expected = f(x)
        assert _same(loss, expected) and _same(got, w.grad)
    # 4 rows: traced twice then replayed; 5 rows: traced twice then replayed; 4 again: replayed
    assert len(traces) == 4


def test_mutated_input_between_calls_is_seen():
    x = ag.Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32), requires_grad=True)
    scale = ag.Tensor(np.array([2.0], dtype=np.float32))  # outside the function: read each call
    compiled = ag.compile(lambda: (x * x * scale).sum())
    results = []
    for step in range(5):
        with ag.no_grad():
            x[0] = float(step)  # in place, between calls
        scale.data[...] = step + 1
        results.append(float(compiled()))
    assert results == [(s * s + 4 + 9) * (s + 1) for s in range(5)]


def test_mutated_argument_array_is_seen():
    compiled = ag.compile(lambda x: ag.exp(x).sum())
    data = np.zeros(3, dtype=np.float32)
    x = ag.Tensor(data)
    outs = []
    for step in range(4):
        x.data[...] = step
        outs.append(float(compiled(x)))
    assert outs == [float(np.float32(3) * np.exp(np.float32(s))) for s in range(4)]


@pytest.mark.parametrize("as_tensor", [True, False])
def test_out_of_range_labels_raise_in_a_replay_and_leave_the_model_untouched(as_tensor):
    # The public losses check labels in Python, which a replay does not run again: the fused
    # primitive checks them itself. Without that, -1 picked the last class silently.
    model = nn.Sequential(nn.Dense(4, 3, rng=0))
    optimizer = nn.SGD(model.parameters(), lr=0.1)
    step = ag.compile(_step_fn(model, optimizer, nn.cross_entropy))
    x = ag.Tensor(np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32))

    def labels(values):
        return ag.Tensor(np.array(values)) if as_tensor else np.array(values)

    for _ in range(3):  # trace, check, replay
        step(x, labels([0, 1, 2, 1, 0]))
    before = [p.data.copy() for p in model.parameters()]
    for bad, shown in (([0, 1, -1, 1, 0], "[-1]"), ([0, 3, 2, 1, 0], "[3]")):
        with pytest.raises(ValueError, match=re.escape(f"labels must be in [0, 2] for 3 classes, "
                                                       f"got {shown}")):
            step(x, labels(bad))
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters()))


def test_train_eval_switch_retraces():
    model = nn.Sequential(nn.Dense(4, 3, rng=0), nn.BatchNorm1d(3))
    x = ag.Tensor(np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32))
    body, traces = _counting(lambda x: model(x))
    compiled = ag.compile(body)
    reference = nn.Sequential(nn.Dense(4, 3, rng=0), nn.BatchNorm1d(3))
    for mode in ("train", "train", "train", "eval", "eval", "eval", "train"):
        getattr(model, mode)()
        getattr(reference, mode)()
        assert _same(compiled(x), reference(x))
    assert _same(model[1].running_mean, reference[1].running_mean)
    assert _same(model[1].running_var, reference[1].running_var)
    assert int(model[1].num_batches_tracked.data) == 4
    assert len(traces) == 4  # train twice, eval twice; train again replays


def test_grad_mode_is_part_of_the_signature():
    w = ag.Tensor([1.0, 2.0], requires_grad=True)
    body, traces = _counting(lambda: w * 3)
    compiled = ag.compile(body)
    for _ in range(3):
        assert compiled().requires_grad is False  # returned tensors are detached
    with ag.no_grad():
        for _ in range(3):
            compiled()
    assert len(traces) == 4


def test_outputs_and_versions_match_eager():
    def make():
        return ag.Tensor(np.array([0.5, -1.0, 2.0], dtype=np.float32), requires_grad=True)

    def f(p):
        loss = (p * p).sum()
        loss.backward()
        with ag.no_grad():
            p -= 0.1 * p.grad
        return loss

    compiled = ag.compile(f)
    for _ in range(4):
        a, b = make(), make()
        la, lb = f(a), compiled(b)
        assert _same(la, lb) and _same(a, b) and _same(a.grad, b.grad)
        assert a._version == b._version and a.grad._version == b.grad._version


def test_grad_assignment_inside_is_replayed():
    x = ag.Tensor(np.array([0.5, -0.25], dtype=np.float32), requires_grad=True)

    def f():
        (ag.tanh(x) * x).sum().backward()
        grad = x.grad
        x.grad = None  # as a user resets it: the replay must too, or it would accumulate
        return grad

    compiled = ag.compile(f)
    expected = f()
    for _ in range(4):
        assert _same(compiled(), expected) and x.grad is None


def test_replacing_data_of_an_outside_tensor_is_refused():
    w = ag.Tensor([1.0, 2.0])

    def f(x):
        y = x * w
        w.data = w.data * 2  # rebinding, not an in-place change: a replay could not follow
        return y

    with pytest.raises(TraceError, match="replaced .data"):
        ag.compile(f)(ag.Tensor([1.0, 1.0]))


# ---- hazards: refused while tracing, never silently replayed ------------------------------------

@pytest.mark.parametrize("read", [
    lambda t: t.item(), lambda t: float(t), lambda t: bool(t > 0), lambda t: t.numpy(),
    lambda t: int(t), lambda t: np.asarray(t), lambda t: f"{t:.3f}",
])
def test_value_reads_while_tracing_raise(read):
    def f(x):
        y = (x * 2).sum()
        read(y)
        return y

    with pytest.raises(TraceError, match="compile"):
        ag.compile(f)(ag.Tensor([1.0, 2.0]))


def test_python_branch_on_values_is_detected():
    flag = {"big": True}

    def f(x):
        return x * 2 if flag["big"] else x * 3  # control flow on state the trace cannot see

    compiled = ag.compile(f)
    compiled(ag.Tensor([1.0]))
    flag["big"] = False
    with pytest.raises(TraceError, match="differ|changed"):
        compiled(ag.Tensor([1.0]))


def test_numpy_on_data_is_detected():
    def f(x):
        offset = ag.Tensor(x.data.sum() * np.ones(2, dtype=np.float32))  # numpy on .data
        return x + offset

    compiled = ag.compile(f)
    compiled(ag.Tensor([1.0, 2.0]))
    with pytest.raises(TraceError, match="constant .* changed"):
        compiled(ag.Tensor([3.0, 2.0]))


def test_dropout_draws_a_new_mask_every_call_as_eager_does():
    # The mask is drawn by an opaque call that each replay makes again, from the layer's own
    # generator: the same masks as eager, also when the batch shape alternates (one program
    # per shape, each reading its own mask).
    def mlp():
        return nn.Sequential(nn.Dense(6, 16, rng=0), nn.ReLU(), nn.Dropout(0.5, rng=3),
                             nn.Dense(16, 3, rng=1))

    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((n, 6)).astype(np.float32), rng.integers(0, 3, n))
               for n in (5, 3, 5, 5, 3, 5, 3, 5)]
    _check_training(mlp, lambda m: nn.Adam(m, lr=1e-2), batches)


def test_a_dropout_module_used_twice_in_one_call_is_refused():
    dropout = nn.Dropout(0.5, rng=0)
    compiled = ag.compile(lambda x: dropout(x) + dropout(x))
    with pytest.raises(TraceError, match="Dropout module ran twice"):
        compiled(ag.Tensor(np.ones((4, 3), dtype=np.float32)))


def test_scalar_code_goes_to_the_scalar_compiler():
    def step(w, x):  # a Scalar argument chooses the Scalar compiler
        loss = (w * x - 1.0) ** 2
        loss.backward()
        w.data -= 0.1 * w.grad
        w.grad = None
        return loss

    eager_w, compiled_w = ag.Scalar(0.5), ag.Scalar(0.5)
    compiled = ag.compile(step)
    for x in (1.0, 2.0, -1.5, 0.25):
        assert step(eager_w, x).data == compiled(compiled_w, x).data
        assert eager_w.data == compiled_w.data
    assert compiled._scalar is not None and compiled._scalar.programs

    # Scalars reached through a closure (micrograd's demo step): scalar=True, or a clear error.
    w = ag.Scalar(0.5, requires_grad=True)
    with pytest.raises(TraceError, match=r"ag.compile\(fn, scalar=True\)"):
        ag.compile(lambda: (w * 3.0).backward())()
    twin = ag.Scalar(0.5)
    closure = ag.compile(lambda: step(w, 2.0), scalar=True)
    for _ in range(4):
        assert closure().data == step(twin, 2.0).data and w.data == twin.data
    assert isinstance(ag.compiler.scalar.ScalarCompileError("x"), TraceError)


def test_decorator_and_error_leaves_engine_unpatched():
    @ag.compile
    def f(x):
        return x.item()

    with pytest.raises(TraceError):
        f(ag.Tensor([1.0]))
    assert ag.Tensor([2.0]).item() == 2.0  # the tracing wrappers are gone
    assert float((ag.Tensor([1.0], requires_grad=True) * 2).sum()) == 2.0


# ---- whole training steps: bit-identical over several steps ------------------------------------

def _step_fn(model, optimizer, loss_fn):
    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step


def _check_training(make_model, make_opt, batches, loss_fn=nn.cross_entropy):
    eager_model, compiled_model = make_model(), make_model()
    eager_opt, compiled_opt = make_opt(eager_model), make_opt(compiled_model)
    eager = _step_fn(eager_model, eager_opt, loss_fn)
    compiled = ag.compile(_step_fn(compiled_model, compiled_opt, loss_fn))
    for x, y in batches:
        assert _same(eager(ag.Tensor(x), y), compiled(ag.Tensor(x), y))
        for (name, a), b in zip(eager_model.named_parameters(), compiled_model.parameters()):
            assert _same(a, b) and _same(a.grad, b.grad), name
            assert a._version == b._version, name
        for (name, a), b in zip(eager_model.named_buffers(), compiled_model.buffers()):
            assert _same(a, b), name
        ea, ca = eager_opt.state_dict(), compiled_opt.state_dict()
        assert ea.keys() == ca.keys()
        for key in ea:
            assert _same(ea[key], ca[key]) if isinstance(ea[key], np.ndarray) \
                else ea[key] == ca[key], key


def _batches(shape, classes, count=5, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape).astype(np.float32), rng.integers(0, classes, shape[0]))
            for _ in range(count)]


def test_mlp_step_sgd_and_adam_bit_identical():
    def mlp():
        return nn.Sequential(nn.Dense(6, 8, rng=0), nn.ReLU(), nn.Dense(8, 3, rng=1))

    _check_training(mlp, lambda m: nn.SGD(m, lr=0.1), _batches((5, 6), 3))
    _check_training(mlp, lambda m: nn.SGD(m, lr=0.1, momentum=0.9), _batches((5, 6), 3))
    _check_training(mlp, lambda m: nn.Adam(m, lr=1e-2), _batches((5, 6), 3))


# ---- losses a user writes: the same contract ---------------------------------------------------

def _dense_adam():
    return (lambda: nn.Dense(4, 3, rng=0)), (lambda m: nn.Adam(m, lr=0.1))


def test_soft_target_cross_entropy_and_log_softmax_compile_to_the_eager_step():
    # log_softmax shifts by the row maximum: taken by a recorded op, not numpy on the data
    rng = np.random.default_rng(1)
    batches = [(rng.random((5, 4)).astype(np.float32),
                ag.Tensor(rng.dirichlet(np.ones(3), 5).astype(np.float32))) for _ in range(5)]
    _check_training(*_dense_adam(), batches, nn.cross_entropy)
    _check_training(*_dense_adam(), batches,
                    lambda out, t: ((nn.functional.log_softmax(out) - t) ** 2).sum())


def test_nll_loss_compiles_and_the_replay_reads_each_calls_labels():
    rng = np.random.default_rng(2)
    first = np.array([0, 1, 2, 0, 1])
    # the two tracing calls see the same labels: a replay must still read each call's own
    labels = [first, first.copy()] + [rng.integers(0, 3, 5) for _ in range(4)]
    batches = [(rng.random((5, 4)).astype(np.float32), y) for y in labels]
    _check_training(*_dense_adam(), batches,
                    lambda out, y: nn.nll_loss(nn.functional.log_softmax(out), y))


def test_nll_loss_with_labels_per_position_compiles_and_the_replay_reads_each_calls_labels():
    # labels of shape (N, T) for scores (N, T, C), as a sequence model's: picked by indexing
    # with the labels array itself, which the tracer follows (a reshaped view it could not)
    rng = np.random.default_rng(3)
    first = rng.integers(0, 3, (5, 2))
    labels = [first, first.copy()] + [rng.integers(0, 3, (5, 2)) for _ in range(4)]
    batches = [(rng.random((5, 2, 4)).astype(np.float32), y) for y in labels]
    _check_training(*_dense_adam(), batches,
                    lambda out, y: nn.nll_loss(nn.functional.log_softmax(out), y))


def test_nll_loss_replay_refuses_out_of_range_labels_and_leaves_the_model_untouched():
    model = nn.Dense(4, 3, rng=0)
    optimizer = nn.SGD(model, lr=0.1)

    @ag.compile
    def step(x, labels):
        optimizer.zero_grad()
        loss = nn.nll_loss(nn.functional.log_softmax(model(x)), labels)
        loss.backward()
        optimizer.step()
        return loss

    x = ag.Tensor(np.ones((5, 4)))
    for _ in range(3):  # trace, trace, replay
        step(x, np.array([0, 1, 2, 0, 1]))
    weight = model.weight.data.copy()
    for bad, shown in (([0, 1, 2, 0, -1], r"\[-1\]"), ([0, 1, 3, 0, 1], r"\[3\]")):
        with pytest.raises(ValueError, match=r"nll_loss: labels must be in \[0, 2\] for 3 "
                                             r"classes, got " + shown):
            step(x, np.array(bad))
    np.testing.assert_array_equal(model.weight.data, weight)


def test_an_index_tuple_holding_an_argument_is_followed_by_the_replay():
    x = ag.Tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)

    @ag.compile
    def picked(t, columns):
        out = t[np.arange(4), columns]
        out.sum().backward()
        return out

    for columns in ([0, 1, 2, 0], [0, 1, 2, 0], [2, 2, 1, 0], [1, 0, 0, 2]):
        x.grad = None
        columns = np.array(columns)
        out = picked(x, columns)
        np.testing.assert_array_equal(out.data, x.data[np.arange(4), columns])
        expected = np.zeros((4, 3))
        expected[np.arange(4), columns] = 1.0
        np.testing.assert_array_equal(x.grad.data, expected)


def test_an_argument_only_numpy_reads_is_refused_rather_than_frozen():
    # np.eye(3)[labels] runs outside the recorded ops: a replay would keep the first call's
    # one-hot rows for every later batch, and equal labels in both tracing calls hide it
    model = nn.Dense(4, 3, rng=0)

    @ag.compile
    def score(x, labels):
        return (model(x) * np.eye(3)[labels]).sum()

    with pytest.raises(TraceError, match=r"the array argument of shape \(5,\) and "
                                                     r"dtype int64 .* is read by no recorded op"):
        score(ag.Tensor(np.ones((5, 4))), np.array([0, 1, 2, 0, 1]))


def test_sgd_learning_rate_changed_between_replays_is_used():
    def make():
        model = nn.Dense(3, 2, rng=0)
        return model, nn.SGD(model, lr=0.1)

    (m1, o1), (m2, o2) = make(), make()
    eager, compiled = _step_fn(m1, o1, nn.mse_loss), ag.compile(_step_fn(m2, o2, nn.mse_loss))
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    for step in range(6):
        if step == 4:
            o1.param_groups[0]["lr"] = o2.param_groups[0]["lr"] = 0.5
        assert _same(eager(ag.Tensor(x), ag.Tensor(y)), compiled(ag.Tensor(x), ag.Tensor(y)))
        assert _same(m1.weight, m2.weight) and o1.step_count == o2.step_count


def test_cnn_step_with_batchnorm_bit_identical():
    def cnn():
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1, rng=0), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dense(4 * 3 * 3, 3, rng=1))

    _check_training(cnn, lambda m: nn.Adam(m, lr=1e-2), _batches((4, 1, 6, 6), 3, count=4))


def test_transformer_step_bit_identical():
    def lm():
        return nn.TransformerLM(11, 5, embed_dim=8, num_heads=2, num_blocks=1, rng=0)

    rng = np.random.default_rng(0)
    batches = []
    for _ in range(4):
        ids = rng.integers(0, 11, (3, 6))
        batches.append((ids[:, :-1], ids[:, 1:]))

    def loss_fn(logits, targets):
        return nn.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1))

    eager_model, compiled_model = lm(), lm()
    eager_opt, compiled_opt = nn.Adam(eager_model, lr=1e-2), nn.Adam(compiled_model, lr=1e-2)
    eager = _step_fn(eager_model, eager_opt, loss_fn)
    compiled = ag.compile(_step_fn(compiled_model, compiled_opt, loss_fn))
    for ids, targets in batches:  # as Tensors: the tracer follows Tensor ops on them
        ids, targets = ag.Tensor(ids), ag.Tensor(targets)
        assert _same(eager(ids, targets), compiled(ids, targets))
        for a, b in zip(eager_model.parameters(), compiled_model.parameters()):
            assert _same(a, b) and _same(a.grad, b.grad)
    for a, b in zip(eager_opt.state, compiled_opt.state):
        assert _same(a["m"], b["m"]) and _same(a["v"], b["v"]) and a["step"] == b["step"]


def test_fit_compiled_equals_fit():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    histories, models = [], []
    for compile_step in (False, True):
        model = nn.Sequential(nn.Dense(5, 8, rng=0), nn.BatchNorm1d(8), nn.ReLU(),
                              nn.Dense(8, 3, rng=1))
        opt = nn.Adam(model, lr=1e-2)
        histories.append(nn.fit(model, nn.cross_entropy, opt, (x, y), epochs=4, batch_size=16,
                                rng=0, metrics=["accuracy"], compile=compile_step))
        models.append(model)
    assert histories[0].loss == histories[1].loss
    assert histories[0].accuracy == histories[1].accuracy
    for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values()):
        assert _same(a, b)


def test_threads_each_get_exact_results():
    """Tracing wraps engine entry points process-wide; another thread's ops are not recorded
    (each wrapper checks the thread), and a thread that finds a trace running runs eagerly."""
    import threading

    def make(seed):
        w = ag.Tensor(np.random.default_rng(seed).standard_normal((3, 3)).astype(np.float32),
                      requires_grad=True)

        def f(x):
            loss = ag.tanh(x @ w).sum()
            loss.backward()
            return loss

        return w, f

    errors = []

    def worker(seed):
        try:
            w, f = make(seed)
            compiled = ag.compile(f)
            x = ag.Tensor(np.ones((2, 3), np.float32))
            for _ in range(20):
                w.grad = None
                got, got_grad = compiled(x), w.grad.data.copy()
                w.grad = None
                assert _same(got, f(x)) and _same(got_grad, w.grad)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


# ---- the replay's memory: gradients recycled only when no one else can see them -----------------

def _mlp_and_step(seed=0, optimizer=None):
    model = nn.Sequential(nn.Dense(6, 8, rng=seed), nn.ReLU(), nn.Dense(8, 3, rng=seed + 1))
    opt = (optimizer or (lambda m: nn.SGD(m, lr=0.1)))(model)
    return model, opt, _step_fn(model, opt, nn.cross_entropy)


@pytest.fixture
def recycle_all(monkeypatch):
    """Gradients of every size recycled (normally only those malloc would map afresh)."""
    from autograd_core.compiler import plan

    monkeypatch.setattr(plan, "RECYCLE_BYTES", 0)


def test_replay_reuses_a_dropped_gradient_array(recycle_all):
    """After zero_grad() drops last step's .grad (and nothing else holds it), the replay writes
    the new gradient into that array instead of a new one (eager would allocate)."""
    import weakref

    model, _, step = _mlp_and_step()
    compiled = ag.compile(step)
    x, y = _batches((5, 6), 3, count=1)[0]
    for _ in range(3):
        compiled(ag.Tensor(x), y)
    weight = model[0].weight
    old = weakref.ref(weight.grad.data)
    compiled(ag.Tensor(x), y)
    assert old() is weight.grad.data


@pytest.mark.parametrize("hold", ["tensor", "array", "view", "changed"])
def test_a_held_old_gradient_is_never_overwritten(hold, recycle_all):
    """Whoever keeps last step's .grad (the Tensor, its array or a view of it) keeps its values;
    an old gradient changed in place and dropped is not reused either (a new .grad has version
    0); and every step's gradients and parameters stay those of the eager step."""
    eager_model, _, eager = _mlp_and_step()
    model, _, step = _mlp_and_step()
    compiled = ag.compile(step)
    kept = []
    for x, y in _batches((5, 6), 3, count=6):
        eager(ag.Tensor(x), y)
        compiled(ag.Tensor(x), y)
        grad = model[0].weight.grad
        expected = grad.data.copy()
        if hold == "tensor":
            kept.append((grad, expected))
        elif hold == "array":
            kept.append((grad.data, expected))
        elif hold == "view":
            kept.append((grad.data[1:], expected[1:]))
        for (name, a), b in zip(eager_model.named_parameters(), model.parameters()):
            assert _same(a, b) and _same(a.grad, b.grad), name
            assert a.grad._version == b.grad._version == 0, name
        if hold == "changed":
            with ag.no_grad():
                grad *= 1.0  # an in-place change: its version is 1 now, then it is dropped
        for held, values in kept:
            assert _same(held, values)
    if hold != "changed":
        assert len({id(a if isinstance(a, np.ndarray) else a.data) for a, _ in kept}) == len(kept)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("labels_as_tensor", [False, True])
def test_lowered_cross_entropy_bit_identical(reduction, dtype, labels_as_tensor, monkeypatch):
    """softmax_cross_entropy of (N, C) logits is lowered: a replay runs no SoftmaxCrossEntropy
    node, and gives the eager loss and gradients bit for bit."""
    from autograd_core.ops.reductions import SoftmaxCrossEntropy

    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 5)).astype(dtype)

    def make():
        return ag.Tensor(w0.copy(), requires_grad=True)

    def step(w, x, labels):
        loss = nn.cross_entropy(x @ w, labels, reduction=reduction)
        loss.backward()
        return loss

    eager_w, compiled_w = make(), make()
    compiled = ag.compile(step)
    calls = []
    original = SoftmaxCrossEntropy.forward
    monkeypatch.setattr(SoftmaxCrossEntropy, "forward", staticmethod(
        lambda *a, **k: calls.append(1) or original(*a, **k)))
    for i in range(5):
        x = ag.Tensor(rng.standard_normal((6, 4)).astype(dtype) * 10)
        labels = rng.integers(0, 5, 6)
        labels = ag.Tensor(labels) if labels_as_tensor else labels
        eager_w.grad = compiled_w.grad = None
        expected = step(eager_w, x, labels)
        calls.clear()
        assert _same(compiled(compiled_w, x, labels), expected)
        assert _same(compiled_w.grad, eager_w.grad)
        assert len(calls) == (1 if i < 2 else 0)  # traced twice, then replayed without it


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_sgd_replay_gives_the_eager_update_bit_for_bit(order, dtype):
    """SGD's replay multiplies by the learning rate as a numpy scalar of each parameter's dtype
    (the eager step multiplies by the Python float): the same floats in every float dtype, for
    C- and F-ordered parameters."""
    def make():
        model = nn.Sequential(nn.Dense(300, 260, rng=0), nn.ReLU(), nn.Dense(260, 3, rng=1))
        for p in model.parameters():
            p.data = p.data.astype(dtype)
        model[0].weight.data = np.asarray(model[0].weight.data, order=order)
        return model

    batches = [(x.astype(dtype), y) for x, y in _batches((4, 300), 3, count=5)]
    _check_training(make, lambda m: nn.SGD(m, lr=0.05), batches)


def test_a_replay_keeps_no_activations_between_calls():
    """Between calls a compiled step holds what the eager step holds (parameters, gradients,
    optimizer state), not its activations and temporaries: those are made on each call and let
    go after their last use, as eager code's are."""
    import gc
    import tracemalloc

    x, y = _batches((256, 40), 3, count=1)[0]
    x = ag.Tensor(x)
    held = {}
    for compiled in (False, True):
        gc.collect()
        tracemalloc.start()
        try:
            model = nn.Sequential(nn.Dense(40, 200, rng=0), nn.ReLU(), nn.Dense(200, 3, rng=1))
            step = _step_fn(model, nn.SGD(model, lr=0.1), nn.cross_entropy)
            if compiled:
                step = ag.compile(step)
            for _ in range(4):  # compiled: two traces, then replays
                step(x, y)
            gc.collect()
            held[compiled] = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    activations = 2 * 256 * 200 * 4  # the hidden layer before and after ReLU, in float32
    # the program itself (its code, constants, the trace's shapes) takes some 50 KB here
    assert held[True] <= held[False] + activations // 4, held
