"""Edge cases of the numeric ops (autograd_core/ops/numeric.py) that the property tests in
test_tensor_ops.py / test_scalar_ops.py keep away from: domain edges, ties, infinities, huge and
tiny values, zero gradients of rounding, and the bool-valued float tests. Expected values are
worked out by hand or with plain numpy/math."""

import math
import warnings

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import registry

NAN, INF = math.nan, math.inf


def T(data, requires_grad: bool = False) -> ag.Tensor:  # noqa: N802 - reads as a constructor
    """A float64 Tensor (Python floats alone would make float32, as in PyTorch)."""
    return ag.Tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


def _grad(f, x: float) -> float:
    """d f / d x at x, on a 0-d Tensor."""
    t = T(x, requires_grad=True)
    f(t).backward()
    return float(t.grad.data)


def _second(f, x: float) -> float:
    """d2 f / d x2 at x, through the recorded backward pass."""
    t = T(x, requires_grad=True)
    (g,) = ag.grad(f(t), [t], create_graph=True)
    (gg,) = ag.grad(g, [t])
    return float(gg.data)


def _scalar_grad(method: str, x: float, *args) -> tuple[float, float]:
    """(value, gradient) of ``Scalar(x).method(*args)``, through Scalar's own method."""
    s = ag.Scalar(x)
    out = getattr(s, method)(*args)
    out.backward()
    return out.data, s.grad


# ---- values and derivatives, by hand -----------------------------------------------------------

def test_trigonometry_values_and_derivatives_by_hand():
    assert float(ag.sin(T(math.pi / 6)).data) == pytest.approx(0.5, rel=1e-15)
    assert _grad(ag.sin, 0.0) == 1.0
    assert _grad(ag.cos, math.pi / 2) == pytest.approx(-1.0, rel=1e-15)
    assert _grad(ag.tan, math.pi / 4) == pytest.approx(2.0, rel=1e-14)  # 1 + tan**2
    assert _second(ag.tan, math.pi / 4) == pytest.approx(4.0, rel=1e-14)  # 2 tan (1 + tan**2)
    assert _second(ag.sin, 1.0) == pytest.approx(-math.sin(1.0), rel=1e-15)
    assert _grad(ag.arcsin, 0.6) == pytest.approx(1 / 0.8, rel=1e-15)
    assert _grad(ag.arccos, 0.6) == pytest.approx(-1 / 0.8, rel=1e-15)
    assert _second(ag.arcsin, 0.6) == pytest.approx(0.6 / 0.8 ** 3, rel=1e-14)
    assert _grad(ag.arctan, 2.0) == pytest.approx(0.2, rel=1e-15)


def test_hyperbolic_exp_log_values_and_derivatives_by_hand():
    assert _grad(ag.sinh, 0.0) == 1.0
    assert _grad(ag.cosh, 0.0) == 0.0
    assert _second(ag.cosh, 0.0) == 1.0
    assert _grad(ag.arcsinh, 0.75) == pytest.approx(0.8, rel=1e-15)  # 1 / sqrt(1 + 0.5625)
    assert _grad(ag.arctanh, 0.5) == pytest.approx(4 / 3, rel=1e-15)
    assert float(ag.exp2(T(10.0)).data) == 1024.0
    assert _grad(ag.exp2, 3.0) == pytest.approx(8 * math.log(2), rel=1e-15)
    assert float(ag.log2(T(1024.0)).data) == 10.0
    assert _grad(ag.log2, 4.0) == pytest.approx(1 / (4 * math.log(2)), rel=1e-15)
    assert float(ag.log10(T(1000.0)).data) == pytest.approx(3.0, rel=1e-15)
    assert _grad(ag.log10, 10.0) == pytest.approx(1 / (10 * math.log(10)), rel=1e-15)
    assert _grad(ag.log1p, 1.0) == 0.5
    assert _second(ag.log1p, 1.0) == -0.25
    assert _grad(ag.expm1, 0.0) == 1.0
    assert _grad(ag.square, -3.0) == -6.0
    assert _second(ag.square, -3.0) == 2.0


def test_small_arguments_keep_full_precision():
    """log1p and expm1 exist for tiny |x|, where log(1 + x) and exp(x) - 1 lose every digit."""
    tiny = 1e-17
    assert float(ag.log1p(T(tiny)).data) == tiny
    assert float(ag.expm1(T(tiny)).data) == tiny
    assert ag.log1p(tiny) == tiny and ag.expm1(tiny) == tiny  # plain floats, through math


def test_expm1_gradient_far_below_zero_is_exp_not_zero():
    """d expm1 / dx = exp(x): computed as out + 1 it would round to 0 below about x = -37."""
    assert _grad(ag.expm1, -50.0) == pytest.approx(math.exp(-50.0), rel=1e-15)
    assert _scalar_grad("expm1", -50.0)[1] == pytest.approx(math.exp(-50.0), rel=1e-15)


# ---- softplus ----------------------------------------------------------------------------------

def test_softplus_is_stable_for_large_and_very_negative_inputs():
    """log(1 + exp(x)) computed naively overflows at x = 1000 and loses all precision at -40
    (1 + e**-40 rounds to 1). The gradient is sigmoid(x)."""
    x = T([-1000.0, -40.0, 0.0, 40.0, 1000.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        out = ag.softplus(x)
        out.backward(np.ones(5))
    expected = [0.0, math.exp(-40.0), math.log(2.0), 40.0, 1000.0]
    np.testing.assert_allclose(out.data, expected, rtol=1e-15, atol=0)
    sigmoid = [0.0, math.exp(-40.0) / (1 + math.exp(-40.0)), 0.5, 1 / (1 + math.exp(-40.0)), 1.0]
    np.testing.assert_allclose(x.grad.data, sigmoid, rtol=1e-15, atol=0)
    for value, want in zip([-1000.0, -40.0, 1000.0], [0.0, math.exp(-40.0), 1000.0]):
        assert ag.Scalar(value).softplus().data == pytest.approx(want, rel=1e-15, abs=0)


def test_softplus_second_derivative_is_the_sigmoids_slope():
    s = 1 / (1 + math.exp(-1.5))
    assert _second(ag.softplus, 1.5) == pytest.approx(s * (1 - s), rel=1e-14)


# ---- domain edges: numpy's inf and nan, PyTorch's gradients ------------------------------------

def test_inverse_functions_at_and_beyond_their_domain_edges():
    """At +-1 the slope of arcsin/arccos/arctanh is infinite (inf, as PyTorch's gradient);
    beyond the domain the value is nan, on Scalars as well (math would raise ValueError)."""
    with np.errstate(all="ignore"):
        x = T([-1.0, 1.0], requires_grad=True)
        ag.arcsin(x).backward(np.ones(2))
        np.testing.assert_array_equal(x.grad.data, [INF, INF])
        x.grad = None
        ag.arccos(x).backward(np.ones(2))
        np.testing.assert_array_equal(x.grad.data, [-INF, -INF])
        x.grad = None
        out = ag.arctanh(x)
        out.backward(np.ones(2))
        np.testing.assert_array_equal(out.data, [-INF, INF])
        np.testing.assert_array_equal(x.grad.data, [INF, INF])
        assert np.isnan(ag.arcsin(T([2.0])).data).all()
    assert math.isnan(ag.Scalar(2.0).arcsin().data)
    assert math.isnan(ag.Scalar(-1.5).arccos().data)
    assert ag.Scalar(1.0).arctanh().data == INF
    assert math.isnan(ag.Scalar(2.0).arctanh().data)
    assert ag.Scalar(0.0).log2().data == -INF
    assert ag.Scalar(0.0).log10().data == -INF
    assert ag.Scalar(-1.0).log1p().data == -INF
    assert math.isnan(ag.Scalar(-2.0).log1p().data)
    assert ag.Scalar(2000.0).exp2().data == INF  # math.pow raises OverflowError
    assert ag.Scalar(1000.0).cosh().data == INF


def test_arctan2_quadrants_and_signed_zeros_as_numpy():
    y = [1.0, 1.0, -1.0, 0.0, -0.0]
    x = [1.0, -1.0, -1.0, -1.0, -1.0]
    expected = np.arctan2(y, x)  # pi/4, 3pi/4, -3pi/4, pi, -pi
    np.testing.assert_array_equal(ag.arctan2(T(y), T(x)).data, expected)
    for yi, xi, want in zip(y, x, expected):
        assert ag.Scalar(yi).arctan2(xi).data == want
    np.testing.assert_allclose(expected, [math.pi / 4, 3 * math.pi / 4, -3 * math.pi / 4,
                                          math.pi, -math.pi], rtol=1e-15)


def test_arctan2_gradient_by_hand_and_for_tiny_values():
    """d/dy = x / r**2 and d/dx = -y / r**2; computed through hypot, they stay finite where
    x*x + y*y underflows to 0."""
    y = T([3.0, 1e-170], requires_grad=True)
    x = T([4.0, 1e-170], requires_grad=True)
    ag.arctan2(y, x).backward(np.ones(2))
    np.testing.assert_allclose(y.grad.data, [4 / 25, 0.5e170], rtol=1e-14)
    np.testing.assert_allclose(x.grad.data, [-3 / 25, -0.5e170], rtol=1e-14)


def test_hypot_has_no_overflow_and_a_nan_gradient_at_the_origin():
    """hypot(1e200, 1e200) is finite (its squares are not); at (0, 0) the gradient a / hypot is
    0 / 0 = nan, as PyTorch's."""
    a = T([3.0, 1e200, 0.0], requires_grad=True)
    b = T([4.0, 1e200, 0.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        out = ag.hypot(a, b)
        out.backward(np.ones(3))
    np.testing.assert_allclose(out.data, [5.0, math.sqrt(2) * 1e200, 0.0], rtol=1e-15)
    np.testing.assert_allclose(a.grad.data[:2], [0.6, 1 / math.sqrt(2)], rtol=1e-15)
    np.testing.assert_allclose(b.grad.data[:2], [0.8, 1 / math.sqrt(2)], rtol=1e-15)
    assert math.isnan(a.grad.data[2]) and math.isnan(b.grad.data[2])
    assert _scalar_grad("hypot", 3.0, 4.0) == (5.0, 0.6)


def test_arcsinh_gradient_for_huge_inputs_does_not_vanish():
    """1 / sqrt(1 + x**2) with x = 1e200: x**2 overflows and would give 0, not 1e-200."""
    assert _grad(ag.arcsinh, 1e200) == pytest.approx(1e-200, rel=1e-15)
    assert _grad(ag.arcsinh, -1e200) == pytest.approx(1e-200, rel=1e-15)


# ---- rounding ----------------------------------------------------------------------------------

HALVES = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]


def test_round_takes_halves_to_even_on_tensors_and_scalars():
    expected = [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0]
    out = ag.round(T(HALVES))
    np.testing.assert_array_equal(out.data, expected)
    np.testing.assert_array_equal(np.signbit(out.data), np.signbit(expected))
    for x, want in zip(HALVES, expected):
        got = ag.Scalar(x).round().data
        assert got == want and math.copysign(1, got) == math.copysign(1, want), (x, got)
        assert ag.round(x) == want  # a plain float


def test_round_to_decimals_as_numpy():
    x = [1.2345, -5.678, 0.25, 151.0]
    for decimals in (-1, 1, 2):
        np.testing.assert_array_equal(T(x).round(decimals=decimals).data,
                                      np.round(x, decimals))
        for value in x:
            assert ag.Scalar(value).round(decimals=decimals).data == \
                float(np.round(value, decimals))
    assert ag.Scalar(0.25).round(decimals=1).data == 0.2  # 2.5 to even


def test_floor_and_ceil_keep_the_sign_of_zero_and_pass_inf_and_nan():
    """As numpy: floor(-0.0), ceil(-0.5) are -0.0; inf and nan come back unchanged on Scalars
    (math.floor would raise)."""
    values = [-0.0, -0.5, 0.5, 1.0, -1.0, INF, -INF, NAN]
    for op in ("floor", "ceil", "round"):
        expected = getattr(np, op)(np.array(values))
        tensor = getattr(ag, op)(T(values)).data
        np.testing.assert_array_equal(tensor, expected)
        np.testing.assert_array_equal(np.signbit(tensor), np.signbit(expected))
        for x, want in zip(values, expected):
            got = getattr(ag.Scalar(x), op)().data
            assert got == want or (math.isnan(got) and math.isnan(want)), (op, x, got)
            assert math.copysign(1, got) == math.copysign(1, want), (op, x, got)


@pytest.mark.parametrize("op", ["floor", "ceil", "round"])
def test_rounding_has_zero_gradient_and_stays_in_the_graph(op):
    """As PyTorch: the rounded value requires grad with gradient 0 (also at the jumps), so
    x - floor(x) passes gradient 1 to x, on Tensors and Scalars."""
    x = T([0.3, -1.7, 2.0, 2.5], requires_grad=True)
    rounded = getattr(x, op)()
    assert rounded.requires_grad
    (x - rounded).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0, 1.0, 1.0])
    assert _grad(lambda t: getattr(ag, op)(t), 2.0) == 0.0
    assert _second(lambda t: getattr(ag, op)(t) * t, 2.7) == 0.0  # d2/dx2 (c x) with c = op(x)
    assert _scalar_grad(op, 2.5) == (getattr(np, op)(2.5), 0.0)
    s = ag.Scalar(-1.25)
    (s - getattr(s, op)()).backward()
    assert s.grad == 1.0


# ---- float tests -------------------------------------------------------------------------------

def test_float_tests_on_tensors_scalars_floats_and_arrays():
    values = [0.0, -1.5, INF, -INF, NAN]
    t = T(values, requires_grad=True)
    for name, expected in (("isnan", [False, False, False, False, True]),
                           ("isinf", [False, False, True, True, False]),
                           ("isfinite", [True, True, False, False, False])):
        op = getattr(ag, name)
        out = getattr(t, name)()
        assert isinstance(out, ag.Tensor) and out.dtype == np.bool_
        assert not out.requires_grad
        np.testing.assert_array_equal(out.data, expected)
        np.testing.assert_array_equal(op(np.array(values)), expected)
        for value, want in zip(values, expected):
            assert op(ag.Scalar(value)) is want  # a bool, as Scalar's comparisons
            assert op(value) is want


def test_isclose_uses_numpys_asymmetric_test_and_flags():
    """|a - b| <= atol + rtol * |b|: 1 <= 0.095 * 11 holds, 1 <= 0.095 * 10 does not."""
    a = T([11.0, 10.0, INF, NAN, 1.0], requires_grad=True)
    b = T([10.0, 11.0, INF, NAN, 1.0 + 1e-9])
    out = ag.isclose(a, b, rtol=0.095, atol=0.0)
    assert isinstance(out, ag.Tensor) and not out.requires_grad
    np.testing.assert_array_equal(out.data, [False, True, True, False, True])
    np.testing.assert_array_equal(a.isclose(b, equal_nan=True).data,
                                  [False, False, True, True, True])
    np.testing.assert_array_equal(ag.isclose(a, 1.0).data, [False, False, False, False, True])
    np.testing.assert_array_equal(ag.isclose(1.0, b).data, [False, False, False, False, True])
    assert ag.isclose(ag.Scalar(1.0), 1.0 + 1e-9) is True
    assert ag.isclose(ag.Scalar(1.0), ag.Scalar(1.1)) is False
    assert ag.isclose(1.0, 2.0) is False


# ---- one declaration: methods, Scalar operators, numpy entries ----------------------------------

def test_scalar_methods_record_and_differentiate():
    for method, x, value, grad in (("sin", 0.5, math.sin(0.5), math.cos(0.5)),
                                   ("cos", 0.5, math.cos(0.5), -math.sin(0.5)),
                                   ("log2", 8.0, 3.0, 1 / (8 * math.log(2))),
                                   ("square", -1.5, 2.25, -3.0)):
        got_value, got_grad = _scalar_grad(method, x)
        assert got_value == pytest.approx(value, rel=1e-15)
        assert got_grad == pytest.approx(grad, rel=1e-15)
    y = ag.Scalar(1.0)
    x = ag.Scalar(1.0)
    y.arctan2(x).backward()
    assert y.grad == pytest.approx(0.5, rel=1e-15)
    assert x.grad == pytest.approx(-0.5, rel=1e-15)


def test_numpy_functions_are_declared_for_the_ops():
    """The numpy functions that run these ops on Tensors (np.round and np.around alike)."""
    for np_func, op in ((np.sin, ag.sin), (np.arctan2, ag.arctan2), (np.hypot, ag.hypot),
                        (np.log1p, ag.log1p), (np.square, ag.square), (np.round, ag.round),
                        (np.around, ag.round), (np.floor, ag.floor), (np.isnan, ag.isnan),
                        (np.isclose, ag.isclose)):
        assert registry.NUMPY[np_func] is op
    assert registry.OPS["floor"].kind == "primitive" and registry.OPS["floor"].scalar
    assert registry.OPS["isnan"].kind == "untracked"
