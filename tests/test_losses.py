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
    # -1/(N p), with p floored at sqrt(tiny) for the exact zero (not clip()'s gradient of 0).
    floor = np.sqrt(np.finfo(np.float64).tiny)
    np.testing.assert_allclose(probs.grad.data, [[-0.5 / floor, 0.0], [0.0, -1.0]])
    soft = nn.categorical_cross_entropy(probs, np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_allclose(soft.data, loss.data)


@given(regression(), reductions)
def test_mse_and_half_mse(case, reduction):
    prediction, target = case
    expected = REDUCE[reduction]((prediction.data - target) ** 2)
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
    np.testing.assert_allclose(loss.data, REDUCE[reduction](expected), rtol=1e-10)
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
                               expected.mean(), rtol=1e-10)
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


# ---- every input that requires grad gets its gradient (targets included) ------------------------

def far_from_kinks(prediction, target, delta):
    """``target`` moved so that |prediction - target| keeps 0.1 away from huber's kink at delta."""
    diff = prediction - target
    near = np.abs(np.abs(diff) - delta) < 0.1
    return np.where(near, target - 0.2 * np.sign(diff + 1e-12), target)


@st.composite
def pairs(draw, low=-3.0, high=3.0):
    """A prediction and a float target of one shape (multi-column included), both requiring
    grad."""
    shape = draw(st.sampled_from([(3,), (2, 3), (3, 1), (2, 2, 2)]))
    prediction = draw(hnp.arrays(np.float64, shape, elements=st.floats(low, high)))
    target = draw(hnp.arrays(np.float64, shape, elements=st.floats(low, high)))
    return prediction, target


def both_require_grad(prediction, target):
    return (ag.Tensor(prediction, requires_grad=True), ag.Tensor(target, requires_grad=True))


ELEMENTWISE = {
    "mse_loss": nn.mse_loss,
    "half_mse_loss": nn.half_mse_loss,
    "huber_loss": lambda p, t, reduction: nn.huber_loss(p, t, 1.0, reduction),
    "binary_cross_entropy_with_logits": nn.binary_cross_entropy_with_logits,
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@given(case=pairs(), reduction=reductions)
def test_elementwise_losses_differentiate_prediction_and_target_twice(name, case, reduction):
    prediction, target = case
    if name == "huber_loss":
        target = far_from_kinks(prediction, target, 1.0)
    if name == "binary_cross_entropy_with_logits":
        target = 1 / (1 + np.exp(-target))  # a soft target in (0, 1)
    loss = ELEMENTWISE[name]
    inputs = both_require_grad(prediction, target)
    assert ag.gradcheck(lambda p, t: loss(p, t, reduction=reduction), inputs)
    assert ag.gradgradcheck(lambda p, t: loss(p, t, reduction=reduction), inputs)


@given(classification(soft=True), reductions)
def test_cross_entropy_differentiates_a_soft_target_twice(case, reduction):
    logits, target = case
    target = ag.Tensor(target, requires_grad=True)
    assert ag.gradcheck(lambda x, t: nn.cross_entropy(x, t, reduction=reduction),
                        [logits, target])
    assert ag.gradgradcheck(lambda x, t: nn.cross_entropy(x, t, reduction=reduction),
                            [logits, target])
    # d/dt of -sum(t * log_softmax(x)) is -log_softmax(x), by hand.
    loss = nn.cross_entropy(logits, target, reduction="sum")
    loss.backward()
    np.testing.assert_allclose(target.grad.data, -np_log_softmax(logits.data), rtol=1e-12)


@st.composite
def probabilities(draw, soft=False):
    """Probabilities away from the clip at [eps, 1 - eps], with labels or soft targets."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    probs = draw(tensors(shape=(n, c), elements=(0.05, 0.95)))
    if soft:
        weights = draw(hnp.arrays(np.float64, (n, c), elements=st.floats(0.1, 1.0)))
        return probs, ag.Tensor(weights / weights.sum(axis=1, keepdims=True), requires_grad=True)
    return probs, draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))


@given(probabilities(soft=True), reductions)
def test_categorical_cross_entropy_differentiates_probs_and_soft_target_twice(case, reduction):
    probs, target = case
    fn = lambda p, t: nn.categorical_cross_entropy(p, t, reduction=reduction)  # noqa: E731
    assert ag.gradcheck(fn, [probs, target])
    assert ag.gradgradcheck(fn, [probs, target])


@given(probabilities(), reductions)
def test_categorical_cross_entropy_with_labels_differentiates_twice(case, reduction):
    probs, labels = case
    fn = lambda p: nn.categorical_cross_entropy(p, labels, reduction=reduction)  # noqa: E731
    assert ag.gradcheck(fn, [probs])
    assert ag.gradgradcheck(fn, [probs])


@given(classification(), reductions)
def test_nll_loss_differentiates_twice(case, reduction):
    logits, labels = case
    log_probs = ag.Tensor(np_log_softmax(logits.data), requires_grad=True)
    assert ag.gradcheck(lambda t: nn.nll_loss(t, labels, reduction=reduction), [log_probs])
    assert ag.gradgradcheck(lambda t: nn.nll_loss(t, labels, reduction=reduction), [log_probs])


def test_mse_between_two_outputs_of_one_model_differentiates_both_sides():
    # A siamese / consistency loss: mean((a w - b w)^2). By hand, its gradient is
    # 2/n (a - b)^T (a - b) w, twice what the prediction side alone gives.
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    w = ag.Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    nn.mse_loss(ag.Tensor(a) @ w, ag.Tensor(b) @ w).backward()
    d = a - b
    np.testing.assert_allclose(w.grad.data, 2 / 8 * d.T @ d @ w.data, rtol=1e-12)


@pytest.mark.parametrize("loss, target_grad", [
    (nn.mse_loss, lambda p, t: -2 * (p - t) / p.size),
    (nn.half_mse_loss, lambda p, t: -(p - t) / p.size),
    (nn.binary_cross_entropy_with_logits, lambda p, t: -p / p.size),
    (lambda p, t: nn.huber_loss(p, t, 10.0), lambda p, t: -(p - t) / p.size),
    (nn.cross_entropy, lambda p, t: -np_log_softmax(p) / len(p)),
    (nn.categorical_cross_entropy, lambda p, t: -np.log(p) / len(p)),
])
def test_a_float32_model_with_a_float64_target_tensor_gives_the_target_its_gradient(
        loss, target_grad):
    # The target is cast to the prediction's dtype inside the loss, by a differentiable cast.
    p = np.float32([[0.2, 0.7], [0.6, 0.3]])
    t = np.array([[0.1, 0.9], [0.5, 0.5]])
    prediction = ag.Tensor(p, requires_grad=True)
    target = ag.Tensor(t, dtype=np.float64, requires_grad=True)
    loss(prediction, target).backward()
    assert prediction.grad.dtype == np.float32 and target.grad.dtype == np.float64
    np.testing.assert_allclose(target.grad.data, target_grad(p.astype(np.float64), t),
                               rtol=1e-6)


# ---- categorical_cross_entropy keeps its gradient for confidently wrong examples -----------------

def np_softmax(x):
    return np.exp(np_log_softmax(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_confidently_wrong_softmax_output_still_gets_the_fused_gradient(dtype):
    # p = softmax([20, 0, 0]) gives the true class 1 p = 2e-9, far below eps = 1e-7. A clip's
    # gradient would be 0; -1/p through Softmax gives p - onehot, as the fused loss does.
    logits = ag.Tensor([[20.0, 0.0, 0.0]], dtype=dtype, requires_grad=True)
    loss = nn.categorical_cross_entropy(nn.Softmax()(logits), [1])
    assert loss.item() == pytest.approx(-np.log(1e-7), rel=1e-5)  # the value is clipped
    loss.backward()
    expected = np_softmax(np.array([[20.0, 0.0, 0.0]])) - np.array([[0.0, 1.0, 0.0]])
    np.testing.assert_allclose(logits.grad.data, expected, rtol=1e-5, atol=1e-8)
    assert logits.grad.data[0, 1] < -0.99 and logits.grad.data[0, 0] > 0.99


@given(classification(), reductions)
def test_categorical_cross_entropy_through_softmax_matches_the_fused_gradient(case, reduction):
    logits, labels = case
    nn.categorical_cross_entropy(nn.functional.softmax(logits), labels,
                                 reduction=reduction).sum().backward()
    weight = 1 / len(labels) if reduction == "mean" else 1.0
    expected = weight * (np_softmax(logits.data) - np.eye(logits.shape[1])[labels])
    np.testing.assert_allclose(logits.grad.data, expected, rtol=1e-7, atol=1e-12)


# ---- reductions of the elementwise losses: PyTorch's definitions --------------------------------

def np_reference(name, p, t):
    """The elementwise losses, in numpy."""
    if name in ("mse_loss", "half_mse_loss"):
        return (p - t) ** 2 * (0.5 if name == "half_mse_loss" else 1.0)
    if name == "huber_loss":
        d = np.abs(p - t)
        return np.where(d <= 1.0, 0.5 * d ** 2, d - 0.5)
    return np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_reductions_sum_and_keep_every_element(name):
    p = np.array([[0.5, -1.0, 2.0], [3.0, 0.0, -0.5]])
    t = np.array([[0.0, 1.0, 0.25], [0.5, 1.0, 0.75]])
    elementwise = np_reference(name, p, t)
    none = ELEMENTWISE[name](ag.Tensor(p), t, reduction="none")
    assert none.shape == (2, 3)
    np.testing.assert_allclose(none.data, elementwise, rtol=1e-12)
    np.testing.assert_allclose(ELEMENTWISE[name](ag.Tensor(p), t, reduction="sum").item(),
                               elementwise.sum(), rtol=1e-12)
    np.testing.assert_allclose(ELEMENTWISE[name](ag.Tensor(p), t, reduction="mean").item(),
                               elementwise.mean(), rtol=1e-12)


def test_mse_reductions_by_hand():
    p, t = np.array([[1.0, 2.0], [3.0, 5.0]]), np.zeros((2, 2))
    assert nn.mse_loss(ag.Tensor(p), t, "sum").item() == 39.0          # 1 + 4 + 9 + 25
    assert nn.half_mse_loss(ag.Tensor(p), t, "sum").item() == 19.5
    assert nn.mse_loss(ag.Tensor(p), t, "mean").item() == 9.75
    np.testing.assert_array_equal(nn.mse_loss(ag.Tensor(p), t, "none").data, [[1, 4], [9, 25]])


def test_penalties_take_a_module_as_the_optimizers_do():
    layer = nn.Dense(2, 2, rng=0, dtype=np.float64)
    weights = [p.data for p in layer.parameters()]
    assert nn.l2_penalty(layer, 0.1).item() == pytest.approx(
        0.1 * sum((w ** 2).sum() for w in weights), rel=1e-12)
    assert nn.l1_penalty(layer, 0.5).item() == pytest.approx(
        0.5 * sum(np.abs(w).sum() for w in weights), rel=1e-12)


def test_nan_hyperparameters_of_losses_are_refused():
    p = ag.Tensor(np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="huber_loss: delta must be positive, got nan"):
        nn.huber_loss(p, np.zeros((2, 2)), delta=float("nan"))
    for eps in (float("nan"), 0.0, 0.5):
        with pytest.raises(ValueError, match=r"categorical_cross_entropy: eps must be in"):
            nn.categorical_cross_entropy(p, [0, 1], eps=eps)
