"""Linear algebra and special functions beyond the property checks of op_specs.LINALG_SPECS:
errors for bad matrices and shapes, numpy.linalg dispatch, batching against a loop of numpy
calls, the conventions at kinks (norm at 0, degenerate eigenvalues, the triangle read), and the
accuracy of the pure-numpy erf/erfc."""

import math
import sys

import numpy as np
import pytest

import autograd_core as ag
from autograd_core.ops.decompositions import Cholesky, Solve

RNG = np.random.default_rng(0)


def _leaf(data):
    return ag.Tensor(np.asarray(data, dtype=np.float64), requires_grad=True)


def _spd(*batch, n=3):
    x = RNG.normal(size=batch + (n, n))
    return x @ np.swapaxes(x, -1, -2) + n * np.eye(n)


def _numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at the array x."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += eps
        down[index] -= eps
        grad[index] = (f(up) - f(down)) / (2 * eps)
    return grad


# ---- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, op, data, says", [
    ("inv", ag.linalg.inv, np.array([[1.0, 2.0], [2.0, 4.0]]), "singular"),
    ("solve", lambda a: ag.linalg.solve(a, np.ones(2)), np.zeros((2, 2)), "singular"),
    ("solve_triangular", lambda a: ag.linalg.solve_triangular(a, np.ones(2), lower=True),
     np.array([[0.0, 5.0], [1.0, 1.0]]), "singular"),
    ("cholesky", ag.linalg.cholesky, np.array([[1.0, 2.0], [2.0, 1.0]]),
     "not positive definite"),
    ("cholesky", ag.linalg.cholesky, -np.eye(3)[None].repeat(2, 0), "not positive definite"),
])
def test_bad_matrices_raise_linalg_error_naming_op_and_shape(name, op, data, says):
    """numpy's LinAlgError, re-raised with the op, the input's shape and what is wrong; on a
    Tensor too (the Tensor front end must not relabel it a shape error)."""
    for value in (data, _leaf(data)):
        with pytest.raises(np.linalg.LinAlgError) as info:
            op(value)
        message = str(info.value)
        assert message.startswith(f"{name}: ") and says in message
        assert f"shape {data.shape}" in message


@pytest.mark.parametrize("op", [ag.linalg.inv, ag.linalg.det, ag.linalg.cholesky,
                                ag.linalg.eigh, ag.linalg.slogdet,
                                lambda a: ag.linalg.solve(a, np.ones(2))])
def test_non_square_matrices_are_refused(op):
    with pytest.raises(ag.ShapeError, match=r"square matrices .*\(2, 3\)"):
        op(_leaf(np.ones((2, 3))))


def test_mismatched_right_hand_sides_are_refused():
    a = _leaf(np.eye(3))
    with pytest.raises(ag.ShapeError, match=r"solve: a of shape \(3, 3\) and b of shape \(4,\)"):
        ag.linalg.solve(a, np.ones(4))
    with pytest.raises(ag.ShapeError, match=r"\(3, 3\) and b of shape \(2, 2\)"):
        ag.linalg.solve(a, np.ones((2, 2)))
    with pytest.raises(ag.ShapeError, match="batch dimensions"):
        ag.linalg.solve(_leaf(np.eye(3)[None].repeat(2, 0)), np.ones((3, 3, 1)))
    with pytest.raises(ag.ShapeError, match="solve_triangular"):
        ag.linalg.solve_triangular(a, np.ones(2))


def test_unsupported_orders_and_modes_say_what_is_supported():
    x = _leaf(RNG.normal(size=(3, 2)))
    with pytest.raises(ValueError, match="full_matrices=False"):
        ag.linalg.svd(x)  # numpy's default on a non-square matrix: extra vectors not unique
    with pytest.raises(ValueError, match="'reduced'"):
        ag.linalg.qr(x, mode="complete")
    with pytest.raises(ValueError, match="vector ord=3"):
        ag.linalg.norm(x, ord=3, axis=0)
    with pytest.raises(ValueError, match="ord=2 over axes"):
        ag.linalg.norm(x, ord=2, axis=(0, 1))
    with pytest.raises(TypeError, match="polygamma: n must be"):
        ag.polygamma(1.5, x)


# ---- numpy dispatch and the namespace -----------------------------------------------------------

def test_numpy_linalg_functions_run_the_recorded_ops():
    a, b = _leaf(_spd()), _leaf(RNG.normal(size=(3, 2)))
    x = np.linalg.solve(a, b)
    assert isinstance(x.grad_fn, Solve)
    assert isinstance(np.linalg.cholesky(a).grad_fn, Cholesky)
    (x ** 2).sum().backward()
    expected = _numeric_grad(lambda d: (np.linalg.solve(d, b.data) ** 2).sum(), a.data)
    np.testing.assert_allclose(a.grad.data, expected, rtol=1e-6, atol=1e-8)
    sign, logabsdet = np.linalg.slogdet(a)
    assert not sign.requires_grad and logabsdet.requires_grad
    assert np.linalg.eigh(a).eigenvalues.requires_grad
    assert np.linalg.svd(a, compute_uv=False).requires_grad
    assert np.linalg.qr(a).R.requires_grad
    assert np.linalg.norm(a, "fro").requires_grad and np.kron(a, a).shape == (9, 9)
    np.testing.assert_allclose(np.linalg.det(a).data, np.linalg.det(a.data))
    np.testing.assert_allclose(np.linalg.inv(a).data, np.linalg.inv(a.data))


def test_linalg_trace_and_diagonal_use_the_last_two_axes_like_numpy_linalg():
    x = RNG.normal(size=(2, 3, 3))
    np.testing.assert_allclose(ag.linalg.trace(_leaf(x), 1).data, np.linalg.trace(x, offset=1))
    np.testing.assert_allclose(ag.linalg.diagonal(_leaf(x)).data, np.linalg.diagonal(x))
    np.testing.assert_allclose(ag.linalg.outer(_leaf(x[0, 0]), x[1, 1]).data,
                               np.outer(x[0, 0], x[1, 1]))


# ---- batching -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["inv", "det", "cholesky", "slogdet", "eigh", "svd", "qr"])
def test_batched_results_equal_a_loop_of_numpy_calls(name):
    a = _spd(2, 3)  # batch (2, 3) of 3 x 3 matrices
    ours = getattr(ag.linalg, name)(_leaf(a))
    ours = ours if isinstance(ours, tuple) else (ours,)
    for index in np.ndindex(2, 3):
        theirs = getattr(np.linalg, name)(a[index])
        theirs = theirs if isinstance(theirs, tuple) else (theirs,)
        for mine, reference in zip(ours, theirs):
            np.testing.assert_allclose(mine.data[index], reference, rtol=1e-12, atol=1e-12)


def test_solve_broadcasts_batches_and_sums_the_matrix_gradient():
    """One matrix against a batch of right-hand sides: a's gradient is the sum over the batch."""
    a_data, b_data = _spd(), RNG.normal(size=(4, 3, 2))
    a = _leaf(a_data)
    ag.linalg.solve(a, b_data).sum().backward()
    expected = _numeric_grad(lambda d: np.linalg.solve(d, b_data).sum(), a_data)
    assert a.grad.shape == (3, 3)
    np.testing.assert_allclose(a.grad.data, expected, rtol=1e-6, atol=1e-8)


def test_a_vector_right_hand_side_against_a_batch_of_matrices():
    a_data, b_data = _spd(2), RNG.normal(size=3)
    a, b = _leaf(a_data), _leaf(b_data)
    assert ag.gradgradcheck(ag.linalg.solve, (a, b))
    x = ag.linalg.solve(a, b)
    assert x.shape == (2, 3)


# ---- conventions --------------------------------------------------------------------------------

def test_cholesky_reads_one_triangle_and_gives_the_other_no_gradient():
    a_data = _spd()
    for upper in (False, True):
        a = _leaf(a_data)
        factor = ag.linalg.cholesky(a, upper=upper)
        np.testing.assert_allclose(factor.data, np.linalg.cholesky(a_data, upper=upper))
        (factor * RNG.normal(size=(3, 3))).sum().backward()
        unread = np.tril(a.grad.data, -1) if upper else np.triu(a.grad.data, 1)
        assert np.all(unread == 0)
        assert ag.gradgradcheck(lambda t, u=upper: ag.linalg.cholesky(t, upper=u), (_leaf(a_data),))


def test_symmetric_parameters_get_the_same_gradient_under_either_convention():
    """A covariance built symmetric from parameters: d log det / d theta by central
    differences, whichever triangle the factorisation reads."""
    base, direction = _spd(), np.ones((3, 3)) + np.eye(3)

    def logdet(theta):
        return 2 * np.log(np.diag(np.linalg.cholesky(base + theta * direction))).sum()

    theta = _leaf(0.3)
    factor = ag.linalg.cholesky(base + theta * direction)
    (2 * ag.log(ag.linalg.diagonal(factor)).sum()).backward()
    expected = (logdet(0.3 + 1e-6) - logdet(0.3 - 1e-6)) / 2e-6
    np.testing.assert_allclose(theta.grad.data, expected, rtol=1e-7)


def test_degenerate_eigenvalues_give_non_finite_eigenvector_gradients_only():
    """As PyTorch: with a repeated eigenvalue the eigenvectors are not unique and their
    gradient is inf/nan; the eigenvalues' gradient stays finite."""
    a = _leaf(np.diag([1.0, 1.0, 2.0]))
    w, v = ag.linalg.eigh(a)
    w.sum().backward()  # the trace: smooth even here
    np.testing.assert_allclose(a.grad.data, np.eye(3))
    a.grad = None
    w, v = ag.linalg.eigh(a)
    (w * np.array([1.0, 2.0, 3.0])).sum().backward()  # finite: for numpy's eigenvectors
    np.testing.assert_allclose(a.grad.data, np.diag([1.0, 2.0, 3.0]))
    a.grad = None
    w, v = ag.linalg.eigh(a)
    with np.errstate(invalid="ignore"):  # inf * 0 inside: numpy's warning, as intended
        (v * np.arange(9.0).reshape(3, 3)).sum().backward()
    assert not np.all(np.isfinite(a.grad.data))


def test_norm_at_zero_has_gradient_zero_to_second_order():
    x = _leaf(np.zeros(3))
    (g,) = ag.grad(ag.linalg.norm(x), [x], create_graph=True)
    np.testing.assert_array_equal(g.data, 0.0)
    (gg,) = ag.grad(g.sum(), [x], allow_unused=True)
    assert gg is None or np.all(gg.data == 0)
    rows = _leaf(np.array([[0.0, 0.0], [3.0, 4.0]]))
    ag.linalg.norm(rows, axis=1).sum().backward()
    np.testing.assert_allclose(rows.grad.data, [[0.0, 0.0], [0.6, 0.8]])


def test_svd_values_only_and_qr_r_only():
    x = RNG.normal(size=(2, 4, 3))
    np.testing.assert_allclose(ag.linalg.svd(_leaf(x), compute_uv=False).data,
                               np.linalg.svd(x, compute_uv=False))
    np.testing.assert_allclose(ag.linalg.qr(_leaf(x), mode="r").data, np.linalg.qr(x, mode="r"))
    assert ag.gradgradcheck(lambda t: ag.linalg.norm(t, "nuc", axis=(1, 2)), (_leaf(x),))


def test_unused_results_of_a_factorisation_pass_no_gradient():
    """Only U of an SVD used: S and Vh contribute zeros, and the gradient is still right."""
    x_data = RNG.normal(size=(3, 3))
    weights = RNG.normal(size=(3, 3))

    def loss(d):
        u, s, vh = np.linalg.svd(d)
        return ((u * u) * weights).sum()  # sign-free: squares

    x = _leaf(x_data)
    u, s, vh = ag.linalg.svd(x)
    ((u * u) * weights).sum().backward()
    np.testing.assert_allclose(x.grad.data, _numeric_grad(loss, x_data), rtol=1e-5, atol=1e-7)


# ---- special functions --------------------------------------------------------------------------

def test_erf_erfc_lgamma_are_the_c_librarys_on_every_element():
    x = np.concatenate([np.linspace(-30.0, 30.0, 2001), [0.0, -0.0, np.inf, -np.inf, np.nan]])
    for ours, theirs in ((ag.erf, math.erf), (ag.erfc, math.erfc)):
        np.testing.assert_array_equal(ours(x), [theirs(v) for v in x])
    positive = np.linspace(0.01, 50.0, 2001)
    np.testing.assert_array_equal(ag.lgamma(positive), [math.lgamma(v) for v in positive])
    # numpy's (scipy's gammaln's) semantics where math raises: +inf at the poles and beyond range
    np.testing.assert_array_equal(ag.lgamma(np.array([0.0, -1.0, -2.0, 1e308])), np.inf)
    assert ag.erf(np.float32(0.5)).dtype == np.float32
    assert ag.lgamma(np.arange(1, 4)).dtype == np.float64  # integers: float64, as np.exp


def test_special_functions_on_scalars_use_the_math_module():
    x = ag.Scalar(0.7, requires_grad=True)
    y = x.erf() + x.lgamma()
    assert y.data == math.erf(0.7) + math.lgamma(0.7)
    y.backward()
    digamma = (math.lgamma(0.7 + 1e-6) - math.lgamma(0.7 - 1e-6)) / 2e-6
    np.testing.assert_allclose(x.grad, 2 / math.sqrt(math.pi) * math.exp(-0.49) + digamma,
                               rtol=1e-8)


def test_lgamma_without_scipy_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.special", None)  # import scipy.special now fails
    monkeypatch.setitem(sys.modules, "scipy", None)
    with pytest.raises(ImportError, match=r"autograd-core\[special\]"):
        ag.digamma(np.array([1.5]))
    assert ag.lgamma(np.array([0.5]))[0] == math.lgamma(0.5)  # erf, erfc, lgamma need no scipy
    assert ag.erf(np.array([0.5]))[0] == math.erf(0.5)


def test_singular_values_of_a_rank_deficient_matrix_have_a_finite_gradient():
    """Only S used (the nuclear norm) at a zero singular value: U diag(g) Vh, no 0/0."""
    x = _leaf(np.array([[3.0, 0.0], [0.0, 0.0], [0.0, 0.0]]))
    ag.linalg.norm(x, "nuc").backward()
    np.testing.assert_allclose(np.abs(x.grad.data), [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("a_batch, b_shape", [((), (150,)), ((), (150, 3)), ((2,), (150, 2)),
                                              ((), (3, 150, 2)), ((2,), (150,))])
def test_large_triangular_solves_match_a_dense_solve_of_the_triangle(lower, a_batch, b_shape):
    # past 64 rows the solve splits into halves (O(n^2 k)); the answer is the triangle's solve
    rng = np.random.default_rng(3)
    n = 150
    a = rng.standard_normal(a_batch + (n, n)) + n * np.eye(n)
    b = rng.standard_normal(b_shape)
    triangle = np.tril(a) if lower else np.triu(a)
    b_leaf = _leaf(b)
    x = ag.linalg.solve_triangular(_leaf(a), b_leaf, lower=lower)
    np.testing.assert_allclose(x.data, np.linalg.solve(triangle, b), rtol=1e-12, atol=1e-14)
    if not a_batch:  # b's gradient solves against the other triangle: the same blocked solve
        x.sum().backward()
        expected = np.linalg.solve(np.swapaxes(triangle, -1, -2), np.ones(b_shape))
        np.testing.assert_allclose(b_leaf.grad.data, expected, rtol=1e-12, atol=1e-14)


def test_a_zero_on_a_large_triangles_diagonal_is_singular():
    a = np.eye(100)
    a[80, 80] = 0.0
    with pytest.raises(np.linalg.LinAlgError, match=r"solve_triangular: .*zero on the diagonal.*"
                                                    r"\(100, 100\)"):
        ag.linalg.solve_triangular(_leaf(a), np.ones(100), lower=True)
