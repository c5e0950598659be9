"""Sorting and selection (sort, topk, and the index functions argsort, argmax, argmin), and two
reductions that came with the numpy coverage: ``prod`` (a primitive whose gradient stays right
when elements are 0) and ``std`` (composed from ``var``).

Sorted values are differentiable: they are ``x`` indexed by the sorting permutation (getitem
with index arrays, as ``np.take_along_axis``), so each output position passes its gradient back
to the element that landed there. Index results are integer Tensors outside the graph.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..engine import Function, Variable
from ..errors import ShapeError
from ..registry import composite, primitive, untracked
from . import reductions
from .broadcasting import keepdims_shape, normalize_axes
from .elementwise import sqrt, where
from .shape import getitem, reshape


def _raw(x, op: str) -> np.ndarray:
    """The array of a Tensor (or an array-like): what index functions look at."""
    if isinstance(x, Variable):
        if not isinstance(x.data, np.ndarray):
            raise TypeError(f"{op}: works on Tensors and arrays, not on a {type(x).__name__}")
        return x.data
    return np.asarray(x)


def _indices(x, out):
    """An index result: an integer Tensor outside the graph for a Tensor input, else the array."""
    return x._family._from_op(out, None) if isinstance(x, Variable) else out


def _along_axis(order: np.ndarray, axis: int) -> tuple:
    """An index with ``x[index] == np.take_along_axis(x, order, axis)``: ``order`` on ``axis``,
    and an arange broadcast along each other axis."""
    ndim = order.ndim
    return tuple(order if i == axis else
                 np.arange(n).reshape((1,) * i + (n,) + (1,) * (ndim - i - 1))
                 for i, n in enumerate(order.shape))


def _stable_order(raw: np.ndarray, axis: int, descending: bool = False) -> np.ndarray:
    """Sorting indices along ``axis``; equal elements keep their order (lower index first), in
    descending order too."""
    if not descending:
        return np.argsort(raw, axis=axis, kind="stable")
    # A stable ascending sort of the reversed axis, read backwards: descending, and ties still
    # in index order. (Negating instead would not work for unsigned or bool arrays.)
    reverse = np.flip(np.argsort(np.flip(raw, axis), axis=axis, kind="stable"), axis)
    return raw.shape[axis] - 1 - reverse


# ---- sorting and selection ----------------------------------------------------------------------

@composite(numpy=np.sort)
def sort(x, axis=-1, kind=None):
    """The elements sorted along ``axis`` (None: the flattened tensor), ascending, as np.sort.

    Differentiable: each sorted position passes its gradient to the element sorted into it.
    Tied elements are ordered stably (lower index first) whatever ``kind`` says, so the gradient
    of the first of equal outputs goes to the first of the equal inputs; the values do not
    depend on ``kind``. No Tensor method: ``ndarray.sort`` sorts in place and PyTorch's returns
    indices too; use ``ag.sort`` (values) or ``topk``/``argsort``.
    """
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    raw = _raw(x, "sort")
    axis = normalize_axes(axis, raw.ndim, "sort", raw.shape)[0]
    return getitem(x, _along_axis(_stable_order(raw, axis), axis))


@untracked(numpy=np.argsort, method=True)
def argsort(x, axis=-1, kind=None):
    """Indices that sort ``x`` along ``axis`` (None: the flattened tensor); ties in index order
    (a stable sort unless ``kind`` asks for another). An integer tensor, with no gradient."""
    return _indices(x, np.argsort(_raw(x, "argsort"), axis=axis, kind=kind or "stable"))


@untracked(numpy=np.argmax, method=True)
def argmax(x, axis=None, keepdims: bool = False):
    """Index of the largest element along ``axis`` (None: in the flattened tensor); the first
    one when several tie, as numpy and PyTorch. An integer tensor, with no gradient."""
    return _indices(x, np.argmax(_raw(x, "argmax"), axis=axis, keepdims=keepdims))


@untracked(numpy=np.argmin, method=True)
def argmin(x, axis=None, keepdims: bool = False):
    """Index of the smallest element along ``axis`` (None: in the flattened tensor); the first
    one when several tie. An integer tensor, with no gradient."""
    return _indices(x, np.argmin(_raw(x, "argmin"), axis=axis, keepdims=keepdims))


TopK = namedtuple("TopK", ["values", "indices"])
TopK.__doc__ = "What topk returns: the ``values`` (in the graph) and their integer ``indices``."


@composite(method=True)
def topk(x, k: int, axis: int = -1, largest: bool = True) -> TopK:
    """The ``k`` largest (``largest=False``: smallest) elements along ``axis``, sorted, and their
    indices, as PyTorch's ``topk``: ``values, indices = t.topk(2)``.

    The values are ``x`` picked at the indices, so each passes its gradient to the element it
    came from; the indices are an integer tensor without gradient. Among equal elements the one
    with the lower index comes first; nan counts as larger than any number, as in PyTorch.
    """
    raw = _raw(x, "topk")
    if raw.ndim == 0:
        raise ShapeError("topk: needs at least 1 dim, got a 0-d tensor")
    axis = normalize_axes(axis, raw.ndim, "topk", raw.shape)[0]
    n = raw.shape[axis]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ValueError(f"topk: k must be an int in [0, {n}] for axis {axis} of shape "
                         f"{raw.shape}, got {k!r}")
    order = _stable_order(raw, axis, descending=largest)
    picked = order[(slice(None),) * axis + (slice(0, int(k)),)]
    return TopK(getitem(x, _along_axis(picked, axis)), _indices(x, picked))


# ---- reductions ---------------------------------------------------------------------------------

class Prod(Function):
    """Product over axes. Its gradient is the product of the other elements of each slice,
    computed without dividing by an element that is 0, so it is right with zeros: with one 0
    in a slice, that element gets the product of the others and the rest get 0; with more, all
    get 0. Second derivatives are right too, for any number of zeros."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        shape = np.shape(x)
        axes = normalize_axes(axis, len(shape), "prod", shape)
        ctx.axes = axes
        ctx.keep_shape = keepdims_shape(shape, axes)
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
        z = reductions.sum(where(is_zero, x, 0), axis=axes, keepdims=True)
        factor = where(count == 0, 1,
                       where(count == 1, where(is_zero, 1, z),
                             # two zeros: each one's product of others holds the other zero
                             where(count == 2, where(is_zero, z - x, 0), 0)))
        return grad * others * factor


def _prod_public(x, axis=None, keepdims: bool = False):
    """Product of the elements over ``axis`` (None: all; an int or a tuple). Its gradient is
    right where elements are 0 (see ``Prod``); the product of no elements is 1."""
    if isinstance(x, Variable):
        return Prod.apply(x, axis=axis, keepdims=keepdims)
    return Prod.compute(np.asarray(x), axis=axis, keepdims=keepdims)


prod = primitive("prod", Prod, numpy=np.prod, method=True, public=_prod_public)


@composite(numpy=np.std, method=True)
def std(x, axis=None, keepdims: bool = False, ddof: int = 0):
    """Standard deviation over ``axis``: ``sqrt(var(x, axis, ddof=ddof))``, dividing by
    ``n - ddof`` (numpy's default ddof=0, as ``var`` here; PyTorch's ``std`` defaults to 1).
    Where all elements of a slice are equal the gradient is nan, as in PyTorch (sqrt's slope
    at 0 is infinite)."""
    return sqrt(reductions.var(x, axis=axis, keepdims=keepdims, ddof=ddof))
