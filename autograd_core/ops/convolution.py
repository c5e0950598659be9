"""Convolution, pooling and constant padding, in PyTorch's layout (N, C, *spatial) and argument
names.

A convolution is computed as views plus one matrix product: the windows of the (padded) input
are a strided view (no copy), laid out as rows of ``C * prod(kernel)`` values, and multiplied by
the weight as a matrix. The convolution is bilinear in (input, weight), and so are the two maps
its gradients need; these three close under differentiation, so each is a primitive whose
backward is written with the other two:

- ``Convolution``   A(x, w) = conv(x, w):    (N, C, *in) x (O, C/g, *k) -> (N, O, *out)
- ``ConvTranspose`` B(g, w), A's adjoint in x: (N, O, *out) x (O, C/g, *k) -> (N, C, *in)
- ``ConvWeight``    C(x, g), A's adjoint in w: (N, C, *in) x (N, O, *out) -> (O, C/g, *k)

With <., .> the sum of elementwise products, <A(x, w), g> = <x, B(g, w)> = <w, C(x, g)>, which
gives every rule: dA = (B(g, w), C(x, g)); dB = (A(h, w), C(h, g)); dC = (B(g, h), A(x, h)). So
first, second and higher derivatives of a convolution are convolutions again.

Max pooling records which element of each window was the maximum; its gradient is a scatter to
those elements and the derivative of that scatter a gather from them (two internal primitives,
each the other's adjoint). Average pooling is a convolution with a constant kernel.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..engine import Function, Variable
from ..errors import ShapeError
from ..registry import composite, primitive
from .shape import reshape

# ---- argument checks ----------------------------------------------------------------------------

def _ints(value, n: int, what: str, op: str, minimum: int) -> tuple:
    """An int or a sequence of ``n`` ints, as a tuple of ``n`` ints at least ``minimum``."""
    items = (value,) * n if isinstance(value, (int, np.integer)) else value
    try:
        items = tuple(items)
    except TypeError:
        items = None
    if (items is None or len(items) != n or any(
            isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in items)):
        raise TypeError(f"{op}: {what} must be an int or a sequence of {n} ints, got {value!r}")
    if any(v < minimum for v in items):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{op}: {what} must be {kind}, got {value!r}")
    return tuple(int(v) for v in items)


def _shape(x) -> tuple:
    return x.shape if type(x) is np.ndarray else np.shape(x)


def _check_ndim(op: str, what: str, shape: tuple, nd: int, layout: str) -> None:
    if len(shape) != nd + 2:
        raise ShapeError(f"{op}: expected a {nd + 2}-D {what} {layout}, got shape {shape}")


class _Plan:
    """The geometry of one convolution or pooling: sizes, stride, padding, dilation, groups.

    Made once by the public function (which checks the arguments) and handed to the primitives
    as a keyword argument, so backward rules can pass it on without checking again."""

    __slots__ = ("kernel", "stride", "padding", "dilation", "groups", "in_size", "out_size")

    def __init__(self, kernel, stride, padding, dilation, groups, in_size, out_size):
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.dilation, self.groups = dilation, groups
        self.in_size, self.out_size = in_size, out_size

    @property
    def padded_size(self) -> tuple:
        return tuple(n + 2 * p for n, p in zip(self.in_size, self.padding))


def _out_size(op: str, in_size, kernel, stride, padding, dilation, x_shape) -> tuple:
    """Output sizes, after checking that each dilated kernel fits in the padded input."""
    out = []
    for n, k, s, p, d in zip(in_size, kernel, stride, padding, dilation):
        extent = d * (k - 1) + 1
        if n + 2 * p < extent:
            raise ShapeError(f"{op}: the kernel (size {tuple(kernel)}, dilation "
                             f"{tuple(dilation)}) is larger than the padded input (input shape "
                             f"{x_shape}, padding {tuple(padding)}): expected each spatial "
                             f"size plus twice its padding to be at least "
                             f"dilation * (kernel - 1) + 1")
        out.append((n + 2 * p - extent) // s + 1)
    return tuple(out)


def _conv_plan(op: str, nd: int, x_shape, w_shape, b_shape, stride, padding, dilation,
               groups) -> _Plan:
    layout = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
    _check_ndim(op, "input", x_shape, nd, layout)
    _check_ndim(op, "weight", w_shape, nd, "(out_channels, in_channels / groups, "
                + ("k)" if nd == 1 else "kH, kW)"))
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    channels, out_channels = x_shape[1], w_shape[0]
    if channels % groups or out_channels % groups:
        raise ShapeError(f"{op}: groups={groups} must divide both the input's channels "
                         f"({channels}, input shape {x_shape}) and the weight's out_channels "
                         f"({out_channels}, weight shape {w_shape})")
    if w_shape[1] * groups != channels:
        raise ShapeError(f"{op}: channel mismatch: input of shape {x_shape} has {channels} "
                         f"channels, but weight of shape {w_shape} with groups={groups} expects "
                         f"{w_shape[1] * groups} (weight.shape[1] * groups)")
    if b_shape is not None and b_shape != (out_channels,):
        raise ShapeError(f"{op}: bias of shape {b_shape} does not fit weight of shape "
                         f"{w_shape}: expected ({out_channels},)")
    stride = _ints(stride, nd, "stride", op, 1)
    padding = _ints(padding, nd, "padding", op, 0)
    dilation = _ints(dilation, nd, "dilation", op, 1)
    kernel = tuple(w_shape[2:])
    if 0 in kernel:
        raise ShapeError(f"{op}: weight of shape {w_shape} has an empty kernel")
    in_size = tuple(x_shape[2:])
    out_size = _out_size(op, in_size, kernel, stride, padding, dilation, x_shape)
    return _Plan(kernel, stride, padding, dilation, groups, in_size, out_size)


# ---- the numpy kernels --------------------------------------------------------------------------

def _pad_spatial(x, padding, value=0.0):
    if not any(padding):
        return x
    return np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding), constant_values=value)


def _windows(xp, plan: _Plan):
    """View (N, C, *out, *kernel) of the padded input: window (i, j) of every output position."""
    strides = xp.strides
    spatial = strides[2:]
    return as_strided(
        xp, xp.shape[:2] + plan.out_size + plan.kernel,
        strides[:2] + tuple(st * s for st, s in zip(spatial, plan.stride))
        + tuple(st * d for st, d in zip(spatial, plan.dilation)),
        writeable=False)


def _columns(x, plan: _Plan):
    """The windows as columns: (groups, C/groups * prod(kernel), N * prod(out)), one copy.

    Channel-major, batch and positions last: the copy then runs along rows of the input (its
    last axis), and the weight multiplies the columns as one matrix per group."""
    nd = len(plan.kernel)
    win = _windows(_pad_spatial(x, plan.padding), plan)       # (N, C, *out, *kernel)
    order = (1, *range(2 + nd, 2 + 2 * nd), 0, *range(2, 2 + nd))  # (C, *kernel, N, *out)
    return win.transpose(order).reshape(plan.groups, -1, x.shape[0] * math.prod(plan.out_size))


def _channel_major(g, groups: int):
    """(N, O, *out) as (groups, O/groups, N * prod(out)) (a copy unless already laid out so)."""
    return np.moveaxis(g, 1, 0).reshape(groups, g.shape[1] // groups, -1)


def _group_matmul(a, b):
    """a (g, m, k) @ b (g, k, n) -> (g, m, n), one 2-D product per group: numpy's batched
    matmul skips BLAS for transposed operands, a 2-D product never does."""
    if a.shape[0] == 1:
        return (a[0] @ b[0])[None]
    out = np.empty((a.shape[0], a.shape[1], b.shape[2]), dtype=np.result_type(a, b))
    for i in range(a.shape[0]):
        np.matmul(a[i], b[i], out=out[i])
    return out


def _add_bias(out, bias, nd: int):
    """out (N, C, *spatial) + bias (C,), in place when the dtypes allow."""
    b = np.reshape(bias, (-1,) + (1,) * nd)
    if out.dtype == np.result_type(out, bias) and out.flags.writeable:
        out += b
        return out
    return out + b


# The columns of a whole batch can be many times the size of the input (C * prod(kernel) values
# per output position); they are made for a slice of the batch at a time, about this many bytes,
# which bounds the extra memory and keeps each product's operands near the cache.
_CHUNK_BYTES = 4 * 2**20


def _batch_slices(x, plan: _Plan, rows: int):
    """Slices of the batch axis whose columns (``rows`` values per output position) take about
    _CHUNK_BYTES each."""
    n = x.shape[0]
    per_item = rows * math.prod(plan.out_size) * x.dtype.itemsize
    step = max(1, _CHUNK_BYTES // max(per_item, 1))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _conv_forward(x, w, plan: _Plan):
    n, o = x.shape[0], w.shape[0]
    g = plan.groups
    wm = w.reshape(g, o // g, -1)
    out = np.empty((o, n) + plan.out_size, dtype=np.result_type(x, w))
    for part in _batch_slices(x, plan, wm.shape[2] * g):
        out[:, part] = _group_matmul(wm, _columns(x[part], plan)).reshape(
            (o, -1) + plan.out_size)
    # (O, N, *out) in memory, viewed as (N, O, *out): no copy (the next op reads any strides)
    return np.moveaxis(out, 0, 1)


def _conv_transpose_forward(grad, w, plan: _Plan):
    n, o = grad.shape[:2]
    g = plan.groups
    channels = w.shape[1] * g
    wt = w.reshape(g, o // g, -1).transpose(0, 2, 1)
    xp = np.zeros((channels, n) + plan.padded_size, dtype=np.result_type(grad, w))
    offsets = list(itertools.product(*(range(k) for k in plan.kernel)))
    targets = [tuple(slice(i * d, i * d + (m - 1) * s + 1, s) for i, d, m, s in zip(
        offset, plan.dilation, plan.out_size, plan.stride)) for offset in offsets]
    for part in _batch_slices(grad, plan, wt.shape[1] * g):
        cols = _group_matmul(wt, _channel_major(grad[part], g))
        # (C, *kernel, N, *out): each offset of the kernel adds to a strided slice of the input
        cols = cols.reshape((channels,) + plan.kernel + (-1,) + plan.out_size)
        for offset, target in zip(offsets, targets):
            xp[(slice(None), part) + target] += cols[(slice(None),) + offset]
    if any(plan.padding):
        xp = xp[(slice(None), slice(None)) + tuple(
            slice(p, p + m) for p, m in zip(plan.padding, plan.in_size))]
    return np.moveaxis(xp, 0, 1)


def _conv_weight_forward(x, grad, plan: _Plan, w_shape):
    g = plan.groups
    out = None
    for part in _batch_slices(x, plan, math.prod(w_shape[1:]) * g):
        cols = _columns(x[part], plan)                        # (g, C/g * K, n * L)
        # cols @ grad^T, transposed at the end, rather than grad @ cols^T: the same numbers,
        # but OpenBLAS is several times slower on the latter's shape (few rows, long inner
        # dimension)
        term = _group_matmul(cols, _channel_major(grad[part], g).transpose(0, 2, 1))
        if out is None:
            out = term
        else:
            out += term
    return out.transpose(0, 2, 1).reshape(w_shape)


# ---- the three bilinear primitives --------------------------------------------------------------

def _call(cls, *args, **kwargs):
    """``cls`` recorded when an argument is a Tensor/Scalar, computed on arrays otherwise: what
    lets one backward rule run on arrays and, with create_graph=True, on Tensors."""
    for arg in args:
        if isinstance(arg, Variable):
            return cls.apply(*args, **kwargs)
    return cls.compute(*args, **kwargs)


class Convolution(Function):
    """conv(x, w) + bias; see the module's docstring for the rules."""

    @staticmethod
    def forward(ctx, x, weight, bias=None, plan=None):
        ctx.plan = plan
        ctx.save_for_backward(x, weight)
        out = _conv_forward(x, weight, plan)
        return out if bias is None else _add_bias(out, bias, len(plan.kernel))

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        plan = ctx.plan
        return (_call(ConvTranspose, grad, weight, None, plan=plan) if need_x else None,
                _call(ConvWeight, x, grad, plan=plan, w_shape=_shape(weight)) if need_w else None,
                grad.sum(axis=(0, *range(2, 2 + len(plan.kernel)))) if need_b else None)


class ConvTranspose(Function):
    """The adjoint of a convolution in its input (``conv_transpose`` in PyTorch), + bias."""

    @staticmethod
    def forward(ctx, grad, weight, bias=None, plan=None):
        ctx.plan = plan
        ctx.save_for_backward(grad, weight)
        out = _conv_transpose_forward(grad, weight, plan)
        return out if bias is None else _add_bias(out, bias, len(plan.kernel))

    @staticmethod
    def backward(ctx, h):
        g, weight = ctx.saved_tensors
        need_g, need_w, need_b = ctx.needs_input_grad
        plan = ctx.plan
        return (_call(Convolution, h, weight, None, plan=plan) if need_g else None,
                _call(ConvWeight, h, g, plan=plan, w_shape=_shape(weight)) if need_w else None,
                h.sum(axis=(0, *range(2, 2 + len(plan.kernel)))) if need_b else None)


class ConvWeight(Function):
    """The adjoint of a convolution in its weight: the correlation of the input ``x`` with the
    output's gradient ``grad``, of the weight's shape. Internal: the weight's gradient."""

    @staticmethod
    def forward(ctx, x, grad, plan=None, w_shape=None):
        ctx.plan = plan
        ctx.save_for_backward(x, grad)
        return _conv_weight_forward(x, grad, plan, w_shape)

    @staticmethod
    def backward(ctx, h):
        x, g = ctx.saved_tensors
        need_x, need_g = ctx.needs_input_grad
        plan = ctx.plan
        return (_call(ConvTranspose, g, h, None, plan=plan) if need_x else None,
                _call(Convolution, x, h, None, plan=plan) if need_g else None)


# ---- public convolutions ------------------------------------------------------------------------

def _as_value(x):
    return x if isinstance(x, Variable) or type(x) is np.ndarray else np.asarray(x)


def _convolve(op: str, nd: int, x, weight, bias, stride, padding, dilation, groups):
    x, weight = _as_value(x), _as_value(weight)
    bias = None if bias is None else _as_value(bias)
    plan = _conv_plan(op, nd, _shape(x), _shape(weight), None if bias is None else _shape(bias),
                      stride, padding, dilation, groups)
    return _call(Convolution, x, weight, bias, plan=plan)


def _conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation, as PyTorch's ``conv1d``) of ``x`` (N, C, L) with
    ``weight`` (out_channels, C / groups, k), plus ``bias`` (out_channels,) if given.

    ``stride``, ``padding`` (zeros on both sides) and ``dilation`` are ints or 1-tuples;
    ``groups`` splits the channels into independent convolutions. Output length:
    ``(L + 2 * padding - dilation * (k - 1) - 1) // stride + 1``. Linear in ``x`` and in
    ``weight``: no kinks.
    """
    return _convolve("conv1d", 1, x, weight, bias, stride, padding, dilation, groups)


def _conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as PyTorch's ``conv2d``) of ``x`` (N, C, H, W) with
    ``weight`` (out_channels, C / groups, kH, kW), plus ``bias`` (out_channels,) if given.

    ``stride``, ``padding`` (zeros on every side) and ``dilation`` are ints or pairs (height,
    width); ``groups`` splits the channels into independent convolutions (``groups = C`` is a
    depthwise convolution). Each output size is
    ``(size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1``. Computed as a strided
    view of the windows and one matrix product; first and higher derivatives are convolutions
    again. Linear in ``x`` and in ``weight``: no kinks.

    >>> conv2d(np.ones((1, 1, 3, 3)), np.ones((2, 1, 2, 2))).shape
    (1, 2, 2, 2)
    """
    return _convolve("conv2d", 2, x, weight, bias, stride, padding, dilation, groups)


conv1d = primitive("conv1d", Convolution, public=_conv1d)
conv2d = primitive("conv2d", Convolution, public=_conv2d)


def _transposed(op: str, nd: int, x, weight, bias, stride, padding, output_padding, groups,
                dilation):
    x, weight = _as_value(x), _as_value(weight)
    bias = None if bias is None else _as_value(bias)
    x_shape, w_shape = _shape(x), _shape(weight)
    layout = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
    _check_ndim(op, "input", x_shape, nd, layout)
    _check_ndim(op, "weight", w_shape, nd, "(in_channels, out_channels / groups, "
                + ("k)" if nd == 1 else "kH, kW)"))
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    if x_shape[1] != w_shape[0] or w_shape[0] % groups:
        raise ShapeError(f"{op}: channel mismatch: input of shape {x_shape} has {x_shape[1]} "
                         f"channels, weight of shape {w_shape} expects {w_shape[0]} "
                         f"(weight.shape[0]), which groups={groups} must divide")
    out_channels = w_shape[1] * groups
    if bias is not None and _shape(bias) != (out_channels,):
        raise ShapeError(f"{op}: bias of shape {_shape(bias)} does not fit weight of shape "
                         f"{w_shape} with groups={groups}: expected ({out_channels},)")
    stride = _ints(stride, nd, "stride", op, 1)
    padding = _ints(padding, nd, "padding", op, 0)
    dilation = _ints(dilation, nd, "dilation", op, 1)
    output_padding = _ints(output_padding, nd, "output_padding", op, 0)
    kernel = tuple(w_shape[2:])
    if any(op_ >= max(s, d) for op_, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{op}: output_padding {output_padding} must be smaller than the "
                         f"stride {stride} or the dilation {dilation}")
    in_size = tuple((m - 1) * s - 2 * p + d * (k - 1) + 1 + e for m, s, p, d, k, e in zip(
        x_shape[2:], stride, padding, dilation, kernel, output_padding))
    if any(n < 1 for n in in_size) or 0 in x_shape[2:]:
        raise ShapeError(f"{op}: input of shape {x_shape} with weight {w_shape}, stride "
                         f"{stride}, padding {padding} and dilation {dilation} gives an empty "
                         f"output of size {in_size}")
    plan = _Plan(kernel, stride, padding, dilation, groups, in_size, tuple(x_shape[2:]))
    return _call(ConvTranspose, x, weight, bias, plan=plan)


def _conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                      dilation=1):
    """Transposed 1-D convolution (PyTorch's ``conv_transpose1d``): the gradient of
    ``conv1d`` with respect to its input. ``x`` (N, C_in, L), ``weight`` (C_in, C_out / groups,
    k); output length ``(L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding +
    1``. Linear in ``x`` and ``weight``: no kinks."""
    return _transposed("conv_transpose1d", 1, x, weight, bias, stride, padding, output_padding,
                       groups, dilation)


def _conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                      dilation=1):
    """Transposed 2-D convolution (PyTorch's ``conv_transpose2d``, argument order included): the
    gradient of ``conv2d`` with respect to its input, used to upsample. ``x`` (N, C_in, H, W),
    ``weight`` (C_in, C_out / groups, kH, kW); each output size is ``(size - 1) * stride -
    2 * padding + dilation * (kernel - 1) + output_padding + 1``. Linear in ``x`` and
    ``weight``: no kinks."""
    return _transposed("conv_transpose2d", 2, x, weight, bias, stride, padding, output_padding,
                       groups, dilation)


conv_transpose1d = primitive("conv_transpose1d", ConvTranspose, public=_conv_transpose1d)
conv_transpose2d = primitive("conv_transpose2d", ConvTranspose, public=_conv_transpose2d)


# ---- pooling ------------------------------------------------------------------------------------

def _pool_plan(op: str, x_shape, kernel_size, stride, padding) -> _Plan:
    _check_ndim(op, "input", x_shape, 2, "(N, C, H, W)")
    kernel = _ints(kernel_size, 2, "kernel_size", op, 1)
    stride = kernel if stride is None else _ints(stride, 2, "stride", op, 1)
    padding = _ints(padding, 2, "padding", op, 0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size "
                         f"{kernel} (a window of padding alone has no value)")
    dilation = (1, 1)
    out_size = _out_size(op, tuple(x_shape[2:]), kernel, stride, padding, dilation, x_shape)
    return _Plan(kernel, stride, padding, dilation, 1, tuple(x_shape[2:]), out_size)


def _lowest(dtype):
    return -np.inf if np.dtype(dtype).kind == "f" else np.iinfo(dtype).min


def _offset_slices(plan: _Plan):
    """For each kernel offset (row-major), its index and the strided slice of the padded input
    that it reads at every output position."""
    for index, offset in enumerate(itertools.product(*(range(k) for k in plan.kernel))):
        yield index, (slice(None), slice(None)) + tuple(
            slice(i, i + (m - 1) * s + 1, s)
            for i, m, s in zip(offset, plan.out_size, plan.stride))


def _crop(xp, plan: _Plan):
    if not any(plan.padding):
        return xp
    return xp[(slice(None), slice(None)) + tuple(
        slice(p, p + m) for p, m in zip(plan.padding, plan.in_size))]


class MaxPool(Function):
    """Max over windows. The gradient goes to the first maximum of each window in row-major
    order (as PyTorch's CPU kernel); a NaN counts as the maximum."""

    @staticmethod
    def forward(ctx, x, plan=None):
        xp = _pad_spatial(x, plan.padding, _lowest(x.dtype))
        views = [xp[where] for _, where in _offset_slices(plan)]  # one per kernel offset
        # The smallest integer type that numbers the offsets: compared once per offset later.
        index = np.full(views[0].shape, len(views) - 1, dtype=np.min_scalar_type(len(views)))
        if xp.dtype.kind == "f" and np.isnan(xp).any():
            # A NaN is the maximum (the first one), and never replaced: a running max that
            # notes where it came from; strict > keeps the first of tied maxima.
            out = views[0].copy()
            index[...] = 0
            for k, values in enumerate(views[1:], start=1):
                better = (values > out) | (np.isnan(values) & ~np.isnan(out))
                np.copyto(out, values, where=better)
                np.copyto(index, k, where=better)
        else:
            # The max first (whole-array maximum is the fast numpy operation), then the first
            # offset holding it: offsets from last to first, so the first one written wins.
            out = views[0].copy()
            for values in views[1:]:
                np.maximum(out, values, out=out)
            for k in range(len(views) - 2, -1, -1):
                np.copyto(index, k, where=views[k] == out)
        ctx.plan, ctx.index = plan, index
        return out

    @staticmethod
    def backward(ctx, grad):
        return _call(_MaxPoolScatter, grad, plan=ctx.plan, index=ctx.index)


class _MaxPoolScatter(Function):
    """Each output's gradient to the input element max pooling chose (zeros elsewhere); overlapping
    windows that chose one element add up. Linear; its adjoint is _MaxPoolGather."""

    @staticmethod
    def forward(ctx, grad, plan=None, index=None):
        ctx.plan, ctx.index = plan, index
        xp = np.zeros(grad.shape[:2] + plan.padded_size, dtype=grad.dtype)
        overlapping = any(s < k for s, k in zip(plan.stride, plan.kernel))
        finite = np.isfinite(grad).all()
        for k, where in _offset_slices(plan):
            if overlapping:  # windows that share an element add up there
                xp[where] += np.where(index == k, grad, 0)
            elif finite:  # each element is in one window at most: written (a multiply by the
                # mask into the strided view is several times faster than a masked copy)
                np.multiply(index == k, grad, out=xp[where])
            else:  # inf * 0 would be nan where the element was not chosen
                np.copyto(xp[where], grad, where=index == k)
        return _crop(xp, plan)

    @staticmethod
    def backward(ctx, h):
        return _call(_MaxPoolGather, h, plan=ctx.plan, index=ctx.index)


class _MaxPoolGather(Function):
    """The input's value at each element max pooling chose. Linear; adjoint of _MaxPoolScatter."""

    @staticmethod
    def forward(ctx, h, plan=None, index=None):
        ctx.plan, ctx.index = plan, index
        hp = _pad_spatial(h, plan.padding)
        out = np.zeros(index.shape, dtype=h.dtype)
        for k, where in _offset_slices(plan):
            np.copyto(out, hp[where], where=index == k)
        return out

    @staticmethod
    def backward(ctx, grad):
        return _call(_MaxPoolScatter, grad, plan=ctx.plan, index=ctx.index)


def _max_pool2d(x, kernel_size, stride=None, padding=0):
    """Maximum over each ``kernel_size`` window of ``x`` (N, C, H, W), as PyTorch's
    ``max_pool2d``: ``stride`` defaults to ``kernel_size``; ``padding`` (at most half the
    kernel) adds -inf on every side, so padding is never the maximum.

    Ties: the gradient goes to the first maximum of the window in row-major order, as PyTorch's
    CPU kernel does (not split between tied elements). A NaN in a window is its maximum.
    """
    x = _as_value(x)
    plan = _pool_plan("max_pool2d", _shape(x), kernel_size, stride, padding)
    return _call(MaxPool, x, plan=plan)


max_pool2d = primitive("max_pool2d", MaxPool, public=_max_pool2d)


@composite()
def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each ``kernel_size`` window of ``x`` (N, C, H, W), as PyTorch's ``avg_pool2d``
    with its default ``count_include_pad=True``: ``padding`` adds zeros that count in the mean
    (every window divides by kH * kW). ``stride`` defaults to ``kernel_size``. Computed as a
    convolution of each channel with a constant kernel; linear, no kinks."""
    x = _as_value(x)
    shape = _shape(x)
    plan = _pool_plan("avg_pool2d", shape, kernel_size, stride, padding)
    n, c = shape[:2]
    dtype = np.result_type(x.dtype if isinstance(x, Variable) else x, np.float32)
    weight = np.full((1, 1) + plan.kernel, 1.0 / math.prod(plan.kernel), dtype=dtype)
    out = conv2d(reshape(x, (n * c, 1) + plan.in_size), weight, stride=plan.stride,
                 padding=plan.padding)
    return reshape(out, (n, c) + plan.out_size)


# ---- constant padding ---------------------------------------------------------------------------

def _pad_widths(pad_width, shape: tuple) -> tuple:
    """np.pad's ``pad_width`` (an int, a (before, after) pair, or one pair per axis) as one
    (before, after) pair of non-negative ints per axis."""
    try:
        widths = np.asarray(pad_width)
        if widths.dtype.kind not in "iu" and widths.size:
            raise TypeError
        widths = np.broadcast_to(widths, (len(shape), 2))
    except (TypeError, ValueError):
        raise ShapeError(f"pad: pad_width {pad_width!r} does not fit an array of shape {shape}: "
                         f"expected an int, a (before, after) pair of ints, or {len(shape)} "
                         "such pairs (one per axis), as np.pad") from None
    if (widths < 0).any():
        raise ValueError(f"pad: pad_width {pad_width!r} has a negative width; expected "
                         "non-negative ints")
    return tuple((int(a), int(b)) for a, b in widths)


class Pad(Function):
    @staticmethod
    def forward(ctx, x, widths=None, value=0):
        ctx.crop = tuple(slice(a, a + n) for (a, _), n in zip(widths, np.shape(x)))
        return np.pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.crop]


def _pad(x, pad_width, mode="constant", constant_values=0):
    """``x`` with ``constant_values`` added around it, as ``np.pad(x, pad_width)``:
    ``pad_width`` is numpy's (an int for every side, a (before, after) pair for every axis, or
    one pair per axis, first axis first; note PyTorch's ``F.pad`` lists the last axis first).
    Only ``mode="constant"`` with one scalar value. The gradient is the gradient's middle (the
    padding is constant). ``np.pad(tensor, pad_width, constant_values=v)`` runs this op."""
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got mode={mode!r}")
    if np.ndim(constant_values) != 0:
        raise ValueError(f"pad: constant_values must be one scalar, got {constant_values!r}")
    x = _as_value(x)
    widths = _pad_widths(pad_width, _shape(x))
    return _call(Pad, x, widths=widths, value=constant_values)


pad = primitive("pad", Pad, numpy=np.pad, public=_pad)
