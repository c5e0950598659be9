"""Matrix product with numpy's semantics: 1-D operands, 2-D, and batches with broadcast batch
dimensions; and the fused ``x @ weight + bias`` of a dense layer."""

import numpy as np

from ..engine import Function, Variable, _Unrecorded
from ..errors import ShapeError
from ..registry import composite, primitive
from .rearrange import _axis_list
from .shape import reshape


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

    @staticmethod
    def jvp(ctx, tangent_a, tangent_b):
        """Forward mode (func.jvp): the product rule, one matmul per operand with a tangent
        (the rule derived from backward would take two)."""
        a, b = ctx.saved_tensors
        out = None if tangent_a is None else matmul(tangent_a, b)
        if tangent_b is not None:
            out = matmul(a, tangent_b) if out is None else out + matmul(a, tangent_b)
        return out


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
        if len(x_shape) > 2:  # one (N*L, in) @ (in, out) product: numpy would loop over N
            out = np.matmul(x.reshape(-1, x_shape[-1]), weight).reshape(
                x_shape[:-1] + w_shape[1:])
        else:
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
        rows = grad.reshape((-1, grad.shape[-1])) if need_w or need_b or len(ctx.x_shape) > 2 \
            else None
        if not need_x:
            grad_x = None
        elif len(ctx.x_shape) > 2:  # as in forward: one product, not one per leading index
            grad_x = (rows @ weight.swapaxes(-1, -2)).reshape(ctx.x_shape)
        else:
            grad_x = grad @ weight.swapaxes(-1, -2)
        return (grad_x,
                x.reshape((-1, ctx.x_shape[-1])).swapaxes(-1, -2) @ rows if need_w else None,
                rows.sum(axis=0) if need_b else None)

    @staticmethod
    def jvp(ctx, tangent_x, tangent_w, tangent_b):
        """Forward mode (func.jvp): the product rule, plus the bias's tangent."""
        x, weight = ctx.saved_tensors
        out = None if tangent_x is None else matmul(tangent_x, weight)
        if tangent_w is not None:
            out = matmul(x, tangent_w) if out is None else out + matmul(x, tangent_w)
        if tangent_b is not None:
            out = tangent_b if out is None else out + tangent_b
        return out


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


# ---- tensordot and the products composed from it -----------------------------------------------

def _tensordot_axes(a_shape: tuple, b_shape: tuple, axes) -> tuple:
    """numpy's ``axes`` argument (an int n: the last n axes of a with the first n of b; or a
    pair of axis sequences) as two equally long tuples of non-negative axes, checked."""
    na, nb = len(a_shape), len(b_shape)
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        n = int(axes)
        if not 0 <= n <= min(na, nb):
            raise ShapeError(f"tensordot: cannot sum over {n} axes of shapes {a_shape} and "
                             f"{b_shape}: expected 0 to {min(na, nb)}")
        a_axes, b_axes = tuple(range(na - n, na)), tuple(range(n))
    else:
        try:
            a_axes, b_axes = axes
        except (TypeError, ValueError):
            raise TypeError(f"tensordot: axes must be an int or a pair of axis sequences, got "
                            f"{axes!r}") from None
        a_axes = tuple(_axis_list(a_axes, na, "tensordot", a_shape))
        b_axes = tuple(_axis_list(b_axes, nb, "tensordot", b_shape))
        if len(a_axes) != len(b_axes):
            raise ShapeError(f"tensordot: axes {a_axes} of the first and {b_axes} of the second "
                             "must be as many")
    for i, j in zip(a_axes, b_axes):
        if a_shape[i] != b_shape[j]:
            raise ShapeError(f"tensordot: shapes {a_shape} and {b_shape} do not fit: axis {i} of "
                             f"the first has {a_shape[i]} elements, axis {j} of the second "
                             f"{b_shape[j]}")
    return a_axes, b_axes


def _inverse(order: list) -> tuple | None:
    """The permutation that undoes ``order`` (None when it is the identity)."""
    if order == sorted(order):
        return None
    return tuple(int(i) for i in np.argsort(order))


class TensorDot(Function):
    """Sum of products over paired axes of ``a`` and ``b`` (np.tensordot); the result has a's
    other axes, then b's. Linear in each operand: each gradient is a tensordot of the output's
    gradient with the other operand, its axes put back in the operand's order."""

    @staticmethod
    def forward(ctx, a, b, axes=2):
        a_shape, b_shape = _shape(a), _shape(b)
        a_axes, b_axes = _tensordot_axes(a_shape, b_shape, axes)
        a_free = [i for i in range(len(a_shape)) if i not in a_axes]
        b_free = [j for j in range(len(b_shape)) if j not in b_axes]
        ctx.a_free, ctx.b_free = a_free, b_free
        # tensordot(grad, b) has a's free axes, then a's summed axes in the order of b's
        # (b's remaining axes come in increasing order); tensordot(a, grad) has b's summed
        # axes in the order of a's, then b's free axes. These undo that.
        by_b = sorted(range(len(b_axes)), key=lambda p: b_axes[p])
        by_a = sorted(range(len(a_axes)), key=lambda p: a_axes[p])
        ctx.a_order = _inverse(a_free + [a_axes[p] for p in by_b])
        ctx.b_order = _inverse([b_axes[p] for p in by_a] + b_free)
        ctx.save_for_backward(a, b)
        return np.tensordot(a, b, axes=(a_axes, b_axes))

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        n_a = len(ctx.a_free)
        grad_a = grad_b = None
        if need_a:
            grad_a = tensordot(grad, b, (tuple(range(n_a, n_a + len(ctx.b_free))),
                                         tuple(ctx.b_free)))
            if ctx.a_order is not None:
                grad_a = grad_a.transpose(ctx.a_order)
        if need_b:
            grad_b = tensordot(a, grad, (tuple(ctx.a_free), tuple(range(n_a))))
            if ctx.b_order is not None:
                grad_b = grad_b.transpose(ctx.b_order)
        return grad_a, grad_b


def _tensordot_public(a, b, axes=2):
    """Sum of products over axes of ``a`` and ``b``, as np.tensordot: ``axes=n`` pairs the last n
    axes of ``a`` with the first n of ``b``; ``axes=([1, 0], [0, 1])`` names the pairs."""
    if isinstance(a, Variable) or isinstance(b, Variable):
        return TensorDot.apply(a, b, axes=axes)
    return TensorDot.compute(np.asarray(a), np.asarray(b), axes=axes)


tensordot = primitive("tensordot", TensorDot, numpy=np.tensordot, public=_tensordot_public)


@composite(numpy=np.outer, method=True)
def outer(a, b):
    """The matrix of every product ``a[i] * b[j]``, with both flattened first (as np.outer)."""
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


@composite(numpy=np.dot, method=True)
def dot(a, b):
    """np.dot: a product by a 0-d operand; otherwise the sum of products over the last axis of
    ``a`` and the second-to-last of ``b`` (its only axis when 1-d): the inner product of
    vectors, the matrix product of matrices, and for more dims a tensordot (unlike matmul, the
    leading axes of both stay in the result rather than broadcasting)."""
    a_shape, b_shape = np.shape(a), np.shape(b)
    if not a_shape or not b_shape:
        return a * b
    b_axis = max(len(b_shape) - 2, 0)
    if a_shape[-1] != b_shape[b_axis]:
        raise ShapeError(f"dot: shapes {a_shape} and {b_shape} do not fit: the last axis of the "
                         f"first ({a_shape[-1]}) must equal the "
                         f"{'only' if len(b_shape) == 1 else 'second-to-last'} axis of the "
                         f"second ({b_shape[b_axis]})")
    return tensordot(a, b, ((len(a_shape) - 1,), (b_axis,)))
