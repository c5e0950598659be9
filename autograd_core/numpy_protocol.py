"""numpy's functions on Tensors: ``np.exp(t)`` runs ``ag.exp(t)``, recorded.

Tensor implements numpy's two override protocols, ``__array_ufunc__`` (ufuncs: ``np.exp``,
``np.add``, and so ``array + tensor``) and ``__array_function__`` (the rest: ``np.sum``,
``np.concatenate``, ...). Given a Tensor, a numpy function does one of three things.

1. **It has an op** (declared with ``numpy=`` next to the op, see ``registry.NUMPY``): the op
   runs instead, recorded and differentiable as often as the op is. ``np.exp(t)``,
   ``np.sum(t, axis=0)``, ``np.concatenate([t, u])``, ``np.where(m, t, 0)``,
   ``np.clip(t, 0, 1)``, ``array + t``, ``np.float64(2) * t``... So backward rules and custom
   Functions may call ``np.*`` on what they are handed, which is arrays in a plain backward
   pass and Tensors when ``create_graph=True``: second derivatives stay right.
   numpy's keyword arguments are matched to the op's by name (``a_min``/``min`` -> ``low``,
   ``a_max``/``max`` -> ``high`` for clip). One the op lacks (``dtype=``, ``where=``,
   ``order='F'``, ...) raises a TypeError saying what to do instead, unless it is left at
   numpy's default; so does ``out=`` (a recorded op makes a new value: ``arr += t`` too) and a
   ufunc method (``np.add.reduce(t)``: use ``ag.sum``; ``.accumulate``, ``.outer``, ``.at``).

2. **It only asks a question whose answer cannot be mistaken for a gradient**: it is computed
   on the values, untracked. These are the functions that answer with bools, integers, shapes
   or dtypes (the answer is checked on every call: a floating-point result raises instead):

   - ufuncs (see ``QUERY_UFUNCS``): comparisons ``np.less``, ``np.less_equal``,
     ``np.greater``, ``np.greater_equal``, ``np.equal``, ``np.not_equal``; logic
     ``np.logical_and/or/xor/not`` and ``np.bitwise_and/or/xor``, ``np.invert`` (so that
     ``mask & t`` works from either side); tests ``np.isnan``, ``np.isinf``, ``np.isfinite``,
     ``np.signbit``. On Tensors they give bool Tensors, as ``t < 0`` does.
   - functions (see ``QUERY_FUNCTIONS``): ``np.shape``, ``np.ndim``, ``np.size``,
     ``np.result_type``, ``np.can_cast``, ``np.min_scalar_type``, ``np.iscomplexobj``,
     ``np.isrealobj``, ``np.iscomplex``, ``np.isreal``, ``np.isneginf``, ``np.isposinf``,
     ``np.isclose``, ``np.allclose``, ``np.array_equal``, ``np.array_equiv``, ``np.isin``,
     ``np.any``, ``np.all``, ``np.argmax``, ``np.argmin``, ``np.argsort``,
     ``np.argpartition``, ``np.argwhere``, ``np.nonzero``, ``np.flatnonzero``,
     ``np.count_nonzero``, ``np.searchsorted``, ``np.digitize``, ``np.shares_memory``,
     ``np.may_share_memory``, and ``np.where(condition)`` with the condition alone (numpy's
     ``nonzero``). Array answers on Tensors come back as Tensors (never requiring grad); numpy
     scalars, tuples, shapes and dtypes as numpy gives them.

   Where one of these also has an op (``ag.argmax``, ``ag.isclose``, ...), the op runs: case 1.

3. **Anything else raises a TypeError** naming the numpy function and the ``ag.*`` function of
   that name when there is one. Computing it on the values would cut the graph without a word,
   and the gradient would come out wrong (missing that path) rather than fail.

To use numpy on the values themselves, untracked, ask for them: ``t.data``, ``t.numpy()`` or
``np.asarray(t)`` (``np.asarray``, ``np.array`` and ``np.testing`` convert through
``Tensor.__array__`` and are not dispatched). numpy converts a *list* of Tensors given where it
expects one array (``np.mean([t, u])``) before dispatching anything, so that result is a plain,
untracked array: write ``ag.stack([t, u]).mean(axis=0)``. (``np.concatenate`` and ``np.stack``
do look inside their list, and are recorded.)
"""

from __future__ import annotations

import inspect
import sys
import threading

import numpy as np

from . import registry
from .engine import Variable

__all__ = ["QUERY_FUNCTIONS", "QUERY_UFUNCS", "array_function", "array_ufunc"]


def _present(names: str) -> frozenset:
    # Some of these come and go between numpy versions; take those this numpy has.
    return frozenset(getattr(np, name) for name in names.split() if hasattr(np, name))


QUERY_UFUNCS = _present("""
    less less_equal greater greater_equal equal not_equal
    logical_and logical_or logical_xor logical_not bitwise_and bitwise_or bitwise_xor invert
    isnan isinf isfinite signbit
""")

QUERY_FUNCTIONS = _present("""
    shape ndim size result_type can_cast min_scalar_type iscomplexobj isrealobj iscomplex isreal
    isneginf isposinf isclose allclose array_equal array_equiv isin any all
    argmax argmin argsort argpartition argwhere nonzero flatnonzero count_nonzero
    searchsorted digitize shares_memory may_share_memory
""")

# numpy's name for an argument -> ours, where they differ (tried only when ours lacks numpy's).
_RENAMED = {"a_min": "low", "min": "low", "a_max": "high", "max": "high", "newshape": "shape"}

# What to do instead of an argument of numpy's that an op does not have.
_INSTEAD = {
    "out": "a recorded op makes a new value: use the result (y = f(...), not f(..., out=y); "
           "arr += t is arr = arr + t); for plain numpy into an array, pass t.data",
    "dtype": "cast the Tensor with .astype(dtype) before or after",
    "where": "compute everywhere and select with ag.where(mask, result, other)",
}

# A ufunc method's recorded equivalent: (op, how to call it).
_METHODS = {
    (np.add, "reduce"): ("sum", "ag.sum(t, axis=...)"),
    (np.maximum, "reduce"): ("max", "ag.max(t, axis=...)"),
    (np.minimum, "reduce"): ("min", "ag.min(t, axis=...)"),
    (np.multiply, "reduce"): ("prod", "ag.prod(t, axis=...)"),
    (np.add, "accumulate"): ("cumsum", "ag.cumsum(t, axis=...)"),
    (np.multiply, "outer"): ("outer", "ag.outer(t, u)"),
}

# numpy names whose op is spelled otherwise (for the suggestion in errors).
_SPELLED = {"amax": "max", "amin": "min", "absolute": "abs", "subtract": "sub",
            "multiply": "mul", "divide": "div", "true_divide": "div", "negative": "neg",
            "power": "pow", "concat": "concatenate", "permute_dims": "transpose",
            "around": "round", "copy": "clone", "ravel": "reshape"}

_state = threading.local()  # the numpy functions this thread is running an op for


# ---- the two protocols --------------------------------------------------------------------------

def array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """``Tensor.__array_ufunc__``: a ufunc with an op runs it; a query ufunc runs untracked."""
    if "out" in kwargs:
        raise TypeError(_no_argument(_call(ufunc, method), registry.NUMPY.get(ufunc), "out"))
    if ufunc in QUERY_UFUNCS and method != "at":
        return _untracked(self, getattr(ufunc, method), _call(ufunc, method), inputs, kwargs,
                          ufunc=True)
    if method != "__call__":
        op, instead = _METHODS.get((ufunc, method), (None, None))
        instead = (f"use {instead}" if op is not None and _has_op(op) else
                   "compose it from ag.* ops (indexing, ag.where, ag.sum, ...)")
        raise TypeError(
            f"{_call(ufunc, method)} is not supported on Tensors: only np.{ufunc.__name__}(...) "
            f"itself runs a recorded op, and this would compute without recording; {instead} "
            "(recorded), or call it on t.data for plain numpy values (no gradient)")
    ours = registry.NUMPY.get(ufunc)
    if ours is None:
        raise TypeError(_unsupported(ufunc))
    if kwargs:
        raise TypeError(_no_argument(f"np.{ufunc.__name__}", ours, next(iter(kwargs))))
    return _run(ufunc, ours, inputs, {})


# Queries the library itself asks of Tensors on its hot paths (np.shape(x) in a layer, say),
# answered from the array at once, before the general machinery below.
_ATTRIBUTE_QUERIES = {np.shape: "shape", np.ndim: "ndim", np.size: "size"}


def array_function(self, func, types, args, kwargs):
    """``Tensor.__array_function__``: a function with an op runs it (its arguments matched by
    name); a query function runs untracked on the values; any other raises a TypeError."""
    attribute = _ATTRIBUTE_QUERIES.get(func)
    if attribute is not None and len(args) == 1 and not kwargs and args[0] is self:
        return getattr(self.data, attribute)
    ours = registry.NUMPY.get(func)
    if ours is not None and not (func is np.where and len(args) + len(kwargs) == 1):
        if kwargs or len(args) > 1:
            args, kwargs = _translate(func, ours, args, kwargs)
        return _run(func, ours, args, kwargs)
    if func in QUERY_FUNCTIONS:
        return _untracked(self, func, f"np.{func.__name__}", args, kwargs)
    if func is np.where:  # np.where(condition) alone is numpy's nonzero(condition)
        return _untracked(self, np.nonzero, "np.where", args, kwargs)
    raise TypeError(_unsupported(func))


# ---- running an op ------------------------------------------------------------------------------

def _run(func, ours, args, kwargs):
    # An op's public function hands numpy back everything it does not record (np.clip(array,
    # t, 1) computes np.clip on the array); with a Tensor among those arguments numpy would ask
    # us again, forever. A numpy function re-entered this way is that case: say so instead.
    running = _state.__dict__.setdefault("running", set())
    if func in running:
        raise TypeError(
            f"np.{func.__name__}: got a Tensor where {_op_name(ours)} does not record one "
            f"(argument types: {_types(args, kwargs)}); it records the Tensors it takes as its "
            "values (the first argument, or the arrays); pass plain numbers or arrays elsewhere "
            "(t.data gives a Tensor's values, untracked)")
    running.add(func)
    try:
        return ours(*args, **kwargs)
    finally:
        running.discard(func)


_PLANS: dict = {}
_POSITION = object()  # in a plan: pass this argument by position
_DROP = object()  # in a plan: ours has no such argument, so it must be at numpy's default


def _plan(func, ours):
    """How each of numpy's arguments reaches our function, worked out once per pair from the two
    signatures: numpy's positional-only arguments and its first (the array) by position; the
    others by name (``_RENAMED`` where the names differ), or, if ours lacks them, nowhere. Where
    numpy takes ``**kwargs`` (np.pad's ``constant_values``), ours' own arguments of those names
    are reached by keyword.
    None when a signature cannot be read (the call is then passed on as it is)."""
    key = (func, ours)
    if key in _PLANS:
        return _PLANS[key]
    try:
        theirs = inspect.signature(func)
        params = list(inspect.signature(ours).parameters.values())
    except (TypeError, ValueError):
        _PLANS[key] = None
        return None
    if params and params[0].name == "ctx":  # a made public function shows forward's signature
        params = params[1:]
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    star = next((i for i, p in enumerate(params) if p.kind is p.VAR_POSITIONAL), None)
    routes, order, by_position = {}, [], True
    for index, param in enumerate(theirs.parameters.values()):
        if param.kind is param.VAR_POSITIONAL and index == 0:  # np.einsum(*operands, ...)
            _PLANS[key] = None  # all positional: passed on as it is, as ours takes it
            return None
        if param.kind is param.VAR_KEYWORD:  # np.pad(..., **kwargs): constant_values
            taken = set(routes.values()) | set(routes)  # ours by name, when numpy has no slot
            routes.update((name, name) for name in sorted(named - taken))
            break
        if param.kind is param.VAR_POSITIONAL:
            break  # numpy's *args: left to the general path (bind)
        target = param.name if param.name in named else _RENAMED.get(param.name)
        onto_star = star == index and params[star].name in (param.name, target)
        if by_position and (index == 0 or param.kind is param.POSITIONAL_ONLY or onto_star):
            routes[param.name] = _POSITION  # reshape(x, *shape) takes numpy's shape=(2, 3) so
        else:
            by_position = False
            routes[param.name] = target if target in named else _DROP
        if param.kind is not param.KEYWORD_ONLY:
            order.append(param.name)
    _PLANS[key] = plan = (theirs, routes, order)
    return plan


def _translate(func, ours, args, kwargs):
    """numpy's call as a call of our function (see ``_plan``); a numpy argument ours lacks is
    refused unless it is at numpy's default."""
    plan = _plan(func, ours)
    if plan is None:
        return args, kwargs
    theirs, routes, order = plan
    if len(args) > len(order) or any(name not in routes or name in order[:len(args)]
                                     for name in kwargs):
        _bind(func, theirs, args, kwargs)  # numpy's own error for a wrong call
        for name in kwargs:  # the rest went to numpy's **kwargs (np.clip has them)
            if name not in routes:
                raise TypeError(_no_argument(f"np.{func.__name__}", ours, name))
        raise TypeError(f"np.{func.__name__}: takes at most {len(order)} positional arguments "
                        f"on Tensors, got {len(args)}")
    slots, keywords = {}, {}
    for name, value in [*zip(order, args), *kwargs.items()]:
        route = routes[name]
        if route is _POSITION:
            slots[order.index(name)] = value
        elif route is _DROP:
            if not _is_default(value, theirs.parameters[name].default):
                raise TypeError(_no_argument(f"np.{func.__name__}", ours, name))
        elif route in keywords:
            raise TypeError(f"np.{func.__name__}: two arguments give {_op_name(ours)}'s "
                            f"{route!r}; pass one")
        else:
            keywords[route] = value
    if len(slots) != max(slots, default=-1) + 1:  # one in front is missing
        _bind(func, theirs, args, kwargs)
    return tuple(slots[i] for i in range(len(slots))), keywords


def _bind(func, signature, args, kwargs) -> None:
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"np.{func.__name__}: {error}") from None


def _is_default(value, default) -> bool:
    return value is default or (type(value) is type(default) and
                                isinstance(default, (str, int, float, bool)) and value == default)


# ---- queries ------------------------------------------------------------------------------------

def _raw(value):
    if isinstance(value, Variable):
        return value.data
    if type(value) in (list, tuple):
        return type(value)(_raw(v) for v in value)
    return value


def _untracked(self, func, call: str, args, kwargs, ufunc: bool = False):
    """``func`` on the values: bool, integer, shape or dtype answers only. On a Tensor an array
    answer is a Tensor (always, for a ufunc: ``np.less(t, 0)`` as ``t < 0``); on a Scalar a
    numpy scalar answer is a Python one (as Scalar's comparisons give)."""
    result = func(*[_raw(a) for a in args], **{k: _raw(v) for k, v in kwargs.items()})
    _check_untracked(result, call)
    if isinstance(self.data, np.ndarray):  # a Tensor
        if isinstance(result, np.ndarray) or (ufunc and isinstance(result, np.generic)):
            return self._family._from_op(np.asarray(result), None)
        if isinstance(result, tuple) and func is np.nonzero:
            return tuple(self._family._from_op(r, None) for r in result)
    elif isinstance(result, np.generic):
        return result.item()
    return result


def _check_untracked(result, call: str) -> None:
    """Refuse a floating-point answer: that could be taken for a value gradients flow through."""
    if isinstance(result, (list, tuple)):
        for part in result:
            _check_untracked(part, call)
        return
    kind = result.dtype.kind if isinstance(result, (np.ndarray, np.generic)) else None
    if kind in ("f", "c") or type(result) in (float, complex):
        raise TypeError(f"{call}: gave a floating-point answer on Tensors, which would not be "
                        "recorded; only bool, integer and shape answers are computed untracked. "
                        "Call it on t.data for plain numpy values (no gradient)")


# ---- messages -----------------------------------------------------------------------------------

def _call(ufunc, method: str) -> str:
    return f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")


def _op_name(function) -> str:
    for op in registry.OPS.values():
        if op.function is function:
            return f"ag.{op.name}"
    return getattr(function, "__name__", repr(function))


def _has_op(name: str) -> bool:
    package = sys.modules.get(__package__)
    return name in registry.OPS or (package is not None and hasattr(package, name))


def _no_argument(call: str, ours, name: str) -> str:
    """``ours``: the public function the call runs (None for a query)."""
    instead = _INSTEAD.get(name, f"leave {name} at numpy's default")
    what = "takes" if ours is None else f"runs {_op_name(ours)}, recorded, which has"
    return f"{call}(..., {name}=...) on a Tensor: {call} {what} no argument {name!r}; {instead}"


def _unsupported(func) -> str:
    name = func.__name__
    module = getattr(func, "__module__", None) or "numpy"
    # np.linalg.norm, not np.norm; numpy's private modules (numpy._core...) are not how it is called
    call = "np." + ("" if module == "numpy" or module.startswith("numpy._") or
                    not module.startswith("numpy.") else module[len("numpy."):] + ".") + name
    ours = _SPELLED.get(name, name)
    instead = f"use ag.{ours}" if call == f"np.{name}" and _has_op(ours) else \
        "compose it from ag.* ops, or give it a rule with ag.custom_op(vjp=...)"
    return (f"{call} is not supported on Tensors: it has no recorded op, and computing it on "
            f"the values would cut the graph, so gradients through it would be silently "
            f"missing; {instead} (recorded), or call {call} on t.data for plain numpy values "
            "(no gradient)")


def _types(args, kwargs) -> str:
    def name(value):
        if type(value) in (list, tuple):
            return type(value).__name__ + "[" + ", ".join(name(v) for v in value) + "]"
        return type(value).__name__

    return ", ".join([name(a) for a in args] + [f"{k}={name(v)}" for k, v in kwargs.items()])
