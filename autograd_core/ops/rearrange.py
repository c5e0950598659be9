"""Ops that rearrange elements, each composed from the shape primitives (getitem with its
scatter_add adjoint, reshape, transpose, broadcast_to, concatenate) and ``where``, so that their
first and second derivatives come from those primitives' rules: split/array_split,
vstack/hstack, diag/diagonal/trace, tril/triu, flip, roll, tile, repeat and moveaxis.

The semantics are numpy's (``np.roll``, ``np.tile``, ``np.repeat``, ...). Where a PyTorch method
of the same name means something else (``Tensor.repeat`` tiles in PyTorch, ``Tensor.split``
takes chunk sizes) no method is made, so that neither camp gets a silently different answer.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..registry import composite
from . import reductions
from .broadcasting import normalize_axes
from .elementwise import where
from .shape import broadcast_to, concatenate, getitem, reshape, scatter_add, transpose


def _axis(axis, ndim: int, op: str, shape: tuple) -> int:
    """One axis as a non-negative int, checked."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    return normalize_axes(int(axis), ndim, op, shape)[0]


def _axis_list(axes, ndim: int, op: str, shape: tuple) -> list:
    """An int or a sequence of ints as a list of non-negative axes, in the order given."""
    axes = [axes] if isinstance(axes, (int, np.integer)) else list(axes)
    result = [_axis(a, ndim, op, shape) for a in axes]
    if len(set(result)) != len(result):
        raise ShapeError(f"{op}: axes {axes} repeat an axis (shape {shape})")
    return result


def _on_axis(index, axis: int) -> tuple:
    """An index that applies ``index`` to ``axis`` and keeps every axis before it whole."""
    return (slice(None),) * axis + (index,)


def _is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


# ---- splitting and joining ----------------------------------------------------------------------

def _pieces(x, indices_or_sections, axis: int, op: str, equal: bool) -> list:
    shape = np.shape(x)
    if len(shape) == 0:
        raise ShapeError(f"{op}: cannot split a 0-d tensor")
    axis = _axis(axis, len(shape), op, shape)
    n = shape[axis]
    if _is_integer(indices_or_sections):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"{op}: the number of sections must be positive, got {sections}")
        if equal and n % sections:
            raise ValueError(f"{op}: axis {axis} of shape {shape} has {n} elements, which do not "
                             f"split into {sections} equal sections; use array_split for "
                             "sections of unequal size")
        size, extra = divmod(n, sections)
        # numpy's rule: the first n % sections pieces have one element more
        bounds = np.cumsum([0] + [size + 1] * extra + [size] * (sections - extra)).tolist()
    else:
        # Split points are slice bounds, as numpy's: negative ones count from the end, and
        # unsorted or out-of-range points give empty pieces.
        bounds = [0, *(int(i) for i in indices_or_sections), n]
    return [getitem(x, _on_axis(slice(start, stop), axis))
            for start, stop in zip(bounds[:-1], bounds[1:])]


@composite(numpy=np.split)
def split(x, indices_or_sections, axis: int = 0) -> list:
    """A list of pieces of ``x`` along ``axis``: ``sections`` equal ones (an int, which must
    divide the axis), or those between the split points of a list of indices. Each piece is a
    Tensor in the graph (a slice of ``x``)."""
    return _pieces(x, indices_or_sections, axis, "split", equal=True)


@composite(numpy=np.array_split)
def array_split(x, indices_or_sections, axis: int = 0) -> list:
    """As :func:`split`, but ``sections`` need not divide the axis: the first ``n % sections``
    pieces get one element more (numpy's rule)."""
    return _pieces(x, indices_or_sections, axis, "array_split", equal=False)


def _at_least(x, ndim: int):
    """``x`` with size-1 axes put in front until it has ``ndim`` dims (numpy's atleast_Nd for
    N <= 2)."""
    shape = np.shape(x)
    return x if len(shape) >= ndim else reshape(x, (1,) * (ndim - len(shape)) + shape)


@composite(numpy=np.vstack)
def vstack(xs):
    """Join tensors row-wise: 0-d and 1-d tensors become rows (shape (1, n)), then all are
    concatenated along axis 0."""
    return concatenate([_at_least(x, 2) for x in xs], axis=0)


@composite(numpy=np.hstack)
def hstack(xs):
    """Join tensors column-wise: along axis 0 when they are 1-d (0-d ones count as 1-d), along
    axis 1 otherwise."""
    xs = [_at_least(x, 1) for x in xs]
    return concatenate(xs, axis=0 if xs and np.ndim(xs[0]) == 1 else 1)


# ---- diagonals and triangles --------------------------------------------------------------------

def _diagonal_index(rows: int, cols: int, offset: int) -> tuple:
    """Row and column indices of the ``offset`` diagonal of a rows x cols matrix."""
    length = max(0, min(rows, cols - offset) if offset >= 0 else min(rows + offset, cols))
    steps = np.arange(length)
    return steps + max(-offset, 0), steps + max(offset, 0)


@composite(numpy=np.diagonal, method=True)
def diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """The ``offset`` diagonal of the matrices spanned by ``axis1`` and ``axis2``, as the last
    axis of the result (numpy's layout); a copy, not a view."""
    shape = np.shape(x)
    if len(shape) < 2:
        raise ShapeError(f"diagonal: needs at least 2 dims, got shape {shape}")
    a, b = _axis_list((axis1, axis2), len(shape), "diagonal", shape)
    rows, cols = _diagonal_index(shape[a], shape[b], int(offset))
    return getitem(moveaxis(x, (a, b), (-2, -1)), (Ellipsis, rows, cols))


@composite(numpy=np.diag, method=True)
def diag(x, k: int = 0):
    """A 1-d ``x`` as the ``k`` diagonal of a square matrix of zeros (side ``len(x) + |k|``); the
    ``k`` diagonal of a 2-d ``x``."""
    shape = np.shape(x)
    if len(shape) == 2:
        return diagonal(x, k)
    if len(shape) != 1:
        raise ShapeError(f"diag: expected a 1-d or 2-d tensor, got shape {shape}")
    side = shape[0] + abs(int(k))
    return scatter_add(x, _diagonal_index(side, side, int(k)), (side, side))


@composite(numpy=np.trace, method=True)
def trace(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """The sum of the ``offset`` diagonal (over ``axis1`` and ``axis2`` of a tensor with more
    dims, one sum per remaining index, as numpy's)."""
    return reductions.sum(diagonal(x, offset, axis1, axis2), axis=-1)


def _triangle(x, k: int, op: str, lower: bool):
    shape = np.shape(x)
    if len(shape) < 2:
        raise ShapeError(f"{op}: needs at least 2 dims (a matrix or a batch of them), got shape "
                         f"{shape}")
    rows, cols = shape[-2:]
    mask = np.tri(rows, cols, k, dtype=bool) if lower else ~np.tri(rows, cols, k - 1, dtype=bool)
    return where(mask, x, 0)


@composite(numpy=np.tril, method=True)
def tril(x, k: int = 0):
    """The lower triangle of the last two axes: elements on and below the ``k`` diagonal kept,
    the others 0 (passing no gradient)."""
    return _triangle(x, int(k), "tril", lower=True)


@composite(numpy=np.triu, method=True)
def triu(x, k: int = 0):
    """The upper triangle of the last two axes: elements on and above the ``k`` diagonal kept,
    the others 0 (passing no gradient)."""
    return _triangle(x, int(k), "triu", lower=False)


# ---- reordering ---------------------------------------------------------------------------------

@composite(numpy=np.flip, method=True)
def flip(x, axis=None):
    """The elements in reverse order along ``axis`` (an int, a tuple, or None: every axis)."""
    shape = np.shape(x)
    axes = normalize_axes(axis, len(shape), "flip", shape)
    return getitem(x, tuple(slice(None, None, -1) if i in axes else slice(None)
                            for i in range(len(shape))))


@composite(numpy=np.roll, method=True)
def roll(x, shift, axis=None):
    """Elements shifted by ``shift`` places along ``axis``, those leaving at one end coming
    back at the other. With ``axis=None`` the flattened tensor is rolled and reshaped back;
    ``shift`` and ``axis`` may be tuples (shifts of one axis named twice add up), as numpy's."""
    shape = np.shape(x)
    if axis is None:
        return reshape(roll(reshape(x, (-1,)), shift, 0), shape)
    total: dict = {}
    for s, a in np.broadcast(shift, axis):
        a = _axis(a, len(shape), "roll", shape)
        total[a] = total.get(a, 0) + int(s)
    for a, s in total.items():
        n = shape[a]
        if n and s % n:
            x = getitem(x, _on_axis((np.arange(n) - s) % n, a))
    return x


@composite(numpy=np.tile, method=True)
def tile(x, reps):
    """``x`` repeated ``reps[i]`` times along axis i (numpy's tile: the shorter of ``x.shape``
    and ``reps`` is padded with leading 1s)."""
    reps = (int(reps),) if _is_integer(reps) else tuple(int(r) for r in reps)
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: repetitions must be non-negative, got {reps}")
    shape = np.shape(x)
    ndim = max(len(reps), len(shape))
    shape = (1,) * (ndim - len(shape)) + shape
    reps = (1,) * (ndim - len(reps)) + reps
    # A size-1 axis before each axis, stretched to its repetitions, then merged with it.
    spread = reshape(x, tuple(n for side in shape for n in (1, side)))
    stretched = broadcast_to(spread, tuple(n for pair in zip(reps, shape) for n in pair))
    return reshape(stretched, tuple(r * side for r, side in zip(reps, shape)))


@composite(numpy=np.repeat)
def repeat(x, repeats, axis=None):
    """Each element repeated ``repeats`` times (an int, or one count per element along
    ``axis``) next to itself; with ``axis=None`` on the flattened tensor. numpy's repeat
    (PyTorch's ``repeat_interleave``); PyTorch's ``Tensor.repeat`` is :func:`tile`."""
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    shape = np.shape(x)
    axis = _axis(axis, len(shape), "repeat", shape)
    try:
        picks = np.repeat(np.arange(shape[axis]), repeats)
    except ValueError as error:
        raise ValueError(f"repeat: {error} (repeats {repeats!r} for axis {axis} of shape "
                         f"{shape})") from None
    return getitem(x, _on_axis(picks, axis))


@composite(numpy=np.moveaxis, method=True)
def moveaxis(x, source, destination):
    """Axes ``source`` moved to positions ``destination`` (ints or sequences of one length), the
    others keeping their order."""
    shape = np.shape(x)
    source = _axis_list(source, len(shape), "moveaxis", shape)
    destination = _axis_list(destination, len(shape), "moveaxis", shape)
    if len(source) != len(destination):
        raise ValueError(f"moveaxis: source {source} and destination {destination} must name "
                         "as many axes")
    order = [a for a in range(len(shape)) if a not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(x, tuple(order))
