"""Very deep graphs: backward, grad() and create_graph never recurse, so they work at Python's
default recursion limit, and freeing such a graph does not overflow the C stack either.

Each chain multiplies by a constant c, so d(out)/dx = c ** n exactly (up to rounding)."""

import gc
import sys
import weakref

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import Scalar, Tensor


@pytest.fixture
def default_recursion_limit():
    """The test runs at the interpreter's default limit, and the library must not raise it."""
    limit = sys.getrecursionlimit()
    assert limit <= 1000, "something raised the recursion limit before the test"
    yield
    assert sys.getrecursionlimit() == limit


def test_backward_through_a_million_scalar_ops(default_recursion_limit):
    n, c = 1_000_000, 1.0 + 1e-6
    x = Scalar(1.5)
    y = x
    for _ in range(n):
        y = y * c
    y.backward()
    assert x.grad == pytest.approx(c ** n, rel=1e-9)
    assert y.data == pytest.approx(1.5 * c ** n, rel=1e-9)


def test_backward_through_100k_tensor_ops(default_recursion_limit):
    steps, c = 50_000, 1.0 + 1e-5
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    y = x
    for _ in range(steps):
        y = y * c + 1.0  # two ops per step
    (y * np.array([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_allclose(x.grad.data, c ** steps * np.array([1.0, 2.0, 3.0]), rtol=1e-9)


def test_grad_function_on_a_deep_chain(default_recursion_limit):
    n, c = 10_000, 1.0 + 1e-4
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 1.0
    y = h
    for _ in range(n):
        y = y * c
    gx, gh = ag.grad(y.sum(), [x, h])
    np.testing.assert_allclose(gx.data, c ** n, rtol=1e-9)
    np.testing.assert_allclose(gh.data, c ** n, rtol=1e-9)
    assert x.grad is None


def test_second_derivative_through_a_deep_tensor_chain(default_recursion_limit):
    n, c = 10_000, 1.0 + 1e-4
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = x
    for _ in range(n):
        y = y * c
    loss = (y * y).sum()  # = c ** (2n) * sum(x ** 2)
    (g,) = ag.grad(loss, x, create_graph=True)
    np.testing.assert_allclose(g.data, 2 * c ** (2 * n) * x.data, rtol=1e-9)
    (gg,) = ag.grad(g.sum(), x)
    np.testing.assert_allclose(gg.data, 2 * c ** (2 * n), rtol=1e-9)


def test_create_graph_backward_through_a_deep_scalar_chain(default_recursion_limit):
    n, c = 10_000, 1.0 + 1e-4
    x = Scalar(0.5)
    y = x
    for _ in range(n):
        y = y * c
    (y ** 3).backward(create_graph=True)  # d/dx (c^n x)^3 = 3 c^(3n) x^2
    first = x.grad
    assert first.data == pytest.approx(3 * c ** (3 * n) * 0.25, rel=1e-9)
    x.grad = None
    first.backward()
    assert x.grad == pytest.approx(6 * c ** (3 * n) * 0.5, rel=1e-9)


def test_deep_chain_with_fan_out_at_every_step(default_recursion_limit):
    n = 20_000
    x = Tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(n):
        y = y + x  # y = (k + 1) x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [n + 1])


@pytest.mark.parametrize("family", ["scalar", "tensor"])
def test_freeing_a_deep_graph_does_not_crash(default_recursion_limit, family):
    n = 300_000 if family == "scalar" else 100_000
    x = Scalar(1.0) if family == "scalar" else Tensor(np.array([1.0]), requires_grad=True)
    y = x * 1.0
    for i in range(n):
        y = y * 1.0
        if i == n // 2:
            middle = weakref.ref(y)
    del y  # drops n nodes in one cascade of deallocations
    gc.collect()
    assert middle() is None  # freed by reference counting: no cycle keeps the graph alive
    assert float(np.sum(x.data)) == 1.0


@pytest.mark.parametrize("family", ["scalar", "tensor"])
def test_backward_frees_saved_values_and_the_rest_frees_cleanly(default_recursion_limit, family):
    n = 300_000 if family == "scalar" else 100_000
    x = Scalar(1.0) if family == "scalar" else Tensor(np.array([1.0]), requires_grad=True)
    y = x * 1.0
    for i in range(n):
        if i == n // 2:
            middle = y.data
        y = y * 1.0
        if i == n // 2:
            consumer = y.grad_fn  # the Mul that saved middle's value for backward
    assert consumer._saved[0] is middle
    if family == "tensor":
        middle = weakref.ref(middle)  # the array outlives its Tensor: the Mul saved it
        assert middle() is not None
    (y if family == "scalar" else y.sum()).backward()
    assert consumer._saved is None  # backward released what it saved (no retain_graph)
    if family == "tensor":
        assert middle() is None
    del y, consumer  # the chain of nodes itself is still n deep
    gc.collect()
    assert float(np.sum(x.grad if family == "scalar" else x.grad.data)) == 1.0
