"""``jacobian`` and ``hvp`` against closed-form derivatives, and ``jacobian`` against central
differences on random composite functions."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_core as ag
from autograd_core import ShapeError, Tensor
from autograd_core.testing import shapes, tensors

RNG = np.random.default_rng(1234)
A34 = RNG.standard_normal((3, 4))
A33 = RNG.standard_normal((3, 3))


def leaf(values):
    return Tensor(np.array(values, dtype=np.float64), requires_grad=True)


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


# ---- jacobian -----------------------------------------------------------------------------------

def test_jacobian_of_an_elementwise_function_is_diagonal():
    x = np.array([0.3, -1.2, 2.0])
    jac = ag.jacobian(lambda t: t.tanh() * 2, Tensor(x))
    np.testing.assert_allclose(jac.data, np.diag(2 * (1 - np.tanh(x) ** 2)), rtol=1e-12)


def test_jacobian_of_a_matrix_vector_product_is_the_matrix():
    jac = ag.jacobian(lambda t: Tensor(A34) @ t, Tensor(np.array([1.0, -2.0, 0.5, 3.0])))
    assert jac.shape == (3, 4)
    np.testing.assert_allclose(jac.data, A34, rtol=1e-12)


def test_jacobian_of_a_matrix_product_has_shape_out_shape_plus_x_shape():
    x = RNG.standard_normal((4, 2))
    jac = ag.jacobian(lambda t: Tensor(A34) @ t, Tensor(x))
    assert jac.shape == (3, 2) + (4, 2)
    # out[i, j] = sum_k A[i, k] x[k, j]  =>  d out[i, j] / d x[k, l] = A[i, k] * (j == l)
    np.testing.assert_allclose(jac.data, np.einsum("ik,jl->ijkl", A34, np.eye(2)), rtol=1e-12)


def test_jacobian_of_softmax_is_diag_s_minus_outer_s_s():
    x = np.array([0.5, -1.0, 2.0, 0.1])
    jac = ag.jacobian(lambda t: t.exp() / t.exp().sum(), Tensor(x))
    s = softmax(x)
    np.testing.assert_allclose(jac.data, np.diag(s) - np.outer(s, s), rtol=1e-10, atol=1e-14)


def test_jacobian_of_a_single_valued_function_is_its_gradient():
    x = np.array([[1.0, 2.0], [-0.5, 0.25]])
    jac = ag.jacobian(lambda t: (t ** 3).sum(), Tensor(x))
    assert jac.shape == (2, 2)
    np.testing.assert_allclose(jac.data, 3 * x ** 2, rtol=1e-12)


def test_jacobian_of_a_function_ignoring_x_is_zeros_of_the_right_shape():
    jac = ag.jacobian(lambda t: Tensor(np.ones((2, 3))), Tensor(np.array([1.0, 2.0])))
    assert jac.shape == (2, 3, 2)
    np.testing.assert_array_equal(jac.data, 0.0)


def test_jacobian_accepts_a_plain_numpy_array():
    x = np.array([1.0, 3.0])
    np.testing.assert_allclose(ag.jacobian(lambda t: t * t, x).data, np.diag(2 * x))


def test_jacobian_leaves_x_and_its_grad_alone():
    x = leaf([0.5, -1.5])
    before = x.data.copy()
    ag.jacobian(lambda t: (t * t).exp(), x)
    np.testing.assert_array_equal(x.data, before)
    assert x.grad is None and x.requires_grad and x.is_leaf
    y = Tensor(np.array([1.0, 2.0]))
    ag.jacobian(lambda t: t * 3, y)
    assert not y.requires_grad and y.grad is None


def _central_difference_jacobian(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    out_shape = f(Tensor(x)).shape
    jac = np.zeros(out_shape + x.shape)
    for index in np.ndindex(*x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += eps
        minus[index] -= eps
        jac[(...,) + index] = (f(Tensor(plus)).data - f(Tensor(minus)).data) / (2 * eps)
    return jac


@given(x=tensors(shape=shapes(min_dims=1, max_dims=2, max_side=3), elements=(-2.0, 2.0),
                 requires_grad=False),
       seed=st.integers(0, 2**16))
def test_jacobian_matches_central_differences_on_a_random_composite_function(x, seed):
    rng = np.random.default_rng(seed)
    w = Tensor(rng.standard_normal((2, x.shape[0])))
    c = Tensor(rng.standard_normal(x.shape))

    def f(t):
        mixed = (w @ t).tanh()                      # (2,) or (2, n)
        return mixed.sum(axis=0) * (t * c).sigmoid().sum() + ag.logsumexp(t * t, axis=0)

    jac = ag.jacobian(f, x)
    np.testing.assert_allclose(jac.data, _central_difference_jacobian(f, x.data),
                               rtol=1e-5, atol=1e-7)


# ---- hvp ----------------------------------------------------------------------------------------

def test_hvp_of_a_quadratic_form_is_a_plus_a_transpose_times_v():
    x, v = np.array([1.0, -2.0, 0.5]), np.array([0.3, 1.0, -1.0])
    value, hv = ag.hvp(lambda t: (t * (Tensor(A33) @ t)).sum(), Tensor(x), Tensor(v))
    np.testing.assert_allclose(value.item(), x @ A33 @ x, rtol=1e-12)
    np.testing.assert_allclose(hv.data, (A33 + A33.T) @ v, rtol=1e-12)


def test_hvp_of_sum_of_cubes_is_six_x_times_v():
    x, v = np.array([[1.0, 2.0], [-0.5, 3.0]]), np.array([[1.0, -1.0], [2.0, 0.5]])
    value, hv = ag.hvp(lambda t: (t ** 3).sum(), Tensor(x), Tensor(v))
    np.testing.assert_allclose(value.item(), (x ** 3).sum(), rtol=1e-12)
    np.testing.assert_allclose(hv.data, 6 * x * v, rtol=1e-12)


def test_hvp_of_logsumexp_is_the_softmax_covariance_times_v():
    x, v = np.array([0.5, -1.0, 2.0, 0.1]), np.array([1.0, 0.0, -2.0, 0.5])
    value, hv = ag.hvp(ag.logsumexp, Tensor(x), Tensor(v))
    s = softmax(x)
    np.testing.assert_allclose(value.item(), np.log(np.exp(x).sum()), rtol=1e-12)
    np.testing.assert_allclose(hv.data, (np.diag(s) - np.outer(s, s)) @ v, rtol=1e-10)


def test_hvp_value_is_detached():
    value, hv = ag.hvp(lambda t: (t ** 3).sum(), leaf([1.0, 2.0]), Tensor(np.ones(2)))
    assert not value.requires_grad and not hv.requires_grad


def test_hvp_of_a_linear_function_is_zero():
    value, hv = ag.hvp(lambda t: (t * 3).sum(), Tensor(np.array([1.0, 2.0])),
                       Tensor(np.ones(2)))
    assert value.item() == pytest.approx(9.0)
    np.testing.assert_array_equal(hv.data, [0.0, 0.0])


def test_hvp_of_a_function_ignoring_x_is_zero():
    value, hv = ag.hvp(lambda t: Tensor(np.array(5.0)), Tensor(np.array([1.0, 2.0])),
                       Tensor(np.ones(2)))
    assert value.item() == 5.0
    np.testing.assert_array_equal(hv.data, [0.0, 0.0])


@pytest.mark.parametrize("make_v", [Tensor, np.asarray, list], ids=["Tensor", "ndarray", "list"])
def test_hvp_accepts_v_as_a_tensor_an_array_or_a_list(make_v):
    x = np.array([1.0, 2.0])
    _, hv = ag.hvp(lambda t: (t ** 3).sum(), Tensor(x), make_v([1.0, -1.0]))
    np.testing.assert_allclose(hv.data, [6.0, -12.0])


def test_hvp_rejects_v_of_a_different_shape_than_x():
    with pytest.raises(ShapeError, match=r"v has shape \(3,\) but x has shape \(2,\)"):
        ag.hvp(lambda t: (t * t).sum(), Tensor(np.ones(2)), Tensor(np.ones(3)))


def test_hvp_rejects_a_function_with_more_than_one_output_value():
    with pytest.raises(ShapeError, match=r"f must return a single value, got shape \(2,\)"):
        ag.hvp(lambda t: t * t, Tensor(np.ones(2)), Tensor(np.ones(2)))


def test_hvp_leaves_x_and_its_grad_alone():
    x = leaf([0.5, -1.5])
    before = x.data.copy()
    ag.hvp(lambda t: (t ** 3).sum(), x, Tensor(np.ones(2)))
    np.testing.assert_array_equal(x.data, before)
    assert x.grad is None and x.requires_grad and x.is_leaf
