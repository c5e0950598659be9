"""Undoing broadcasting in the backward pass: the one helper every multi-input op uses."""

import numpy as np

from ..errors import ShapeError


def sum_to(grad, shape: tuple):
    """Sum ``grad`` over the axes broadcasting added or stretched, so that it has ``shape``.

    Works on numpy arrays and Tensors alike (it only uses ``.sum`` and ``.reshape``), so it is
    differentiable when the backward pass is being recorded.

    >>> sum_to(np.ones((4, 2, 3)), (2, 1)).tolist()
    [[12.0], [12.0]]
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and grad.shape[lead + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        grad = grad.reshape(shape)
    return grad


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
