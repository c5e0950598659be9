"""The Tensor front end: construction and dtypes, conversions, operators, indexing, creation
helpers and shape methods, and the ops functions on plain numpy arrays."""

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import BackwardError, DTypeError, Tensor

# ---- construction and dtypes --------------------------------------------------------------------

@pytest.mark.parametrize("data, dtype", [
    ([1.0, 2.0], np.float32),
    (3.0, np.float32),
    ([[1.0, 2], [3, 4]], np.float32),
    ([1, 2], np.int64),
    (7, np.int64),
    ([True, False], np.bool_),
    (np.array([1.0, 2.0]), np.float64),
    (np.array([1.0], dtype=np.float16), np.float16),
    (np.array([1, 2], dtype=np.int32), np.int32),
    (np.float64(2.5), np.float64),
])
def test_dtype_is_inferred_like_pytorch(data, dtype):
    assert Tensor(data).dtype == dtype


def test_dtype_argument_wins():
    assert Tensor([1.0, 2.0], dtype=np.float64).dtype == np.float64
    assert Tensor([1, 2], dtype="float32").dtype == np.float32
    assert Tensor(np.array([1.0]), dtype=np.float32).dtype == np.float32


def test_tensor_copies_its_input():
    source = np.array([1.0, 2.0])
    t = Tensor(source)
    source[0] = 100.0
    assert t.data[0] == 1.0
    other = Tensor(t)
    t.data[1] = -1.0
    assert other.data[1] == 2.0


def test_non_numeric_input_is_rejected():
    with pytest.raises(DTypeError, match="numeric"):
        Tensor(["a", None, {}])


def test_float32_stays_float32_through_ops_and_grads():
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = ((x * 2.0 + 1) / 3 - x ** 2).exp().tanh() @ x
    loss = (y.mean() + x.sigmoid().var() + ag.logsumexp(x, axis=1).sum()) * 0.5
    assert y.dtype == np.float32 and loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32


def test_float32_grad_stays_float32_when_mixed_with_float64_array():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * np.array([2.0, 3.0])  # numpy promotes the value to float64 ...
    y.sum().backward()
    assert x.grad.dtype == np.float32  # ... but a grad always has its leaf's dtype
    np.testing.assert_allclose(x.grad.data, [2.0, 3.0])


@pytest.mark.parametrize("data", [[1, 2], [True, False], np.arange(3, dtype=np.int32)])
def test_int_and_bool_tensors_cannot_require_grad(data):
    with pytest.raises(DTypeError, match="floating"):
        Tensor(data, requires_grad=True)
    t = Tensor(data)
    with pytest.raises(DTypeError, match="floating"):
        t.requires_grad_()
    assert not t.requires_grad


def test_casting_to_int_gives_a_tensor_without_grad():
    x = Tensor([1.5, 2.5], requires_grad=True)
    i = x.astype(np.int64)
    assert i.dtype == np.int64
    assert not i.requires_grad  # as PyTorch: integer results never require grad


def test_cast_between_floats_keeps_grad():
    x = Tensor([1.5, 2.5], requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64 and y.requires_grad
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.data, [2.0, 2.0])
    assert x.astype(np.float32) is x  # same dtype: nothing to do


# ---- conversions and properties -----------------------------------------------------------------

def test_data_numpy_and_array_protocol_share_the_buffer():
    t = Tensor([1.0, 2.0])
    assert isinstance(t.data, np.ndarray)
    assert t.numpy() is t.data
    assert np.asarray(t) is t.data
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    copy = np.array(t)
    copy[0] = 9
    assert t.data[0] == 1.0


def test_item_float_int_bool():
    assert Tensor([[2.5]]).item() == 2.5 and isinstance(Tensor(2.5).item(), float)
    assert float(Tensor(1.5)) == 1.5 and int(Tensor(3)) == 3
    assert bool(Tensor(1.0)) and not bool(Tensor(0.0))
    with pytest.raises(ValueError, match="one element"):
        Tensor([1.0, 2.0]).item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]))


def test_shape_dtype_ndim_size_len():
    t = Tensor(np.zeros((2, 3, 4), dtype=np.float32))
    assert t.shape == (2, 3, 4) and t.dtype == np.float32
    assert t.ndim == 3 and t.size == 24 and len(t) == 2
    with pytest.raises(TypeError, match="0-d"):
        len(Tensor(1.0))


def test_iteration_yields_rows_that_carry_grad():
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    rows = list(x)
    assert len(rows) == 2 and all(r.shape == (2,) for r in rows)
    np.testing.assert_array_equal(rows[1].data, [3.0, 4.0])
    (rows[0] * 2 + rows[1]).sum().backward()
    np.testing.assert_allclose(x.grad.data, [[2.0, 2.0], [1.0, 1.0]])


def test_repr_shows_values_and_graph_state():
    x = Tensor([1.5, 2.0], requires_grad=True)
    assert "1.5" in repr(x) and "requires_grad=True" in repr(x)
    y = x * 2
    assert "3." in repr(y) and "grad_fn=<Mul>" in repr(y)
    assert "dtype=int64" in repr(Tensor([1, 2]))
    assert repr(Tensor([1.0])).startswith("Tensor(")
    assert "name='w'" in repr(Tensor([1.0], name="w"))


def test_scalar_repr_shows_data_and_grad():
    s = ag.Scalar(2.0)
    (s * 3).backward()
    assert repr(s) == "Scalar(data=2.0, grad=3.0)"


# ---- operators ----------------------------------------------------------------------------------

@pytest.mark.parametrize("op, expected", [
    (lambda t: t + 1, [2.0, 3.0]),
    (lambda t: 1 + t, [2.0, 3.0]),
    (lambda t: t - 1, [0.0, 1.0]),
    (lambda t: 1 - t, [0.0, -1.0]),
    (lambda t: t * 3, [3.0, 6.0]),
    (lambda t: 3 * t, [3.0, 6.0]),
    (lambda t: t / 2, [0.5, 1.0]),
    (lambda t: 2 / t, [2.0, 1.0]),
    (lambda t: t ** 2, [1.0, 4.0]),
    (lambda t: 2 ** t, [2.0, 4.0]),
    (lambda t: -t, [-1.0, -2.0]),
    (lambda t: +t, [1.0, 2.0]),
    (lambda t: abs(-t), [1.0, 2.0]),
    (lambda t: np.ones(2) + t, [2.0, 3.0]),
    (lambda t: np.ones(2) - t, [0.0, -1.0]),
    (lambda t: np.full(2, 3.0) * t, [3.0, 6.0]),
    (lambda t: np.ones(2) / t, [1.0, 0.5]),
    (lambda t: np.full(2, 2.0) ** t, [2.0, 4.0]),
])
def test_operators_with_numbers_and_arrays_on_either_side_give_tensors(op, expected):
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = op(x)
    assert isinstance(y, Tensor)
    np.testing.assert_allclose(y.data, expected)
    assert y.requires_grad


def test_reversed_operators_carry_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (np.array([3.0, 4.0]) * x + 1 / x - 2 ** x).sum().backward()
    expected = np.array([3.0, 4.0]) - 1 / x.data ** 2 - np.log(2) * 2 ** x.data
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-6)


def test_matmul_and_rmatmul():
    a = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    m = np.array([[0.0, 1.0], [1.0, 0.0]])
    left, right = m @ a, a @ m
    assert isinstance(left, Tensor) and isinstance(right, Tensor)
    np.testing.assert_allclose(left.data, m @ a.data)
    np.testing.assert_allclose(right.data, a.data @ m)
    left.sum().backward()
    np.testing.assert_allclose(a.grad.data, m.T @ np.ones((2, 2)))
    v = Tensor([1.0, 1.0])
    np.testing.assert_allclose((a @ v).data, [3.0, 7.0])


@pytest.mark.parametrize("compare, expected", [
    (lambda a, b: a < b, [True, False, False]),
    (lambda a, b: a <= b, [True, True, False]),
    (lambda a, b: a > b, [False, False, True]),
    (lambda a, b: a >= b, [False, True, True]),
    (lambda a, b: a == b, [False, True, False]),
    (lambda a, b: a != b, [True, False, True]),
])
def test_comparisons_give_bool_tensors_without_grad(compare, expected):
    a = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for b in (Tensor([2.0, 2.0, 2.0]), 2.0, np.array([2.0, 2.0, 2.0])):
        result = compare(a, b)
        assert isinstance(result, Tensor) and result.dtype == np.bool_
        assert not result.requires_grad and result.grad_fn is None
        np.testing.assert_array_equal(result.data, expected)


def test_logical_operators_and_any_all():
    a = Tensor([True, False, True])
    b = Tensor([True, True, False])
    np.testing.assert_array_equal((a & b).data, [True, False, False])
    np.testing.assert_array_equal((a | b).data, [True, True, True])
    np.testing.assert_array_equal((~a).data, [False, True, False])
    assert a.any() and not a.all()


def test_tensors_are_hashable_by_identity():
    a, b = Tensor([1.0]), Tensor([1.0])
    assert len({a: 1, b: 2}) == 2


# ---- indexing -----------------------------------------------------------------------------------

def test_getitem_forward_and_backward():
    x = Tensor(np.arange(12, dtype=np.float64).reshape(3, 4), requires_grad=True)
    np.testing.assert_array_equal(x[1].data, [4, 5, 6, 7])
    np.testing.assert_array_equal(x[:, 1:3].data, x.data[:, 1:3])
    np.testing.assert_array_equal(x[x > 9].data, [10, 11])
    y = x[[0, 0, 2], 1]  # repeated index: gradients add up
    y.sum().backward()
    expected = np.zeros((3, 4))
    expected[0, 1], expected[2, 1] = 2, 1
    np.testing.assert_array_equal(x.grad.data, expected)


def test_getitem_with_an_int_tensor_index():
    x = Tensor([10.0, 20.0, 30.0])
    np.testing.assert_array_equal(x[Tensor([2, 0])].data, [30.0, 10.0])


def test_setitem_on_tensor_without_grad():
    t = Tensor([1.0, 2.0, 3.0])
    t[0] = 10.0
    t[1:] = Tensor([5.0, 6.0])
    t[Tensor([False, False, True])] = 0.0
    np.testing.assert_array_equal(t.data, [10.0, 5.0, 0.0])


def test_setitem_on_tensor_requiring_grad_raises_with_grad_enabled():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(BackwardError, match="no_grad"):
        x[0] = 5.0
    np.testing.assert_array_equal(x.data, [1.0, 2.0])
    with pytest.raises(BackwardError):
        (x * 2)[0] = 5.0


def test_setitem_on_tensor_requiring_grad_works_under_no_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with ag.no_grad():
        x[0] = 5.0
        x -= 1.0
    np.testing.assert_array_equal(x.data, [4.0, 1.0])
    assert x.requires_grad and x.is_leaf


def test_in_place_operators_without_grad():
    t = Tensor([1.0, 2.0])
    data = t.data
    t += 1
    t *= 2
    t /= 4
    t -= 1
    assert t.data is data
    np.testing.assert_allclose(t.data, [0.0, 0.5])


# ---- creation helpers ---------------------------------------------------------------------------

def test_zeros_ones_full():
    for make, value in ((ag.zeros, 0.0), (ag.ones, 1.0)):
        for t in (make(2, 3), make((2, 3)), make([2, 3])):
            assert t.shape == (2, 3) and t.dtype == np.float32
            assert np.all(t.data == value)
    assert ag.zeros(3, dtype=np.float64).dtype == np.float64
    assert ag.ones(2, requires_grad=True).requires_grad
    f = ag.full((2, 2), 7.5)
    assert f.shape == (2, 2) and f.dtype == np.float32 and np.all(f.data == 7.5)


def test_zeros_like_and_ones_like_keep_shape_and_dtype():
    t = Tensor(np.ones((2, 3), dtype=np.float64))
    z = ag.zeros_like(t)
    assert z.shape == (2, 3) and z.dtype == np.float64 and np.all(z.data == 0)
    o = ag.ones_like(np.zeros(4, dtype=np.float32))
    assert o.shape == (4,) and o.dtype == np.float32 and np.all(o.data == 1)
    assert ag.zeros_like(t, dtype=np.float32).dtype == np.float32
    assert ag.ones_like(t, requires_grad=True).requires_grad
    assert not np.shares_memory(z.data, t.data)


def test_tensor_function_is_the_constructor():
    t = ag.tensor([1.0, 2.0], requires_grad=True, name="w")
    assert isinstance(t, Tensor) and t.dtype == np.float32
    assert t.requires_grad and t.name == "w"
    assert ag.tensor([1, 2], dtype=np.float64).dtype == np.float64


# ---- shape methods ------------------------------------------------------------------------------

def test_transpose_property_and_methods():
    x = Tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    assert x.T.shape == (4, 3, 2)
    assert x.transpose().shape == (4, 3, 2)
    assert x.transpose(1, 0, 2).shape == (3, 2, 4)
    assert x.transpose((1, 0, 2)).shape == (3, 2, 4)
    np.testing.assert_array_equal(x.permute(2, 0, 1).data, x.data.transpose(2, 0, 1))
    assert x.swapaxes(0, 2).shape == (4, 3, 2)
    (x.permute(2, 0, 1) * Tensor(np.arange(24.0).reshape(4, 2, 3))).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.arange(24.0).reshape(4, 2, 3).transpose(1, 2, 0))


def test_reshape_varargs_tuple_and_minus_one():
    x = Tensor(np.arange(6.0), requires_grad=True)
    assert x.reshape(2, 3).shape == (2, 3)
    assert x.reshape((3, 2)).shape == (3, 2)
    assert x.reshape([3, -1]).shape == (3, 2)
    assert x.reshape(2, 3).flatten().shape == (6,)
    x.reshape(2, 3).sum().backward()
    assert x.grad.shape == (6,)


def test_squeeze_unsqueeze():
    x = Tensor(np.ones((1, 3, 1)), requires_grad=True)
    assert x.squeeze().shape == (3,)
    assert x.squeeze(0).shape == (3, 1)
    assert x.squeeze(-1).shape == (1, 3)
    assert x.unsqueeze(0).shape == (1, 1, 3, 1)
    assert x.unsqueeze(-1).shape == (1, 3, 1, 1)
    x.squeeze().unsqueeze(1).sum().backward()
    assert x.grad.shape == (1, 3, 1)


def test_broadcast_to_sums_grad_back():
    x = Tensor([[1.0], [2.0]], requires_grad=True)
    y = x.broadcast_to((3, 2, 4))
    assert y.shape == (3, 2, 4)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[12.0], [12.0]])


def test_astype_changes_dtype():
    t = Tensor([1.7, -2.2])
    i = t.astype(np.int32)
    assert i.dtype == np.int32
    np.testing.assert_array_equal(i.data, [1, -2])


# ---- ops on plain numpy arrays ------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda a: ag.exp(a), lambda a: ag.log(a), lambda a: ag.sqrt(a), lambda a: ag.tanh(a),
    lambda a: ag.sigmoid(a), lambda a: ag.relu(a - 2), lambda a: ag.abs(-a),
    lambda a: ag.add(a, a), lambda a: ag.sub(a, 1), lambda a: ag.mul(a, a), lambda a: ag.div(a, 2),
    lambda a: ag.pow(a, 2), lambda a: ag.neg(a), lambda a: ag.maximum(a, 2.5),
    lambda a: ag.minimum(a, 2.5), lambda a: ag.clip(a, 2, 3), lambda a: ag.sign(a - 2),
    lambda a: ag.leaky_relu(a - 3), lambda a: ag.where(a > 2, a, 0.0),
    lambda a: ag.matmul(a.reshape(2, 2), a.reshape(2, 2)), lambda a: ag.reshape(a, 2, 2),
    lambda a: ag.transpose(a.reshape(2, 2)), lambda a: ag.swapaxes(a.reshape(2, 2), 0, 1),
    lambda a: ag.sum(a, axis=0, keepdims=True), lambda a: ag.max(a.reshape(2, 2), axis=1),
    lambda a: ag.min(a.reshape(2, 2), axis=0), lambda a: ag.mean(a.reshape(2, 2), axis=1),
    lambda a: ag.var(a.reshape(2, 2), axis=0), lambda a: ag.logsumexp(a.reshape(2, 2), axis=1),
    lambda a: ag.concatenate([a, a]), lambda a: ag.stack([a, a], axis=1),
    lambda a: ag.expand_dims(a, 0), lambda a: ag.unsqueeze(a, 1),
    lambda a: ag.squeeze(a.reshape(1, 4)), lambda a: ag.broadcast_to(a, (2, 4)),
    lambda a: ag.astype(a, np.float32),
])
def test_ops_on_numpy_arrays_return_numpy_arrays(call):
    a = np.array([1.0, 2.0, 3.0, 4.0])
    out = call(a)
    assert isinstance(out, np.ndarray) and not isinstance(out, Tensor)
    expected = call(Tensor(a))
    np.testing.assert_allclose(out, expected.data, rtol=1e-12)


def test_full_reductions_on_numpy_arrays_give_numpy_numbers():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert ag.sum(a) == 10.0 and ag.mean(a) == 2.5 and ag.max(a) == 4.0
    assert ag.logsumexp(a) == pytest.approx(np.log(np.exp(a).sum()))
    assert isinstance(ag.sum(a), (np.ndarray, np.generic))
