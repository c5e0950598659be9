"""``vmap``: run a function written for one example on a whole batch, without a Python loop.

How it works. ``vmap(f)(xs)`` calls ``f`` once, with :class:`BatchedTensor` values: each holds a
*physical* Tensor whose axis 0 is the batch, and shows the *logical* shape of one example
(``x.shape`` inside ``f`` is an example's shape). A batched value belongs to a *level* (one per
``vmap`` call being run, so ``vmap(vmap(f))`` nests): its physical value may itself be batched
at an outer level. Every op applied to a batched value goes to the op's *batching rule*
(``batching.py``), which runs the ordinary, recorded op on the physical values with the axes
moved into place, so the result is differentiable like any other (``grad`` of a vmapped
function, and ``vmap`` of a gradient, both work). An op without a rule runs in a Python loop
over the batch, with a one-time warning that names it.

The hook for gradient transforms (``func.grad`` and friends). Under ``vmap`` a gradient
transform differentiates a function of one example; the batch's per-example gradients come
from one backward pass, because examples never mix: the gradient of the *sum* of the per-example
results with respect to a per-example copy of an input is that example's gradient. A transform
makes three calls, which outside ``vmap`` reduce to the plain gradient: ``lift(x)`` gives
``(value, target)`` for each input it differentiates (``f`` gets ``value``; ``target`` is a
plain Tensor to differentiate with respect to, with the batch axes of every running level in
front), ``physical(out)`` gives the plain Tensor of every example's result, and
``wrap(gradient, like=value)`` batches ``target``'s gradient as ``value`` is:

>>> import autograd_core as ag
>>> from autograd_core.func.vmap import lift, physical, vmap, wrap
>>> def grad_of(f):
...     def gradient(x):
...         value, target = lift(x)
...         root = physical(f(value))
...         (g,) = ag.grad(root, [target], grad_outputs=np.ones(root.shape, root.dtype))
...         return wrap(g, like=value)
...     return gradient
>>> vmap(grad_of(lambda x: (x ** 3).sum()))(ag.Tensor([[1.0, 2.0], [3.0, 4.0]])).numpy()
array([[ 3., 12.],
       [27., 48.]], dtype=float32)

``lift`` gives an input that is not batched a batched copy (a broadcast view: no memory); the
matmul and linear rules recognise such a copy and run one matrix product for the whole batch,
computing per-example outer products only for its gradient.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from .. import ops
from ..engine import Variable
from ..errors import ShapeError
from ..tensor import Tensor

__all__ = ["BatchedTensor", "is_batched", "lift", "physical", "vmap", "wrap"]


class _Level:
    """One running ``vmap`` call: its batch size and its depth (1 for the outermost)."""

    __slots__ = ("size", "depth")

    def __init__(self, size: int, depth: int):
        self.size = size
        self.depth = depth

    def __repr__(self) -> str:
        return f"<vmap level {self.depth}, batch of {self.size}>"


_state = threading.local()  # .levels: the running vmap calls of this thread, outermost first


def _levels() -> list:
    levels = getattr(_state, "levels", None)
    if levels is None:
        levels = _state.levels = []
    return levels


# ---- the batched value --------------------------------------------------------------------------

class BatchedTensor(Tensor):
    """A batch of values seen as one example inside ``vmap``: shape, dtype, operators, methods
    and ``ag.*`` functions are an example's; every op runs on the whole batch at once.

    Its numbers cannot be read inside ``vmap`` (``.item()``, ``np.asarray``, ``if t > 0``):
    they differ from example to example. Write such choices with ``ag.where``.
    """

    __slots__ = ("_value", "_level", "_source")

    @classmethod
    def _make(cls, value, level: _Level, source=None) -> BatchedTensor:
        """``value`` (physical: axis 0 is the batch of ``level``) as a batched value; ``source``
        is the unbatched Tensor ``value`` is a broadcast copy of, when ``lift`` made it."""
        self = cls.__new__(cls)
        self._value = value
        self._level = level
        self._source = source
        self._grad = None
        self._grad_fn = None
        self._requires_grad = False
        self.name = None
        return self

    # What ``.data`` gives: the batch's values stand-in (see _BatchedData), which is what
    # Function.apply passes on to _run_forward below, and what untracked ops compute with.
    @property
    def data(self):
        return _BatchedData(self)

    # ---- engine hooks: every op on a batched value goes to its batching rule ----------------
    @staticmethod
    def _run_forward(function, ctx, raw, kwargs):
        return _dispatch(function, [r.batched if type(r) is _BatchedData else r for r in raw],
                         kwargs)

    @staticmethod
    def _can_carry_grad(raw) -> bool:
        return False  # the physical values carry the graph, not the batched view of them

    @classmethod
    def _from_op(cls, data, node):
        if type(data) is _BatchedData:
            return data.batched
        if isinstance(data, BatchedTensor):
            return data
        raise TypeError(f"vmap: an op returned {type(data).__name__} for a batched value")

    # ---- an example's view ------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._value.shape[1:]

    @property
    def dtype(self):
        return self._value.dtype

    @property
    def ndim(self) -> int:
        return self._value.ndim - 1

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        return (f"BatchedTensor(shape={self.shape}, dtype={self.dtype}, "
                f"{self._level!r})")

    # ---- what cannot be done to one example of a batch --------------------------------------
    def _values_error(self, what: str) -> TypeError:
        return TypeError(
            f"vmap: {what} needs the values of one example, but inside vmap a tensor holds a "
            f"whole batch ({self._level.size} examples of shape {self.shape}) whose values "
            "differ; compute on the values outside vmap, or choose with ag.where(...)")

    def numpy(self):
        raise self._values_error("Tensor.numpy()")

    def __array__(self, dtype=None, copy=None):
        raise self._values_error("np.asarray(tensor)")

    def item(self):
        raise self._values_error("Tensor.item()")

    def __bool__(self):
        raise self._values_error("the truth value of a tensor (if/while/and/or)")

    def any(self):
        raise self._values_error("Tensor.any()")

    def all(self):
        raise self._values_error("Tensor.all()")

    def backward(self, *args, **kwargs):
        raise TypeError("vmap: backward() inside vmap would add up the gradients of the whole "
                        "batch; take per-example gradients with vmap(func.grad(f)) instead")

    def requires_grad_(self, requires_grad: bool = True):
        raise TypeError("vmap: requires_grad_ on a batched tensor; differentiate with "
                        "func.grad inside vmap, or mark the inputs before calling vmap")

    def __setitem__(self, index, value):
        raise TypeError("vmap: in-place assignment to a batched tensor is not supported; "
                        "build a new one (ag.where, ag.concatenate)")

    def _inplace(self, ufunc, other, op: str):
        raise TypeError(f"vmap: {op} changes a batched tensor in place, which is not "
                        "supported; write t = t + v instead")

    def detach(self) -> BatchedTensor:
        return BatchedTensor._make(self._value.detach(), self._level)

    def _compare(self, other, compare):
        return _from_ufunc(compare, (self, other))

    def __invert__(self):
        return _from_ufunc(np.logical_not, (self,))

    # numpy's functions: its shape queries answer an example's shape; the rest as for a Tensor
    def __array_function__(self, func, types, args, kwargs):
        if func in _SHAPE_QUERIES and len(args) == 1 and not kwargs and args[0] is self:
            return getattr(self, _SHAPE_QUERIES[func])
        return _unwrap_data(Tensor.__array_function__(self, func, types, args, kwargs))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _unwrap_data(Tensor.__array_ufunc__(self, ufunc, method, *inputs, **kwargs))


BatchedTensor._family = BatchedTensor
_SHAPE_QUERIES = {np.shape: "shape", np.ndim: "ndim", np.size: "size"}


def _unwrap_data(result):
    if type(result) is _BatchedData:
        return result.batched
    if isinstance(result, tuple):
        return tuple(_unwrap_data(r) for r in result)
    return result


def _dispatch(function, args, kwargs):
    """Run the Function ``function`` on ``args``, some of them batched: its batching rule at
    the innermost level among them (values batched at outer levels are constants there)."""
    level = None
    for value in (*args, *kwargs.values()):
        for leaf in _leaves(value):
            if isinstance(leaf, BatchedTensor) and (level is None
                                                    or leaf._level.depth > level.depth):
                level = leaf._level
            elif isinstance(leaf, Variable) and not isinstance(leaf, Tensor):
                raise TypeError(f"vmap: {function.name()} got a {type(leaf).__name__} with a "
                                "batched tensor; vmap works on Tensors")
    args = [a.batched if type(a) is _BatchedData else a for a in args]
    kwargs = {k: _unwrap_kwarg(v) for k, v in kwargs.items()}
    rule = rule_for(function)
    if rule is not None and not any(_batched_at(leaf, level) for value in kwargs.values()
                                    for leaf in _leaves(value)):
        return rule(function, args, kwargs, level)
    return run_in_loop(function, args, kwargs, level)


BatchedTensor._takes_over = staticmethod(_dispatch)  # ops mixing batched values and Tensors


def _unwrap_kwarg(value):
    if type(value) is _BatchedData:
        return value.batched
    if type(value) is tuple:
        return tuple(_unwrap_kwarg(v) for v in value)
    return value


def _leaves(value):
    if type(value) is tuple or type(value) is list:
        for v in value:
            yield from _leaves(v)
    elif type(value) is _BatchedData:
        yield value.batched
    else:
        yield value


def _batched_at(value, level) -> bool:
    return isinstance(value, BatchedTensor) and value._level is level


# ---- untracked ops: numpy on the values of a batch ----------------------------------------------

class _BatchedData:
    """``.data`` of a batched value: what ``Function.apply`` hands to ``_run_forward``, and what
    the untracked ops (``sign``, ``argmax``, ``isnan``, ...) run numpy on. numpy's ufuncs run
    on the whole batch at once; other numpy functions run example by example (with a one-time
    warning naming them); converting it to an array is refused (the values differ per example).
    """

    __slots__ = ("batched",)

    def __init__(self, batched: BatchedTensor):
        self.batched = batched

    shape = property(lambda self: self.batched.shape)
    ndim = property(lambda self: self.batched.ndim)
    size = property(lambda self: self.batched.size)
    dtype = property(lambda self: self.batched.dtype)

    def __array__(self, dtype=None, copy=None):
        raise self.batched._values_error("reading a batched tensor's values (.data)")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            return NotImplemented
        return _BatchedData(_from_ufunc(ufunc, inputs))

    def __array_function__(self, func, types, args, kwargs):
        if func in _SHAPE_QUERIES and len(args) == 1 and not kwargs:
            return getattr(self.batched, _SHAPE_QUERIES[func])
        if func in _DTYPE_QUERIES:  # answered by the dtype, the same for every example
            return func(*[_stand_in(a) for a in args], **kwargs)
        if func is np.isclose:  # element by element, as a ufunc
            return _BatchedData(_from_ufunc(func, args, kwargs))
        return _BatchedData(numpy_in_loop(func, args, kwargs))


_DTYPE_QUERIES = frozenset([np.result_type, np.can_cast, np.iscomplexobj, np.isrealobj])


def _stand_in(value):
    """An empty array of one example's shape and dtype, for questions about the dtype."""
    if type(value) is _BatchedData:
        return np.empty(value.shape, value.dtype)
    return value


def _from_ufunc(ufunc, inputs, kwargs=None) -> BatchedTensor:
    """A numpy ufunc (no gradient: comparisons, tests, signs) on batched values, all at once."""
    kwargs = kwargs or {}
    batched = [_unwrap_data(x) for x in inputs]
    level = max((x._level for x in batched if isinstance(x, BatchedTensor)),
                key=lambda lv: lv.depth)
    rank = max(np.ndim(x) for x in batched)
    raws = []
    for x in batched:
        if _batched_at(x, level):
            raw = x._value.data
            if type(raw) is not np.ndarray:  # batched at an outer level too: example by example
                return numpy_in_loop(ufunc, inputs, kwargs)
            raws.append(raw.reshape((raw.shape[0],) + (1,) * (rank - x.ndim) + x.shape))
        else:
            raw = x.data if isinstance(x, Variable) else x
            if type(raw) is _BatchedData:
                return numpy_in_loop(ufunc, inputs, kwargs)
            raws.append(raw)
    return BatchedTensor._make(Tensor._from_op(np.asarray(ufunc(*raws, **kwargs)), None), level)


# ---- vmap ---------------------------------------------------------------------------------------

def vmap(f, in_axes=0, out_axes=0):
    """``f`` vectorised over a batch axis of its inputs, as ``jax.vmap``/``torch.func.vmap``.

    ``in_axes`` says which axis of each positional argument is the batch: an int for all, None
    for an argument shared by every example, or a tuple with one entry per argument (an entry
    applies to every Tensor in a list/tuple/dict argument, e.g. a model's parameters).
    ``out_axes`` says where the batch axis goes in each output (an int, or one per output).
    ``f`` must return a Tensor or a tuple/list/dict of them. Keyword arguments are passed to
    ``f`` as they are, shared by every example.

    >>> import autograd_core as ag
    >>> xs = ag.Tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> vmap(lambda x: (x * x).sum())(xs).numpy()
    array([ 5., 25., 61.], dtype=float32)

    Per-example gradients: ``vmap(func.grad(loss), in_axes=(None, 0, 0))(params, x, y)``.
    """
    name = getattr(f, "__name__", type(f).__name__)

    @functools.wraps(f)
    def vmapped(*args, **kwargs):
        axes = _in_axes_per_argument(in_axes, args, name)
        size = _batch_size(args, axes, name)
        levels = _levels()
        level = _Level(size, len(levels) + 1)
        inputs = [_map_tree(a, lambda x, ax=ax: _batch(x, ax, level, name))
                  if ax is not None else a for a, ax in zip(args, axes)]
        levels.append(level)
        try:
            out = f(*inputs, **kwargs)
        finally:
            levels.pop()
        return _outputs(out, out_axes, level, name)

    return vmapped


def _in_axes_per_argument(in_axes, args, name) -> list:
    if in_axes is None or isinstance(in_axes, (int, np.integer)):
        return [in_axes] * len(args)
    if not isinstance(in_axes, (tuple, list)):
        raise TypeError(f"vmap({name}): in_axes must be an int, None or a tuple of them, got "
                        f"{type(in_axes).__name__}")
    if len(in_axes) != len(args):
        raise ValueError(f"vmap({name}): in_axes has {len(in_axes)} entries but the function "
                         f"was called with {len(args)} positional arguments; expected one "
                         "entry per argument")
    for ax in in_axes:
        if ax is not None and not isinstance(ax, (int, np.integer)):
            raise TypeError(f"vmap({name}): each in_axes entry must be an int or None, got "
                            f"{ax!r}")
    return list(in_axes)


def _tensors_in(tree) -> list:
    found = []
    _map_tree(tree, lambda x: found.append(x) or x)
    return found


def _map_tree(tree, fn):
    if isinstance(tree, (list, tuple)) and not isinstance(tree, Variable):
        mapped = [_map_tree(t, fn) for t in tree]
        return type(tree)(mapped) if type(tree) in (list, tuple) else type(tree)(*mapped)
    if isinstance(tree, dict):
        return {k: _map_tree(v, fn) for k, v in tree.items()}
    return fn(tree)


def _batch_size(args, axes, name) -> int:
    sizes = {}
    for i, (arg, ax) in enumerate(zip(args, axes)):
        if ax is None:
            continue
        for x in _tensors_in(arg):
            if not isinstance(x, (Tensor, np.ndarray)):
                raise TypeError(f"vmap({name}): argument {i} is batched (in_axes {ax}) but holds "
                                f"a {type(x).__name__}; expected Tensors or numpy arrays (use "
                                "in_axes None for it)")
            ndim = x.ndim
            if not -ndim <= ax < ndim:
                raise ShapeError(f"vmap({name}): in_axes {ax} is out of range for argument {i} "
                                 f"of shape {tuple(x.shape)} ({ndim} dims); expected an axis in "
                                 f"[{-ndim}, {ndim - 1}]")
            sizes.setdefault(x.shape[ax], (i, tuple(x.shape), ax))
    if not sizes:
        raise ValueError(f"vmap({name}): no argument is batched (every in_axes entry is None); "
                         "expected at least one argument with a batch axis")
    if len(sizes) > 1:
        described = "; ".join(f"argument {i} of shape {s} has {n} along axis {ax}"
                              for n, (i, s, ax) in sizes.items())
        raise ShapeError(f"vmap({name}): the batch sizes differ: {described}; expected one "
                         "batch size for every batched argument")
    return next(iter(sizes))


def _batch(x, axis: int, level: _Level, name) -> BatchedTensor:
    if isinstance(x, np.ndarray):
        x = Tensor(x)
    if axis % x.ndim != 0:
        x = ops.moveaxis(x, axis, 0)
    return BatchedTensor._make(x, level)


def _outputs(out, out_axes, level: _Level, name):
    leaves = _tensors_in(out)
    if isinstance(out_axes, (tuple, list)):
        if not isinstance(out, (tuple, list)) or len(out) != len(out_axes):
            raise ValueError(f"vmap({name}): out_axes has {len(out_axes)} entries but the "
                             f"function returned {type(out).__name__}"
                             f"{f' of {len(out)}' if isinstance(out, (tuple, list)) else ''}; "
                             "expected one entry per output")
        return type(out)(_map_tree(o, lambda x, ax=ax: _unbatch(x, ax, level, name))
                         for o, ax in zip(out, out_axes))
    if not leaves:
        raise TypeError(f"vmap({name}): the function returned nothing to batch "
                        f"({type(out).__name__}); expected a Tensor or a tuple/list/dict of them")
    return _map_tree(out, lambda x: _unbatch(x, out_axes, level, name))


def _unbatch(x, axis, level: _Level, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"vmap({name}): the function returned a {type(x).__name__} "
                        f"({x!r:.60}); expected Tensors (or tuples/lists/dicts of them) as "
                        "outputs, which get the batch axis")
    if _batched_at(x, level):
        value = x._value
    else:  # the same for every example: repeated along the batch axis
        value = ops.broadcast_to(ops.expand_dims(x, 0), (level.size,) + tuple(x.shape))
    if axis is None:
        raise ValueError(f"vmap({name}): out_axes None asks for an output without a batch "
                         "axis; expected an int")
    ndim = value.ndim
    if not -ndim <= axis < ndim:
        raise ShapeError(f"vmap({name}): out_axes {axis} is out of range for an output of "
                         f"shape {tuple(value.shape)} with the batch axis ({ndim} dims)")
    return value if axis % ndim == 0 else ops.moveaxis(value, 0, axis)


# ---- the hook for gradient transforms -----------------------------------------------------------

def is_batched(x) -> bool:
    """Whether ``x`` is a batched value of a running ``vmap``."""
    return isinstance(x, BatchedTensor)


def _physical_levels(x):
    """(the plain Tensor under every level of ``x``, the levels it is batched at, outermost
    first): its leading axes are those levels' batch axes, in that order."""
    found = []
    while isinstance(x, BatchedTensor):
        found.append(x._level)
        x = x._value
    return x, found[::-1]


def lift(x):
    """For a gradient transform: ``(value, target)`` for an input ``x`` it differentiates with
    respect to. ``f`` is called with ``value``; the gradient is taken with respect to
    ``target``, a plain Tensor whose leading axes are the batch axes of every running ``vmap``
    level (outermost first), then ``x``'s example shape.

    ``target`` is always a node of its own: a fresh leaf for an ``x`` that does not require
    grad, else a reshape of ``x`` to its own shape (no copy), which keeps the graph to ``x`` (so
    that an outer transform can differentiate the gradient: ``grad(grad(f))``) while only what
    ``f`` computes from ``value`` reaches ``target``. Outside ``vmap``, ``value`` is ``target``.
    Inside, an ``x`` that is not batched at some running level (the parameters, for
    per-example gradients) gets a broadcast copy along that level (no memory is copied), which
    the matmul/linear batching rules run as one product for the whole batch.
    """
    if isinstance(x, np.ndarray):
        x = Tensor(x)
    base, have = _physical_levels(x)
    if not isinstance(base, Tensor):
        raise TypeError(f"lift: expected a Tensor or numpy array, got {type(base).__name__}")
    if base.requires_grad:
        base = ops.reshape(base, base.shape)
    else:
        base = base.detach().requires_grad_(True)
    levels = list(_levels())
    if not levels:
        return base, base
    source = None
    if len(have) != len(levels):
        # Insert a broadcast axis for each running level x is not batched at.
        shape = list(base.shape)
        full = []
        position = 0
        for level in levels:
            if position < len(have) and have[position] is level:
                full.append(shape[position])
                position += 1
            else:
                full.append(None)
        example = shape[len(have):]
        sizes = [lv.size for lv in levels]
        singleton = [n if n is not None else 1 for n in full]
        unbatched = base
        if len(have):
            base = ops.reshape(base, tuple(singleton) + tuple(example))
        base = ops.broadcast_to(base, tuple(sizes) + tuple(example))
        if not have and len(levels) == 1:
            source = unbatched  # matmul/linear: one product for the batch (batching.py)
    value = base
    for level in levels:
        value = BatchedTensor._make(value, level)
    if source is not None:
        value._source = source
    return value, base


def physical(out):
    """For a gradient transform: the plain Tensor under ``out`` (every example's result at
    once, the batch axes of its levels first); ``out`` itself when it is not batched."""
    return _physical_levels(out)[0]


def wrap(gradient, like):
    """For a gradient transform: ``gradient`` (with respect to ``lift``'s target) batched as
    ``like`` (``lift``'s value) is, so that it comes out of ``vmap`` as per-example
    gradients; ``gradient`` itself outside ``vmap`` (or when it is None)."""
    if gradient is None or not isinstance(like, BatchedTensor):
        return gradient
    levels = []
    while isinstance(like, BatchedTensor):
        levels.append(like._level)
        like = like._value
    value = gradient
    for level in reversed(levels):
        value = BatchedTensor._make(value, level)
    return value


# The rules use the classes above (and are found through rule_for when an op runs).
from .batching import numpy_in_loop, rule_for, run_in_loop  # noqa: E402
