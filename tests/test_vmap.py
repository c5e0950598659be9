"""func.vmap: every registered op batched (against numpy example by example), per-example
gradients (against central differences and hand-written backpropagation), nesting, in_axes and
out_axes, the loop fallback and its warning, and the errors for bad input.

The per-example gradients use ``_grad`` below, a minimal gradient transform written on the hook
``func.vmap`` offers them (``lift``/``physical``/``wrap``), as ``func.grad`` does."""

import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_specs import COMPOSITE_SPECS, TENSOR_SPECS

import autograd_core as ag
from autograd_core import func
from autograd_core.errors import ShapeError
from autograd_core.func import vmap
from autograd_core.func.batching import fallback_ops

hook = sys.modules["autograd_core.func.vmap"]  # the module (func.vmap is the function)

# Ops whose inputs are not Tensors (nothing to batch).
NO_TENSOR_INPUT = {"arange", "linspace", "eye"}
# Ops that read the values of their input to compute indices or a shape (ordering's index
# functions, full_like's np.asarray(t).dtype): under vmap they raise a TypeError naming
# themselves or vmap, rather than run on the wrong values. Listed so that the list cannot grow
# silently.
NOT_BATCHED = {"argmax", "argmin", "argsort", "sort", "topk", "full_like"}
# Primitives without a batching rule (they run in a Python loop, with a warning): none.
LOOPED: list = []

SPECS = [spec for spec in TENSOR_SPECS + COMPOSITE_SPECS if spec.op not in NO_TENSOR_INPUT]
BATCH = 3


def _grad(f, argnums=0, create_graph=False):
    """d f / d args[argnums] (f returns one value per example), on vmap's hook for gradient
    transforms: outside vmap it is the ordinary gradient."""
    def gradient(*args):
        args = list(args)
        x = args[argnums]
        value, target = hook.lift(x)
        args[argnums] = value
        out = f(*args)
        root = hook.physical(out)
        (g,) = ag.grad(root, [target], grad_outputs=np.ones(root.shape, root.dtype),
                       allow_unused=True, create_graph=create_graph)
        if g is None:
            g = ag.Tensor(np.zeros(target.shape, target.dtype))
        return hook.wrap(g, like=value)

    return gradient


# Ops whose drawn inputs are built with structure (well-conditioned, triangular, spread
# eigenvalues): rolling the elements would break it, so their examples are scaled copies instead.
STRUCTURED = {"solve", "solve_triangular", "inv", "det", "slogdet", "cholesky", "cholesky_solve",
              "eigh", "svd", "qr"}


def _examples(case, structured: bool = False):
    """The floating Tensor arguments' positions, and BATCH examples: the case itself and its
    Tensors with their elements rolled (same values: the spec's bounds and gaps still hold), or
    for ``structured`` inputs scaled by 1, 1.25, 1.5, ..."""
    positions = [i for i, a in enumerate(case.args)
                 if isinstance(a, ag.Tensor) and a.dtype.kind == "f"]
    examples = []
    for b in range(BATCH):
        args = list(case.args)
        for i in positions:
            data = case.args[i].data
            data = data * (1 + b / 4) if structured else np.roll(data.ravel(), b).reshape(
                data.shape)
            args[i] = ag.Tensor(data, dtype=case.args[i].dtype)
        examples.append(args)
    return positions, examples


def _with(case, positions, tensors):
    args = list(case.args)
    for i, t in zip(positions, tensors):
        args[i] = t
    return args


def test_no_primitive_falls_back_to_a_loop():
    """The primitives without a batching rule (they would run in a Python loop), printed and
    pinned: a new op gets its rule from its category, or has to be listed here."""
    print("vmap loops over the batch for:", fallback_ops() or "no primitive")
    print("vmap refuses batched values for:", sorted(NOT_BATCHED))
    assert fallback_ops() == LOOPED


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.id)
@given(data=st.data())
def test_vmap_of_each_op_is_the_op_on_each_example(spec, data):
    """vmap(op) over a batch equals numpy's reference on each example, stacked; without a
    warning (no loop) for every op but those listed."""
    case = data.draw(spec.cases, label="case")
    positions, examples = _examples(case, spec.op in STRUCTURED)
    if not positions:  # full_like of a plain array: nothing to batch in this case
        return
    batched = [ag.Tensor(np.stack([ex[i].data for ex in examples])) for i in positions]
    f = vmap(lambda *ts: spec.call(*_with(case, positions, ts), **case.kwargs))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a loop fallback would warn
        try:
            out = f(*batched)
        except TypeError as error:
            # Only the listed ops may refuse (full_like does when it needs t's dtype from its
            # values' array, and runs when dtype= is given), and then by a clear message.
            assert spec.op in NOT_BATCHED, error
            assert spec.op in str(error) or "vmap" in str(error)
            return
    expected = [spec.ref(*[a.data if isinstance(a, ag.Tensor) else a for a in ex], **case.kwargs)
                for ex in examples]
    outs = out if isinstance(out, (tuple, list)) else [out]
    expected = list(zip(*expected)) if isinstance(out, (tuple, list)) else [expected]
    for o, e in zip(outs, expected):
        e = np.stack([np.asarray(v) for v in e])
        assert o.shape == e.shape
        assert o.dtype == e.dtype
        np.testing.assert_allclose(o.data, e, rtol=1e-10, atol=1e-12)


# A representative set: elementwise (unary, binary with broadcasting), reductions, shape ops,
# indexing, products and the fused loss.
GRADIENT_SPECS = [spec for spec in SPECS if spec.id in {
    "sin", "mul[tensor, tensor]", "div[constant]", "tanh", "maximum[tensor, tensor]",
    "sum", "max", "prod", "logsumexp", "mean", "std", "reshape", "transpose", "broadcast_to",
    "getitem[basic]", "getitem[boolean mask]", "concatenate", "matmul[any]", "linear",
    "tensordot[axes=n]", "softmax_cross_entropy", "where", "clip",
    "conv2d[stride padding dilation groups]", "conv_transpose1d", "max_pool2d", "pad"}]


def test_gradient_specs_are_found():
    assert len(GRADIENT_SPECS) >= 15, [spec.id for spec in GRADIENT_SPECS]


def _central_differences(phi, args, i, eps=1e-6):
    x = np.array(args[i], dtype=np.float64)
    out = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        for sign in (1, -1):
            shifted = x.copy()
            shifted[index] += sign * eps
            moved = list(args)
            moved[i] = shifted
            out[index] += sign * phi(moved)
    return out / (2 * eps)


@pytest.mark.parametrize("spec", GRADIENT_SPECS, ids=lambda spec: spec.id)
@given(data=st.data())
def test_vmap_of_grad_is_each_examples_gradient(spec, data):
    """vmap(grad(f)) gives each example's gradient, as central differences of numpy's
    reference (f: the op's output weighted by fixed numbers and summed)."""
    case = data.draw(spec.cases, label="case")
    positions, examples = _examples(case, spec.op in STRUCTURED)
    out_shape = np.shape(spec.expected(case))
    weights = np.linspace(0.5, 1.5, int(np.prod(out_shape))).reshape(out_shape)
    for k, position in enumerate(positions):
        def f(*ts):
            return (spec.call(*_with(case, positions, ts), **case.kwargs) * weights).sum()

        batched = [ag.Tensor(np.stack([ex[i].data for ex in examples])) for i in positions]
        got = vmap(_grad(f, argnums=k))(*batched)
        for b, ex in enumerate(examples):
            raw = [a.data if isinstance(a, ag.Tensor) else a for a in ex]
            expected = _central_differences(
                lambda moved: float(np.sum(spec.ref(*moved, **case.kwargs) * weights)),
                raw, position)
            np.testing.assert_allclose(got.data[b], expected, rtol=1e-5, atol=1e-6)


# ---- per-example gradients of the benchmark MLP -------------------------------------------------

def _mlp_params(rng, sizes=(784, 256, 128, 10)):
    return [(ag.Tensor(rng.standard_normal((m, n)) / np.sqrt(m)),
             ag.Tensor(rng.standard_normal(n) * 0.1)) for m, n in zip(sizes[:-1], sizes[1:])]


def _mlp_loss(params, x, y):
    """Cross-entropy of one example (x: features, y: one-hot) under a ReLU MLP."""
    h = x
    for i, (w, b) in enumerate(params):
        h = ag.linear(h, w, b)
        if i < len(params) - 1:
            h = ag.relu(h)
    return -(y * (h - ag.logsumexp(h))).sum()


def _numpy_per_example_grads(params, x, y):
    """Backpropagation written out in numpy, one gradient per example (einsum over the batch)."""
    ws = [w.data for w, _ in params]
    bs = [b.data for _, b in params]
    hs, h = [x], x
    for i, (w, b) in enumerate(zip(ws, bs)):
        h = h @ w + b
        if i < len(ws) - 1:
            h = np.maximum(h, 0)
        hs.append(h)
    probs = np.exp(h - h.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    delta = probs - y
    grads = []
    for i in reversed(range(len(ws))):
        grads.append((np.einsum("bi,bj->bij", hs[i], delta), delta))
        if i:
            delta = (delta @ ws[i].T) * (hs[i] > 0)
    return grads[::-1]


def _per_example_mlp_grads(params, x, y):
    """Per-example gradients of every parameter: vmap over (x, y) of the gradient with respect
    to the flattened parameters, taken one parameter at a time through _grad."""
    flat = [p for layer in params for p in layer]

    def loss_of(k):
        def loss(p, x_, y_):
            ps = list(flat)
            ps[k] = p
            return _mlp_loss([(ps[2 * i], ps[2 * i + 1]) for i in range(len(params))], x_, y_)
        return loss

    return [vmap(_grad(loss_of(k)), in_axes=(None, 0, 0))(p, x, y) for k, p in enumerate(flat)]


def test_per_example_mlp_gradients_match_backprop_and_the_loop():
    """At batch 64 on the 784-256-128-10 MLP (float64): vmap(grad) agrees to 1e-6 with
    hand-written per-example backpropagation and with a Python loop of per-example grads."""
    rng = np.random.default_rng(0)
    params = _mlp_params(rng)
    x = ag.Tensor(rng.standard_normal((64, 784)))
    y = ag.Tensor(np.eye(10)[rng.integers(0, 10, 64)])
    got = _per_example_mlp_grads(params, x, y)
    expected = [g for layer in _numpy_per_example_grads(params, x.data, y.data) for g in layer]
    flat = [p for layer in params for p in layer]
    for k, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == (64,) + flat[k].shape
        np.testing.assert_allclose(g.data, e, rtol=0, atol=1e-6)
    for b in (0, 17, 63):
        for k in range(len(flat)):
            def loss(p, k=k, b=b):
                ps = list(flat)
                ps[k] = p
                return _mlp_loss([(ps[0], ps[1]), (ps[2], ps[3]), (ps[4], ps[5])], x[b], y[b])
            np.testing.assert_allclose(got[k].data[b], _grad(loss)(flat[k]).data, atol=1e-6)


def test_per_example_gradient_of_a_lifted_matrix_is_the_outer_product():
    """The one-GEMM path (a lifted weight): forward equals x @ w, the per-example gradient of
    sum(x @ w * c) with respect to w is outer(x_b, c_b)."""
    rng = np.random.default_rng(1)
    w = ag.Tensor(rng.standard_normal((4, 3)))
    x = ag.Tensor(rng.standard_normal((5, 4)))
    c = ag.Tensor(rng.standard_normal((5, 3)))
    got = vmap(_grad(lambda w_, x_, c_: ((x_ @ w_) * c_).sum()), in_axes=(None, 0, 0))(w, x, c)
    np.testing.assert_allclose(got.data, np.einsum("bi,bj->bij", x.data, c.data), atol=1e-12)
    # and a matrix example (several rows per example): the sum of the rows' outer products
    xs = ag.Tensor(rng.standard_normal((5, 2, 4)))
    cs = ag.Tensor(rng.standard_normal((5, 2, 3)))
    got = vmap(_grad(lambda w_, x_, c_: ((x_ @ w_) * c_).sum()), in_axes=(None, 0, 0))(w, xs, cs)
    np.testing.assert_allclose(got.data, np.einsum("bri,brj->bij", xs.data, cs.data),
                               atol=1e-12)


def test_vmap_of_second_derivatives():
    """vmap(grad(grad(f))) (the inner gradient recorded): each example's second derivative,
    d2/dx2 of x**3 * w + sin(x) = 6 x w - sin(x), with w shared."""
    x = ag.Tensor(np.array([0.5, -1.0, 2.0]))
    w = ag.Tensor(np.array(1.5))
    inner = _grad(lambda x_, w_: x_ ** 3 * w_ + ag.sin(x_), create_graph=True)
    got = vmap(_grad(inner), in_axes=(0, None))(x, w)
    np.testing.assert_allclose(got.data, 6 * x.data * 1.5 - np.sin(x.data), rtol=1e-12)


def test_nested_vmap_of_grad():
    """Two levels: per-example gradients over a (2, 3) grid of examples, against the formula
    d/dw sum(tanh(x @ w)) = outer(x, 1 - tanh(x @ w)**2)."""
    rng = np.random.default_rng(2)
    w = ag.Tensor(rng.standard_normal((4, 2)))
    x = ag.Tensor(rng.standard_normal((2, 3, 4)))
    f = vmap(vmap(_grad(lambda w_, x_: ag.tanh(x_ @ w_).sum()), in_axes=(None, 0)),
             in_axes=(None, 0))
    got = f(w, x)
    t = np.tanh(x.data @ w.data)
    np.testing.assert_allclose(got.data, np.einsum("abi,abj->abij", x.data, 1 - t * t),
                               atol=1e-12)


# ---- vmap itself --------------------------------------------------------------------------------

def test_nested_vmap_in_axes_and_out_axes():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 4, 5))
    # inner over axis 1 of each (4, 5) example... i.e. columns; outer over axis 0
    f = vmap(vmap(lambda col: (col * col).sum() + col[0]), in_axes=0)
    inner_cols = vmap(lambda col: (col * col).sum() + col[0], in_axes=1)
    np.testing.assert_allclose(f(ag.Tensor(a)).data, (a * a).sum(-1) + a[..., 0])
    np.testing.assert_allclose(vmap(inner_cols)(ag.Tensor(a)).data,
                               (a * a).sum(1) + a[:, 0, :])
    # in_axes None: shared; out_axes 1: the batch goes second
    m = rng.standard_normal((5, 2))
    g = vmap(lambda row, mat: row @ mat, in_axes=(0, None), out_axes=1)
    np.testing.assert_allclose(g(ag.Tensor(a[0]), ag.Tensor(m)).data, (a[0] @ m).T)
    # a tuple of outputs, each with its own out_axes; an output that ignores the batch
    h = vmap(lambda x: (x.sum(axis=0), ag.Tensor(np.ones(2))), out_axes=(0, 1))
    s, ones = h(ag.Tensor(a))
    np.testing.assert_allclose(s.data, a.sum(axis=1))
    np.testing.assert_allclose(ones.data, np.ones((2, 3)))


def test_gradients_flow_through_vmap():
    """vmap is differentiable: d/dx sum(vmap(f)(x)) for f(x) = sum(sin(x) * w) is cos(x) * w,
    and the unbatched w gets the sum over examples."""
    rng = np.random.default_rng(4)
    x = ag.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = ag.Tensor(rng.standard_normal(4), requires_grad=True)
    vmap(lambda r: (ag.sin(r) * w).sum())(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.cos(x.data) * w.data)
    np.testing.assert_allclose(w.grad.data, np.sin(x.data).sum(axis=0))


def test_an_op_without_a_rule_loops_with_one_warning(recwarn):
    """getitem with a batched index runs example by example, warning once, by the op's name."""
    x = ag.Tensor(np.arange(12.0).reshape(3, 4))
    idx = ag.Tensor(np.array([[0, 1], [2, 2], [3, 0]]))
    f = vmap(lambda row, i: row[i])
    with pytest.warns(UserWarning, match="GetItem has no batching rule"):
        first = f(x, idx)
    np.testing.assert_allclose(first.data, np.take_along_axis(x.data, idx.data, axis=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f(x, idx)  # warned once only


def test_untracked_ufuncs_and_comparisons_run_on_the_batch():
    x = ag.Tensor(np.array([[-1.0, 2.0], [3.0, -4.0]]))
    np.testing.assert_array_equal(vmap(lambda r: ag.sign(r))(x).data, np.sign(x.data))
    np.testing.assert_array_equal(vmap(lambda r: ag.where(r > 0, r, 0.0))(x).data,
                                  np.maximum(x.data, 0))
    # a batched condition choosing between values that are not batched (or not Tensors)
    w = ag.Tensor(np.array([10.0, 20.0]))
    np.testing.assert_array_equal(vmap(lambda r: ag.where(r > 0, w, 0.0))(x).data,
                                  [[0.0, 20.0], [10.0, 0.0]])
    np.testing.assert_array_equal(vmap(lambda r: ag.where(r > 0, 1.0, 0.0))(x).data,
                                  [[0.0, 1.0], [1.0, 0.0]])
    y = ag.Tensor(np.array([[np.nan, 2.0], [3.0, np.inf]]))
    np.testing.assert_array_equal(vmap(lambda r: ag.isnan(r) | ag.isinf(r))(y).data,
                                  [[True, False], [False, True]])


# ---- errors -------------------------------------------------------------------------------------

def test_in_axes_of_the_wrong_length():
    f = vmap(lambda a, b: a + b, in_axes=(0,), out_axes=0)
    with pytest.raises(ValueError, match=r"vmap\(<lambda>\): in_axes has 1 entries .* 2 "):
        f(ag.Tensor(np.ones((2, 3))), ag.Tensor(np.ones((2, 3))))


def test_batch_sizes_that_differ():
    with pytest.raises(ShapeError, match=r"vmap.*batch sizes differ.*argument 0 of shape "
                                         r"\(2, 3\) has 2.*argument 1 of shape \(4, 3\) has 4"):
        vmap(lambda a, b: a + b)(ag.Tensor(np.ones((2, 3))), ag.Tensor(np.ones((4, 3))))


def test_in_axes_out_of_range():
    with pytest.raises(ShapeError, match=r"vmap.*in_axes 2 is out of range for argument 0 of "
                                         r"shape \(2, 3\)"):
        vmap(lambda a: a, in_axes=2)(ag.Tensor(np.ones((2, 3))))
    with pytest.raises(ShapeError, match=r"vmap.*out_axes 3 is out of range"):
        vmap(lambda a: a, out_axes=3)(ag.Tensor(np.ones((2, 3))))


def test_no_batched_argument():
    with pytest.raises(ValueError, match=r"vmap.*no argument is batched"):
        vmap(lambda a: a, in_axes=None)(ag.Tensor(np.ones(2)))


def test_outputs_that_are_not_tensors():
    with pytest.raises(TypeError, match=r"vmap\(<lambda>\): the function returned a float"):
        vmap(lambda a: 1.0)(ag.Tensor(np.ones((2, 3))))
    with pytest.raises(TypeError, match=r"vmap\(<lambda>\): the function returned a str"):
        vmap(lambda a: (a, "x"))(ag.Tensor(np.ones((2, 3))))
    with pytest.raises(TypeError, match=r"vmap\(<lambda>\): the function returned a NoneType"):
        vmap(lambda a: None)(ag.Tensor(np.ones((2, 3))))


def test_reading_one_examples_values_inside_vmap():
    x = ag.Tensor(np.ones((2, 3)))
    for read in (lambda a: a.item(), lambda a: np.asarray(a), lambda a: bool(a.sum() > 0),
                 lambda a: a.numpy()):
        with pytest.raises(TypeError, match=r"vmap: .* needs the values of one example"):
            vmap(read)(x)
    with pytest.raises(TypeError, match=r"vmap: backward\(\) inside vmap"):
        vmap(lambda a: a.sum().backward())(x)


def test_batched_argument_that_is_not_a_tensor():
    with pytest.raises(TypeError, match=r"vmap.*argument 0 is batched .* holds a str"):
        vmap(lambda a: a)("abc")


def test_per_example_grads_benchmark_reports_speed_and_agreement():
    """The benchmark workload runs and reports the ratio against the loop for float64 and
    float32 and the agreement row (speed itself is never asserted in tests)."""
    from benchmarks.per_example_grads import per_example_grads
    from benchmarks.workloads import WORKLOADS, Settings

    assert WORKLOADS["per_example_grads"] is per_example_grads
    rows = per_example_grads(Settings(quick=True, rounds=1, threads=1, torch=None,
                                      micrograd=None))
    cases = [row.case for row in rows]
    assert cases == ["batch 64, float64: vmap(grad)", "batch 64, float64: largest difference",
                     "batch 64, float32: vmap(grad)"]
    assert rows[0].ratio > 0 and rows[0].target == 0.2
    assert rows[1].ours <= 1e-6 and rows[1].met


def test_anomaly_detection_checks_the_batched_ops():
    """Under detect_anomaly, vmap runs (the physical ops are the ones checked) and a NaN made
    inside is reported by the op that made it."""
    x = ag.Tensor(np.array([[1.0, 2.0], [3.0, -4.0]]))
    with ag.detect_anomaly(), np.errstate(invalid="ignore"):
        np.testing.assert_allclose(vmap(lambda r: ag.exp(r).sum())(x).data,
                                   np.exp(x.data).sum(axis=1))
        with pytest.raises(ag.AnomalyError, match="Log produced NaN"):
            vmap(lambda r: ag.log(r).sum())(x)


# ---- func.grad inside vmap: one gradient per example --------------------------------------------

def _tanh_mlp_loss(params, x, y):
    h = x
    for i, (w, b) in enumerate(params):
        h = ag.linear(h, w, b)
        if i < len(params) - 1:
            h = ag.tanh(h)
    return ((h - y) ** 2).sum()


def test_func_grad_under_vmap_gives_each_examples_gradient():
    rng = np.random.default_rng(0)
    params = [(ag.Tensor(rng.normal(size=(4, 5))), ag.Tensor(rng.normal(size=5))),
              (ag.Tensor(rng.normal(size=(5, 2))), ag.Tensor(rng.normal(size=2)))]
    x, y = ag.Tensor(rng.normal(size=(6, 4))), ag.Tensor(rng.normal(size=(6, 2)))
    got = func.vmap(func.grad(_tanh_mlp_loss), in_axes=(None, 0, 0))(params, x, y)
    for i in range(6):  # against central differences of each example's loss
        for layer in range(2):
            for k in range(2):
                p = params[layer][k]

                def example_loss(value, layer=layer, k=k, i=i):
                    changed = [list(pair) for pair in params]
                    changed[layer][k] = ag.Tensor(value)
                    return _tanh_mlp_loss(changed, x[i], y[i]).item()

                expected = _numeric_gradient(example_loss, p.data)
                np.testing.assert_allclose(got[layer][k].data[i], expected, rtol=1e-6,
                                           atol=1e-8)


def _numeric_gradient(f, value, eps=1e-6):
    out = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        up, down = value.copy(), value.copy()
        up[index] += eps
        down[index] -= eps
        out[index] = (f(up) - f(down)) / (2 * eps)
    return out


def test_value_and_grad_and_second_derivatives_under_vmap():
    x = ag.Tensor(np.linspace(-1.0, 1.0, 12).reshape(4, 3))
    value, g = func.vmap(func.value_and_grad(lambda t: (t ** 3).sum()))(x)
    np.testing.assert_allclose(value.data, (x.data ** 3).sum(axis=1))
    np.testing.assert_allclose(g.data, 3 * x.data ** 2)
    second = func.vmap(func.grad(lambda t: func.grad(lambda u: (u ** 3).sum())(t).sum()))(x)
    np.testing.assert_allclose(second.data, 6 * x.data)


@pytest.mark.parametrize("transform", [
    lambda f: func.jacrev(f),
    lambda f: func.jacfwd(f),
    lambda f: func.hessian(lambda t: f(t).sum()),
    lambda f: (lambda t: func.jvp(f, (t,), (t,))[1]),
])
def test_transforms_that_would_mix_examples_refuse_inside_vmap(transform):
    x = ag.Tensor(np.ones((3, 2)))
    with pytest.raises(NotImplementedError, match="inside func.vmap"):
        func.vmap(transform(lambda t: ag.tanh(t)))(x)
