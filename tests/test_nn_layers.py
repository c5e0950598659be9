"""Layers, activations, dropout and initialisers: forward against numpy, gradients by gradcheck."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_core as ag
import nn
from autograd_core.errors import DTypeError, ShapeError
from autograd_core.testing import shapes, tensors


def module_as_function(module):
    """``fn(x, *params)`` running ``module`` with the given tensors in its parameters' places,
    so that gradcheck can perturb the parameters too."""
    slots = list(module._parameter_slots())

    def fn(x, *params):
        originals = [param for _, _, param in slots]
        for (owner, name, _), value in zip(slots, params):
            owner._rebind_parameter(name, value)
        try:
            return module(x)
        finally:
            for (owner, name, _), value in zip(slots, originals):
                owner._rebind_parameter(name, value)

    return fn, [param for _, _, param in slots]


# ---- Dense --------------------------------------------------------------------------------------

@given(st.data(), st.integers(1, 3), st.integers(1, 3), st.booleans(),
       shapes(min_dims=0, max_dims=2, max_side=3))
def test_dense_matches_numpy_and_passes_gradcheck(data, n_in, n_out, bias, batch):
    layer = nn.Dense(n_in, n_out, bias=bias, rng=0, dtype=np.float64)
    x = data.draw(tensors(shape=batch + (n_in,), elements=(-2.0, 2.0)))
    expected = x.data @ layer.weight.data + (layer.bias.data if bias else 0)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12)
    fn, params = module_as_function(layer)
    assert ag.gradcheck(fn, [x, *params])
    assert ag.gradgradcheck(fn, [x, *params])


def test_dense_weights_are_in_by_out_and_reproducible():
    a, b = nn.Dense(4, 3, rng=7), nn.Dense(4, 3, rng=np.random.default_rng(7))
    assert a.weight.shape == (4, 3) and a.bias.shape == (3,)
    assert a.weight.dtype == np.float32 and np.all(a.bias.data == 0)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, nn.Dense(4, 3, rng=8).weight.data)


def test_dense_float32_stays_float32():
    layer = nn.Dense(3, 2, rng=0)
    out = layer(ag.Tensor(np.ones((5, 3), dtype=np.float32)))
    assert out.dtype == np.float32


def test_dense_bad_input_names_the_layer_and_shapes():
    layer = nn.Dense(3, 2)
    with pytest.raises(ShapeError, match=r"Dense: input of shape \(4, 5\).*in_features=3"):
        layer(ag.ones(4, 5))
    with pytest.raises(DTypeError, match="Dense: expected floating-point input, got dtype int64"):
        layer(ag.Tensor(np.ones((4, 3), dtype=np.int64)))
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        nn.Dense(0, 2)
    with pytest.raises(ValueError, match="unknown initialiser 'glorious'"):
        nn.Dense(2, 2, init="glorious")


def test_dense_accepts_a_callable_initialiser():
    layer = nn.Dense(2, 3, init=lambda shape, rng, dtype: np.full(shape, 0.5, dtype=dtype))
    assert np.all(layer.weight.data == 0.5)


# ---- activations --------------------------------------------------------------------------------

ACTIVATIONS = [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.Tanh(), np.tanh),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Identity(), lambda x: x),
    (nn.Softmax(), lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True)),
]


@pytest.mark.parametrize("module, reference", ACTIVATIONS, ids=lambda v: type(v).__name__)
@given(x=tensors(shape=shapes(min_dims=1, max_dims=3, max_side=3), elements=(-4.0, 4.0),
                 avoid=(0.0,), margin=0.05))
def test_activation_modules_match_numpy_and_pass_gradcheck(module, reference, x):
    np.testing.assert_allclose(module(x).data, reference(x.data), rtol=1e-10, atol=1e-12)
    assert ag.gradcheck(module, [x])


@given(st.data(), shapes(min_dims=1, max_dims=3, max_side=3))
def test_log_softmax_and_softmax_along_any_axis(data, shape):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = data.draw(tensors(shape=shape, elements=(-5.0, 5.0)))
    shifted = x.data - x.data.max(axis=axis, keepdims=True)
    expected = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    np.testing.assert_allclose(nn.functional.log_softmax(x, axis).data, expected, atol=1e-12)
    np.testing.assert_allclose(nn.functional.softmax(x, axis).data.sum(axis=axis), 1.0)
    assert ag.gradcheck(lambda t: nn.functional.log_softmax(t, axis), [x])
    assert ag.gradgradcheck(lambda t: nn.functional.softmax(t, axis), [x])


def test_log_softmax_is_finite_for_logits_of_1e4_in_float32():
    x = ag.Tensor([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]], requires_grad=True)
    out = nn.functional.log_softmax(x)
    assert out.dtype == np.float32 and np.all(np.isfinite(out.data))
    np.testing.assert_allclose(out.data[0], [0.0, -1e4, -2e4])
    np.testing.assert_allclose(out.data[1], np.log(1 / 3), rtol=1e-6)
    out[:, 0].sum().backward()
    assert np.all(np.isfinite(x.grad.data))


# ---- dropout ------------------------------------------------------------------------------------

def test_dropout_zeroes_about_p_and_scales_the_rest():
    layer = nn.Dropout(0.25, rng=0)
    x = ag.ones(200, 100, requires_grad=True)
    out = layer(x)
    dropped = np.mean(out.data == 0)
    assert 0.23 < dropped < 0.27
    np.testing.assert_allclose(out.data[out.data != 0], 1 / 0.75)
    out.sum().backward()  # the gradient is the same mask and scale
    np.testing.assert_array_equal(x.grad.data, out.data)


@given(x=tensors(shape=shapes(min_dims=1, max_dims=3, max_side=4), elements=(-3.0, 3.0)),
       p=st.sampled_from([0.1, 0.5, 0.9]))
def test_dropout_passes_gradcheck_for_a_fixed_mask(x, p):
    # A generator made afresh on every call draws the same mask for each perturbed input.
    assert ag.gradcheck(lambda t: nn.functional.dropout(t, p, rng=np.random.default_rng(7)), [x])


def test_dropout_is_the_identity_in_eval_mode_and_reproducible_by_seed():
    x = ag.Tensor(np.arange(12.0).reshape(3, 4))
    assert nn.Dropout(0.5, rng=0).eval()(x) is x
    np.testing.assert_array_equal(nn.Dropout(0.5, rng=3)(x).data, nn.Dropout(0.5, rng=3)(x).data)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\), got 1.0"):
        nn.Dropout(1.0)


def test_flatten_keeps_the_batch_axis():
    x = ag.ones(5, 2, 3, 4, requires_grad=True)
    out = nn.Flatten()(x)
    assert out.shape == (5, 24)
    out.sum().backward()
    assert x.grad.shape == (5, 2, 3, 4)


def test_one_hot():
    np.testing.assert_array_equal(nn.functional.one_hot([2, 0], 3).data, [[0, 0, 1], [1, 0, 0]])
    assert nn.functional.one_hot(np.array([[1]]), 2).shape == (1, 1, 2)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\] for 3 classes, got \[3\]"):
        nn.functional.one_hot([3], 3)
    with pytest.raises(DTypeError, match="integers"):
        nn.functional.one_hot([0.5], 3)


# ---- initialisers -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, variance", [
    ("xavier_uniform", 2 / (400 + 600)), ("xavier_normal", 2 / (400 + 600)),
    ("he_uniform", 2 / 400), ("he_normal", 2 / 400),
])
def test_initialiser_variances_follow_their_formulas(name, variance):
    w = nn.init.get(name)((400, 600), rng=0, dtype=np.float64)
    assert abs(w.mean()) < 0.01 * np.sqrt(variance) * 10
    assert w.var() == pytest.approx(variance, rel=0.02)


def test_uniform_initialisers_stay_within_their_limits():
    limit = np.sqrt(6 / (30 + 20))
    w = nn.init.xavier_uniform((30, 20), rng=1)
    assert w.dtype == np.float32 and np.all(np.abs(w) <= limit)
    assert np.all(nn.init.zeros((2, 2)) == 0)
    np.testing.assert_array_equal(nn.init.normal((3,), rng=4), nn.init.normal((3,), rng=4))


def test_bad_rng_is_refused():
    with pytest.raises(TypeError, match="seed"):
        nn.init.as_generator("seed")
