"""Sorting and selection: sort, topk, and the index functions argsort, argmax, argmin.

Sorted values are differentiable: they are ``x`` indexed by the sorting permutation (getitem
with index arrays, as ``np.take_along_axis``), so each output position passes its gradient back
to the element that landed there. Index results are integer Tensors outside the graph.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..engine import Variable
from ..errors import ShapeError
from ..registry import composite, untracked
from .broadcasting import normalize_axes
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
