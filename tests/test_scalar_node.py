"""Scalar's backward driver (engine._run_floats): a Scalar ``backward()`` without create_graph or
anomaly mode does not go through the general driver (engine._run), and gives the gradients it
would, summed in the same order (nodes by decreasing record number), so the two agree bit for
bit; hooks, retain_grad, freed graphs and float errors behave as on the general path."""

import math
import random

import pytest

import autograd_core as ag
from autograd_core import Function, engine
from autograd_core.errors import BackwardError


@pytest.fixture
def no_general_driver(monkeypatch):
    """Make engine._run raise: what passes under it ran on Scalar's own driver."""
    def refuse(*args, **kwargs):
        raise AssertionError("the general driver ran")

    monkeypatch.setattr(engine, "_run", refuse)


def test_scalar_backward_takes_its_own_driver_with_gradients_by_hand(no_general_driver):
    a, b = ag.Scalar(1.5), ag.Scalar(-2.0)
    c = a * b + a  # a b + a
    d = (c * c).relu() + (b - 0.5) ** 2  # (ab + a)^2 + (b - 0.5)^2, relu inactive at 0.5625
    d.backward()
    # dd/da = 2 (ab + a)(b + 1), dd/db = 2 (ab + a) a + 2 (b - 0.5)
    assert a.grad == 2 * (1.5 * -2.0 + 1.5) * (-2.0 + 1)
    assert b.grad == 2 * (1.5 * -2.0 + 1.5) * 1.5 + 2 * (-2.0 - 0.5)


def test_a_leaf_root_gets_one(no_general_driver):
    a = ag.Scalar(3.0)
    a.backward()
    assert a.grad == 1.0
    a.backward(2.5)
    assert a.grad == 3.5


def _random_graph(rng: random.Random, leaves: list, ops: int):
    """Values combined at random (shared subexpressions, fan-out, interleaved branches), as a
    list; the last is the output."""
    values = list(leaves)
    for _ in range(ops):
        x, y = rng.choice(values), rng.choice(values[-6:])
        pick = rng.randrange(6)
        if pick == 0:
            values.append(x + y)
        elif pick == 1:
            values.append(x * y)
        elif pick == 2:
            values.append(x - y * 0.5)
        elif pick == 3:
            values.append(x.tanh())
        elif pick == 4:
            values.append((x * 0.25).relu() + y)
        else:
            values.append(x.sigmoid() * y)
    return values


@pytest.mark.parametrize("seed", range(5))
def test_scalar_backward_agrees_bit_for_bit_with_the_general_driver(seed):
    rng = random.Random(seed)
    leaves = [ag.Scalar(rng.uniform(-1, 1)) for _ in range(5)]
    values = _random_graph(random.Random(seed + 100), leaves, 60)
    out = sum(values[-8:], ag.Scalar(0.0, requires_grad=False))
    # grad() takes the general driver (it has targets), in the same order
    general = ag.grad(out, leaves, retain_graph=True, allow_unused=True)
    out.backward()
    for leaf, expected in zip(leaves, general):
        assert leaf.grad == expected  # floats, bit for bit (None for both when unused)
    # and with finite differences (central, step 1e-6), as an outside reference
    for i, leaf in enumerate(leaves):
        def f(shift, i=i):
            shifted = [ag.Scalar(v.data + (shift if j == i else 0.0))
                       for j, v in enumerate(leaves)]
            vals = _random_graph(random.Random(seed + 100), shifted, 60)
            return sum(v.data for v in vals[-8:])
        numeric = (f(1e-6) - f(-1e-6)) / 2e-6
        assert (leaf.grad or 0.0) == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def test_hooks_and_retain_grad_on_the_scalar_driver(no_general_driver):
    a = ag.Scalar(2.0)
    b = a * 3.0
    b.retain_grad()
    seen = []
    b.register_hook(lambda g: seen.append(g.data) or g * 2)  # doubles what flows on to a
    a.register_hook(lambda g: g + 1)  # a leaf's hook sees the summed gradient once
    c = b * b + a  # dc/db = 2b = 12, dc/da (direct) = 1
    c.backward()
    assert seen == [12.0]
    assert b.grad == 24.0  # retain_grad keeps the gradient after the hook
    assert a.grad == 24.0 * 3.0 + 1.0 + 1.0


def test_a_second_backward_without_retain_graph_is_refused_with_the_op_named():
    a = ag.Scalar(2.0)
    c = a * a
    c.backward(retain_graph=True)
    c.backward()
    assert a.grad == 8.0
    with pytest.raises(BackwardError, match="Mul: trying to backward through the graph a second"):
        c.backward()


def test_float_errors_in_a_rule_give_numpys_inf_and_nan(no_general_driver):
    x = ag.Scalar(0.0)
    x.log().backward()  # 1 / 0
    assert x.grad == math.inf


class MulAdd(Function):
    """x * y + z: three inputs, the driver's loop over any number of them."""

    @staticmethod
    def forward(ctx, x, y, z):
        ctx.save_for_backward(x, y)
        return x * y + z

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad * y, grad * x, grad


def test_nodes_with_three_inputs(no_general_driver):
    x, y, z = ag.Scalar(2.0), ag.Scalar(-3.0), ag.Scalar(0.5)
    out = MulAdd.apply(x, y, z) * MulAdd.apply(z, 1.0, x)  # (xy + z)(z + x)
    out.backward()
    assert x.grad == -3.0 * 2.5 + (2.0 * -3.0 + 0.5)
    assert y.grad == 2.0 * 2.5
    assert z.grad == 2.5 + (2.0 * -3.0 + 0.5)


def test_anomaly_mode_and_create_graph_still_take_the_general_driver():
    a = ag.Scalar(1.5)
    with ag.detect_anomaly():
        (a * a * a).backward()
    assert a.grad == 3 * 1.5 ** 2
    a.grad = None
    y = a * a * a
    (g,) = ag.grad(y, a, create_graph=True)
    g.backward()  # d2/da2 a^3 = 6a
    assert a.grad == 6 * 1.5


def test_a_deep_chain_runs_without_recursion(no_general_driver):
    x = ag.Scalar(0.5)
    y = x
    for i in range(50_000):
        y = y * 1.0 if i % 2 else y + 1e-9
    y.backward()
    assert x.grad == 1.0
