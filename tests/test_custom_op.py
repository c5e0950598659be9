"""ag.custom_op: a numpy function made differentiable by a vjp (and jvp) written in ops."""

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import BackwardError, GradcheckError, Tensor, func, registry


def _sinc_vjp(grad, out, x):
    # d/dx sin(pi x) / (pi x) = (cos(pi x) - sinc(x)) / x
    return grad * (ag.cos(np.pi * x) - out) / x


@ag.custom_op(vjp=_sinc_vjp, check=True)
def sinc(x):
    """np.sinc, made differentiable."""
    return np.sinc(x)


def _dsinc(x):
    return (np.cos(np.pi * x) - np.sinc(x)) / x


def _d2sinc(x):
    return (-np.pi * np.sin(np.pi * x) - _dsinc(x)) / x - (np.cos(np.pi * x) - np.sinc(x)) / x**2


X = np.array([0.3, -1.7, 2.2])


def test_a_custom_op_records_and_differentiates_to_second_order():
    x = Tensor(X, requires_grad=True)
    y = sinc(x)
    np.testing.assert_allclose(y.data, np.sinc(X), rtol=1e-15)
    (g,) = ag.grad(y.sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, _dsinc(X), rtol=1e-12)
    (h,) = ag.grad(g.sum(), x)
    np.testing.assert_allclose(h.data, _d2sinc(X), rtol=1e-9)
    assert ag.gradgradcheck(sinc, [Tensor(X, requires_grad=True)])


def test_a_custom_op_on_arrays_is_the_plain_function_and_stays_out_of_the_registry():
    np.testing.assert_array_equal(sinc(X), np.sinc(X))
    assert "sinc" not in registry.OPS
    assert sinc.__doc__ == "np.sinc, made differentiable."


def test_forward_mode_derives_from_the_vjp_or_uses_the_given_jvp():
    v = np.array([1.0, 2.0, -1.0])
    _, tangent = func.jvp(sinc, (X,), (v,))
    np.testing.assert_allclose(tangent.data, _dsinc(X) * v, rtol=1e-12)
    used = []

    def jvp(tangents, out, x):
        used.append(True)
        return tangents[0] * (ag.cos(np.pi * x) - out) / x

    with_jvp = ag.custom_op(np.sinc, vjp=_sinc_vjp, jvp=jvp, check=True)
    _, tangent = func.jvp(with_jvp, (X,), (v,))
    np.testing.assert_allclose(tangent.data, _dsinc(X) * v, rtol=1e-12)
    assert used
    np.testing.assert_allclose(func.jacfwd(with_jvp)(X).data, np.diag(_dsinc(X)), rtol=1e-12)


def test_check_catches_a_wrong_vjp_on_the_first_call():
    wrong = ag.custom_op(np.sinc, vjp=lambda g, out, x: g * ag.cos(np.pi * x), check=True)
    with pytest.raises(GradcheckError, match=r"custom_op sinc: its vjp disagrees with central "
                                             r"differences for input 0 at index"):
        wrong(Tensor(X, requires_grad=True))


def test_check_catches_a_wrong_jvp():
    wrong = ag.custom_op(np.sinc, vjp=_sinc_vjp, jvp=lambda t, out, x: t[0] * out, check=True)
    with pytest.raises(GradcheckError, match="custom_op sinc: its jvp disagrees"):
        wrong(Tensor(X, requires_grad=True))


def test_a_function_without_rules_raises_when_differentiated():
    bare = ag.custom_op(np.sinc)
    y = bare(Tensor(X, requires_grad=True))
    np.testing.assert_array_equal(y.data, np.sinc(X))
    with pytest.raises(BackwardError, match="custom_op sinc: no vjp rule was given"):
        y.sum().backward()
    with pytest.raises(TypeError, match=r"np.sinc is not supported on Tensors.*ag.custom_op"):
        np.sinc(Tensor(X, requires_grad=True))


def test_a_vjp_returning_the_wrong_number_of_gradients_is_named():
    two = ag.custom_op(np.hypot, vjp=lambda g, out, a, b: g * a / out)
    a, b = Tensor(X, requires_grad=True), Tensor(X + 1, requires_grad=True)
    with pytest.raises(BackwardError, match=r"custom_op hypot: vjp returned 1 gradient\(s\) "
                                            r"for 2 input\(s\)"):
        two(a, b).sum().backward()
