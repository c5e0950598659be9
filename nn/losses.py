"""Loss functions and weight penalties, composed from autograd_core's ops.

Every loss takes ``(prediction, target, reduction='mean')``, with PyTorch's reductions:

- elementwise losses (``mse_loss``, ``half_mse_loss``, ``huber_loss``,
  ``binary_cross_entropy_with_logits``): ``'none'`` gives one loss per element (the shape of
  ``prediction``), ``'sum'`` adds them all, ``'mean'`` averages over all elements;
- class losses (``cross_entropy``, ``nll_loss``, ``categorical_cross_entropy``): the class axis
  (the last) is summed over first, so ``'none'`` gives one loss per example, and ``'sum'`` and
  ``'mean'`` add or average those.

Targets may be numpy arrays or Tensors. A float target that is a Tensor stays in the graph, as
every other operand does: when it requires grad (distillation, siamese or consistency losses,
``mse_loss(model(a), model(b))``), it gets its gradient, first and second order. Integer class
labels are indices, so they have none.
"""

from __future__ import annotations

import numpy as np

import autograd_core as ag
from autograd_core import Tensor, Variable
from autograd_core.compiler import opaque
from autograd_core.errors import ShapeError
from autograd_core.ops.reductions import SoftmaxCrossEntropy, _check_label_range

from .functional import check_labels, log_softmax
from .module import Module

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
    """``target`` checked to have ``prediction``'s shape, in ``prediction``'s dtype: a Tensor
    stays a Tensor (cast by the differentiable ``astype`` when the dtypes differ), so that
    gradients reach it when it requires grad; anything else becomes a numpy array. The one
    place where the losses take a float target, so none of them can cut it from the graph."""
    if not isinstance(target, Variable):
        target = np.asarray(target)
    if target.shape != np.shape(prediction):
        raise ShapeError(f"{where}: prediction has shape {np.shape(prediction)} but target has "
                         f"shape {target.shape}; they must be equal")
    dtype = np.result_type(prediction)
    return target if target.dtype == dtype else target.astype(dtype)


def _is_float(target) -> bool:
    """Whether ``target`` holds floats (one-hot or soft targets) rather than class labels."""
    dtype = target.dtype if isinstance(target, Variable) else np.asarray(target).dtype
    return dtype.kind == "f"


def _check_logits(logits, where: str) -> None:
    if np.ndim(logits) < 1:
        raise ShapeError(f"{where}: expected logits of shape (N, C) or (C,), got a 0-d tensor")


def _pick(log_probs, labels: np.ndarray):
    """``log_probs[..., labels]`` per example: the log-probability of each true class. Indexed
    with the labels array itself and one constant range per leading axis (``np.ix_``), never a
    reshaped view of the labels: ag.compile follows an argument, not numpy run on it."""
    positions = np.ix_(*(np.arange(n) for n in labels.shape))
    return log_probs[(*positions, labels)]


@opaque  # a compiled step checks every call's labels, as eager does (indexing takes -1)
def _labels_in_range(labels: np.ndarray, num_classes: int, where: str) -> None:
    _check_label_range(labels, num_classes, where)


def nll_loss(log_probs, labels, reduction: str = "mean"):
    """Negative log-likelihood of integer ``labels`` under ``log_probs`` (N, C)."""
    _check_logits(log_probs, "nll_loss")
    labels = check_labels(labels, log_probs.shape[-1], "nll_loss", log_probs.shape,
                          check_range=False)
    _labels_in_range(labels, log_probs.shape[-1], "nll_loss")
    return _reduce(-_pick(log_probs, labels), reduction, "nll_loss")


def cross_entropy(logits, target, reduction: str = "mean"):
    """Softmax cross-entropy on raw scores ``logits`` (N, C), stable for logits of 1e4.

    ``target`` is integer class labels of shape (N,) or, as floats of shape (N, C), one-hot or
    soft target distributions.
    """
    _check_logits(logits, "cross_entropy")
    if _is_float(target):
        target = _as_tensor_like(logits, target, "cross_entropy")
        log_probs = log_softmax(logits, axis=-1)
        return _reduce(-(log_probs * target).sum(axis=-1), reduction, "cross_entropy")
    # The range is checked by the fused primitive's forward (where compiled replays check it too).
    labels = check_labels(target, np.shape(logits)[-1], "cross_entropy", np.shape(logits),
                          check_range=False)
    if reduction not in REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {REDUCTIONS}, "
                         f"got {reduction!r}")
    _check_not_empty(labels.shape, reduction, "cross_entropy")
    # One fused node rather than log_softmax, indexing and the mean: a training step's loss.
    # The labels were checked above, so a Tensor goes straight to the primitive.
    if isinstance(logits, Tensor):
        return SoftmaxCrossEntropy.apply(logits, labels=labels, reduction=reduction)
    return ag.softmax_cross_entropy(logits, labels, reduction)


def _clipped_log(probs, eps: float):
    """log(p) with the value taken at p clipped to [eps, 1 - eps] (so log(0) never happens) but
    the derivative of log itself, 1/p, floored at p = sqrt(tiny) of the dtype (1e-19 in
    float32), where 1/p and the second derivative -1/p^2 are still finite.

    A clip's own derivative (0 outside the bounds) would cut off exactly the examples the model
    gets most wrong: with it a Softmax output p = 2e-9 for the true class passes no gradient at
    all. Here the gradient through a Softmax is p - onehot, as the fused ``cross_entropy`` gives,
    wherever p >= sqrt(tiny)."""
    values = np.asarray(probs.data if isinstance(probs, Variable) else probs)
    dtype = values.dtype if values.dtype.kind == "f" else np.dtype(np.float64)
    floored = np.maximum(values, np.sqrt(np.finfo(dtype).tiny).astype(dtype))
    # Both offsets are constants: the first moves the log's argument to the floor (the gradient
    # is 1 / floored), the second moves its value to log(clip(p)). Inside [eps, 1 - eps] and
    # above the floor both are exactly 0, so value and derivatives are exactly log's.
    logged = ag.log(probs + (floored - values))
    return logged + (np.log(np.clip(values, eps, 1.0 - eps)) - np.log(floored)).astype(dtype)


def categorical_cross_entropy(probs, target, reduction: str = "mean", eps: float = 1e-7):
    """Cross-entropy on probabilities (e.g. a Softmax layer's output), as the seed tutorials
    compute it: ``-log(p)`` of the true class, with the value of ``p`` clipped to
    [eps, 1 - eps] so log(0) never happens. The clip applies to the value only: the gradient
    is -1/p (floored far below eps, where -1/p^2 would overflow; see ``_clipped_log``), so a
    confidently wrong example still teaches the model, as much as the fused ``cross_entropy``
    would. Prefer ``cross_entropy`` on logits, which needs no clipping."""
    _check_logits(probs, "categorical_cross_entropy")
    if not 0.0 < eps < 0.5:  # written so that NaN is refused too
        raise ValueError(f"categorical_cross_entropy: eps must be in (0, 0.5), got {eps!r}")
    if _is_float(target):
        target = _as_tensor_like(probs, target, "categorical_cross_entropy")
        per_example = -(_clipped_log(probs, eps) * target).sum(axis=-1)
        return _reduce(per_example, reduction, "categorical_cross_entropy")
    labels = check_labels(target, np.shape(probs)[-1], "categorical_cross_entropy",
                          np.shape(probs))
    return _reduce(-_clipped_log(_pick(probs, labels), eps), reduction,
                   "categorical_cross_entropy")


def mse_loss(prediction, target, reduction: str = "mean"):
    """Squared error (prediction - target)^2 per element, averaged over all elements (PyTorch's
    ``mse_loss``)."""
    diff = prediction - _as_tensor_like(prediction, target, "mse_loss")
    return _reduce(diff * diff, reduction, "mse_loss")


def half_mse_loss(prediction, target, reduction: str = "mean"):
    """Half the squared error, 0.5 * (prediction - target)^2 per element, as some of the seed
    tutorials define it (the 1/2 cancels the 2 of the derivative): exactly half of
    ``mse_loss`` for every reduction."""
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
    return _reduce(elementwise, reduction, "binary_cross_entropy_with_logits")


def huber_loss(prediction, target, delta: float = 1.0, reduction: str = "mean"):
    """Squared error for |error| <= delta, linear beyond (robust to outliers)."""
    if not delta > 0:  # written so that NaN is refused too
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    diff = prediction - _as_tensor_like(prediction, target, "huber_loss")
    size = ag.abs(diff)
    quadratic = np.asarray(size) <= delta
    elementwise = ag.where(quadratic, 0.5 * diff * diff, delta * (size - 0.5 * delta))
    return _reduce(elementwise, reduction, "huber_loss")


def _parameters(parameters) -> list:
    """The Tensors of ``parameters``: a Module's parameters, or an iterable of Tensors (as the
    optimizers take them)."""
    if isinstance(parameters, Module):
        return list(parameters.parameters())
    return list(parameters)


def l1_penalty(parameters, strength: float):
    """strength * sum of |w| over ``parameters`` (a Module or Tensors; add it to the loss)."""
    return strength * sum(ag.abs(p).sum() for p in _parameters(parameters))


def l2_penalty(parameters, strength: float):
    """strength * sum of w^2 over ``parameters`` (a Module or Tensors), as the seed tutorials'
    L2 regulariser."""
    return strength * sum((p * p).sum() for p in _parameters(parameters))


__all__ = ["binary_cross_entropy_with_logits", "categorical_cross_entropy", "cross_entropy",
           "half_mse_loss", "huber_loss", "l1_penalty", "l2_penalty", "mse_loss", "nll_loss"]
