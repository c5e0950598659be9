"""Derivatives as functions: ``jacobian`` and ``hvp`` (Hessian-vector product), built on
``grad``."""

from __future__ import annotations

import numpy as np

from .engine import grad
from .errors import ShapeError
from .tensor import Tensor


def _fresh_leaf(x) -> Tensor:
    x = x if isinstance(x, Tensor) else Tensor(x)
    return x.detach().requires_grad_(True)


def jacobian(f, x) -> Tensor:
    """d f(x) / d x as a tensor of shape ``f(x).shape + x.shape``.

    >>> jacobian(lambda t: t * t, Tensor([1.0, 2.0])).numpy()
    array([[2., 0.],
           [0., 4.]], dtype=float32)
    """
    x = _fresh_leaf(x)
    y = f(x)
    result = np.zeros(y.shape + x.shape, dtype=np.result_type(y.dtype, x.dtype))
    if not y.requires_grad:  # f ignored x (or cut the graph): every derivative is 0
        return Tensor(result)
    for index in np.ndindex(*y.shape):
        seed = np.zeros(y.shape, dtype=y.dtype)
        seed[index] = 1
        (row,) = grad(y, x, grad_outputs=[seed], retain_graph=True, allow_unused=True)
        if row is not None:
            result[index] = row.data
    return Tensor(result)


def hvp(f, x, v) -> tuple[Tensor, Tensor]:
    """``(f(x), H v)``: the Hessian of a scalar-valued ``f`` at ``x`` times ``v``, computed as
    the gradient of <grad f(x), v> without forming H.

    >>> value, hv = hvp(lambda t: (t ** 3).sum(), Tensor([1.0, 2.0]), Tensor([1.0, 1.0]))
    >>> hv.numpy()                                   # H = diag(6 t)
    array([ 6., 12.], dtype=float32)
    """
    x = _fresh_leaf(x)
    v = v.data if isinstance(v, Tensor) else np.asarray(v, dtype=x.dtype)
    v_shape = np.shape(v)
    if v_shape != x.shape:
        raise ShapeError(f"hvp: v has shape {v_shape} but x has shape {x.shape}; they must match")
    y = f(x)
    if y.size != 1:
        raise ShapeError(f"hvp: f must return a single value, got shape {y.shape}")
    if not y.requires_grad:
        return y.detach(), Tensor(np.zeros(x.shape, dtype=x.dtype))
    (g,) = grad(y, x, create_graph=True)
    if not g.requires_grad:  # the gradient does not depend on x: the Hessian is 0
        return y.detach(), Tensor(np.zeros(x.shape, dtype=x.dtype))
    (hv,) = grad(g, x, grad_outputs=[v], allow_unused=True)
    return y.detach(), hv if hv is not None else Tensor(np.zeros(x.shape, dtype=x.dtype))
