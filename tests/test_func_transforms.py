"""autograd_core.func: the transforms against derivatives worked out by hand, their composition,
pytrees, argnums and has_aux, their errors, and the cost of forward mode's derived rule."""

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import BackwardError, ShapeError, Tensor, func
from autograd_core.func import forward_mode
from autograd_core.ops.linalg import MatMul

RNG = np.random.default_rng(7)
A = RNG.standard_normal((3, 4))
X = np.array([0.5, -1.0, 2.0, 0.25])


def cubic(x):
    return (x ** 3).sum()


# ---- reverse mode -----------------------------------------------------------------------------

def test_grad_and_value_and_grad():
    g = func.grad(cubic)(X)
    np.testing.assert_allclose(g.data, 3 * X ** 2, rtol=1e-12)
    assert not g.requires_grad
    value, g = func.value_and_grad(cubic)(Tensor(X))
    np.testing.assert_allclose(value.data, np.sum(X ** 3), rtol=1e-12)
    np.testing.assert_allclose(g.data, 3 * X ** 2, rtol=1e-12)


def test_grad_with_argnums_tuple_pytrees_and_aux():
    def loss(params, x, scale):
        w, b = params["w"], params["b"]
        out = (ag.tanh(x @ w + b[0]) * scale).sum()
        return out, {"out": out}

    w = RNG.standard_normal((4, 2))
    b = [np.array([0.1, -0.2])]
    x = RNG.standard_normal((5, 4))
    (gp, gx), aux = func.grad(loss, argnums=(0, 1), has_aux=True)({"w": w, "b": b}, x, 2.0)
    t = np.tanh(x @ w + b[0])
    d = 2.0 * (1 - t ** 2)
    np.testing.assert_allclose(gp["w"].data, x.T @ d, rtol=1e-12)
    np.testing.assert_allclose(gp["b"][0].data, d.sum(axis=0), rtol=1e-12)
    assert isinstance(gp["b"], list)
    np.testing.assert_allclose(gx.data, d @ w.T, rtol=1e-12)
    np.testing.assert_allclose(aux["out"].data, 2.0 * t.sum(), rtol=1e-12)
    np.testing.assert_allclose(func.grad(lambda a, b: (a * b).sum(), argnums=-1)(X, 2 * X).data,
                               X)


def test_grad_of_grad_is_the_second_derivative():
    d2 = func.grad(lambda x: func.grad(cubic)(x).sum())(X)
    np.testing.assert_allclose(d2.data, 6 * X, rtol=1e-12)
    d3 = func.grad(lambda x: func.grad(lambda y: func.grad(cubic)(y).sum())(x).sum())(X)
    np.testing.assert_allclose(d3.data, np.full(4, 6.0), rtol=1e-12)


def test_nested_grad_differentiates_its_own_argument_only():
    # d/dy (x * y).sum() = x, whatever y is; the outer d/dx of x.sum() is 1 (not 2, which
    # mixing up the inner and the outer variable would give)
    outer = func.grad(lambda x: func.grad(lambda y: (x * y).sum())(x).sum())(X)
    np.testing.assert_allclose(outer.data, np.ones(4))


def test_grad_keeps_the_graph_of_tensors_f_closes_over():
    w = Tensor(np.array([1.0, 2.0, 3.0, 4.0]), requires_grad=True)
    g = func.grad(lambda x: (w * x ** 2).sum())(X)          # 2 w x
    assert g.requires_grad
    g.sum().backward()
    np.testing.assert_allclose(w.grad.data, 2 * X)


def test_grad_works_under_no_grad():
    with ag.no_grad():
        g = func.grad(cubic)(X)
    np.testing.assert_allclose(g.data, 3 * X ** 2)


def test_vjp_returns_the_output_and_a_reusable_pullback():
    out, pullback = func.vjp(lambda x: ag.tanh(Tensor(A) @ x), X)
    np.testing.assert_allclose(out.data, np.tanh(A @ X), rtol=1e-12)
    for _ in range(2):
        u = RNG.standard_normal(3)
        (g,) = pullback(u)
        np.testing.assert_allclose(g.data, A.T @ (u * (1 - np.tanh(A @ X) ** 2)), rtol=1e-12)


def test_jacrev_and_jacfwd_of_a_matrix_function():
    def f(x):
        return ag.sin(Tensor(A) @ x)

    expected = np.cos(A @ X)[:, None] * A
    np.testing.assert_allclose(func.jacrev(f)(X).data, expected, rtol=1e-12)
    np.testing.assert_allclose(func.jacfwd(f)(X).data, expected, rtol=1e-12)
    assert ag.jacobian(f, X).shape == (3, 4)


def test_hessian_and_hvp():
    def f(x):
        return (ag.exp(x[0] * x[1]) + x[2] ** 2 * x[3]).sum()

    x0, x1, x2, x3 = X
    e = np.exp(x0 * x1)
    hessian = np.array([[x1 * x1 * e, e + x0 * x1 * e, 0, 0],
                        [e + x0 * x1 * e, x0 * x0 * e, 0, 0],
                        [0, 0, 2 * x3, 2 * x2],
                        [0, 0, 2 * x2, 0]])
    np.testing.assert_allclose(func.hessian(f)(X).data, hessian, rtol=1e-12)
    np.testing.assert_allclose(func.jacfwd(func.jacrev(f))(X).data, hessian, rtol=1e-12)
    np.testing.assert_allclose(func.jacfwd(func.jacfwd(f))(X).data, hessian, rtol=1e-12)
    v = RNG.standard_normal(4)
    value, (product,) = func.hvp(f, (X,), (v,))
    np.testing.assert_allclose(value.data, e + x2 ** 2 * x3, rtol=1e-12)
    np.testing.assert_allclose(product.data, hessian @ v, rtol=1e-12)
    _, old = ag.hvp(f, X, v)
    np.testing.assert_allclose(old.data, hessian @ v, rtol=1e-12)


# ---- forward mode -----------------------------------------------------------------------------

def test_jvp_of_a_composite_function():
    def f(x, y):
        return ag.tanh(x) * y + (x @ y)

    y = RNG.standard_normal(4)
    tx, ty = RNG.standard_normal(4), RNG.standard_normal(4)
    out, tangent = func.jvp(f, (X, y), (tx, ty))
    np.testing.assert_allclose(out.data, np.tanh(X) * y + X @ y, rtol=1e-12)
    expected = (1 - np.tanh(X) ** 2) * tx * y + np.tanh(X) * ty + (tx @ y + X @ ty)
    np.testing.assert_allclose(tangent.data, expected, rtol=1e-12)


def test_jvp_over_tuples_and_with_aux():
    def f(pair):
        a, b = pair
        return (a * b, a.sum()), "aux"

    out, tangent, aux = func.jvp(f, ((X, 2 * X),), ((np.ones(4), np.zeros(4)),), has_aux=True)
    assert aux == "aux" and isinstance(out, tuple) and isinstance(tangent, tuple)
    np.testing.assert_allclose(tangent[0].data, 2 * X)
    np.testing.assert_allclose(tangent[1].data, 4.0)


def test_grad_of_a_jvp_is_reverse_over_forward():
    v = RNG.standard_normal(4)
    # jvp(cubic)(x; v) = sum(3 x**2 v), whose gradient is 6 x v
    g = func.grad(lambda x: func.jvp(cubic, (x,), (v,))[1])(X)
    np.testing.assert_allclose(g.data, 6 * X * v, rtol=1e-12)


def test_jvp_keeps_the_graph_of_tensors_f_closes_over():
    w = Tensor(np.array([1.0, 2.0, 3.0, 4.0]), requires_grad=True)
    v = np.array([1.0, -1.0, 0.5, 2.0])
    _, tangent = func.jvp(lambda x: (w * x * x).sum(), (X,), (v,))   # sum(2 w x v)
    tangent.backward()
    np.testing.assert_allclose(w.grad.data, 2 * X * v)


def test_every_rule_forced_to_the_derived_one_still_gives_the_jvp(monkeypatch):
    monkeypatch.setattr(forward_mode, "rule_kind", lambda cls: "derived")
    w = RNG.standard_normal((4, 3))
    v = RNG.standard_normal(4)
    _, tangent = func.jvp(lambda x: ag.tanh(x @ w).sum() + ag.exp(x).sum(), (X,), (v,))
    expected = ((1 - np.tanh(X @ w) ** 2) @ w.T + np.exp(X)) @ v
    np.testing.assert_allclose(tangent.data, expected, rtol=1e-12)


def _count_products(monkeypatch) -> list:
    """Count matrix products: those MatMul.forward computes (recorded or not), and those its
    backward computes directly on arrays (one per gradient it returns); products a backward
    rule runs on Tensors go through MatMul.forward and are counted there."""
    count = [0]
    forward, backward = MatMul.forward, MatMul.backward

    def counted_forward(ctx, a, b):
        count[0] += 1
        return forward(ctx, a, b)

    def counted_backward(ctx, grad):
        grads = backward(ctx, grad)
        if not isinstance(grad, ag.Tensor):
            count[0] += sum(g is not None for g in grads)
        return grads

    monkeypatch.setattr(MatMul, "forward", staticmethod(counted_forward))
    monkeypatch.setattr(MatMul, "backward", staticmethod(counted_backward))
    return count


def test_the_derived_rule_costs_about_three_forward_passes(monkeypatch):
    """A chain of matrix products, whose cost is the products: the forward pass computes one per
    layer; a jvp whose rules are all derived from backward computes three (the primal product,
    the backward rule applied to u, and the transpose of that), and with matmul's own product
    rule two. (With tangents on both operands of every product the derived rule needs five: the
    backward rule computes both operands' gradients, and its transpose both products.)
    ``python -m benchmarks`` is where time is measured; see the README's Function transforms."""
    weights = [RNG.standard_normal((6, 6)) for _ in range(4)]
    x, t = RNG.standard_normal((5, 6)), RNG.standard_normal((5, 6))

    def f(h):
        for w in weights:
            h = h @ w
        return h

    count = _count_products(monkeypatch)
    f(Tensor(x, requires_grad=True))
    forward = count[0]
    count[0] = 0
    _, tangent = func.jvp(f, (x,), (t,))
    explicit = count[0]
    np.testing.assert_allclose(tangent.data, f(Tensor(t)).data, rtol=1e-10)  # f is linear
    monkeypatch.setattr(forward_mode, "rule_kind", lambda cls: "derived")
    count[0] = 0
    _, tangent = func.jvp(f, (x,), (t,))
    derived = count[0]
    np.testing.assert_allclose(tangent.data, f(Tensor(t)).data, rtol=1e-10)
    print(f"matrix products: forward {forward}, jvp {explicit} (matmul's rule), "
          f"{derived} (derived rule)")
    assert (forward, explicit, derived) == (4, 8, 12)


# ---- errors -----------------------------------------------------------------------------------

def test_non_tensor_outputs_are_named():
    with pytest.raises(TypeError, match="func.grad: f must return Tensors, got a float"):
        func.grad(lambda x: 1.0)(X)
    with pytest.raises(TypeError, match="func.jvp: f must return Tensors, got a ndarray"):
        func.jvp(lambda x: x.data, (X,), (X,))
    with pytest.raises(TypeError, match="func.jacrev: f must return Tensors, got a str"):
        func.jacrev(lambda x: "no")(X)
    with pytest.raises(ShapeError, match=r"func.grad: f must return a single value, got shape "
                                         r"\(4,\)"):
        func.grad(lambda x: x * 2)(X)


def test_argnums_out_of_range_or_malformed():
    with pytest.raises(ValueError, match="func.grad: argnums 2 is out of range for a call with "
                                         "2 positional argument"):
        func.grad(lambda a, b: (a * b).sum(), argnums=2)(X, X)
    with pytest.raises(TypeError, match="func.jacfwd: argnums must be an int or a non-empty "
                                        "tuple of ints, got"):
        func.jacfwd(cubic, argnums=[0])(X)
    with pytest.raises(ValueError, match="func.value_and_grad: argnums \\(0, 0\\) names an "
                                         "argument twice"):
        func.value_and_grad(cubic, argnums=(0, 0))(X)


def test_has_aux_misuse():
    with pytest.raises(TypeError, match=r"func.grad: has_aux=True needs f to return a pair "
                                        r"\(output, aux\), got a Tensor"):
        func.grad(cubic, has_aux=True)(X)
    with pytest.raises(TypeError, match="func.grad: f must return a single Tensor, got a tuple "
                                        "of 2.*pass has_aux=True"):
        func.grad(lambda x: (cubic(x), cubic(x)))(X)


def test_bad_inputs_and_tangents():
    with pytest.raises(TypeError, match="func.grad: argument 0 has dtype int64; only "
                                        "floating-point inputs can be differentiated"):
        func.grad(cubic)(np.arange(3))
    with pytest.raises(TypeError, match="func.grad: argument 0 is a str"):
        func.grad(cubic)("x")
    with pytest.raises(ShapeError, match=r"func.jvp: tangent 0 has shape \(3,\) but its primal "
                                         r"has shape \(4,\)"):
        func.jvp(cubic, (X,), (np.ones(3),))
    with pytest.raises(ValueError, match="func.jvp: got 1 primal\\(s\\) but 2 tangent"):
        func.jvp(cubic, (X,), (X, X))
    _, pullback = func.vjp(lambda x: x * 2, X)
    with pytest.raises(ShapeError, match=r"func.vjp: cotangent 0 has shape \(2,\) but the "
                                         r"output has shape \(4,\)"):
        pullback(np.ones(2))
    with pytest.raises(BackwardError):
        Tensor(X).backward()


@pytest.mark.parametrize("call", [
    lambda f, s: func.grad(f)(s),
    lambda f, s: func.jvp(f, (s,), (ag.Scalar(1.0),)),
    lambda f, s: func.jacrev(f)(s),
])
def test_scalars_are_refused_with_the_alternative_named(call):
    with pytest.raises(TypeError, match="take Tensors.*ag.grad"):
        call(lambda x: (x * x).sin(), ag.Scalar(0.5))
