"""Matrix product with numpy's semantics: 1-D operands, 2-D, and batches with broadcast batch
dimensions."""

import numpy as np

from ..engine import Function, Variable
from ..errors import ShapeError
from ..registry import primitive
from .broadcasting import sum_to
from .elementwise import _shape


def _check_matmul_shapes(a_shape: tuple, b_shape: tuple) -> None:
    if len(a_shape) == 0 or len(b_shape) == 0:
        raise ShapeError(f"matmul: both operands need at least one dimension, got shapes "
                         f"{a_shape} and {b_shape} (use * to multiply by a scalar)")
    inner_a = a_shape[-1]
    inner_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
    if inner_a != inner_b:
        raise ShapeError(f"matmul: shapes {a_shape} @ {b_shape} do not fit: the last axis of the "
                         f"first ({inner_a}) must equal the "
                         f"{'only' if len(b_shape) == 1 else 'second-to-last'} axis of the "
                         f"second ({inner_b})")


@primitive("tensor")
class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        a_shape, b_shape = _shape(a), _shape(b)
        _check_matmul_shapes(a_shape, b_shape)
        ctx.shapes = (a_shape, b_shape)
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        a_shape, b_shape = ctx.shapes
        if len(a_shape) == 2 and len(b_shape) == 2:  # the usual case needs no reshaping
            return (grad @ b.swapaxes(-1, -2) if need_a else None,
                    a.swapaxes(-1, -2) @ grad if need_b else None)
        # View 1-D operands as matrices (a row for a, a column for b), as matmul itself does,
        # so one pair of formulas covers every case.
        a2 = a.reshape((1,) + a_shape) if len(a_shape) == 1 else a
        b2 = b.reshape(b_shape + (1,)) if len(b_shape) == 1 else b
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        grad = grad.reshape(batch + (a2.shape[-2], b2.shape[-1]))
        grad_a = grad_b = None
        if need_a:
            grad_a = sum_to(grad @ b2.swapaxes(-1, -2), a2.shape).reshape(a_shape)
        if need_b:
            grad_b = sum_to(a2.swapaxes(-1, -2) @ grad, b2.shape).reshape(b_shape)
        return grad_a, grad_b


def matmul(a, b):
    """Matrix product ``a @ b`` with numpy's rules for 1-D and batched operands."""
    if isinstance(a, Variable) or isinstance(b, Variable):
        return MatMul.apply(a, b)
    return np.matmul(a, b)
