"""The graph engine: gradient accumulation, grad buffers, retain/create graph, ``grad()``, grad
modes, detach, custom Functions. PyTorch's behaviour is the reference where the library is silent.
"""

import threading

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import BackwardError, Function, Scalar, Tensor
from tests.other_thread import held_in_another_thread


def leaf(values, dtype=np.float64):
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


# ---- accumulation into .grad --------------------------------------------------------------------

def test_backward_accumulates_into_leaf_grad_across_calls():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2.0, 4.0, 6.0])
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, [5.0, 7.0, 9.0])


def test_scalar_backward_accumulates_across_calls():
    x = Scalar(2.0)
    (x * x).backward()
    (x * 5).backward()
    assert x.grad == pytest.approx(4.0 + 5.0)


def test_second_backward_accumulates_in_place_into_the_same_grad_buffer():
    x = leaf([1.0, 2.0])
    (x * 2).sum().backward()
    first, first_data = x.grad, x.grad.data
    (x * 2).sum().backward()
    assert x.grad is first and x.grad.data is first_data  # PyTorch also adds in place
    np.testing.assert_allclose(first.data, [4.0, 4.0])


def test_grad_of_x_plus_x_is_two():
    x = leaf([1.0, -1.0])
    (x + x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2.0, 2.0])


def test_gradients_sum_over_fan_out():
    x = leaf([2.0])
    y = x * x * x + x * 4 - x  # x used five times
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [3 * 4.0 + 4 - 1])


def test_diamond_graph_sums_both_paths():
    x = leaf([0.5, 2.0])
    a = x * 3
    b = a.exp()
    c = a * a
    (b + c).sum().backward()  # d/dx (e^(3x) + 9x^2)
    expected = 3 * np.exp(3 * x.data) + 18 * x.data
    np.testing.assert_allclose(x.grad.data, expected)


def test_scalar_diamond_graph():
    x = Scalar(0.7)
    a = x.tanh()
    (a * a + a).backward()
    t = np.tanh(0.7)
    assert x.grad == pytest.approx((2 * t + 1) * (1 - t * t))


# ---- grad buffers are never aliased -------------------------------------------------------------

def test_grads_of_x_plus_z_are_separate_buffers():
    x, z = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + z).sum().backward()
    assert not np.shares_memory(x.grad.data, z.grad.data)
    x.grad.data += 100
    np.testing.assert_allclose(z.grad.data, [1.0, 1.0])


def test_grad_is_not_aliased_to_the_users_grad_array():
    x, z = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    g = np.array([1.0, 1.0])
    (x + z).backward(grad=g)
    for t in (x, z):
        assert not np.shares_memory(t.grad.data, g)
    g[:] = 7
    x.grad.data[0] = -5
    np.testing.assert_allclose(z.grad.data, [1.0, 1.0])
    np.testing.assert_allclose(g, [7.0, 7.0])


def test_leaf_backward_with_grad_copies_it():
    x = leaf([1.0, 2.0])
    g = np.array([3.0, 4.0])
    x.backward(grad=g)
    g[:] = 0
    np.testing.assert_allclose(x.grad.data, [3.0, 4.0])


def test_grads_stay_separate_after_in_place_accumulation():
    x, z = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + z).sum().backward()
    (x + z).sum().backward()
    x.grad.data *= 10
    np.testing.assert_allclose(z.grad.data, [2.0, 2.0])


def test_grads_through_views_are_separate_buffers():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    z = leaf([1.0, 2.0, 3.0, 4.0])
    y = x.reshape(4) + z
    y.retain_grad()
    y.sum().backward()
    buffers = [x.grad.data, z.grad.data, y.grad.data]
    for i, a in enumerate(buffers):
        for b in buffers[i + 1:]:
            assert not np.shares_memory(a, b)


def test_grads_of_x_plus_z_with_create_graph_are_separate_tensors():
    x, z = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + z).sum().backward(create_graph=True)
    with ag.no_grad():
        x.grad[0] = 50.0  # PyTorch clones grads in create_graph mode: z.grad must not follow
    np.testing.assert_allclose(z.grad.data, [1.0, 1.0])


def test_create_graph_grad_is_not_the_users_grad_tensor():
    x, z = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    g = Tensor(np.array([1.0, 1.0]))
    (x + z).backward(grad=g, create_graph=True)
    with ag.no_grad():
        x.grad[0] = 50.0
    np.testing.assert_allclose(g.data, [1.0, 1.0])
    np.testing.assert_allclose(z.grad.data, [1.0, 1.0])


def test_grad_function_results_are_separate_buffers():
    x, z = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    gx, gz = ag.grad((x + z).sum(), [x, z])
    assert not np.shares_memory(gx.data, gz.data)


# ---- retain_grad, retain_graph ------------------------------------------------------------------

def test_retain_grad_keeps_grad_of_a_non_leaf():
    x = leaf([1.0, 2.0])
    y = x * 3
    y.retain_grad()
    z = y * y
    w = x * 2
    z.sum().backward()
    np.testing.assert_allclose(y.grad.data, 2 * y.data)
    np.testing.assert_allclose(x.grad.data, 18 * x.data)
    assert w.grad is None  # non-leaves without retain_grad keep none


def test_retained_grad_sums_every_use_of_the_non_leaf():
    x = leaf([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    x.retain_grad()  # a no-op on a leaf, which keeps its grad anyway
    (y * y + y).sum().backward()
    np.testing.assert_allclose(y.grad.data, 2 * y.data + 1)
    np.testing.assert_allclose(x.grad.data, 2 * (2 * y.data + 1))


def test_retain_grad_on_scalar_non_leaf():
    x = Scalar(3.0)
    y = x * x
    y.retain_grad()
    (y * 2).backward()
    assert y.grad == 2.0 and x.grad == 12.0


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 4 * x.data)


def test_second_backward_without_retain_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(BackwardError, match="retain_graph"):
        y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data)  # unchanged by the failed call


def test_scalar_second_backward_without_retain_graph_raises():
    x = Scalar(2.0)
    y = x * x
    y.backward()
    with pytest.raises(BackwardError, match="retain_graph"):
        y.backward()


# ---- create_graph: higher derivatives -----------------------------------------------------------

def test_create_graph_gives_second_derivative_of_cube_for_tensor():
    x = leaf([1.0, -2.0, 0.5])
    (x ** 3).sum().backward(create_graph=True)
    first = x.grad
    assert first.requires_grad and first.grad_fn is not None
    np.testing.assert_allclose(first.data, 3 * x.data ** 2)
    x.grad = None
    first.sum().backward()
    np.testing.assert_allclose(x.grad.data, 6 * x.data)


def test_create_graph_gives_second_derivative_of_cube_for_scalar():
    x = Scalar(1.5)
    (x ** 3).backward(create_graph=True)
    first = x.grad
    assert isinstance(first, Scalar) and first.data == pytest.approx(3 * 1.5 ** 2)
    x.grad = None
    first.backward()
    assert x.grad == pytest.approx(6 * 1.5)


def test_third_derivative_through_grad():
    x = leaf([0.3, 1.2])
    (d1,) = ag.grad((x ** 4).sum(), x, create_graph=True)
    (d2,) = ag.grad(d1.sum(), x, create_graph=True)
    (d3,) = ag.grad(d2.sum(), x)
    np.testing.assert_allclose(d3.data, 24 * x.data)


# ---- grad() -------------------------------------------------------------------------------------

def test_grad_returns_a_tuple_and_leaves_dot_grad_alone():
    x = leaf([1.0, 2.0])
    result = ag.grad((x * x).sum(), x)
    assert isinstance(result, tuple) and len(result) == 1
    np.testing.assert_allclose(result[0].data, 2 * x.data)
    assert x.grad is None


def test_grad_does_not_change_existing_grad():
    x = leaf([1.0, 2.0])
    (x * 5).sum().backward()
    ag.grad((x * x).sum(), x)
    np.testing.assert_allclose(x.grad.data, [5.0, 5.0])


def test_grad_with_respect_to_a_non_leaf():
    x = leaf([1.0, 2.0])
    h = x * 2
    y = (h * h).sum()
    (gh,) = ag.grad(y, h)
    np.testing.assert_allclose(gh.data, 2 * h.data)
    assert x.grad is None and h.grad is None


def test_grad_with_multiple_outputs_sums_them():
    x = leaf([1.0, 2.0])
    (g,) = ag.grad([(x * x).sum(), (x * 3).sum()], [x])
    np.testing.assert_allclose(g.data, 2 * x.data + 3)


def test_grad_with_grad_outputs():
    x = leaf([1.0, 2.0])
    v = np.array([10.0, 100.0])
    (g,) = ag.grad(x * x, x, grad_outputs=[v])
    np.testing.assert_allclose(g.data, 2 * x.data * v)


def test_grad_with_multiple_inputs_and_scalars():
    a, b = Scalar(2.0), Scalar(5.0)
    ga, gb = ag.grad(a * b + a, [a, b])
    assert (ga, gb) == (6.0, 2.0)
    assert a.grad is None and b.grad is None


def test_grad_allow_unused_gives_none():
    x, unused = leaf([1.0]), leaf([2.0])
    gx, gu = ag.grad((x * 2).sum(), [x, unused], allow_unused=True)
    np.testing.assert_allclose(gx.data, [2.0])
    assert gu is None


def test_grad_without_allow_unused_raises_for_unused_input():
    x, unused = leaf([1.0]), leaf([2.0])
    with pytest.raises(BackwardError, match="allow_unused"):
        ag.grad((x * 2).sum(), [x, unused])


def test_grad_with_create_graph_is_differentiable():
    x = leaf([2.0])
    (g,) = ag.grad((x ** 3).sum(), x, create_graph=True)
    assert g.requires_grad
    (gg,) = ag.grad(g.sum(), x)
    np.testing.assert_allclose(gg.data, [12.0])


# ---- grad modes ---------------------------------------------------------------------------------

def test_no_grad_context_records_nothing():
    x = leaf([1.0, 2.0])
    with ag.no_grad():
        assert not ag.is_grad_enabled()
        y = x * 2
        s = Scalar(1.0) * 3
    assert ag.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert not s.requires_grad and s.grad_fn is None


def test_no_grad_as_decorator():
    @ag.no_grad()
    def double(t):
        assert not ag.is_grad_enabled()
        return t * 2

    y = double(leaf([1.0]))
    assert not y.requires_grad and ag.is_grad_enabled()
    assert double.__name__ == "double"


def test_enable_grad_inside_no_grad():
    x = leaf([1.0])
    with ag.no_grad():
        with ag.enable_grad():
            y = x * 2
        z = x * 2
    assert y.requires_grad and y.grad_fn is not None
    assert not z.requires_grad


def test_enable_grad_as_decorator_inside_no_grad():
    @ag.enable_grad()
    def double(t):
        return t * 2

    with ag.no_grad():
        y = double(leaf([1.0]))
        assert not ag.is_grad_enabled()
    assert y.requires_grad


def test_set_grad_enabled_as_context_manager_restores_mode():
    with ag.set_grad_enabled(False):
        assert not ag.is_grad_enabled()
        with ag.set_grad_enabled(True):
            assert ag.is_grad_enabled()
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()


def test_set_grad_enabled_as_decorator_does_not_switch_at_decoration_time():
    @ag.set_grad_enabled(False)
    def double(t):
        assert not ag.is_grad_enabled()
        return t * 2

    assert ag.is_grad_enabled()
    assert not double(leaf([1.0])).requires_grad
    assert ag.is_grad_enabled()


def test_set_grad_enabled_plain_call_switches_mode():
    try:
        ag.set_grad_enabled(False)
        assert not ag.is_grad_enabled()
        assert not (leaf([1.0]) * 2).requires_grad
        ag.set_grad_enabled(True)
        assert ag.is_grad_enabled()
    finally:
        ag.set_grad_enabled(True)


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(RuntimeError, match="boom"):
        with ag.no_grad():
            raise RuntimeError("boom")
    assert ag.is_grad_enabled()


def test_grad_mode_is_thread_local():
    seen = {}

    def worker():
        with ag.no_grad():
            seen["worker"] = ag.is_grad_enabled()
            yield

    with held_in_another_thread(worker):
        assert ag.is_grad_enabled()  # the worker's no_grad does not reach this thread
        assert (leaf([1.0]) * 2).requires_grad
    assert seen["worker"] is False


def test_new_threads_start_with_grad_enabled():
    seen = {}
    with ag.no_grad():
        thread = threading.Thread(target=lambda: seen.setdefault("mode", ag.is_grad_enabled()))
        thread.start()
        thread.join(5)
    assert seen["mode"] is True


# ---- leaves, detach, requires_grad_ -------------------------------------------------------------

def test_is_leaf_and_grad_fn():
    x = leaf([1.0])
    c = Tensor([1.0])
    y = x * 2
    assert x.is_leaf and x.grad_fn is None
    assert c.is_leaf and not c.requires_grad
    assert not y.is_leaf and y.grad_fn.name() == "Mul" and y.requires_grad


def test_ops_on_tensors_without_grad_record_nothing():
    a, b = Tensor([1.0, 2.0]), Tensor([3.0, 4.0])
    y = (a * b + a).exp().sum()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf


def test_detach_shares_data_and_cuts_the_graph():
    x = leaf([1.0, 2.0])
    d = (x * 2).detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    e = x.detach()
    assert np.shares_memory(e.data, x.data)
    y = (x * d.requires_grad_()).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.data, [2.0, 4.0])
    np.testing.assert_allclose(d.grad.data, [1.0, 2.0])


def test_scalar_detach():
    x = Scalar(2.0)
    d = (x * 3).detach()
    assert d.data == 6.0 and d.is_leaf and not d.requires_grad


def test_requires_grad_underscore_on_leaf():
    x = Tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2.0, 2.0])
    x.requires_grad_(False)
    assert not (x * 2).requires_grad


def test_requires_grad_property_setter():
    x = Tensor([1.0])
    x.requires_grad = True
    assert x.requires_grad


# ---- custom Functions ---------------------------------------------------------------------------

class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2


class ScaledAdd(Function):
    """a * scale + b, with ``scale`` a plain number (a constant)."""

    @staticmethod
    def forward(ctx, a, scale, b):
        ctx.scale = scale
        return a * scale + b

    @staticmethod
    def backward(ctx, grad):
        ctx.needs_at_backward = ctx.needs_input_grad
        need_a, _, need_b = ctx.needs_input_grad
        return (grad * ctx.scale if need_a else None, None, grad if need_b else None)


def test_custom_function_first_order():
    x = leaf([1.0, 2.0])
    y = Cube.apply(x)
    assert y.grad_fn.name() == "Cube"
    np.testing.assert_allclose(y.data, [1.0, 8.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 12.0])


def test_custom_function_second_order():
    x = leaf([1.0, 2.0])
    (g,) = ag.grad(Cube.apply(x).sum(), x, create_graph=True)
    (gg,) = ag.grad(g.sum(), x)
    np.testing.assert_allclose(gg.data, [6.0, 12.0])


def test_custom_function_on_scalars():
    x = Scalar(2.0)
    y = Cube.apply(x)
    y.backward(create_graph=True)
    assert x.grad.data == pytest.approx(12.0)
    g = x.grad
    x.grad = None
    g.backward()
    assert x.grad == pytest.approx(12.0)


def test_custom_function_with_constant_args_and_needs_input_grad():
    a, b = leaf([1.0, 2.0]), Tensor(np.array([5.0, 5.0]))
    y = ScaledAdd.apply(a, 3.0, b)
    assert y.grad_fn.needs_input_grad == (True, False, False)
    np.testing.assert_allclose(y.data, [8.0, 11.0])
    y.sum().backward()
    np.testing.assert_allclose(a.grad.data, [3.0, 3.0])
    assert b.grad is None
    assert y.grad_fn.needs_at_backward == (True, False, False)


def test_custom_function_needs_input_grad_both():
    a, b = leaf([1.0]), leaf([2.0])
    y = ScaledAdd.apply(a, 2.0, b)
    assert y.grad_fn.needs_input_grad == (True, False, True)
    y.sum().backward()
    np.testing.assert_allclose(a.grad.data, [2.0])
    np.testing.assert_allclose(b.grad.data, [1.0])


def test_custom_function_forward_gets_raw_arrays():
    seen = {}

    class Spy(Function):
        @staticmethod
        def forward(ctx, x, k):
            seen["types"] = (type(x), type(k))
            return x * k

        @staticmethod
        def backward(ctx, grad):
            seen["grad"] = type(grad)
            return grad * 2, None

    x = leaf([1.0])
    Spy.apply(x, 2).sum().backward()
    assert seen == {"types": (np.ndarray, int), "grad": np.ndarray}


def test_custom_function_without_grad_inputs_records_nothing():
    y = Cube.apply(Tensor([2.0]))
    assert y.grad_fn is None and not y.requires_grad
    with ag.no_grad():
        z = Cube.apply(leaf([2.0]))
    assert z.grad_fn is None


def test_custom_function_saving_its_output():
    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            out = np.exp(x)
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, grad):
            (out,) = ctx.saved_tensors
            return grad * out

    x = leaf([0.0, 1.0])
    (d1,) = ag.grad(Exp.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(d1.data, np.exp(x.data))
    (d2,) = ag.grad(d1.sum(), x)
    np.testing.assert_allclose(d2.data, np.exp(x.data))


# ---- registry -----------------------------------------------------------------------------------

def test_registry_lists_primitives():
    primitives = ag.registry.PRIMITIVES
    assert {"Add", "Mul", "MatMul", "Sum", "Reshape", "GetItem"} <= set(primitives)
    for name, cls in primitives.items():
        assert issubclass(cls, Function) and cls.__name__ == name
    scalar_ops = {name for name, op in ag.registry.OPS.items() if op.scalar}
    assert {"add", "mul", "pow", "exp", "log", "tanh"} <= scalar_ops
    assert {"mean", "var", "stack"} <= set(ag.registry.COMPOSITES)


def test_recorded_node_is_the_registered_primitive():
    """One Function class per op, for Tensor and Scalar alike."""
    x = leaf([1.0])
    assert type((x @ x).grad_fn) is ag.registry.PRIMITIVES["MatMul"]
    assert type((x * 2).grad_fn) is ag.registry.PRIMITIVES["Mul"]
    assert type((Scalar(1.0) * 2).grad_fn) is ag.registry.PRIMITIVES["Mul"]
