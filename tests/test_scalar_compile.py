"""compile_scalar (autograd_core/compiler/scalar.py): a traced Scalar step replayed as float code.

Every replay is compared bit for bit with the same step run eagerly on a twin of the model (same
starting values): values, gradients and updated parameters must be the same floats, since the
replay performs the same float operations in the same order.
"""

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_specs import SCALAR_SPECS

import autograd_core as ag
from autograd_core.compiler.scalar import ScalarCompileError, compile_scalar


def _same(a, b) -> bool:
    """The same float bit for bit (signed zeros told apart; any nan equal to any nan), or both
    None."""
    if a is None or b is None:
        return a is b
    if type(a) is not float or type(b) is not float:
        return False
    if a != a or b != b:
        return a != a and b != b
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


class _MLP:
    """micrograd's demo model (ReLU hidden layers, linear output), small."""

    def __init__(self, sizes=(2, 4, 4, 1), seed: int = 0):
        rnd = random.Random(seed)
        self.layers = [[([ag.Scalar(rnd.uniform(-1, 1)) for _ in range(n_in)], ag.Scalar(0.0))
                        for _ in range(n_out)] for n_in, n_out in zip(sizes[:-1], sizes[1:])]

    def parameters(self):
        return [p for layer in self.layers for w, b in layer for p in (*w, b)]

    def __call__(self, x):
        for i, layer in enumerate(self.layers):
            x = [sum((wi * xi for wi, xi in zip(w, x)), b) for w, b in layer]
            if i < len(self.layers) - 1:
                x = [v.relu() for v in x]
        return x[0]


_XS = [[0.5, -0.25], [-0.75, 0.125], [0.375, 0.625], [-0.5, -0.875]]
_YS = [1.0, -1.0, 1.0, 1.0]


def _demo_step(model, lr=0.05):
    loss = sum((model(x) - y) ** 2 for x, y in zip(_XS, _YS))
    for p in model.parameters():
        p.grad = None
    loss.backward()
    for p in model.parameters():
        p.data -= lr * p.grad
    return loss


def _assert_same_parameters(eager, compiled):
    for a, b in zip(eager.parameters(), compiled.parameters()):
        assert _same(a.data, b.data) and _same(a.grad, b.grad), (a, b)


def test_the_demo_step_replays_bit_identical_over_several_steps():
    eager, model = _MLP(), _MLP()
    step = compile_scalar(lambda: _demo_step(model))
    for _ in range(5):
        expected, got = _demo_step(eager), step()
        assert _same(expected.data, got.data)
        _assert_same_parameters(eager, model)
    # the first call traced with no gradients, the second with them (p.grad was set): two traces,
    # then replays; a replayed loss is a plain value with no graph behind it
    assert sum(len(programs) for programs in step.programs.values()) == 2
    assert got.grad_fn is None and not got.requires_grad


def test_the_parameters_keep_plain_floats_after_tracing():
    model = _MLP()
    loss = compile_scalar(lambda: _demo_step(model))()
    assert type(loss.data) is float
    assert all(type(p.data) is float and type(p.grad) is float for p in model.parameters())


def test_a_change_to_an_input_between_calls_is_seen_by_the_replay():
    eager, model = _MLP(), _MLP()
    step = compile_scalar(lambda: _demo_step(model))
    for round_ in range(4):
        for a, b in zip(eager.parameters(), model.parameters()):
            a.data = b.data = a.data * 0.5 + round_ * 0.125  # the user edits the parameters
        expected, got = _demo_step(eager), step()
        assert _same(expected.data, got.data)
        _assert_same_parameters(eager, model)


def test_scalars_passed_as_arguments_are_read_at_each_call():
    def f(x, y, scale):
        z = (x * y + x.tanh()) * scale
        z.backward()
        return z

    compiled = compile_scalar(f)
    for values in ((0.5, 2.0), (-1.5, 0.25), (3.0, -0.5)):
        xe, ye = ag.Scalar(values[0]), ag.Scalar(values[1])
        xc, yc = ag.Scalar(values[0]), ag.Scalar(values[1])
        expected, got = f(xe, ye, 3.0), compiled(xc, yc, 3.0)
        assert _same(expected.data, got.data)
        assert _same(xe.grad, xc.grad) and _same(ye.grad, yc.grad)
        # by hand: dz/dx = (y + 1 - tanh(x)^2) * 3
        assert xc.grad == pytest.approx((values[1] + 1 - math.tanh(values[0]) ** 2) * 3.0)
    assert sum(len(p) for p in compiled.programs.values()) == 1  # one trace, replayed twice
    compiled(ag.Scalar(1.0), ag.Scalar(1.0), 4.0)  # another constant: a trace of its own
    assert len(compiled.programs) == 2


def _graph_step(ops):
    """A step over leaves: each drawn op applied (twice, so that leaves' gradients add up), the
    results multiplied into a loss, backward, then an SGD update of every leaf with a gradient."""
    def step(leaves_per_op):
        total = 0.5
        for (spec, case), leaves in zip(ops, leaves_per_op):
            args = iter(leaves)
            call = tuple(next(args) if isinstance(a, ag.Scalar) else a for a in case.args)
            out = spec.run(case, call)
            total = total * spec.run(case, call) + out
        total.backward()
        for leaves in leaves_per_op:
            for p in leaves:
                if p.grad is not None:
                    p.data -= 0.125 * p.grad
        return total
    return step


def _leaves_of(ops):
    return [[ag.Scalar(a.data) for a in case.args if isinstance(a, ag.Scalar)]
            for _, case in ops]


@given(data=st.data())
def test_random_graphs_of_registered_scalar_ops_replay_bit_identical(data):
    specs = data.draw(st.lists(st.sampled_from(SCALAR_SPECS), min_size=1, max_size=4),
                      label="ops")
    ops = [(spec, data.draw(spec.cases, label=spec.id)) for spec in specs]
    step = _graph_step(ops)
    eager, compiled_leaves = _leaves_of(ops), _leaves_of(ops)
    compiled = compile_scalar(step)
    for _ in range(3):
        expected, got = step(eager), compiled(compiled_leaves)
        assert _same(expected.data, got.data), [spec.id for spec in specs]
        for a, b in zip(sum(eager, []), sum(compiled_leaves, [])):
            assert _same(a.data, b.data) and _same(a.grad, b.grad), [spec.id for spec in specs]


def test_reading_a_traced_value_for_control_flow_is_refused():
    x = ag.Scalar(0.5)

    def relu_by_hand(x):
        y = x * 2.0
        return y if y.data > 0 else y * 0.0

    for fn, what in ((relu_by_hand, "gt"), (lambda x: bool(x * 2.0), "ne"),
                     (lambda x: float(x * 2.0), "item"), (lambda x: (x * 2.0).item(), "item"),
                     (lambda x: x * 2.0 < 1.0, "lt"), (lambda x: ag.Scalar((x * 2.0).data),
                                                       "float")):
        with pytest.raises(ScalarCompileError, match=f"{what}.*reads the value of a traced"):
            compile_scalar(fn)(x)
        assert type(x.data) is float and x.data == 0.5  # left as it was
    # the relu op itself is fine: the replay recomputes its mask
    relu = compile_scalar(lambda x: (x * 2.0).relu())
    assert [relu(ag.Scalar(v)).data for v in (0.5, -0.5, 0.25)] == [1.0, 0.0, 0.5]


def test_what_cannot_be_replayed_is_refused_with_a_clear_error():
    x = ag.Scalar(0.5)
    with pytest.raises(ScalarCompileError, match="create_graph"):
        compile_scalar(lambda x: (x * x).backward(create_graph=True))(x)

    def hooked(x):
        y = x * x
        y.register_hook(lambda g: g * 2)
        y.backward()

    with pytest.raises(ScalarCompileError, match="hook"):
        compile_scalar(hooked)(x)
    with pytest.raises(ScalarCompileError, match="grad"):
        compile_scalar(lambda x: ag.grad(x * x, x))(x)
    with pytest.raises(ScalarCompileError, match="traced"):
        compile_scalar(lambda x: ag.sign(x * 2.0))(x)
    y = x * 3.0  # computed before the call: its graph is not the function's
    with pytest.raises(ScalarCompileError, match="computed before"):
        compile_scalar(lambda: y * 2.0)()
    # after a refused trace Scalar works as before
    z = x * x
    z.backward()
    assert x.grad == 1.0 and type(z.data) is float


def test_backward_twice_without_retain_graph_still_raises_while_tracing():
    def twice(x):
        y = x * x
        y.backward()
        y.backward()

    with pytest.raises(ag.BackwardError, match="retain_graph=True"):
        compile_scalar(twice)(ag.Scalar(0.5))
