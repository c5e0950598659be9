"""Tensors made from numbers rather than from other tensors: arange, linspace, full_like, eye.

Floating results are float32 unless ``dtype`` says otherwise (as ``ag.zeros`` and PyTorch), integer
ones keep numpy's integer dtype; ``requires_grad=True`` makes a leaf that gradients reach. They
are listed as untracked ops (nothing to differentiate) so that they are exported with the others;
numpy's functions of the same names are not sent here, since their arguments are not tensors.
"""

from __future__ import annotations

import numpy as np

from ..registry import untracked


def _leaf(array: np.ndarray, dtype, requires_grad: bool):
    """A new leaf Tensor of ``array``: float64 turned float32 unless a ``dtype`` was asked."""
    from ..tensor import Tensor  # tensor.py imports the ops: a top-level import would be a cycle

    if dtype is None and array.dtype == np.float64:
        array = array.astype(np.float32)
    tensor = Tensor._from_op(array, None)
    if requires_grad:
        tensor.requires_grad_(True)  # raises a clear DTypeError for an integer tensor
    return tensor


@untracked()
def arange(start, stop=None, step=1, dtype=None, requires_grad: bool = False):
    """Evenly spaced values in [start, stop) ``step`` apart (``arange(n)``: 0 .. n-1), as
    np.arange: integers for integer arguments, float32 when any argument is a float."""
    return _leaf(np.arange(start, stop, step, dtype=dtype), dtype, requires_grad)


@untracked()
def linspace(start, stop, num: int = 50, endpoint: bool = True, dtype=None,
             requires_grad: bool = False):
    """``num`` evenly spaced values from ``start`` to ``stop`` (included unless
    ``endpoint=False``), computed in float64 as np.linspace, then float32 by default."""
    return _leaf(np.linspace(start, stop, num, endpoint=endpoint, dtype=dtype), dtype,
                 requires_grad)


@untracked()
def full_like(t, fill_value, dtype=None, requires_grad: bool = False):
    """A tensor of ``t``'s shape filled with ``fill_value``, of ``t``'s dtype unless ``dtype``
    says otherwise (so a fraction put into an integer tensor is truncated, as np.full_like)."""
    dtype = np.dtype(dtype) if dtype is not None else np.asarray(t).dtype
    return _leaf(np.full(np.shape(t), fill_value, dtype=dtype), dtype, requires_grad)


@untracked()
def eye(n: int, m: int | None = None, k: int = 0, dtype=None, requires_grad: bool = False):
    """An n x m matrix (m defaults to n) with ones on the ``k`` diagonal and zeros elsewhere,
    float32 by default."""
    return _leaf(np.eye(n, m, k, dtype=dtype or np.float32), dtype, requires_grad)
