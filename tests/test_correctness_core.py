"""Issue 10, the core: inputs changed in place after the forward pass, float16 reductions,
var with ddof >= n, zero powers, NaN in max/maximum, empty reductions, and the friction items
(format, numpy axes and scalars, Scalar comparisons, .grad assignment, register_hook).

Expected values are worked out by hand or with plain numpy, never with the library itself."""

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import Scalar, Tensor
from autograd_core.errors import BackwardError, DTypeError, ShapeError

# ---- item 3: inputs changed in place after the forward pass -------------------------------------


def test_numpy_operand_changed_after_forward_does_not_change_the_gradient():
    w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = np.array([1.0, 2.0, 3.0])
    y = (w * c).sum()
    c[:] = 7.0
    y.backward()
    np.testing.assert_array_equal(w.grad.data, [1.0, 2.0, 3.0])  # d(sum(w * c))/dw = c then


W0 = np.array([1.5, 2.5, 0.5])
C0 = np.array([2.0, 1.0, 3.0])


@pytest.mark.parametrize("make, expected", [
    (lambda w, c: (c / w).sum(), -C0 / W0 ** 2),
    (lambda w, c: ag.matmul(c, w), C0),
    (lambda w, c: ag.maximum(w, c).sum(), (W0 > C0).astype(float)),
    (lambda w, c: (w ** c).sum(), C0 * W0 ** (C0 - 1)),
    (lambda w, c: ag.linear(c.reshape(1, 3), w.reshape(3, 1), np.zeros(1)).sum(), C0),
], ids=["div", "matmul", "maximum", "pow", "linear"])
def test_every_op_saving_a_numpy_operand_keeps_its_forward_value(make, expected):
    w = Tensor(W0, requires_grad=True)
    c = C0.copy()
    y = make(w, c)
    c[:] = -5.0
    y.backward()
    np.testing.assert_allclose(w.grad.data, expected)  # the gradient at the forward values


def test_index_tensor_changed_after_forward():
    w = Tensor([10.0, 20.0, 30.0], requires_grad=True)
    idx = Tensor(np.array([0, 1]))
    y = (w[idx] * Tensor([1.0, 2.0])).sum()
    idx[1] = 2
    y.backward()
    np.testing.assert_array_equal(w.grad.data, [1.0, 2.0, 0.0])


def test_index_array_and_boolean_masks_changed_after_forward():
    w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    idx = np.array([2, 2])
    mask = np.array([True, False, False])
    mask_tensor = Tensor(np.array([False, True, False]))
    y = w[idx].sum() + w[mask].sum() * 10 + w[mask_tensor].sum() * 100
    idx[:] = 0
    mask[:] = True
    mask_tensor[0] = True
    y.backward()
    np.testing.assert_array_equal(w.grad.data, [10.0, 100.0, 2.0])


def test_where_mask_changed_after_forward():
    a = Tensor([1.0, 2.0], requires_grad=True)
    mask = np.array([True, False])
    y = ag.where(mask, a, 0.0).sum()
    mask[:] = True
    y.backward()
    np.testing.assert_array_equal(a.grad.data, [1.0, 0.0])


def test_class_labels_changed_after_forward():
    logits = Tensor(np.zeros((2, 3)), requires_grad=True)
    labels = np.array([0, 2])
    loss = ag.softmax_cross_entropy(logits, labels, reduction="sum")
    labels[:] = 1
    loss.backward()
    # softmax of zeros is 1/3 everywhere; minus the one-hot of the labels seen in forward
    expected = np.full((2, 3), 1 / 3) - np.eye(3)[[0, 2]]
    np.testing.assert_allclose(logits.grad.data, expected)


def test_a_list_operand_changed_after_forward():
    w = Tensor([1.0, 2.0], requires_grad=True)
    c = [3.0, 4.0]
    y = (w * c).sum()
    c[0] = 100.0
    y.backward()
    np.testing.assert_array_equal(w.grad.data, [3.0, 4.0])


# ---- item 4: float16 reductions ------------------------------------------------------------------

def test_float16_mean_and_var_do_not_overflow():
    x = Tensor(np.full(200, 600.0, dtype=np.float16), requires_grad=True)
    mean, var = x.mean(), x.var()
    assert mean.dtype == np.float16 and var.dtype == np.float16
    assert mean.item() == 600.0 and var.item() == 0.0
    mean.backward()
    assert x.grad.dtype == np.float16
    np.testing.assert_allclose(x.grad.data, np.full(200, np.float16(1 / 200)))


def test_float16_var_of_spread_values_matches_numpy():
    values = np.zeros(100, dtype=np.float16)
    values[0] = 300.0  # its squared deviation (297 ** 2) overflows float16; the variance not
    x = Tensor(values)
    assert x.var().item() == pytest.approx(float(np.var(values.astype(np.float64))), rel=1e-3)
    assert ag.mean(values) == np.mean(values)


def test_float16_softmax_cross_entropy_mean_does_not_overflow():
    rows = 5000  # 5000 losses of 60 add up past float16's 65504; their mean does not
    logits = np.zeros((rows, 2), dtype=np.float16)
    logits[:, 0] = 60.0  # label 1: each loss is 60
    loss = ag.softmax_cross_entropy(Tensor(logits), np.ones(rows, dtype=np.int64))
    assert loss.dtype == np.float16 and loss.item() == pytest.approx(60.0, rel=1e-3)


# ---- item 6: var with ddof >= n ------------------------------------------------------------------

@pytest.mark.parametrize("ddof", [2, 3, 10])
def test_var_with_ddof_at_least_n_is_inf_never_negative(ddof):
    assert Tensor([1.0, 2.0]).var(ddof=ddof).item() == np.inf
    assert ag.var(np.array([1.0, 2.0]), ddof=ddof) == np.inf


def test_var_over_an_empty_axis_is_nan_and_of_constant_data_with_ddof_n_is_nan():
    out = Tensor(np.zeros((0, 3), dtype=np.float32)).var(axis=0)
    assert out.shape == (3,) and np.isnan(out.data).all()
    assert np.isnan(Tensor([5.0, 5.0]).var(ddof=2).item())  # 0 / 0, as numpy


# ---- item 7: zero powers, NaN in max/maximum, empty max ------------------------------------------

def test_zero_to_a_tensor_zero_power_has_zero_gradient():
    x = Tensor([0.0, 0.0, 2.0], requires_grad=True)
    y = Tensor([0.0, 0.0, 0.0], requires_grad=True)
    (x ** y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])
    np.testing.assert_allclose(y.grad.data, [0.0, 0.0, np.log(2.0)])  # a ** b * log(a), 0 at 0


def test_maximum_and_minimum_propagate_nan_and_give_it_the_gradient():
    nan = np.nan
    for op in (ag.maximum, ag.minimum):
        a = Tensor([nan, 1.0, nan], requires_grad=True)
        b = Tensor([1.0, nan, nan], requires_grad=True)
        out = op(a, b)
        assert np.isnan(out.data).all()
        out.sum().backward()
        np.testing.assert_array_equal(a.grad.data, [1.0, 0.0, 0.5])
        np.testing.assert_array_equal(b.grad.data, [0.0, 1.0, 0.5])


def test_max_and_min_reductions_propagate_nan_and_give_it_the_gradient():
    for method in ("max", "min"):
        x = Tensor([[1.0, np.nan, 3.0], [1.0, 5.0, 5.0]], requires_grad=True)
        out = getattr(x, method)(axis=1)
        assert np.isnan(out.data[0]) and out.data[1] == (5.0 if method == "max" else 1.0)
        out.sum().backward()
        second = [0.0, 0.5, 0.5] if method == "max" else [1.0, 0.0, 0.0]
        np.testing.assert_array_equal(x.grad.data, [[0.0, 1.0, 0.0], second])


def test_max_over_a_nonempty_axis_of_an_empty_tensor_and_over_an_empty_axis():
    x = Tensor(np.zeros((0, 3), dtype=np.float32), requires_grad=True)
    out = x.max(axis=1)
    assert out.shape == (0,) and out.shape == np.zeros((0, 3)).max(axis=1).shape
    out.sum().backward()
    assert x.grad.shape == (0, 3)
    with pytest.raises(ShapeError, match=r"max: cannot reduce over axis 0 of size 0"):
        x.max(axis=0)
    with pytest.raises(ShapeError, match=r"min: cannot reduce over axis 0"):
        x.min()


# ---- friction ------------------------------------------------------------------------------------

def test_format_of_one_element_tensor_and_scalar():
    assert f"{Tensor(1.23456):.4f}" == "1.2346"
    assert f"{Tensor([[2.5]]):.1f}" == "2.5"
    assert f"{Scalar(1.23456):.2f}" == "1.23"
    assert f"{Tensor([1.0, 2.0])}" == str(Tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"shape \(2,\)"):
        f"{Tensor([1.0, 2.0]):.2f}"


@pytest.mark.parametrize("call", [
    lambda t, a: t.sum(axis=a), lambda t, a: t.mean(axis=a), lambda t, a: t.max(axis=a),
    lambda t, a: t.min(axis=a), lambda t, a: t.var(axis=a), lambda t, a: t.logsumexp(axis=a),
    lambda t, a: t.sum(axis=(a,)), lambda t, a: ag.concatenate([t, t], axis=a),
    lambda t, a: t.unsqueeze(a), lambda t, a: t.swapaxes(a, 1),
], ids=["sum", "mean", "max", "min", "var", "logsumexp", "sum-tuple", "concatenate",
        "unsqueeze", "swapaxes"])
def test_numpy_integer_axes_work_like_python_ints(call):
    data = np.arange(6.0).reshape(2, 3)
    with_numpy = call(Tensor(data), np.int64(0))
    with_int = call(Tensor(data), 0)
    np.testing.assert_array_equal(with_numpy.data, with_int.data)


def test_scalar_equality_truth_and_hash():
    a, b = Scalar(2.0), Scalar(2.0)
    assert a == b and not (a != b) and a != Scalar(3.0)
    assert a == 2.0 and a == np.float32(2.0)
    assert isinstance(a == b, bool)
    assert len({a, b}) == 2  # hashed by identity, as the engine's sets need
    assert bool(Scalar(0.0)) is False and bool(Scalar(-0.5)) is True
    # a graph using the same value twice, and two equal values, still differentiates right
    x, y = Scalar(3.0), Scalar(3.0)
    z = x * y + x
    z.backward()
    assert x.grad == 4.0 and y.grad == 3.0


@pytest.mark.parametrize("number", [np.float32(1.5), np.float64(1.5), np.int64(2)])
def test_scalar_accepts_numpy_numbers_as_constants(number):
    x = Scalar(3.0)
    y = x * number + number
    y.backward()
    assert y.data == 3.0 * float(number) + float(number) and x.grad == float(number)
    assert type(y.data) is float


def test_float32_tensor_with_numpy_scalar_stays_float32_but_arrays_promote():
    t = Tensor([1.0, 2.0], requires_grad=True)
    for other in (np.sqrt(2), np.float64(3.0), np.array(2.0)):
        for out in (t * other, other * t, t + other, t / other, t ** other, ag.maximum(t, other)):
            assert out.dtype == np.float32
    assert ag.clip(t, np.float64(0.5), np.float64(1.5)).dtype == np.float32
    assert ag.leaky_relu(t, np.float64(0.1)).dtype == np.float32
    assert (t * np.array([2.0, 2.0])).dtype == np.float64  # numpy's promotion for arrays


def test_grad_assignment_is_checked():
    t = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(ShapeError, match=r"shape \(2,\).*shape \(3,\)"):
        t.grad = np.ones(2)
    with pytest.raises(TypeError, match="got int 0"):
        t.grad = 0
    with pytest.raises(DTypeError, match="int64"):
        t.grad = np.ones(3, dtype=np.int64)
    assert t.grad is None  # refused values leave it unchanged
    t.grad = np.ones(3)  # a float64 array: converted to the tensor's dtype
    assert t.grad.dtype == np.float32 and t.grad.data.tolist() == [1.0, 1.0, 1.0]
    given = Tensor([4.0, 5.0, 6.0])
    t.grad = given
    assert t.grad is given
    t.grad = None
    assert t.grad is None
    s = Scalar(1.0)
    with pytest.raises(TypeError, match="real number"):
        s.grad = "x"
    s.grad = np.float32(2.0)
    assert s.grad == 2.0 and type(s.grad) is float


def test_register_hook_on_a_leaf_replaces_the_gradient_before_accumulation():
    x = Tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.data.copy()) or g * 10)
    (x * x).sum().backward()
    np.testing.assert_array_equal(seen[0], [2.0, 4.0])
    np.testing.assert_array_equal(x.grad.data, [20.0, 40.0])
    handle.remove()
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_register_hook_on_a_non_leaf_sees_the_complete_gradient_and_changes_what_flows_on():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    seen = []
    h.register_hook(lambda g: seen.append(g.data.copy()))  # returns None: keeps the gradient
    h.register_hook(lambda g: g * 0.5)
    h.retain_grad()
    (h * h + h).sum().backward()  # two uses of h: the hook sees their sum, 2h + 1
    np.testing.assert_array_equal(seen[0], [7.0, 13.0])
    np.testing.assert_array_equal(h.grad.data, [3.5, 6.5])  # retain_grad sees the hooked one
    np.testing.assert_array_equal(x.grad.data, [10.5, 19.5])


def test_register_hook_in_grad_and_with_create_graph():
    x = Tensor([3.0], requires_grad=True)
    x.register_hook(lambda g: g * 2)
    (gx,) = ag.grad((x ** 3).sum(), x, create_graph=True)  # 2 * 3x^2 = 54
    assert gx.item() == 54.0
    (gxx,) = ag.grad(gx.sum(), x)  # d(6x^2)/dx = 12x = 36, doubled by the hook: 72
    assert gxx.item() == 72.0


def test_register_hook_errors():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(BackwardError, match="does not require grad"):
        Tensor([1.0]).register_hook(lambda g: g)
    x.register_hook(lambda g: np.ones(3))
    with pytest.raises(ShapeError, match=r"register_hook: a hook returned a gradient of shape "
                                         r"\(3,\) for a tensor of shape \(2,\)"):
        (x * 2).sum().backward()
