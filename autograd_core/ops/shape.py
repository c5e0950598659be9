"""Shape primitives (reshape, transpose, broadcast_to, indexing and its scatter, concatenate, cast)
and the shape helpers composed from them (squeeze, unsqueeze, stack, swapaxes)."""

import numpy as np

from ..engine import Function, Variable, _Unrecorded
from ..errors import ShapeError
from ..registry import composite, primitive
from .broadcasting import normalize_axes


def _shape_arg(shape) -> tuple:
    """Accept reshape(2, 3), reshape((2, 3)) and reshape([2, 3]) alike."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = shape[0]
    return tuple(int(n) for n in shape)


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = np.shape(x)
        return np.reshape(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.in_shape)


class Transpose(Function):
    """Permute axes (``axes=None`` reverses them, as numpy)."""

    @staticmethod
    def forward(ctx, x, axes=None):
        out = np.transpose(x, axes)
        ndim = np.ndim(x)
        ctx.inverse = None if axes is None else tuple(
            int(i) for i in np.argsort([a % ndim for a in axes]))
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad.transpose(ctx.inverse)


class BroadcastTo(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = np.shape(x)
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad  # summed back to the input's shape by the engine, as for every op


def _is_basic_index(index) -> bool:
    """Basic indexing (ints, slices, None, ...) never selects an element twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice))
               for p in parts)


def _raw_index(index):
    """Indices may hold Tensors (integer or boolean): index with their arrays."""
    if isinstance(index, tuple):
        return tuple(p.data if isinstance(p, Variable) else p for p in index)
    return index.data if isinstance(index, Variable) else index


def _owned_index(index):
    """``index`` with its arrays (integer indices, boolean masks) copied, for a node to keep:
    the caller may change theirs in place after the forward pass (``idx[1] = 2``), and backward
    must scatter to where forward gathered from. Slices and ints are immutable already."""
    if isinstance(index, tuple):
        if any(isinstance(p, np.ndarray) for p in index):
            return tuple(p.copy() if isinstance(p, np.ndarray) else p for p in index)
        return index
    return index.copy() if isinstance(index, np.ndarray) else index


class GetItem(Function):
    """x[index] for slices, integer arrays (repeats allowed) and boolean masks."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.in_shape = np.shape(x)
        ctx.index = _owned_index(index)
        try:
            return x[index]
        except IndexError as error:
            raise IndexError(f"getitem: {error} (tensor shape {np.shape(x)}, index {index!r})") \
                from None

    @staticmethod
    def backward(ctx, grad):
        return scatter_add(grad, ctx.index, ctx.in_shape)


class ScatterAdd(Function):
    """zeros(shape) with ``values`` added at ``index`` (repeated indices add up): the adjoint
    of getitem, used by its backward."""

    @staticmethod
    def forward(ctx, values, index, shape):
        ctx.index = _owned_index(index)
        out = np.zeros(shape, dtype=np.result_type(values))
        if _is_basic_index(index):
            out[index] = values
        else:
            np.add.at(out, index, values)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.index]


class Concatenate(Function):
    """Join tensors along an existing axis."""

    @staticmethod
    def forward(ctx, *xs, axis=0):
        if not xs:
            raise ShapeError("concatenate: needs at least one tensor")
        ndim = np.ndim(xs[0])
        if ndim == 0:
            raise ShapeError("concatenate: zero-dimensional tensors cannot be concatenated; "
                             "use stack")
        axis = normalize_axes(axis, ndim, "concatenate", np.shape(xs[0]))[0]
        ctx.axis = axis
        ctx.bounds = np.cumsum([0] + [np.shape(x)[axis] for x in xs])
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        before = (slice(None),) * ctx.axis
        bounds = ctx.bounds
        return tuple(grad[before + (slice(bounds[i], bounds[i + 1]),)] if need else None
                     for i, need in enumerate(ctx.needs_input_grad))


class Cast(Function):
    """Change dtype; the gradient is cast back to the input's dtype."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = np.result_type(x)
        return np.asarray(x).astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.in_dtype)


# ---- public functions ---------------------------------------------------------------------------

def _reshape(x, *shape):
    """Same elements in a new shape (one dimension may be -1)."""
    shape = _shape_arg(shape)
    return Reshape.apply(x, shape=shape) if isinstance(x, Variable) else np.reshape(x, shape)


def _transpose(x, axes=None):
    """Permute the axes (reverse them when ``axes`` is None)."""
    return Transpose.apply(x, axes=axes) if isinstance(x, Variable) else np.transpose(x, axes)


def _broadcast_to(x, shape):
    """View x with ``shape`` by numpy's broadcasting rules; the gradient is summed back."""
    shape = tuple(shape)
    if isinstance(x, Variable):
        return BroadcastTo.apply(x, shape=shape)
    return np.broadcast_to(x, shape)


def _scatter_add(values, index, shape):
    """zeros(shape) with ``values`` added at ``index``; repeated indices accumulate."""
    if isinstance(values, Variable):
        return ScatterAdd.apply(values, index=index, shape=shape)
    return ScatterAdd.forward(_Unrecorded(), values, index, shape)


def _getitem(x, index):
    """x[index]: slices, integer arrays (repeats allowed), boolean masks, None and ``...``."""
    index = _raw_index(index)
    return GetItem.apply(x, index=index) if isinstance(x, Variable) else np.asarray(x)[index]


def _concatenate(xs, axis: int = 0):
    """Join a sequence of tensors along an existing ``axis``."""
    xs = tuple(xs)
    if any(isinstance(x, Variable) for x in xs):
        return Concatenate.apply(*xs, axis=axis)
    return np.concatenate(xs, axis=axis)


def _astype(x, dtype):
    """x converted to ``dtype``."""
    if not isinstance(x, Variable):
        return np.asarray(x).astype(dtype)
    if x.data.dtype == np.dtype(dtype):
        return x
    return Cast.apply(x, dtype=np.dtype(dtype))


reshape = primitive("reshape", Reshape, numpy=np.reshape, method=True, public=_reshape)
transpose = primitive("transpose", Transpose, numpy=np.transpose, public=_transpose)
broadcast_to = primitive("broadcast_to", BroadcastTo, numpy=np.broadcast_to, method=True,
                         public=_broadcast_to)
scatter_add = primitive("scatter_add", ScatterAdd, public=_scatter_add)
getitem = primitive("getitem", GetItem, public=_getitem)
concatenate = primitive("concatenate", Concatenate, numpy=np.concatenate, public=_concatenate)
astype = primitive("astype", Cast, method=True, public=_astype)


@composite(numpy=np.expand_dims, method="unsqueeze")
def expand_dims(x, axis: int):
    """Insert a size-1 axis at ``axis`` (``unsqueeze`` in PyTorch)."""
    shape = list(np.shape(x))
    ndim = len(shape) + 1
    axis = normalize_axes(axis, ndim, "expand_dims", tuple(shape))[0]
    shape.insert(axis, 1)
    return reshape(x, tuple(shape))


unsqueeze = expand_dims


@composite(numpy=np.squeeze, method=True)
def squeeze(x, axis=None):
    """Remove size-1 axes (all of them, or those in ``axis``)."""
    shape = np.shape(x)
    axes = normalize_axes(axis, len(shape), "squeeze", shape) if axis is not None else tuple(
        i for i, n in enumerate(shape) if n == 1)
    for a in axes:
        if shape[a] != 1:
            raise ShapeError(f"squeeze: axis {a} has size {shape[a]}, not 1 (shape {shape})")
    return reshape(x, tuple(n for i, n in enumerate(shape) if i not in axes))


@composite(numpy=np.stack)
def stack(xs, axis: int = 0):
    """Join tensors of one shape along a new ``axis``."""
    xs = tuple(xs)
    if not xs:
        raise ShapeError("stack: needs at least one tensor")
    shapes = {np.shape(x) for x in xs}
    if len(shapes) != 1:
        raise ShapeError(f"stack: all tensors must have the same shape, got "
                         f"{[np.shape(x) for x in xs]}")
    return concatenate([expand_dims(x, axis) for x in xs], axis=axis)


@composite(numpy=np.swapaxes, method=True)
def swapaxes(x, axis1: int, axis2: int):
    """Exchange two axes."""
    ndim = np.ndim(x)
    axes = list(range(ndim))
    a, b = (normalize_axes(a, ndim, "swapaxes", np.shape(x))[0] for a in (axis1, axis2))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))
