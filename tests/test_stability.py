"""Numerical stability at extreme inputs, and the subgradients chosen where a function has no
derivative (PyTorch's conventions).

Each stable case runs with warnings turned into errors and under detect_anomaly(), so no
intermediate op may overflow to inf or produce NaN, in the forward or the backward pass.
(Cross-entropy at logits of 1e4 and BCE-with-logits at 1000 are checked for their values in
test_losses.py; here they are also run under anomaly detection.)
"""

import numpy as np
import pytest

import autograd_core as ag
import nn
from autograd_core import Tensor

pytestmark = pytest.mark.filterwarnings("error")

EXTREME = np.float32([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]])


def value_and_grad(f, x, weights=None):
    """f(x) and the gradient of sum(f(x) * weights), computed with anomaly detection on."""
    x = Tensor(x, requires_grad=True)
    with ag.detect_anomaly():
        y = f(x)
        (y * (np.ones(y.shape, y.dtype) if weights is None else weights)).sum().backward()
    return y.data, x.grad.data


def reference_softmax(x):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_softmax_of_logits_1e4_in_float32():
    weights = np.float32([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    y, grad = value_and_grad(nn.functional.softmax, EXTREME, weights)
    s = reference_softmax(EXTREME)
    assert y.dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_allclose(y, s, atol=1e-7)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    expected = s * (weights - (s * weights).sum(axis=1, keepdims=True))  # softmax's VJP
    np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_log_softmax_of_logits_1e4_in_float32_keeps_the_large_differences_exact():
    y, grad = value_and_grad(nn.functional.log_softmax, EXTREME)
    np.testing.assert_array_equal(y[0], [0.0, -2e4, -1e4])
    np.testing.assert_allclose(y[1], -np.log(3), rtol=1e-6)
    np.testing.assert_allclose(y[2], [-np.log(2), -np.log(2), -2e4 - np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(grad, 1 - 3 * reference_softmax(EXTREME), atol=1e-6)


def test_cross_entropy_of_logits_1e4_in_float32_under_anomaly_detection():
    labels = np.array([1, 0, 2])
    y, grad = value_and_grad(lambda x: nn.cross_entropy(x, labels, reduction="none"), EXTREME)
    np.testing.assert_allclose(y, [2e4, np.log(3), 2e4 + np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(grad, reference_softmax(EXTREME) - np.eye(3)[labels], atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_at_plus_minus_1000(dtype):
    y, grad = value_and_grad(ag.sigmoid, np.array([-1000.0, 0.0, 1000.0], dtype))
    np.testing.assert_array_equal(y, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(grad, [0.0, 0.25, 0.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_at_plus_minus_1000(dtype):
    target = np.array([1.0, 0.0, 1.0, 0.0], dtype)
    y, grad = value_and_grad(
        lambda x: nn.binary_cross_entropy_with_logits(x, target, reduction="none"),
        np.array([1000.0, 1000.0, -1000.0, -1000.0], dtype))
    np.testing.assert_allclose(y, [0.0, 1000.0, 1000.0, 0.0])
    np.testing.assert_allclose(grad, [0.0, 1.0, -1.0, 0.0])  # sigmoid(x) - t


def test_categorical_cross_entropy_of_exact_zeros_is_clipped_with_a_finite_gradient():
    eps = 1e-7
    probs = np.float32([[0.0, 1.0, 0.0], [0.25, 0.75, 0.0], [0.5, 0.5, 0.0]])
    labels = np.array([0, 1, 2])
    y, grad = value_and_grad(
        lambda p: nn.categorical_cross_entropy(p, labels, reduction="none", eps=eps), probs)
    np.testing.assert_allclose(y, [-np.log(eps), -np.log(0.75), -np.log(eps)], rtol=1e-5)
    # d(-log p)/dp = -1/p, floored at p = sqrt(tiny) (1.08e-19 in float32), so an exact zero
    # gives a finite loss and a finite gradient that still pulls p up (a clip's would be 0).
    expected = np.zeros_like(probs)
    expected[1, 1] = -1 / 0.75
    expected[0, 0] = expected[2, 2] = -1 / np.sqrt(np.finfo(np.float32).tiny)
    np.testing.assert_allclose(grad, expected, rtol=1e-6)
    # One-hot float targets take the same clipped path.
    y_soft, grad_soft = value_and_grad(
        lambda p: nn.categorical_cross_entropy(p, np.eye(3, dtype=np.float32)[labels],
                                               reduction="none", eps=eps), probs)
    np.testing.assert_allclose(y_soft, y, rtol=1e-6)
    np.testing.assert_allclose(grad_soft, expected, rtol=1e-6)


def test_logsumexp_of_minus_inf_rows():
    x = np.array([[-np.inf, -np.inf], [0.0, -np.inf], [np.log(2.0), np.log(2.0)]])
    y, grad = value_and_grad(lambda t: ag.logsumexp(t, axis=1), x)
    np.testing.assert_allclose(y, [-np.inf, 0.0, np.log(4.0)])
    np.testing.assert_array_equal(grad, [[0.0, 0.0], [1.0, 0.0], [0.5, 0.5]])
    assert ag.logsumexp(np.full((2, 3), -np.inf), axis=1).tolist() == [-np.inf, -np.inf]
    keep, _ = value_and_grad(lambda t: ag.logsumexp(t, axis=1, keepdims=True), x)
    assert keep.shape == (3, 1)


@pytest.mark.parametrize("exponent, value, slope", [
    (0.5, 0.0, np.inf),      # the slope's limit at 0+, as PyTorch
    (1.5, 0.0, 0.0),
    (1.0, 0.0, 1.0),
    (2.0, 0.0, 0.0),
    (0.0, 1.0, 0.0),         # x ** 0 is 1 everywhere: slope 0, even at 0
    (-0.5, np.inf, -np.inf),
])
def test_pow_with_a_zero_base(exponent, value, slope):
    x = Tensor([0.0, 4.0], dtype=np.float64, requires_grad=True)
    y = x ** exponent
    y.sum().backward()
    assert y.data[0] == value and x.grad.data[0] == slope
    np.testing.assert_allclose(y.data[1], 4.0 ** exponent)
    np.testing.assert_allclose(x.grad.data[1], exponent * 4.0 ** (exponent - 1))


def test_pow_with_a_zero_base_and_a_tensor_exponent():
    base = Tensor([0.0, 0.0, 4.0], requires_grad=True)
    exponent = Tensor([0.5, 2.0, 0.5], requires_grad=True)
    y = base ** exponent
    y.sum().backward()
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(base.grad.data[:2], [np.inf, 0.0])
    # d(a ** b)/db = a ** b * log(a): 0 at a == 0 (the limit for b > 0), as PyTorch.
    np.testing.assert_allclose(exponent.grad.data, [0.0, 0.0, 2.0 * np.log(4.0)], rtol=1e-6)


# ---- subgradients at ties and at zero (PyTorch's choices) ---------------------------------------

@pytest.mark.parametrize("name, f, x, expected", [
    ("abs at 0 is 0", ag.abs, [-2.0, 0.0, 3.0], [-1.0, 0.0, 1.0]),
    ("relu at 0 is 0", ag.relu, [-1.0, 0.0, 2.0], [0.0, 0.0, 1.0]),
    ("leaky_relu at 0 is the slope", lambda t: ag.leaky_relu(t, 0.1), [-1.0, 0.0, 2.0],
     [0.1, 0.1, 1.0]),
    ("max: tied maxima share equally", lambda t: t.max(), [3.0, 1.0, 3.0, 3.0],
     [1 / 3, 0.0, 1 / 3, 1 / 3]),
    ("min: tied minima share equally", lambda t: t.min(), [1.0, 1.0, 2.0], [0.5, 0.5, 0.0]),
    ("max over an axis", lambda t: t.reshape(2, 2).max(axis=1), [5.0, 5.0, 1.0, 2.0],
     [0.5, 0.5, 0.0, 1.0]),
    ("maximum: a tie gives each half", lambda t: ag.maximum(t, Tensor([1.0, 1.0, 1.0])),
     [0.0, 1.0, 2.0], [0.0, 0.5, 1.0]),
    ("minimum: a tie gives each half", lambda t: ag.minimum(t, Tensor([1.0, 1.0, 1.0])),
     [0.0, 1.0, 2.0], [1.0, 0.5, 0.0]),
    ("clip: the boundaries pass the gradient", lambda t: ag.clip(t, 0.0, 1.0),
     [-1.0, 0.0, 0.5, 1.0, 2.0], [0.0, 1.0, 1.0, 1.0, 0.0]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_subgradient_conventions(name, f, x, expected):
    t = Tensor(np.array(x, np.float64), requires_grad=True)
    f(t).sum().backward()
    np.testing.assert_allclose(t.grad.data, expected)


def test_both_inputs_of_maximum_at_a_tie_get_half():
    a, b = Tensor([2.0], requires_grad=True), Tensor([2.0], requires_grad=True)
    ag.maximum(a, b).sum().backward()
    assert a.grad.item() == b.grad.item() == 0.5
