"""Reductions over an axis (int or tuple) with ``keepdims``: sum, max, min, prod, logsumexp
primitives; mean, var and std composed from them; softmax cross-entropy over the last axis,
fused."""

import builtins

import numpy as np

from ..engine import Function, Variable, _Unrecorded
from ..errors import DTypeError, ShapeError
from ..registry import composite, primitive
from .broadcasting import keepdims_shape, normalize_axes
from .elementwise import exp, sqrt, where
from .shape import astype, broadcast_to


def _reduction_setup(ctx, x, axis, op: str) -> tuple:
    shape = np.shape(x)
    axes = normalize_axes(axis, len(shape), op, shape)
    ctx.in_shape = shape
    ctx.axes = axes
    ctx.keep_shape = keepdims_shape(shape, axes)
    return axes


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = _reduction_setup(ctx, x, axis, "sum")
        return np.sum(x, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        return broadcast_to(grad.reshape(ctx.keep_shape), ctx.in_shape)


class _Extreme(Function):
    """max/min over axes; tied extremes share the gradient equally (as PyTorch's amax/amin).
    A NaN element makes the result nan (as numpy) and takes the gradient."""

    reduce = None  # np.max or np.min

    @classmethod
    def forward(cls, ctx, x, axis=None, keepdims=False):
        axes = _reduction_setup(ctx, x, axis, cls.__name__.lower())
        empty = [a for a in axes if ctx.in_shape[a] == 0]
        if empty:  # reducing over no elements; (0, 3) over axis 1 is fine: shape (0,)
            raise ShapeError(f"{cls.__name__.lower()}: cannot reduce over axis {empty[0]} of "
                             f"size 0 (shape {ctx.in_shape}): the result would have no defined "
                             "value; expected a non-empty axis")
        out = cls.reduce(x, axis=axes, keepdims=keepdims)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        x_raw = x.data if isinstance(x, Variable) else x
        out_raw = (out.data if isinstance(out, Variable) else np.asarray(out))
        out_raw = out_raw.reshape(ctx.keep_shape)
        # The elements equal to the extreme share its gradient; where the extreme is nan (numpy
        # propagates it), the NaN elements share it, as PyTorch's max. A constant mask.
        is_extreme = (x_raw == out_raw) | (np.isnan(x_raw) & np.isnan(out_raw))
        count = is_extreme.sum(axis=ctx.axes, keepdims=True).astype(grad.dtype)
        return where(is_extreme, grad.reshape(ctx.keep_shape) / count, 0)


class Max(_Extreme):
    reduce = staticmethod(np.max)


class Min(_Extreme):
    reduce = staticmethod(np.min)


class Prod(Function):
    """Product over axes. Its gradient is the product of the other elements of each slice,
    computed without dividing by an element that is 0, so it is right with zeros: with one 0
    in a slice, that element gets the product of the others and the rest get 0; with more, all
    get 0. Second derivatives are right too, for any number of zeros."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = _reduction_setup(ctx, x, axis, "prod")
        is_zero = np.equal(x, 0)
        # Only when some element is 0 does backward need more than out / x (kept as constants).
        ctx.is_zero = is_zero if is_zero.any() else None
        if ctx.is_zero is not None:
            ctx.zero_count = np.sum(is_zero, axis=axes, keepdims=True)
        out = np.prod(x, axis=axes, keepdims=keepdims)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        grad = grad.reshape(ctx.keep_shape)
        is_zero = ctx.is_zero
        if is_zero is None:  # the usual case: the product of the others is out / x
            return grad * out.reshape(ctx.keep_shape) / x
        axes, count = ctx.axes, ctx.zero_count
        nonzero = where(is_zero, 1, x)
        others = prod(nonzero, axis=axes, keepdims=True) / nonzero  # the non-zero others
        # The zero elements of the others, as a factor that is 0 or 1 in value but carries their
        # derivative, so that differentiating again is right: z is the slice's zero elements
        # added up (the one zero, where there is one).
        z = sum(where(is_zero, x, 0), axis=axes, keepdims=True)
        factor = where(count == 0, 1,
                       where(count == 1, where(is_zero, 1, z),
                             # two zeros: each one's product of others holds the other zero
                             where(count == 2, where(is_zero, z - x, 0), 0)))
        return grad * others * factor


def _logsumexp(x, axes):
    shift = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
    # A row of -inf has max -inf; shifting by it would give nan, and the answer is just -inf.
    shift = np.where(np.isfinite(shift), shift, 0)
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer for such a row
        return np.log(np.sum(np.exp(x - shift), axis=axes, keepdims=True)) + shift


class LogSumExp(Function):
    """log(sum(exp(x))) over axes, shifted by the max so large inputs do not overflow."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = _reduction_setup(ctx, x, axis, "logsumexp")
        out = _logsumexp(x, axes)
        if not keepdims:
            out = out.reshape(tuple(n for i, n in enumerate(ctx.in_shape) if i not in axes))
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        out = out.reshape(ctx.keep_shape)
        # softmax(x) = exp(x - out); a row that is all -inf gets gradient 0 instead of nan.
        softmax = exp(x - where(out == -np.inf, 0, out))
        return grad.reshape(ctx.keep_shape) * softmax


def _softmax_cross_entropy(x, labels):
    """-log(softmax(x)[..., label]) per row of the last axis, shifted by the row max so logits
    of 1e4 stay exact in float32."""
    shifted = x - np.max(x, axis=-1, keepdims=True)
    if shifted.ndim == 2:  # (N, C), the usual case: plain indexing costs less than take_along
        picked = shifted[np.arange(len(labels)), labels]
    else:
        picked = np.take_along_axis(shifted, labels[..., None], axis=-1)[..., 0]
    return np.log(np.sum(np.exp(shifted), axis=-1)) - picked


class SoftmaxCrossEntropy(Function):
    """-log(softmax(x)[..., labels]) over the last axis of logits ``x``: one value per row
    (``reduction='none'``), or their ``'mean'`` or ``'sum'``.

    One node instead of the dozen that log_softmax, indexing, negation and the mean record: the
    same numbers with fewer temporaries and wrappers. The backward is written in ops, so it can
    be differentiated again.
    """

    @staticmethod
    def forward(ctx, x, labels, reduction="mean"):
        # The range is checked here, not only by the public functions: a compiled replay runs
        # this forward on each call's labels but not the Python around it (a label of -1 would
        # otherwise pick the last class silently).
        _check_label_range(labels, x.shape[-1], "softmax_cross_entropy")
        ctx.labels = np.array(labels, copy=True)  # ours: the caller may change theirs later
        ctx.reduction = reduction
        ctx.save_for_backward(x)
        losses = _softmax_cross_entropy(x, labels)
        if reduction == "none":
            return losses
        if losses.dtype == np.float16:  # added up in float32, as numpy's mean does
            total = losses.sum(dtype=np.float32)
            return (total if reduction == "sum" else total / labels.size).astype(np.float16)
        total = losses.sum()
        # sum / count is what mean computes, without np.mean's Python-level wrapper
        return total if reduction == "sum" else total / labels.size

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        labels = ctx.labels
        # d/dx = softmax(x) - one_hot(labels), the one-hot rows being a constant. Shifted by the
        # row max (also a constant: softmax does not change under shifts), as forward is, so
        # large logits stay exact in float32.
        shifted = x - np.max(np.asarray(x), axis=-1, keepdims=True)
        e = exp(shifted)
        softmax = e / e.sum(axis=-1, keepdims=True)
        one_hot = np.eye(x.shape[-1], dtype=x.dtype)[labels]
        if ctx.reduction == "none":
            grad = grad.reshape(grad.shape + (1,))
        elif ctx.reduction == "mean":
            grad = grad / labels.size
        return grad * (softmax - one_hot)


class Softmax(Function):
    """exp(x) / sum(exp(x)) along one axis, shifted by the maximum so that no exp overflows.

    The gradient is ``out * (grad - sum(grad * out))`` along the axis, written in ops so that
    it can be differentiated again. A slice that is all -inf has no distribution: it gives nan,
    as numpy's exp(x - max) and PyTorch's softmax do (attention avoids it; see
    ``scaled_dot_product_attention``); -inf elements next to finite ones get probability 0.
    """

    @staticmethod
    def forward(ctx, x, axis=-1):
        shape = np.shape(x)
        if len(shape) == 0:
            raise ShapeError("softmax: expected a tensor with at least one axis, got a 0-d one")
        (ctx.axis,) = normalize_axes(axis, len(shape), "softmax", shape)
        with np.errstate(invalid="ignore"):  # -inf - -inf for an all -inf slice: nan, as said
            e = np.exp(x - np.max(x, axis=ctx.axis, keepdims=True))
        e /= np.sum(e, axis=ctx.axis, keepdims=True)
        ctx.save_for_backward(e)
        return e

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        weighted = grad * out
        return weighted - out * weighted.sum(axis=ctx.axis, keepdims=True)

    @staticmethod
    def jvp(ctx, tangent):
        """Forward mode (func.jvp): the same expression as backward (the Jacobian is
        symmetric), without the transpose the derived rule would take."""
        (out,) = ctx.saved_tensors
        weighted = tangent * out
        return weighted - out * weighted.sum(axis=ctx.axis, keepdims=True)


class Cumsum(Function):
    """Running sums along ``axis`` (numpy's ``cumsum``: ``axis=None`` runs over the flattened
    tensor and gives a 1-d result). The gradient of each input element is the sum of the
    output's gradient from its position on: a cumulative sum run backwards."""

    @staticmethod
    def forward(ctx, x, axis=None):
        shape = np.shape(x)
        ctx.in_shape = shape
        if axis is None:
            ctx.axis = None
            return np.cumsum(x)
        (ctx.axis,) = normalize_axes(axis, len(shape), "cumsum", shape)
        return np.cumsum(x, axis=ctx.axis)

    @staticmethod
    def backward(ctx, grad):
        axis = 0 if ctx.axis is None else ctx.axis
        reverse = (slice(None),) * axis + (slice(None, None, -1),)
        result = cumsum(grad[reverse], axis=axis)[reverse]
        return result.reshape(ctx.in_shape) if ctx.axis is None else result

    @staticmethod
    def jvp(ctx, tangent):
        """Forward mode (func.jvp): cumsum is linear, so the tangent's running sums."""
        return cumsum(tangent, axis=ctx.axis)


# ---- public functions ---------------------------------------------------------------------------

def _reduction(function_class, name: str, doc: str):
    def reduce(x, axis=None, keepdims: bool = False):
        if isinstance(x, Variable):
            return function_class.apply(x, axis=axis, keepdims=keepdims)
        return getattr(np, name)(x, axis=axis, keepdims=keepdims)

    reduce.__name__ = reduce.__qualname__ = name
    reduce.__doc__ = doc
    return reduce


sum = primitive("sum", Sum, numpy=np.sum, method=True,  # noqa: A001
                public=_reduction(Sum, "sum", "Sum over ``axis`` (None: all axes; int or tuple)."))
max = primitive("max", Max, numpy=(np.max, np.amax), method=True, public=_reduction(  # noqa: A001
    Max, "max", "Largest element over ``axis``; tied maxima share the gradient equally (as "
    "PyTorch's ``amax``): ``max(Tensor([3., 3., 1.]))`` sends 0.5 to each 3."))
min = primitive("min", Min, numpy=(np.min, np.amin), method=True, public=_reduction(  # noqa: A001
    Min, "min", "Smallest element over ``axis``; tied minima share the gradient equally (as "
    "PyTorch's ``amin``)."))
prod = primitive("prod", Prod, numpy=np.prod, method=True, public=_reduction(
    Prod, "prod", "Product of the elements over ``axis`` (None: all; an int or a tuple). Its "
    "gradient is right where elements are 0 (see ``Prod``); the product of no elements is 1."))


def _logsumexp_public(x, axis=None, keepdims: bool = False):
    """log(sum(exp(x))) over ``axis``, stable for large inputs and for rows of -inf."""
    if isinstance(x, Variable):
        return LogSumExp.apply(x, axis=axis, keepdims=keepdims)
    axes = normalize_axes(axis, np.ndim(x), "logsumexp", np.shape(x))
    out = _logsumexp(np.asarray(x), axes)
    return out if keepdims else np.squeeze(out, axis=axes)


logsumexp = primitive("logsumexp", LogSumExp, method=True, public=_logsumexp_public)


def check_labels(labels, num_classes: int, where: str, scores_shape: tuple | None = None,
                 check_range: bool = True):
    """Integer class labels as an array: a DTypeError for any other dtype, a ValueError for
    values outside [0, num_classes) (unless ``check_range=False``: for callers whose primitive
    checks the range in its forward), and, given ``scores_shape`` (logits or probabilities of
    shape (..., num_classes)), a ShapeError unless the labels have shape ``scores_shape[:-1]``."""
    labels = np.asarray(labels.data if isinstance(labels, Variable) else labels)
    if labels.dtype.kind not in "iu":
        raise DTypeError(f"{where}: class labels must be integers, got dtype {labels.dtype} "
                         "(one-hot or soft targets go to nn.cross_entropy as a float array of "
                         "the logits' shape)")
    if check_range:
        _check_label_range(labels, num_classes, where)
    if scores_shape is not None and labels.shape != scores_shape[:-1]:
        raise ShapeError(f"{where}: labels of shape {labels.shape} do not fit scores of shape "
                         f"{scores_shape}: expected labels of shape {scores_shape[:-1]}")
    return labels


def _check_label_range(labels: np.ndarray, num_classes: int, where: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)]
        raise ValueError(f"{where}: labels must be in [0, {num_classes - 1}] for "
                         f"{num_classes} classes, got {bad[:5].tolist()}")


def _softmax_cross_entropy_public(logits, labels, reduction: str = "mean"):
    """Cross-entropy of integer ``labels`` (shape ``logits.shape[:-1]``) under softmax(logits)
    over the last axis: ``-log_softmax(logits)[..., labels]`` per row, fused, then averaged
    (``reduction='mean'``), added up (``'sum'``) or left per row (``'none'``).

    >>> softmax_cross_entropy(np.zeros((2, 4)), np.array([0, 3]), "none").round(4).tolist()
    [1.3863, 1.3863]
    """
    shape = np.shape(logits)
    if len(shape) == 0:
        raise ShapeError("softmax_cross_entropy: expected logits of shape (N, C) or (C,), got a "
                         "0-d array")
    labels = check_labels(labels, shape[-1], "softmax_cross_entropy", shape, check_range=False)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"softmax_cross_entropy: reduction must be 'mean', 'sum' or 'none', "
                         f"got {reduction!r}")
    if reduction == "mean" and labels.size == 0:
        raise ShapeError(f"softmax_cross_entropy: got an empty batch (logits of shape {shape}): "
                         "the mean over no rows is undefined: expected at least one row")
    if isinstance(logits, Variable):
        return SoftmaxCrossEntropy.apply(logits, labels=labels, reduction=reduction)
    return SoftmaxCrossEntropy.forward(_Unrecorded(), np.asarray(logits), labels, reduction)


softmax_cross_entropy = primitive("softmax_cross_entropy", SoftmaxCrossEntropy,
                                  public=_softmax_cross_entropy_public)


def _softmax_public(x, axis: int = -1):
    """Probabilities along ``axis`` (one int, the last by default): exp(x) / sum(exp(x)),
    computed without overflow; see :class:`Softmax`."""
    if isinstance(axis, (tuple, list)):
        raise TypeError(f"softmax: axis must be one int, got {axis!r}")
    if isinstance(x, Variable):
        return Softmax.apply(x, axis=axis)
    return Softmax.compute(np.asarray(x), axis=axis)


def _cumsum_public(x, axis=None):
    """Cumulative sum along ``axis`` (None: over the flattened tensor), as ``np.cumsum``."""
    if isinstance(axis, (tuple, list)):
        raise TypeError(f"cumsum: axis must be an int or None, got {axis!r}")
    if isinstance(x, Variable):
        return Cumsum.apply(x, axis=axis)
    return Cumsum.compute(np.asarray(x), axis=axis)


softmax = primitive("softmax", Softmax, method=True, public=_softmax_public)
cumsum = primitive("cumsum", Cumsum, numpy=np.cumsum, method=True, public=_cumsum_public)


def _count(x, axis) -> int:
    shape = np.shape(x)
    axes = normalize_axes(axis, len(shape), "mean", shape)
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


def _widened(x):
    """float16 values as float32 for a sum: 200 copies of 600.0 add up past float16's largest
    number (65504) although their mean does not. numpy's mean and PyTorch's accumulate float16
    in float32 too. Other dtypes as they are."""
    return astype(x, np.float32) if np.result_type(x) == np.float16 else x


def _narrowed(result, x):
    """``result`` back in x's dtype after _widened."""
    return astype(result, np.float16) if np.result_type(x) == np.float16 else result


@composite(numpy=np.mean, method=True)
def mean(x, axis=None, keepdims: bool = False):
    """Arithmetic mean over ``axis``; float16 is summed in float32 (as numpy), so the mean of
    large float16 values does not overflow, and returned as float16. An empty axis gives nan."""
    count = _count(x, axis)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 is nan for an empty axis
        return _narrowed(sum(_widened(x), axis=axis, keepdims=keepdims) / count, x)


@composite(numpy=np.var, method=True)
def var(x, axis=None, keepdims: bool = False, ddof: int = 0):
    """Variance over ``axis``, dividing by ``n - ddof`` (numpy's default ddof=0); float16 is
    computed in float32 and returned as float16.

    With ``ddof >= n`` the divisor is 0, as in numpy and PyTorch: the variance is inf (nan
    where every deviation is 0, as for an empty axis), never negative.
    """
    wide = _widened(x)
    deviation = wide - mean(wide, axis=axis, keepdims=True)
    divisor = builtins.max(_count(x, axis) - ddof, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = sum(deviation * deviation, axis=axis, keepdims=keepdims)
        return _narrowed(total / divisor, x)


@composite(numpy=np.std, method=True)
def std(x, axis=None, keepdims: bool = False, ddof: int = 0):
    """Standard deviation over ``axis``: ``sqrt(var(x, axis, ddof=ddof))``, dividing by
    ``n - ddof`` (numpy's default ddof=0, as ``var`` here; PyTorch's ``std`` defaults to 1).
    Where all elements of a slice are equal the gradient is nan, as in PyTorch (sqrt's slope
    at 0 is infinite)."""
    return sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))
