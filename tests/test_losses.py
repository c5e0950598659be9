"""Losses and penalties: values against numpy references, gradients by gradcheck, stability,
and errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_core as ag
import nn
from autograd_core.errors import DTypeError, ShapeError
from autograd_core.testing import tensors

REDUCE = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}


def np_log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def per_example(values):
    return values if values.ndim <= 1 else values.reshape(len(values), -1).mean(axis=1)


@st.composite
def classification(draw, soft=False):
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 4))
    logits = draw(tensors(shape=(n, c), elements=(-5.0, 5.0)))
    if soft:
        weights = draw(hnp.arrays(np.float64, (n, c), elements=st.floats(0.1, 1.0)))
        return logits, weights / weights.sum(axis=1, keepdims=True)
    return logits, draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))


@st.composite
def regression(draw, elements=(-3.0, 3.0)):
    shape = draw(st.sampled_from([(3,), (2, 3), (2, 2, 2)]))
    prediction = draw(tensors(shape=shape, elements=elements))
    target = draw(hnp.arrays(np.float64, shape, elements=st.floats(*elements)))
    return prediction, target


reductions = st.sampled_from(sorted(REDUCE))


@given(classification(), reductions)
def test_cross_entropy_with_labels(case, reduction):
    logits, labels = case
    loss = nn.cross_entropy(logits, labels, reduction=reduction)
    expected = -np_log_softmax(logits.data)[np.arange(len(labels)), labels]
    np.testing.assert_allclose(loss.data, REDUCE[reduction](expected), rtol=1e-10)
    assert ag.gradcheck(lambda t: nn.cross_entropy(t, labels, reduction=reduction), [logits])
    assert ag.gradgradcheck(lambda t: nn.cross_entropy(t, labels, reduction=reduction), [logits])


@given(classification(soft=True), reductions)
def test_cross_entropy_with_soft_targets(case, reduction):
    logits, target = case
    loss = nn.cross_entropy(logits, target, reduction=reduction)
    expected = -(np_log_softmax(logits.data) * target).sum(axis=1)
    np.testing.assert_allclose(loss.data, REDUCE[reduction](expected), rtol=1e-10)
    assert ag.gradcheck(lambda t: nn.cross_entropy(t, target, reduction=reduction), [logits])


@given(classification())
def test_one_hot_targets_give_the_same_loss_as_labels(case):
    logits, labels = case
    one_hot = nn.functional.one_hot(labels, logits.shape[1], dtype=np.float64)
    np.testing.assert_allclose(nn.cross_entropy(logits, one_hot).data,
                               nn.cross_entropy(logits, labels).data, rtol=1e-12)


@given(classification())
def test_nll_of_log_softmax_is_cross_entropy(case):
    logits, labels = case
    np.testing.assert_allclose(nn.nll_loss(nn.functional.log_softmax(logits), labels).data,
                               nn.cross_entropy(logits, labels).data, rtol=1e-12)
    assert ag.gradcheck(lambda t: nn.nll_loss(t, labels), [logits])


@given(classification(), reductions)
def test_categorical_cross_entropy_on_probabilities(case, reduction):
    logits, labels = case
    probs = ag.Tensor(np.exp(np_log_softmax(logits.data)), requires_grad=True)
    loss = nn.categorical_cross_entropy(probs, labels, reduction=reduction)
    expected = -np.log(np.clip(probs.data, 1e-7, 1 - 1e-7))[np.arange(len(labels)), labels]
    np.testing.assert_allclose(loss.data, REDUCE[reduction](expected), rtol=1e-10)
    assert ag.gradcheck(lambda p: nn.categorical_cross_entropy(p, labels, reduction=reduction),
                        [probs])


def test_categorical_cross_entropy_clips_exact_zeros_with_a_finite_gradient():
    probs = ag.Tensor([[0.0, 1.0], [0.5, 0.5]], dtype=np.float64, requires_grad=True)
    loss = nn.categorical_cross_entropy(probs, [0, 1])
    assert loss.item() == pytest.approx((-np.log(1e-7) - np.log(0.5)) / 2)
    loss.backward()
    # Clipped entries have no gradient (as np.clip's derivative), the others -1/(N p).
    np.testing.assert_allclose(probs.grad.data, [[0.0, 0.0], [0.0, -1.0]])
    soft = nn.categorical_cross_entropy(probs, np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_allclose(soft.data, loss.data)


@given(regression(), reductions)
def test_mse_and_half_mse(case, reduction):
    prediction, target = case
    expected = REDUCE[reduction](per_example((prediction.data - target) ** 2))
    np.testing.assert_allclose(nn.mse_loss(prediction, target, reduction).data, expected)
    np.testing.assert_allclose(nn.half_mse_loss(prediction, target, reduction).data,
                               0.5 * expected)
    assert ag.gradcheck(lambda p: nn.mse_loss(p, target, reduction), [prediction])
    assert ag.gradgradcheck(lambda p: nn.half_mse_loss(p, target, reduction), [prediction])


@given(regression(), reductions)
def test_binary_cross_entropy_with_logits(case, reduction):
    logits, target = case
    target = (target > 0).astype(np.float64) * 0.8 + 0.1  # targets in (0, 1), soft included
    p = 1 / (1 + np.exp(-logits.data))
    expected = -(target * np.log(p) + (1 - target) * np.log(1 - p))
    loss = nn.binary_cross_entropy_with_logits(logits, target, reduction)
    np.testing.assert_allclose(loss.data, REDUCE[reduction](per_example(expected)), rtol=1e-10)
    assert ag.gradcheck(lambda t: nn.binary_cross_entropy_with_logits(t, target, reduction),
                        [logits])


@given(regression(elements=(-4.0, 4.0)), st.sampled_from([0.5, 1.0, 2.0]))
def test_huber_loss(case, delta):
    prediction, target = case
    diff = prediction.data - target
    # Keep away from the kink at |diff| == delta, where central differences straddle it.
    diff = np.where(np.abs(np.abs(diff) - delta) < 0.05, diff + 0.1, diff)
    prediction = ag.Tensor(target + diff, requires_grad=True)
    quadratic = np.abs(diff) <= delta
    expected = np.where(quadratic, 0.5 * diff ** 2, delta * (np.abs(diff) - 0.5 * delta))
    np.testing.assert_allclose(nn.huber_loss(prediction, target, delta).data,
                               per_example(expected).mean(), rtol=1e-10)
    assert ag.gradcheck(lambda p: nn.huber_loss(p, target, delta), [prediction])


def test_penalties_sum_over_parameters():
    a = ag.Tensor([1.0, -2.0], dtype=np.float64, requires_grad=True)
    b = ag.Tensor([[3.0]], dtype=np.float64, requires_grad=True)
    assert nn.l1_penalty([a, b], 0.5).item() == pytest.approx(3.0)
    l2 = nn.l2_penalty([a, b], 0.1)
    assert l2.item() == pytest.approx(1.4)
    l2.backward()
    np.testing.assert_allclose(a.grad.data, [0.2, -0.4])


# ---- stability ----------------------------------------------------------------------------------

def test_cross_entropy_is_finite_for_logits_of_1e4_in_float32():
    logits = ag.Tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], requires_grad=True)
    loss = nn.cross_entropy(logits, [1, 2])
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.item(), (2e4 + np.log(2)) / 2, rtol=1e-6)
    loss.backward()
    np.testing.assert_allclose(logits.grad.data, [[0.5, -0.5, 0], [0, 0.25, -0.25]], atol=1e-6)


def test_binary_cross_entropy_with_logits_is_finite_at_1000():
    logits = ag.Tensor([1000.0, -1000.0, 1000.0], requires_grad=True)
    loss = nn.binary_cross_entropy_with_logits(logits, np.array([1.0, 0.0, 0.0]), "sum")
    assert loss.item() == pytest.approx(1000.0)
    loss.backward()
    np.testing.assert_allclose(logits.grad.data, [0.0, 0.0, 1.0])


# ---- errors -------------------------------------------------------------------------------------

def test_loss_errors_name_the_loss_and_what_was_expected():
    logits = ag.Tensor(np.zeros((4, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"cross_entropy: labels must be in \[0, 2\]"):
        nn.cross_entropy(logits, [0, 1, 2, 3])
    with pytest.raises(ShapeError, match=r"cross_entropy: labels of shape \(2,\).*\(4,\)"):
        nn.cross_entropy(logits, [0, 1])
    with pytest.raises(ShapeError, match=r"cross_entropy: prediction has shape \(4, 3\) but "
                                         r"target has shape \(4, 2\)"):
        nn.cross_entropy(logits, np.zeros((4, 2)))
    with pytest.raises(DTypeError, match="nll_loss: class labels must be integers"):
        nn.nll_loss(logits, np.array(["a"] * 4))
    with pytest.raises(ShapeError, match=r"mse_loss: prediction has shape \(4, 3\)"):
        nn.mse_loss(logits, np.zeros(3))
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.mse_loss(logits, np.zeros((4, 3)), reduction="avg")
    with pytest.raises(ShapeError, match="0-d"):
        nn.cross_entropy(ag.Tensor(1.0), [0])
    with pytest.raises(ValueError, match="delta must be positive"):
        nn.huber_loss(logits, np.zeros((4, 3)), delta=0)
    assert logits.grad is None
