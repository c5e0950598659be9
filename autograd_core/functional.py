"""Derivatives as functions, the original interface: ``jacobian`` and ``hvp``
(Hessian-vector product). Both are the function transforms of :mod:`autograd_core.func`
applied once, with x as a constant: their results are never part of a graph."""

from __future__ import annotations

import numpy as np

from .errors import ShapeError
from .func import transforms
from .tensor import Tensor


def _constant(x) -> Tensor:
    return x.detach() if isinstance(x, Tensor) else Tensor(x)


def jacobian(f, x) -> Tensor:
    """d f(x) / d x as a tensor of shape ``f(x).shape + x.shape`` (``func.jacrev(f)(x)``).

    >>> jacobian(lambda t: t * t, Tensor([1.0, 2.0])).numpy()
    array([[2., 0.],
           [0., 4.]], dtype=float32)
    """
    return transforms.jacrev(f)(_constant(x))


def hvp(f, x, v) -> tuple[Tensor, Tensor]:
    """``(f(x), H v)``: the Hessian of a scalar-valued ``f`` at ``x`` times ``v``, without
    forming H (``func.hvp``: forward mode over the gradient).

    >>> value, hv = hvp(lambda t: (t ** 3).sum(), Tensor([1.0, 2.0]), Tensor([1.0, 1.0]))
    >>> hv.numpy()                                   # H = diag(6 t)
    array([ 6., 12.], dtype=float32)
    """
    x = _constant(x)
    v = v.data if isinstance(v, Tensor) else np.asarray(v, dtype=x.dtype)
    if np.shape(v) != x.shape:
        raise ShapeError(f"hvp: v has shape {np.shape(v)} but x has shape {x.shape}; they must "
                         "match")
    value, (product,) = transforms.hvp(f, (x,), (v,))
    return value, product
