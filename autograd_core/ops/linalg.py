"""Matrix product with numpy's semantics: 1-D operands, 2-D, and batches with broadcast batch
dimensions; and the fused ``x @ weight + bias`` of a dense layer."""

import numpy as np

from ..engine import Function, Variable, _Unrecorded
from ..errors import ShapeError
from ..registry import primitive


def _shape(x) -> tuple:
    # np.shape is a Python-level function; arrays, the common case, answer directly.
    return x.shape if type(x) is np.ndarray else np.shape(x)


def _check_matmul_shapes(a_shape: tuple, b_shape: tuple, op: str = "matmul") -> None:
    if len(a_shape) == 0 or len(b_shape) == 0:
        raise ShapeError(f"{op}: both operands need at least one dimension, got shapes "
                         f"{a_shape} and {b_shape} (use * to multiply by a scalar)")
    inner_a = a_shape[-1]
    inner_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
    if inner_a != inner_b:
        raise ShapeError(f"{op}: shapes {a_shape} @ {b_shape} do not fit: the last axis of the "
                         f"first ({inner_a}) must equal the "
                         f"{'only' if len(b_shape) == 1 else 'second-to-last'} axis of the "
                         f"second ({inner_b})")


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
        # so one pair of formulas covers every case; the engine sums over broadcast batch axes.
        a2 = a.reshape((1,) + a_shape) if len(a_shape) == 1 else a
        b2 = b.reshape(b_shape + (1,)) if len(b_shape) == 1 else b
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        grad = grad.reshape(batch + (a2.shape[-2], b2.shape[-1]))
        grad_a = grad_b = None
        if need_a:
            grad_a = grad @ b2.swapaxes(-1, -2)
            if len(a_shape) == 1:
                grad_a = grad_a[..., 0, :]
        if need_b:
            grad_b = a2.swapaxes(-1, -2) @ grad
            if len(b_shape) == 1:
                grad_b = grad_b[..., 0]
        return grad_a, grad_b


matmul = primitive("matmul", MatMul, numpy=np.matmul)


class Linear(Function):
    """``x @ weight + bias`` in one node: the bias is added in place into the fresh product,
    which saves a temporary the size of the output and a node per layer."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        x_shape, w_shape, b_shape = _shape(x), _shape(weight), _shape(bias)
        if len(w_shape) != 2 or b_shape != w_shape[1:]:
            raise ShapeError(f"linear: expected a 2-D weight (in, out) and a bias of shape "
                             f"(out,), got weight {w_shape} and bias {b_shape}")
        _check_matmul_shapes(x_shape, w_shape, "linear")
        ctx.x_shape = x_shape
        ctx.save_for_backward(x, weight)
        out = np.matmul(x, weight)
        if out.dtype == np.result_type(bias):
            out += bias
        else:  # a bias of a wider dtype widens the result, as x @ w + b would
            out = out + bias
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        # Leading axes of x (none, one or more) are examples: flattened to one for the weight's
        # gradient, and summed over for the bias's.
        rows = grad.reshape((-1, grad.shape[-1])) if need_w or need_b else None
        return (grad @ weight.swapaxes(-1, -2) if need_x else None,
                x.reshape((-1, ctx.x_shape[-1])).swapaxes(-1, -2) @ rows if need_w else None,
                rows.sum(axis=0) if need_b else None)


def _linear(x, weight, bias=None):
    """``x @ weight + bias`` for ``x`` of shape (..., in), ``weight`` (in, out), ``bias`` (out,)
    or None: a fully connected layer, recorded as one node.

    >>> linear(np.ones((2, 3)), np.ones((3, 4)), np.arange(4.0)).tolist()[0]
    [3.0, 4.0, 5.0, 6.0]
    """
    if bias is None:
        return matmul(x, weight)
    if isinstance(x, Variable) or isinstance(weight, Variable) or isinstance(bias, Variable):
        return Linear.apply(x, weight, bias)
    return Linear.forward(_Unrecorded(), np.asarray(x), np.asarray(weight), np.asarray(bias))


linear = primitive("linear", Linear, public=_linear)
