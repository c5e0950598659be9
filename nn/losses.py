"""Loss functions and weight penalties, composed from autograd_core's ops.

Every loss takes ``(prediction, target, reduction='mean')``: ``'mean'`` averages over the
examples, ``'sum'`` adds them, ``'none'`` returns one loss per example. Targets may be Tensors
or numpy arrays; they are constants (no gradient flows into them).
"""

from __future__ import annotations

import numpy as np

import autograd_core as ag
from autograd_core import Tensor
from autograd_core.errors import ShapeError
from autograd_core.ops.reductions import SoftmaxCrossEntropy

from .functional import check_labels, log_softmax

REDUCTIONS = ("mean", "sum", "none")


def _check_not_empty(shape: tuple, reduction: str, where: str) -> None:
    if reduction == "mean" and 0 in shape:
        # numpy would warn and return NaN; an empty batch is a mistake worth naming.
        raise ShapeError(f"{where}: got an empty batch (losses of shape {shape}); the mean over "
                         "no examples is undefined: expected at least one example")


def _reduce(per_example, reduction: str, where: str):
    _check_not_empty(per_example.shape, reduction, where)
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    if reduction == "none":
        return per_example
    raise ValueError(f"{where}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _as_tensor_like(prediction, target, where: str):
    """``target`` as a constant of ``prediction``'s shape and dtype, or a ShapeError."""
    target = target.data if isinstance(target, Tensor) else np.asarray(target)
    if target.shape != np.shape(prediction):
        raise ShapeError(f"{where}: prediction has shape {np.shape(prediction)} but target has "
                         f"shape {target.shape}; they must be equal")
    return target.astype(prediction.dtype, copy=False)


def _check_logits(logits, where: str) -> None:
    if np.ndim(logits) < 1:
        raise ShapeError(f"{where}: expected logits of shape (N, C) or (C,), got a 0-d tensor")


def _pick(log_probs, labels: np.ndarray):
    """``log_probs[..., labels]`` per example: the log-probability of each true class."""
    classes = log_probs.shape[-1]
    flat = log_probs.reshape(-1, classes)
    picked = flat[np.arange(flat.shape[0]), labels.reshape(-1)]
    return picked.reshape(labels.shape)


def nll_loss(log_probs, labels, reduction: str = "mean"):
    """Negative log-likelihood of integer ``labels`` under ``log_probs`` (N, C)."""
    _check_logits(log_probs, "nll_loss")
    labels = check_labels(labels, log_probs.shape[-1], "nll_loss", log_probs.shape)
    return _reduce(-_pick(log_probs, labels), reduction, "nll_loss")


def cross_entropy(logits, target, reduction: str = "mean"):
    """Softmax cross-entropy on raw scores ``logits`` (N, C), stable for logits of 1e4.

    ``target`` is integer class labels of shape (N,) or, as floats of shape (N, C), one-hot or
    soft target distributions.
    """
    _check_logits(logits, "cross_entropy")
    target_array = target.data if isinstance(target, Tensor) else np.asarray(target)
    if target_array.dtype.kind == "f":
        target_array = _as_tensor_like(logits, target_array, "cross_entropy")
        log_probs = log_softmax(logits, axis=-1)
        return _reduce(-(log_probs * target_array).sum(axis=-1), reduction, "cross_entropy")
    labels = check_labels(target_array, np.shape(logits)[-1], "cross_entropy", np.shape(logits))
    if reduction not in REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {REDUCTIONS}, "
                         f"got {reduction!r}")
    _check_not_empty(labels.shape, reduction, "cross_entropy")
    # One fused node rather than log_softmax, indexing and the mean: a training step's loss.
    # The labels were checked above, so a Tensor goes straight to the primitive.
    if isinstance(logits, Tensor):
        return SoftmaxCrossEntropy.apply(logits, labels=labels, reduction=reduction)
    return ag.softmax_cross_entropy(logits, labels, reduction)


def categorical_cross_entropy(probs, target, reduction: str = "mean", eps: float = 1e-7):
    """Cross-entropy on probabilities (e.g. a Softmax layer's output), as the seed tutorials
    compute it: ``probs`` is clipped to [eps, 1 - eps] so log(0) never happens. Prefer
    ``cross_entropy`` on logits, which needs no clipping."""
    _check_logits(probs, "categorical_cross_entropy")
    clipped = ag.clip(probs, eps, 1.0 - eps)
    target_array = target.data if isinstance(target, Tensor) else np.asarray(target)
    if target_array.dtype.kind == "f":
        target_array = _as_tensor_like(probs, target_array, "categorical_cross_entropy")
        per_example = -(ag.log(clipped) * target_array).sum(axis=-1)
        return _reduce(per_example, reduction, "categorical_cross_entropy")
    labels = check_labels(target_array, probs.shape[-1], "categorical_cross_entropy",
                          probs.shape)
    return _reduce(-ag.log(_pick(clipped, labels)), reduction, "categorical_cross_entropy")


def _per_example(elementwise):
    """Average an elementwise loss over all axes but the first (one value per example)."""
    if elementwise.ndim <= 1:
        return elementwise
    # The row length spelled out: reshape(0, -1) of an empty batch is ambiguous to numpy.
    row = int(np.prod(elementwise.shape[1:]))
    return elementwise.reshape(elementwise.shape[0], row).mean(axis=1)


def mse_loss(prediction, target, reduction: str = "mean"):
    """Mean squared error: mean((prediction - target)^2)."""
    diff = prediction - _as_tensor_like(prediction, target, "mse_loss")
    return _reduce(_per_example(diff * diff), reduction, "mse_loss")


def half_mse_loss(prediction, target, reduction: str = "mean"):
    """Half the mean squared error, 0.5 * mean((prediction - target)^2), as some of the seed
    tutorials define it (the 1/2 cancels the 2 of the derivative)."""
    return 0.5 * mse_loss(prediction, target, reduction)


def binary_cross_entropy_with_logits(logits, target, reduction: str = "mean"):
    """Sigmoid + binary cross-entropy in one stable formula, finite for logits of +-1000:
    max(x, 0) - x * t + log(1 + exp(-|x|))."""
    target = _as_tensor_like(logits, target, "binary_cross_entropy_with_logits")
    # max(x, 0) and -|x| written with one shared branch mask, so that at x == 0 their
    # derivatives (1 and -1 from the x >= 0 side) add up to the true slope of the smooth sum.
    positive = np.asarray(logits) >= 0
    softplus = ag.where(positive, logits, 0.0) + ag.log(1.0 + ag.exp(ag.where(positive, -logits,
                                                                              logits)))
    elementwise = softplus - logits * target
    return _reduce(_per_example(elementwise), reduction, "binary_cross_entropy_with_logits")


def huber_loss(prediction, target, delta: float = 1.0, reduction: str = "mean"):
    """Squared error for |error| <= delta, linear beyond (robust to outliers)."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    diff = prediction - _as_tensor_like(prediction, target, "huber_loss")
    size = ag.abs(diff)
    quadratic = np.asarray(size) <= delta
    elementwise = ag.where(quadratic, 0.5 * diff * diff, delta * (size - 0.5 * delta))
    return _reduce(_per_example(elementwise), reduction, "huber_loss")


def l1_penalty(parameters, strength: float):
    """strength * sum of |w| over ``parameters`` (add it to the loss)."""
    return strength * sum(ag.abs(p).sum() for p in parameters)


def l2_penalty(parameters, strength: float):
    """strength * sum of w^2 over ``parameters``, as the seed tutorials' L2 regulariser."""
    return strength * sum((p * p).sum() for p in parameters)


__all__ = ["binary_cross_entropy_with_logits", "categorical_cross_entropy", "cross_entropy",
           "half_mse_loss", "huber_loss", "l1_penalty", "l2_penalty", "mse_loss", "nll_loss"]
