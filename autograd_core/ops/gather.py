"""Picking elements along an axis by an array of indices: numpy's ``take_along_axis`` and
PyTorch's ``gather``.

Both are composed from ``getitem`` with an integer-array index (one ``arange`` per other axis
and the given indices on the chosen axis), so their gradient is getitem's adjoint,
``scatter_add``: an element picked twice gets both gradients added up, and the second
derivative comes from those two primitives' rules. Indices carry no gradient.
"""

from __future__ import annotations

import numpy as np

from ..engine import Variable
from ..errors import DTypeError, ShapeError
from ..registry import composite
from .broadcasting import normalize_axes
from .shape import getitem, reshape


def _index_array(indices, op: str) -> np.ndarray:
    """``indices`` (an array, a Tensor of integers, a list) as an integer numpy array."""
    raw = np.asarray(indices.data if isinstance(indices, Variable) else indices)
    if raw.dtype.kind not in "iu":
        raise DTypeError(f"{op}: indices must be integers, got dtype {raw.dtype} "
                         f"(shape {raw.shape})")
    return raw


def _check_range(index: np.ndarray, low: int, size: int, op: str, axis: int,
                 shape: tuple) -> None:
    if index.size and (index.min() < low or index.max() >= size):
        bad = index[(index < low) | (index >= size)]
        raise IndexError(f"{op}: index {bad.flat[0]} is out of range for axis {axis} of size "
                         f"{size} (tensor shape {shape}); expected indices in "
                         f"[{low}, {size - 1}]")


def _along(shapes: tuple, axis: int, index: np.ndarray) -> tuple:
    """The integer-array index that picks ``index`` on ``axis`` and runs over ``shapes[d]`` on
    every other axis d (aranges shaped to broadcast against ``index``)."""
    ndim = len(shapes)
    parts = []
    for d, n in enumerate(shapes):
        if d == axis:
            parts.append(index)
        else:
            parts.append(np.arange(n).reshape((1,) * d + (n,) + (1,) * (ndim - d - 1)))
    return tuple(parts)


@composite(numpy=np.take_along_axis)
def take_along_axis(x, indices, axis):
    """Elements of ``x`` at ``indices`` along ``axis``, as ``np.take_along_axis``: ``indices``
    has x's number of dims and broadcasts against x on the other axes; negative indices count
    from the end. ``axis=None`` works on the flattened ``x`` (``indices`` 1-d). The gradient
    adds up at indices picked more than once.

    >>> take_along_axis(np.array([[10., 20.], [30., 40.]]), np.array([[1], [0]]), 1).tolist()
    [[20.0], [30.0]]
    """
    index = _index_array(indices, "take_along_axis")
    if axis is None:
        x = reshape(x, (-1,))
        axis = 0
    shape = np.shape(x)
    if index.ndim != len(shape):
        raise ShapeError(f"take_along_axis: indices of shape {index.shape} must have as many "
                         f"dims as the tensor of shape {shape} ({len(shape)})")
    (axis,) = normalize_axes(axis, len(shape), "take_along_axis", shape)
    size = shape[axis]
    _check_range(index, -size, size, "take_along_axis", axis, shape)
    others = [d for d in range(len(shape)) if d != axis]
    try:
        np.broadcast_shapes(tuple(shape[d] for d in others), tuple(index.shape[d] for d in others))
    except ValueError:
        raise ShapeError(f"take_along_axis: indices of shape {index.shape} do not broadcast "
                         f"against the tensor of shape {shape} on the axes other than "
                         f"{axis}") from None
    return getitem(x, _along(shape, axis, index))


@composite(method=True)
def gather(x, dim: int, index):
    """PyTorch's ``gather``: ``out[i][j][k] = x[index[i][j][k]][j][k]`` for ``dim=0`` (the
    index on axis ``dim``, the position itself on the others). ``index`` has x's number of
    dims, no side longer than x's except on ``dim``, and values in [0, x.shape[dim]); the
    result has index's shape. The gradient adds up at indices picked more than once.

    >>> gather(np.array([[1., 2.], [3., 4.]]), 1, np.array([[0, 0], [1, 0]])).tolist()
    [[1.0, 1.0], [4.0, 3.0]]
    """
    index = _index_array(index, "gather")
    shape = np.shape(x)
    if index.ndim != len(shape):
        raise ShapeError(f"gather: index of shape {index.shape} must have as many dims as the "
                         f"tensor of shape {shape} ({len(shape)})")
    if len(shape) == 0:
        raise ShapeError("gather: expected a tensor with at least one axis, got a 0-d one")
    (dim,) = normalize_axes(dim, len(shape), "gather", shape)
    for d, (n_index, n_x) in enumerate(zip(index.shape, shape)):
        if d != dim and n_index > n_x:
            raise ShapeError(f"gather: index of shape {index.shape} is longer than the tensor "
                             f"of shape {shape} on axis {d} ({n_index} > {n_x}); only axis "
                             f"{dim} (dim) may be longer")
    _check_range(index, 0, shape[dim], "gather", dim, shape)
    return getitem(x, _along(index.shape, dim, index))
