"""Axis arguments of reductions and shape ops, checked once for all of them."""

import numpy as np

from ..errors import ShapeError


def normalize_axes(axis, ndim: int, op: str, shape: tuple) -> tuple:
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative axes; clear error if bad."""
    if axis is None:
        return tuple(range(ndim))
    # numpy's integers (np.int64 from argmax, shapes, ...) are axes as Python ints are
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    result = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, (bool, np.bool_)):
            raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
        a = int(a)
        if not -ndim <= a < ndim:
            raise ShapeError(
                f"{op}: axis {a} is out of range for a tensor of shape {shape} ({ndim} dims); "
                f"expected an axis in [{-ndim}, {ndim - 1}]"
            )
        result.append(a % ndim)
    if len(set(result)) != len(result):
        raise ShapeError(f"{op}: axis {axis!r} repeats an axis")
    return tuple(sorted(result))


def keepdims_shape(shape: tuple, axes: tuple) -> tuple:
    """The shape a reduction over ``axes`` has with ``keepdims=True``."""
    return tuple(1 if i in axes else size for i, size in enumerate(shape))
