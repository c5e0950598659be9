"""numpy's functions on Tensors (``autograd_core.numpy_protocol``): recorded when they have an op,
computed on the values when they only ask a question, refused with a clear error otherwise."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_core as ag
from autograd_core import numpy_protocol, registry
from autograd_core.testing import axes, shapes, tensors

SMALL = shapes(min_dims=1, max_dims=2, max_side=3)
HALVES = st.integers(-20, 20).map(lambda k: k / 2)  # distinct values at least 0.5 apart


def _two_like(data, shape, **kwargs):
    return (data.draw(tensors(shape, **kwargs), label="x"),
            data.draw(tensors(shape, **kwargs), label="y"))


# Each entry draws (the np.* call on Tensors, its Tensor inputs, the same call on plain arrays).
def _exp(data):
    return np.exp, [data.draw(tensors(SMALL, elements=(-3.0, 3.0)))], np.exp


def _log(data):
    return np.log, [data.draw(tensors(SMALL, elements=(0.5, 5.0)))], np.log


def _reduction(np_func, distinct=False):
    # max has no derivative at ties, and central differences need the runner-up well below
    elements = HALVES if distinct else (-10.0, 10.0)

    def draw(data):
        x = data.draw(tensors(SMALL, elements=elements, unique=distinct), label="x")
        axis = data.draw(axes(x.ndim), label="axis")
        keepdims = data.draw(st.booleans(), label="keepdims")
        return (lambda t: np_func(t, axis=axis, keepdims=keepdims), [x],
                lambda a: np_func(a, axis=axis, keepdims=keepdims))
    return draw


def _matmul(data):
    n, k, m = (data.draw(st.integers(1, 3)) for _ in range(3))
    x = data.draw(tensors((n, k)), label="x")
    y = data.draw(tensors((k, m)), label="y")
    return np.matmul, [x, y], np.matmul


def _concatenate(data):
    shape = data.draw(SMALL, label="shape")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    other = list(shape)
    other[axis] = data.draw(st.integers(1, 3), label="other side")
    x = data.draw(tensors(shape), label="x")
    y = data.draw(tensors(tuple(other)), label="y")
    return (lambda a, b: np.concatenate([a, b], axis=axis), [x, y],
            lambda a, b: np.concatenate([a, b], axis=axis))


def _stack(data):
    shape = data.draw(SMALL, label="shape")
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="axis")
    return (lambda a, b: np.stack((a, b), axis), list(_two_like(data, shape)),
            lambda a, b: np.stack((a, b), axis))


def _where(data):
    x = data.draw(tensors(SMALL), label="x")
    mask = data.draw(st.lists(st.booleans(), min_size=x.size, max_size=x.size), label="mask")
    mask = np.array(mask).reshape(x.shape)
    if data.draw(st.booleans(), label="mask as a Tensor"):
        mask = ag.Tensor(mask)  # np.where dispatches on the condition alone, too
    raw_mask = np.asarray(mask)
    return (lambda a: np.where(mask, a, 0), [x], lambda a: np.where(raw_mask, a, 0))


def _maximum(data):
    # values on two grids that never meet: no ties, where maximum has no derivative
    shape = data.draw(SMALL, label="shape")
    x = data.draw(tensors(shape, elements=HALVES), label="x")
    y = data.draw(tensors(shape, elements=HALVES.map(lambda v: v + 0.25)), label="y")
    return np.maximum, [x, y], np.maximum


def _clip(data):
    x = data.draw(tensors(SMALL, elements=(-3.0, 3.0), avoid=(-1.0, 1.5)), label="x")
    if data.draw(st.booleans(), label="by keyword"):
        return (lambda a: np.clip(a, a_min=-1.0, a_max=1.5), [x],
                lambda a: np.clip(a, a_min=-1.0, a_max=1.5))
    return (lambda a: np.clip(a, -1.0, 1.5), [x], lambda a: np.clip(a, -1.0, 1.5))


def _reshape(data):
    x = data.draw(tensors(SMALL), label="x")
    shape = data.draw(st.sampled_from([(-1,), (1, -1), x.shape[::-1]]), label="new shape")
    return (lambda a: np.reshape(a, shape), [x], lambda a: np.reshape(a, shape))


def _transpose(data):
    x = data.draw(tensors(shapes(min_dims=1, max_dims=3, max_side=3)), label="x")
    order = data.draw(st.none() | st.permutations(range(x.ndim)).map(tuple), label="axes")
    return (lambda a: np.transpose(a, order), [x], lambda a: np.transpose(a, order))


CALLS = {
    "exp": _exp,
    "log": _log,
    "sum": _reduction(np.sum),
    "mean": _reduction(np.mean),
    "max": _reduction(np.max, distinct=True),
    "amax": _reduction(np.amax, distinct=True),
    "matmul": _matmul,
    "concatenate": _concatenate,
    "stack": _stack,
    "where": _where,
    "maximum": _maximum,
    "clip": _clip,
    "reshape": _reshape,
    "transpose": _transpose,
}


@pytest.mark.parametrize("name", sorted(CALLS))
@given(data=st.data())
def test_numpy_function_on_tensors_is_recorded_and_twice_differentiable(name, data):
    call, inputs, reference = CALLS[name](data)
    out = call(*inputs)
    assert isinstance(out, ag.Tensor)
    assert out.requires_grad and out.grad_fn is not None, f"np.{name} was not recorded"
    expected = reference(*[x.data for x in inputs])
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    assert ag.gradcheck(call, inputs)
    assert ag.gradgradcheck(call, inputs)


@given(x=tensors(SMALL, elements=(-3.0, 3.0)))
def test_numpy_calls_give_the_gradients_of_the_ops(x):
    """d/dx sum(np.exp(x) * x) = exp(x) * (1 + x), by hand."""
    (np.sum(np.exp(x) * x)).backward()
    # atol: near x = -1 the engine's exp(x) * x + exp(x) cancels to a few ulps of exp(x)
    np.testing.assert_allclose(x.grad.data, np.exp(x.data) * (1 + x.data), rtol=1e-12,
                               atol=1e-14)


# ---- an array on the left ------------------------------------------------------------------------

@pytest.mark.parametrize("op, d_dt", [
    (lambda a, t: a + t, lambda a, t: np.ones_like(t)),
    (lambda a, t: a - t, lambda a, t: -np.ones_like(t)),
    (lambda a, t: a * t, lambda a, t: a),
    (lambda a, t: a / t, lambda a, t: -a / t ** 2),
    (lambda a, t: a ** t, lambda a, t: a ** t * np.log(a)),
    (lambda a, t: np.float64(3.0) * t, lambda a, t: np.full_like(t, 3.0)),
], ids=["add", "sub", "mul", "div", "pow", "numpy scalar"])
def test_array_on_the_left_gives_a_recorded_tensor(op, d_dt):
    a = np.array([[0.5, 2.0], [3.0, 1.5]])
    t = ag.Tensor([[1.0, -2.0], [0.5, 3.0]], dtype=np.float64, requires_grad=True)
    out = op(a, t)
    assert isinstance(out, ag.Tensor) and out.grad_fn is not None
    np.testing.assert_allclose(out.data, op(a, t.data), rtol=1e-12)
    out.sum().backward()
    np.testing.assert_allclose(t.grad.data, d_dt(a, t.data), rtol=1e-12)


def test_array_matmul_tensor_is_recorded():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    t = ag.Tensor([[1.0], [-1.0]], dtype=np.float64, requires_grad=True)
    out = a @ t
    assert isinstance(out, ag.Tensor) and out.grad_fn is not None
    out.sum().backward()
    np.testing.assert_array_equal(t.grad.data, [[4.0], [6.0]])  # column sums of a


# ---- a custom Function whose backward calls np.* -------------------------------------------------

class LogCosh(ag.Function):
    """log(cosh(x)), with a backward written with np.tanh: a Tensor in create_graph mode."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(np.cosh(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * np.tanh(x)


class Softplus(ag.Function):
    """log(1 + e**x), with a backward written with np.exp and np.where."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * np.where(x > 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


@pytest.mark.parametrize("function", [LogCosh, Softplus], ids=lambda f: f.__name__)
@given(x=tensors(SMALL, elements=(-3.0, 3.0)))
def test_custom_backward_with_numpy_calls_passes_gradgradcheck(function, x):
    assert ag.gradcheck(function.apply, [x])
    assert ag.gradgradcheck(function.apply, [x])


def test_custom_backward_with_numpy_calls_second_derivative_by_hand():
    x = ag.Tensor([-1.0, 0.5, 2.0], dtype=np.float64, requires_grad=True)
    (first,) = ag.grad(LogCosh.apply(x).sum(), [x], create_graph=True)
    first.sum().backward()
    np.testing.assert_allclose(x.grad.data, 1 - np.tanh(x.data) ** 2, rtol=1e-12)


# ---- questions: computed on the values, untracked -----------------------------------------------

def test_queries_answer_on_the_values():
    t = ag.Tensor([[1.0, np.nan], [3.0, -4.0]], requires_grad=True)
    assert np.shape(t) == (2, 2) and np.ndim(t) == 2 and np.size(t) == 4
    assert np.result_type(t, np.float64) == np.float64
    assert np.count_nonzero(t) == 4
    assert np.argmax(np.array([1.0, 5.0, 2.0])) == 1  # arrays are untouched
    assert not np.allclose(t, t) and np.allclose(t, t, equal_nan=True)
    assert np.array_equal(t, t.data, equal_nan=True)
    assert np.any(t > 2) and not np.all(t > 2)
    isnan = np.isnan(t)
    assert isinstance(isnan, ag.Tensor) and not isnan.requires_grad
    np.testing.assert_array_equal(isnan.data, [[False, True], [False, False]])
    argmin = np.argmin(t.data[:, :1] + np.zeros((2, 2)) + ag.Tensor([[0.0, 1.0]]), axis=1)
    np.testing.assert_array_equal(argmin.data, [0, 0])
    rows, cols = np.where(ag.Tensor([[True, False], [False, True]]))  # np.nonzero's form
    np.testing.assert_array_equal(rows.data, [0, 1])
    np.testing.assert_array_equal(cols.data, [0, 1])


@pytest.mark.parametrize("compare", [np.less, np.less_equal, np.greater, np.greater_equal,
                                     np.equal, np.not_equal])
def test_comparison_ufuncs_give_bool_tensors_from_either_side(compare):
    t = ag.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    a = np.array([2.0, 2.0, 2.0])
    for out, expected in [(compare(t, a), compare(t.data, a)), (compare(a, t), compare(a, t.data)),
                          (compare(t.sum(), 6.0), compare(6.0, 6.0))]:
        assert isinstance(out, ag.Tensor) and out.dtype == bool and not out.requires_grad
        np.testing.assert_array_equal(out.data, expected)


def test_array_operators_with_bool_tensors():
    mask = np.array([True, False, True])
    t = ag.Tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal((mask & (t > 1.5)).data, [False, False, True])
    np.testing.assert_array_equal((mask | (t > 1.5)).data, [True, True, True])
    np.testing.assert_array_equal((np.array([2.0, 2.0, 2.0]) < t).data, [False, False, True])


def test_a_query_never_returns_floats(monkeypatch):
    """The allowlist's guarantee is checked on every call, not just by reading the list."""
    assert np.nancumsum not in registry.NUMPY  # an op of its own would run before the list
    monkeypatch.setattr(numpy_protocol, "QUERY_FUNCTIONS",
                        numpy_protocol.QUERY_FUNCTIONS | {np.nancumsum})
    with pytest.raises(TypeError, match="np.nancumsum: gave a floating-point answer"):
        np.nancumsum(ag.Tensor([2.0, 1.0], requires_grad=True))


def test_arrays_and_numpy_testing_still_convert_tensors():
    t = ag.Tensor([1.0, 2.0], requires_grad=True)
    assert np.asarray(t) is t.data
    np.testing.assert_allclose(t, [1.0, 2.0])
    assert float(np.array(t).sum()) == 3.0


# ---- clear errors -------------------------------------------------------------------------------

def test_unregistered_function_names_itself_and_the_values_way():
    t = ag.Tensor([2.0, 1.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"np\.median is not supported on Tensors.*t\.data"):
        np.median(t)
    with pytest.raises(TypeError, match=r"np\.linalg\.pinv is not supported"):
        np.linalg.pinv(t[None])  # (np.linalg.norm has an op now: ag.linalg.norm)
    with pytest.raises(TypeError, match=r"np\.floor_divide is not supported"):
        np.ones(2) // t


def test_unregistered_function_suggests_the_op_of_that_name():
    t = ag.Tensor([2.0, 1.0], requires_grad=True)
    candidates = [(np.astype, (t, np.float32), "ag.astype"), (np.ravel, (t,), "ag.reshape")]
    candidates = [(f, args, ours) for f, args, ours in candidates if f not in registry.NUMPY]
    assert candidates, "every candidate got a numpy entry: pick another unregistered function"
    for func, args, ours in candidates:
        with pytest.raises(TypeError, match=f"np.{func.__name__} is not supported.*use {ours}"):
            func(*args)


def test_ufunc_methods_are_refused_with_what_to_use():
    t = ag.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    with pytest.raises(TypeError, match=r"np\.add\.reduce is not supported.*ag\.sum"):
        np.add.reduce(t)
    with pytest.raises(TypeError, match=r"np\.maximum\.reduce .*ag\.max"):
        np.maximum.reduce(t, axis=0)
    with pytest.raises(TypeError, match=r"np\.multiply\.outer is not supported"):
        np.multiply.outer(t, t)
    with pytest.raises(TypeError, match=r"np\.add\.at"):
        np.add.at(t, [0], 1.0)


def test_out_arguments_are_refused():
    t = ag.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"np\.exp\(\.\.\., out=\.\.\.\).*use the result"):
        np.exp(t, out=np.empty(2))
    with pytest.raises(TypeError, match=r"np\.sum\(\.\.\., out=\.\.\.\)"):
        np.sum(t, out=np.empty(()))
    with pytest.raises(TypeError, match=r"np\.less\(\.\.\., out=\.\.\.\)"):
        np.less(t, 1.0, out=np.empty(2, dtype=bool))
    a = np.zeros(2)
    with pytest.raises(TypeError, match=r"np\.add\(\.\.\., out=\.\.\.\).*arr = arr \+ t"):
        a += t
    np.testing.assert_array_equal(a, [0.0, 0.0])  # left as it was


def test_arguments_the_op_lacks_are_refused_unless_at_their_default():
    t = ag.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    with pytest.raises(TypeError, match=r"np\.sum\(\.\.\., dtype=\.\.\.\).*ag\.sum.*astype"):
        np.sum(t, dtype=np.float64)
    with pytest.raises(TypeError, match=r"np\.exp\(\.\.\., dtype=\.\.\.\).*ag\.exp"):
        np.exp(t, dtype=np.float64)
    with pytest.raises(TypeError, match=r"np\.mean\(\.\.\., where=\.\.\.\).*ag\.where"):
        np.mean(t, where=np.array([True, False]))
    with pytest.raises(TypeError, match=r"np\.exp\(\.\.\., where=\.\.\.\)"):
        np.exp(t, where=np.array([True, False]))
    with pytest.raises(TypeError, match=r"np\.reshape\(\.\.\., order=\.\.\.\)"):
        np.reshape(t, 4, order="F")
    with pytest.raises(TypeError, match=r"np\.max\(\.\.\., initial=\.\.\.\)"):
        np.max(t, initial=0.0)
    # numpy's defaults, spelled out, are fine
    out = np.sum(t, 0, None, None, keepdims=True)
    np.testing.assert_array_equal(out.data, [[4.0, 6.0]])
    assert out.grad_fn is not None
    np.testing.assert_array_equal(np.reshape(t, (4,), order="C").data, [1.0, 2.0, 3.0, 4.0])


def test_a_tensor_where_the_op_records_none_is_refused_not_looped():
    t = ag.Tensor([0.5, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"np\.clip: got a Tensor where ag\.clip does not"):
        np.clip(np.array([1.0, 3.0]), t, 5.0)
    # and the guard is released: the next call works
    np.testing.assert_array_equal(np.clip(t, 1.0, 1.5).data, [1.0, 1.5])


def test_every_registered_one_input_ufunc_dispatches_to_its_op():
    """np.sin(t), np.floor(t), np.isnan(t), ...: every ufunc an op registers runs that op on a
    Tensor, with numpy's values (an op with a gradient records, one without does not)."""
    values = np.array([0.2, 0.5, 0.7])  # inside every domain (arcsin, arctanh, log, ...)
    ufuncs = [f for f in registry.NUMPY if isinstance(f, np.ufunc) and f.nin == 1]
    assert len(ufuncs) >= 20
    for ufunc in ufuncs:
        t = ag.Tensor(values, requires_grad=True)
        out = ufunc(t)
        assert isinstance(out, ag.Tensor), ufunc.__name__
        np.testing.assert_allclose(out.data, ufunc(values), err_msg=ufunc.__name__)
        op = next(op for op in registry.OPS.values() if ufunc in op.numpy)
        assert out.requires_grad == (op.kind != "untracked"), ufunc.__name__
