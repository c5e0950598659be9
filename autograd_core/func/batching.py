"""Batching rules: how each primitive runs on batched values (see ``vmap.py``).

A rule gets the Function class, the call's arguments (some batched at ``level``: their
physical value has the batch on axis 0; the others are the same for every example) and its
keyword arguments, and returns the batched result. It runs the ordinary op on the physical
values, so the result is recorded and differentiable as the op always is.

Rules are found by category, so a new op gets one by being declared: every ``Elementwise``
subclass shares one rule (align the batch axes, and give the batched operands singleton axes
so that an example's broadcasting is unchanged); reductions and shape ops shift their axis
arguments past the batch axis; matmul, linear and tensordot have their own. An op without a
rule runs in a Python loop over the batch (``run_in_loop``), with a one-time warning naming it:
``fallback_ops()`` lists those, and a test keeps the list from growing unnoticed.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import ops, registry
from ..engine import Function, Variable
from ..errors import ShapeError
from ..ops import convolution, decompositions, linalg, reductions, shape
from ..ops import elementwise as elementwise_ops
from ..ops.broadcasting import normalize_axes
from ..ops.einsum import Einsum
from ..ops.elementwise import Elementwise
from ..tensor import Tensor
from .vmap import BatchedTensor, _batched_at, _BatchedData

_RULES: dict = {}
_warned: set = set()


def rule_for(function):
    """The batching rule of a Function class, or None (it then runs in a loop)."""
    rule = _RULES.get(function)
    if rule is None and issubclass(function, Elementwise):
        rule = _pointwise
    return rule


def fallback_ops() -> list[str]:
    """The registered primitives without a batching rule: under vmap they run in a loop."""
    return sorted(name for name, op in registry.OPS.items()
                  if op.kind == "primitive" and rule_for(op.primitive) is None)


def _warn_once(what: str, size: int) -> None:
    if what not in _warned:
        _warned.add(what)
        warnings.warn(f"vmap: {what} has no batching rule, so it runs in a Python loop over "
                      f"the batch of {size} (slower; the results are the same)", stacklevel=4)


def _wrap(value, level) -> BatchedTensor:
    return BatchedTensor._make(value, level)


def _split(args, level):
    """(physical values, which are batched) for the arguments of a call."""
    values, batched = [], []
    for a in args:
        if _batched_at(a, level):
            values.append(a._value)
            batched.append(True)
        else:
            values.append(a)
            batched.append(False)
    return values, batched


def _example_ndim(a) -> int:
    return a.ndim if isinstance(a, (Variable, np.ndarray)) else np.ndim(a)


def _padded(value, example_shape: tuple, rank: int):
    """A physical value with singleton axes after the batch axis, so that its example has
    ``rank`` axes (numpy's broadcasting adds them in front of an example, not of the batch)."""
    if len(example_shape) >= rank:
        return value
    return ops.reshape(value, (value.shape[0],) + (1,) * (rank - len(example_shape))
                       + tuple(example_shape))


def _align(args, level) -> list:
    """Physical arguments of an elementwise call: batched ones padded to the examples' rank."""
    rank = max(_example_ndim(a) for a in args)
    return [_padded(a._value, a.shape, rank) if _batched_at(a, level) else a for a in args]


def run_in_loop(function, args, kwargs, level):
    """The op example by example, stacked: for an op without a rule (or a call a rule does not
    cover, such as a batched index)."""
    _warn_once(function.name(), level.size)
    outs = []
    for b in range(level.size):
        outs.append(function.apply(*[_example(a, b, level) for a in args],
                                   **{k: _example(v, b, level) for k, v in kwargs.items()}))
    return _wrap(ops.stack(outs), level)


def _example(value, b: int, level):
    if _batched_at(value, level):
        return value._value[b]
    if type(value) is tuple:
        return tuple(_example(v, b, level) for v in value)
    return value


def numpy_in_loop(func, args, kwargs) -> BatchedTensor:
    """A numpy function on batched values (an untracked op's), example by example."""
    found = []

    def scan(value):
        if type(value) is _BatchedData:
            found.append(value.batched._level)
        elif isinstance(value, BatchedTensor):
            found.append(value._level)
        elif type(value) in (list, tuple):
            for v in value:
                scan(v)

    for value in (*args, *kwargs.values()):
        scan(value)
    level = max(found, key=lambda lv: lv.depth)
    name = f"np.{getattr(func, '__name__', func)}"
    _warn_once(name, level.size)

    def pick(value, b):
        if type(value) is _BatchedData:
            value = value.batched
        if _batched_at(value, level):
            raw = value._value.data
            return raw[b]
        if type(value) in (list, tuple):
            return type(value)(pick(v, b) for v in value)
        return value

    results = [func(*[pick(a, b) for a in args], **{k: pick(v, b) for k, v in kwargs.items()})
               for b in range(level.size)]
    if not all(isinstance(r, (np.ndarray, np.generic, bool, int, float)) for r in results):
        raise TypeError(f"vmap: {name} gave {type(results[0]).__name__} per example, which "
                        "cannot be batched; call it outside vmap")
    try:
        stacked = np.stack([np.asarray(r) for r in results])
    except ValueError:
        raise ShapeError(f"vmap: {name} gave results of different shapes for different "
                         "examples, which cannot be stacked into a batch; call it outside "
                         "vmap") from None
    return _wrap(Tensor._from_op(stacked, None), level)


def _bind(function, args, kwargs) -> dict:
    """The call's arguments by the names of ``function.forward`` (after ctx)."""
    import inspect

    signature = _SIGNATURES.get(function)
    if signature is None:
        signature = _SIGNATURES[function] = inspect.signature(function.forward)
    bound = signature.bind(None, *args, **kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    arguments.pop(next(iter(signature.parameters)))
    return arguments


_SIGNATURES: dict = {}


def _rule(*classes):
    def register(fn):
        for cls in classes:
            _RULES[cls] = fn
        return fn

    return register


# ---- elementwise --------------------------------------------------------------------------------

@_rule(elementwise_ops.Clip, elementwise_ops.Clone, shape.Cast)
def _pointwise(function, args, kwargs, level):
    """Every Elementwise op, and the other ops that act element by element."""
    return _wrap(function.apply(*_align(args, level), **kwargs), level)


# ---- reductions and shape ops: axes shifted past the batch axis ---------------------------------

@_rule(reductions.Sum, reductions.Max, reductions.Min, reductions.Prod, reductions.LogSumExp)
def _reduction(function, args, kwargs, level):
    arguments = _bind(function, args, kwargs)
    x = arguments.pop("x")
    axes = normalize_axes(arguments.pop("axis"), x.ndim, function.name().lower(), x.shape)
    return _wrap(function.apply(x._value, axis=tuple(a + 1 for a in axes), **arguments), level)


@_rule(shape.Reshape)
def _reshape(function, args, kwargs, level):
    arguments = _bind(function, args, kwargs)
    x = arguments["x"]
    return _wrap(function.apply(x._value, shape=(level.size,) + tuple(arguments["shape"])),
                 level)


@_rule(shape.Transpose)
def _transpose(function, args, kwargs, level):
    arguments = _bind(function, args, kwargs)
    x, axes = arguments["x"], arguments["axes"]
    ndim = x.ndim
    axes = tuple(range(ndim))[::-1] if axes is None else tuple(
        normalize_axes(a, ndim, "transpose", x.shape)[0] for a in axes)
    return _wrap(function.apply(x._value, axes=(0,) + tuple(a + 1 for a in axes)), level)


@_rule(shape.BroadcastTo)
def _broadcast_to(function, args, kwargs, level):
    arguments = _bind(function, args, kwargs)
    x, target = arguments["x"], tuple(arguments["shape"])
    value = _padded(x._value, x.shape, len(target))
    return _wrap(function.apply(value, shape=(level.size,) + target), level)


def _batch_index(index):
    """``index`` for the physical value (a full slice over the batch axis in front), or None
    when that would move the batch axis: numpy puts the axes of advanced indices (arrays)
    first when they are not next to each other."""
    parts = index if isinstance(index, tuple) else (index,)
    advanced = [i for i, p in enumerate(parts)
                if isinstance(p, (np.ndarray, list)) or isinstance(p, Variable)]
    if advanced and advanced != list(range(advanced[0], advanced[-1] + 1)):
        return None
    return (slice(None),) + parts


@_rule(shape.GetItem)
def _getitem(function, args, kwargs, level):
    arguments = _bind(function, args, kwargs)
    index = _batch_index(arguments["index"])
    if index is None:
        return run_in_loop(function, args, kwargs, level)
    return _wrap(function.apply(arguments["x"]._value, index=index), level)


@_rule(shape.ScatterAdd)
def _scatter_add(function, args, kwargs, level):
    arguments = _bind(function, args, kwargs)
    index = _batch_index(arguments["index"])
    if index is None:
        return run_in_loop(function, args, kwargs, level)
    values, target = arguments["values"], tuple(arguments["shape"])
    # the values broadcast to the indexed part of one example
    picked = np.broadcast_to(np.empty((), values.dtype), target)[arguments["index"]]
    values = _padded(values._value, values.shape, picked.ndim)
    return _wrap(function.apply(values, index=index, shape=(level.size,) + target), level)


@_rule(shape.Concatenate)
def _concatenate(function, args, kwargs, level):
    arguments = _bind(function, args, kwargs)
    xs = arguments["xs"]
    first = xs[0]
    if not first.shape:
        return run_in_loop(function, args, kwargs, level)  # the op's own error, per example
    axis = normalize_axes(arguments["axis"], len(first.shape), "concatenate", first.shape)[0]
    values = [x._value if _batched_at(x, level) else
              ops.broadcast_to(ops.expand_dims(x, 0), (level.size,) + tuple(x.shape))
              for x in xs]
    return _wrap(function.apply(*values, axis=axis + 1), level)


# ---- products -----------------------------------------------------------------------------------

class PerExampleMatMul(Function):
    """``x @ w`` for batched ``x`` (physical (B, ..., n)) and ``w``, a broadcast copy (B, n, m)
    of one matrix that ``lift`` made for a gradient transform: forward is one matrix product
    for the whole batch (every example's matrix is the same), and the gradient with respect
    to the copy is each example's own, ``x_b^T grad_b``: per-example gradients at the cost of
    the batch's product plus one outer product per example."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        ctx.x_shape = np.shape(x)
        return np.matmul(x, w[0])

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad
        grad_x = grad_w = None
        if need_x:
            grad_x = grad @ w[0].swapaxes(-1, -2)
        if need_w:
            size, n = ctx.x_shape[0], ctx.x_shape[-1]
            rows = x.reshape((size, -1, n))
            grads = grad.reshape((size, -1, grad.shape[-1]))
            if rows.shape[1] == 1:  # one row per example: the outer product, without a sum
                grad_w = rows.swapaxes(-1, -2) * grads
            else:
                grad_w = rows.swapaxes(-1, -2) @ grads
        return grad_x, grad_w


def _lifted_matrix(w, level) -> bool:
    return (_batched_at(w, level) and w._source is not None and w.ndim == 2)


def _per_example_product(x, w, level):
    """x @ w for batched x (an example of at least 1 axis) and a matrix lifted by ``lift``."""
    return _wrap(PerExampleMatMul.apply(x._value, w._value), level)


@_rule(linalg.MatMul)
def _matmul(function, args, kwargs, level):
    a, b = args
    a_batched, b_batched = _batched_at(a, level), _batched_at(b, level)
    if a_batched and a.ndim >= 1 and _lifted_matrix(b, level) and not _lifted_matrix(a, level):
        return _per_example_product(a, b, level)
    a_ndim, b_ndim = _example_ndim(a), _example_ndim(b)
    if a_ndim == 0 or b_ndim == 0:
        return run_in_loop(function, args, kwargs, level)  # matmul's own error, per example
    # 1-D operands as matrices (a row, a column), then both to one rank, then back.
    a_value = a._value if a_batched else a
    b_value = b._value if b_batched else b
    a_shape = (1,) + tuple(a.shape) if a_ndim == 1 else tuple(a.shape)
    b_shape = tuple(b.shape) + (1,) if b_ndim == 1 else tuple(b.shape)
    rank = max(len(a_shape), len(b_shape))
    if a_batched:
        a_value = ops.reshape(a_value, (level.size,) + (1,) * (rank - len(a_shape)) + a_shape)
    elif a_ndim == 1:
        a_value = ops.reshape(a_value, a_shape)
    if b_batched:
        b_value = ops.reshape(b_value, (level.size,) + (1,) * (rank - len(b_shape)) + b_shape)
    elif b_ndim == 1:
        b_value = ops.reshape(b_value, b_shape)
    out = function.apply(a_value, b_value)
    if a_ndim == 1 or b_ndim == 1:
        out_shape = tuple(out.shape)
        keep = out_shape[:-2] + ((out_shape[-2],) if a_ndim != 1 else ()) + (
            (out_shape[-1],) if b_ndim != 1 else ())
        out = ops.reshape(out, keep)
    return _wrap(out, level)


@_rule(linalg.Linear)
def _linear(function, args, kwargs, level):
    x, weight, bias = args
    if _batched_at(x, level) and not _batched_at(weight, level) and not _batched_at(bias, level):
        return _wrap(function.apply(x._value, weight, bias), level)
    # Otherwise as its definition, so that each part gets its rule (a lifted weight: one
    # product for the batch, per-example outer products for its gradient).
    return ops.matmul(x, weight) + bias


@_rule(linalg.TensorDot)
def _tensordot(function, args, kwargs, level):
    arguments = _bind(function, args, kwargs)
    a, b = arguments["a"], arguments["b"]
    a_batched, b_batched = _batched_at(a, level), _batched_at(b, level)
    a_axes, b_axes = linalg._tensordot_axes(tuple(a.shape), tuple(b.shape), arguments["axes"])
    if a_batched and b_batched:
        # Each example's tensordot as one batched matrix product: a's free axes, then the
        # summed ones (in the order of the pairs); b's summed axes (same order), then its free.
        a_free = [i for i in range(a.ndim) if i not in a_axes]
        b_free = [j for j in range(b.ndim) if j not in b_axes]
        a_value = ops.transpose(a._value, (0, *[i + 1 for i in a_free + list(a_axes)]))
        b_value = ops.transpose(b._value, (0, *[j + 1 for j in list(b_axes) + b_free]))
        inner = int(np.prod([a.shape[i] for i in a_axes], dtype=np.int64))
        a_kept = tuple(a.shape[i] for i in a_free)
        b_kept = tuple(b.shape[j] for j in b_free)
        product = ops.matmul(ops.reshape(a_value, (level.size, -1, inner)),
                             ops.reshape(b_value, (level.size, inner, -1)))
        return _wrap(ops.reshape(product, (level.size,) + a_kept + b_kept), level)
    if a_batched:
        return _wrap(function.apply(a._value, b, axes=(tuple(i + 1 for i in a_axes), b_axes)),
                     level)
    out = function.apply(a, b._value, axes=(a_axes, tuple(j + 1 for j in b_axes)))
    free_a = _example_ndim(a) - len(a_axes)
    return _wrap(ops.moveaxis(out, free_a, 0) if free_a else out, level)


@_rule(reductions.SoftmaxCrossEntropy)
def _softmax_cross_entropy(function, args, kwargs, level):
    arguments = _bind(function, args, kwargs)
    logits, labels, reduction = arguments["x"], arguments["labels"], arguments["reduction"]
    labels = np.broadcast_to(labels, (level.size,) + np.shape(labels))
    losses = function.apply(logits._value, labels=labels, reduction="none")
    if reduction != "none" and losses.ndim > 1:
        axes = tuple(range(1, losses.ndim))
        losses = losses.sum(axis=axes) if reduction == "sum" else ops.mean(losses, axis=axes)
    return _wrap(losses, level)


# ---- sequence ops: softmax, cumsum, einsum ------------------------------------------------------

@_rule(reductions.Softmax)
def _softmax(function, args, kwargs, level):
    arguments = _bind(function, args, kwargs)
    x = arguments["x"]
    if not x.shape:
        return run_in_loop(function, args, kwargs, level)  # softmax's own error, per example
    (axis,) = normalize_axes(arguments["axis"], x.ndim, "softmax", x.shape)
    return _wrap(function.apply(x._value, axis=axis + 1), level)


@_rule(reductions.Cumsum)
def _cumsum(function, args, kwargs, level):
    arguments = _bind(function, args, kwargs)
    x, axis = arguments["x"], arguments["axis"]
    if axis is None:  # over each example flattened
        return _wrap(function.apply(ops.reshape(x._value, (level.size, -1)), axis=1), level)
    (axis,) = normalize_axes(axis, x.ndim, "cumsum", x.shape)
    return _wrap(function.apply(x._value, axis=axis + 1), level)


@_rule(Einsum)
def _einsum(function, args, kwargs, level):
    """A letter of its own for the batch axis, on the batched operands and the output."""
    letters, out, sizes = kwargs["letters"], kwargs["out"], kwargs["sizes"]
    used = set("".join(letters)) | set(out)
    batch = next(c for c in "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba"
                 if c not in used)
    values, new_letters = [], []
    for a, part in zip(args, letters):
        if _batched_at(a, level):
            values.append(a._value)
            new_letters.append(batch + part)
        else:
            values.append(a)
            new_letters.append(part)
    return _wrap(function.apply(*values, letters=new_letters, out=batch + out,
                                sizes={**sizes, batch: level.size}), level)


# ---- convolution and pooling: the batch folded into the images' batch axis ----------------------

@_rule(convolution.MaxPool)
def _pool(function, args, kwargs, level):
    """The vmap batch and the images' batch axis become one axis; the op runs once."""
    arguments = _bind(function, args, kwargs)
    x = arguments.pop("x")._value
    out = function.apply(_fold(x, 0), **arguments)
    return _wrap(_unfold(out, x.shape[0], 0), level)


@_rule(convolution.Convolution, convolution.ConvTranspose)
def _convolution(function, args, kwargs, level):
    """Images batched, one weight for every example (the usual case): the vmap batch joins the
    images' batch axis and the op runs once. Per-example weights (or biases): the batch joins
    the channels instead, as groups of a grouped convolution, one group per example (the
    images are broadcast to the batch if they are not batched), and the op still runs once."""
    arguments = _bind(function, args, kwargs)
    names = [name for name in arguments if name != "plan"]  # x (or grad), weight, bias
    batched = {name: _batched_at(arguments[name], level) for name in names}
    values = {name: arguments[name]._value if batched[name] else arguments[name]
              for name in names}
    size, plan = level.size, arguments["plan"]
    first, weight, bias = (values[name] for name in names)
    if not batched[names[1]] and not batched[names[2]]:
        out = function.apply(_fold(first, 0), weight, bias, plan=plan)
        return _wrap(_unfold(out, size, 0), level)
    if not batched[names[0]]:
        first = ops.broadcast_to(first, (size,) + tuple(first.shape))
    if not batched[names[1]]:
        weight = ops.broadcast_to(weight, (size,) + tuple(weight.shape))
    if bias is not None and not batched[names[2]]:
        bias = ops.broadcast_to(bias, (size,) + tuple(bias.shape))
    # (B, N, C, ...) -> (N, B*C, ...): example b's channels are group b (of each original group)
    images = _fold(ops.moveaxis(first, 0, 1), 1)
    grouped = convolution._Plan(plan.kernel, plan.stride, plan.padding, plan.dilation,
                                plan.groups * size, plan.in_size, plan.out_size)
    out = function.apply(images, _fold(weight, 0), None if bias is None else _fold(bias, 0),
                         plan=grouped)
    return _wrap(ops.moveaxis(_unfold(out, size, 1), 1, 0), level)


def _fold(value, axis: int):
    """Axes ``axis`` and ``axis + 1`` of ``value`` as one (the first one outer)."""
    shape = tuple(value.shape)
    return ops.reshape(value, shape[:axis] + (shape[axis] * shape[axis + 1],) + shape[axis + 2:])


def _unfold(value, size: int, axis: int):
    """Axis ``axis`` of ``value`` split into (size, rest)."""
    shape = tuple(value.shape)
    return ops.reshape(value, shape[:axis] + (size, shape[axis] // size) + shape[axis + 1:])


@_rule(convolution.Pad)
def _pad(function, args, kwargs, level):
    arguments = _bind(function, args, kwargs)
    x = arguments.pop("x")
    widths = ((0, 0),) + tuple(arguments.pop("widths"))  # nothing added around the batch
    return _wrap(function.apply(x._value, widths=widths, **arguments), level)


# ---- linear algebra: numpy.linalg's leading batch axes take the vmap batch ----------------------

@_rule(decompositions.Inv, decompositions.Det, decompositions.Cholesky, decompositions._Slogdet,
       decompositions._Eigh, decompositions._SVD, decompositions._QR)
def _stacked_matrices(function, args, kwargs, level):
    """Ops on the last two axes of one matrix argument: the batch is one more leading axis."""
    arguments = _bind(function, args, kwargs)
    (name, a), *rest = arguments.items()
    return _wrap(function.apply(a._value, **dict(rest)), level)


@_rule(decompositions.Solve, decompositions.SolveTriangular)
def _solve(function, args, kwargs, level):
    """Both operands given the batch axis (a broadcast view for the one that lacks it). A vector
    right-hand side (one example's b is 1-d) becomes a one-column matrix, with singleton axes
    for a's own batch axes, so that numpy does not read the batch axis as the matrix's rows."""
    arguments = _bind(function, args, kwargs)
    a, b = arguments.pop("a"), arguments.pop("b")
    size = level.size
    a_value = a._value if _batched_at(a, level) else ops.broadcast_to(a, (size,) + a.shape)
    b_value = b._value if _batched_at(b, level) else ops.broadcast_to(b, (size,) + b.shape)
    if len(b.shape) == 1:
        column = ops.reshape(b_value, (size,) + (1,) * (len(a.shape) - 2) + (b.shape[0], 1))
        x = function.apply(a_value, column, **arguments)
        return _wrap(ops.reshape(x, tuple(x.shape[:-1])), level)
    rank = max(len(a.shape), len(b.shape))
    a_value = _padded(a_value, a.shape, rank)
    b_value = _padded(b_value, b.shape, rank)
    return _wrap(function.apply(a_value, b_value, **arguments), level)


@_rule(decompositions._Norm2)
def _norm2(function, args, kwargs, level):
    arguments = _bind(function, args, kwargs)
    x, axis = arguments.pop("x"), arguments.pop("axis")
    if axis is None:  # every element of an example: its elements in one row
        rows = ops.reshape(x._value, (level.size, -1))
        out = function.apply(rows, axis=1, keepdims=arguments["keepdims"])
        if arguments["keepdims"]:
            out = ops.reshape(out, (level.size,) + (1,) * x.ndim)
        return _wrap(out, level)
    axes = normalize_axes(axis, x.ndim, "norm", x.shape)
    return _wrap(function.apply(x._value, axis=tuple(a + 1 for a in axes), **arguments), level)
