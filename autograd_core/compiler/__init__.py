"""``compile``: trace a Tensor function once, then replay it without building a graph.

A compiled function's first call with a given *signature* (the shapes, dtypes and
requires_grad of its Tensor and array arguments, the values of its plain Python arguments, the
identity and train/eval mode of the Modules it is given or refers to, and the grad mode) runs
eagerly while every primitive it runs is recorded (see :mod:`.trace`). The second call with
that signature runs eagerly too and is recorded again: if the two recordings differ in anything
but the arguments' values (a constant that changed, an op that ran in one call only) the
function depends on values in a way a replay cannot follow, and a :class:`TraceError` says
where. From the third call on the recording is replayed (see :mod:`.replay` and :mod:`.plan`).

What is frozen, as in ``jax.jit`` and tinygrad's ``TinyJit``: Python control flow and Python
numbers computed inside the function (an ``if`` on a value, a loop count, a random mask drawn
with numpy), everything but the arguments, the Tensors that exist outside the function
(parameters and buffers, read afresh on every call) and the calls marked :func:`opaque`
(optimizer steps, running statistics), which run again on every call.
"""

from __future__ import annotations

import functools

import numpy as np

from ..engine import Function, Variable
from ..grad_mode import _special
from ..grad_mode import _state as _grad_state
from ..tensor import Tensor
from . import plan as _plan
from .replay import Program, output_builder
from .trace import Recorder, TraceError, _Busy, opaque, recording

__all__ = ["TraceError", "compile", "opaque"]


def _is_module(obj) -> bool:
    return callable(getattr(obj, "modules", None)) and hasattr(obj, "training") and \
        callable(getattr(obj, "named_parameters", None))


def _flatten(obj, flat: list, sig: list, modules: dict) -> None:
    """The Tensors and arrays in ``obj`` (in order) into ``flat``, its signature into ``sig``."""
    if isinstance(obj, Tensor):
        data = obj.data
        flat.append(obj)
        # the layout too: numpy lays results out as their inputs, and sums follow the layout
        sig.append(("T", data.shape, data.dtype, data.strides, obj._requires_grad))
    elif isinstance(obj, np.ndarray):
        flat.append(obj)
        sig.append(("A", obj.shape, obj.dtype, obj.strides))
    elif isinstance(obj, Variable):
        raise _ScalarArgument  # Scalar code has a compiler of its own (see Compiled.__call__)
    elif obj is None or isinstance(obj, (bool, int, float, complex, str, bytes, np.generic)):
        sig.append(("P", type(obj), obj))
    elif isinstance(obj, (list, tuple)):
        sig.append((type(obj), len(obj)))
        for item in obj:
            _flatten(item, flat, sig, modules)
    elif isinstance(obj, dict):
        sig.append(("D", tuple(obj)))
        for item in obj.values():
            _flatten(item, flat, sig, modules)
    else:
        sig.append(_object_key(obj, modules))


def _object_key(obj, modules: dict):
    if _is_module(obj):
        subs = modules.get(id(obj))
        if subs is None or subs[0] is not obj:
            subs = modules[id(obj)] = (obj, list(obj.modules()))
        return ("M", id(obj), tuple([m.training for m in subs[1]]))
    return ("O", id(obj))


class _ScalarArgument(Exception):
    """Raised by _flatten at a Scalar argument: the call goes to the Scalar compiler."""


class _Traced:
    """The state of one signature: the first recording, then the program."""

    __slots__ = ("first", "programs", "objects")

    def __init__(self):
        self.first = None  # (recording, output spec) of a call waiting for its second
        self.programs = []
        self.objects = None


class Compiled:
    """A function wrapped by :func:`compile` (call it as the function)."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"compile: expected a function, got {type(fn).__name__}")
        self.fn = fn
        functools.update_wrapper(self, fn)
        self._cache: dict = {}
        self._modules: dict = {}
        self._captured = self._captures(fn)
        self._scalar = None  # the Scalar compiler's version of fn, made at a Scalar argument

    @staticmethod
    def _captures(fn):
        """Where the function reaches Modules, optimizers and Tensors it is not given: closure
        cells and global names (re-read on every call, so that rebinding one retraces)."""
        code = getattr(fn, "__code__", None)
        cells = [c for c in (getattr(fn, "__closure__", None) or ())]
        names = []
        if code is not None:
            globs = getattr(fn, "__globals__", {})
            names = [n for n in code.co_names if n in globs and not isinstance(
                globs[n], type) and not callable(getattr(globs[n], "__code__", None))
                and (_is_module(globs[n]) or isinstance(globs[n], Tensor)
                     or callable(getattr(globs[n], "step", None)))]
        owner = getattr(fn, "__self__", None)
        return cells, names, owner

    def _context(self):
        """The signature entries of what the function reaches without arguments."""
        cells, names, owner = self._captured
        keys = []
        for cell in cells:
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if isinstance(value, (Tensor, np.ndarray)) or _is_module(value) or callable(
                    getattr(value, "step", None)):
                keys.append(_object_key(value, self._modules) if not isinstance(
                    value, (Tensor, np.ndarray)) else ("G", id(value)))
        globs = getattr(self.fn, "__globals__", {})
        for name in names:
            value = globs.get(name)
            keys.append(("G", id(value)) if isinstance(value, Tensor)
                        else _object_key(value, self._modules))
        if owner is not None:
            keys.append(_object_key(owner, self._modules))
        return keys

    def __call__(self, *args, **kwargs):
        if recording() is not None:  # inside another compiled function's trace: record it
            return self.fn(*args, **kwargs)
        flat, sig = [], []
        try:
            _flatten(args, flat, sig, self._modules)
            if kwargs:
                _flatten(kwargs, flat, sig, self._modules)
        except _ScalarArgument:
            if self._scalar is None:
                from .scalar import compile_scalar
                self._scalar = compile_scalar(self.fn)
            return self._scalar(*args, **kwargs)
        sig.extend(self._context())
        sig.append(not _special or _grad_state.enabled)  # (the thread-local read only if needed)
        key = tuple(sig)
        try:
            state = self._cache.get(key)  # hashes the key once (a tuple does not keep it)
        except TypeError:  # an unhashable value in a plain argument: never replayed
            return self.fn(*args, **kwargs)
        if state is None:
            state = self._cache[key] = _Traced()
        for program in state.programs:  # one per set of guards (module modes, shapes)
            if program.matches():
                return program(flat)
        try:
            rec, result, output = self._trace(args, kwargs, flat)
        except _Busy:  # another thread is tracing now: this call runs eagerly, unrecorded
            return _detached(self.fn(*args, **kwargs))
        state.objects = (args, kwargs)  # the ids in the signature stay those objects'
        if state.first is None or _guard_key(state.first[0]) != _guard_key(rec):
            state.first = (rec, output)
        else:
            (first, first_output), state.first = state.first, None
            _compare(first, rec)
            state.programs.append(_build(first, first_output))
        return _detached(result)

    def _trace(self, args, kwargs, flat):
        rec = Recorder(flat)
        with rec:
            result = self.fn(*args, **kwargs)
            output = _output_spec(result, rec)
            rec.check_externals()
            rec.check_arguments_read(flat, output)
        return rec, result, output


def _detached(result):
    """What a traced call returns: as a replay would, computed Tensors without their graph."""
    if isinstance(result, Tensor) and result._grad_fn is not None:
        return Tensor._from_op(result.data, None)
    if isinstance(result, (list, tuple)) and not hasattr(result, "_fields"):
        return type(result)(_detached(r) for r in result)
    if isinstance(result, dict):
        return {k: _detached(v) for k, v in result.items()}
    return result


def _output_spec(result, rec):
    if isinstance(result, Variable):
        return rec.operand(result, "the returned value")
    if isinstance(result, np.ndarray):
        spec = rec.operand(result, "the returned value")
        return ("a", spec[1]) if spec[0] == "s" else ("v", result)
    if isinstance(result, (list, tuple)):
        kind = type(result)
        return ("seq", kind, [_output_spec(r, rec) for r in result])
    if isinstance(result, dict):
        return ("dict", tuple(result), [_output_spec(r, rec) for r in result.values()])
    return ("v", result)


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
            a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    if type(a).__eq__ is object.__eq__:  # a plain object (an op's plan): equal by contents
        return type(a) is type(b) and (a is b or _same(_contents(a), _contents(b)))
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # noqa: BLE001 - an object without a usable ==
        return a is b


def _contents(obj) -> list:
    names = list(getattr(obj, "__dict__", {})) + [
        n for cls in type(obj).__mro__ for n in getattr(cls, "__slots__", ()) if hasattr(obj, n)]
    return [(n, getattr(obj, n)) for n in names if n != "__weakref__"]


def _shape_of_entry(entry):
    """An entry with its constants left out (compared on their own)."""
    def strip(x):
        if isinstance(x, tuple) and len(x) == 2 and x[0] == "c":
            return ("c",)
        if isinstance(x, tuple) and len(x) == 2 and x[0] == "e":
            return ("e", id(x[1]))
        if isinstance(x, tuple):
            return tuple(strip(y) for y in x)
        if isinstance(x, dict):
            return tuple((k, strip(v)) for k, v in x.items())
        if isinstance(x, np.ndarray):
            return ("array", x.shape, x.dtype)
        if isinstance(x, Function):  # a node: one per call
            return type(x)
        return x
    return strip(entry)


def _describe(entry) -> str:
    kind = entry[0]
    if kind == "fwd":
        return f"the forward of {entry[1].name()}"
    if kind == "call":
        return f"the call of {getattr(entry[1], '__qualname__', entry[1])}"
    return {"bwd": "a backward step", "add": "a gradient sum", "acc": "the gradient "
            "accumulation", "root": "backward()", "np": "a comparison",
            "setitem": "t[index] = value", "inplace": "an in-place update",
            "setgrad": ".grad = ..."}.get(kind, kind)


def _compare(first, second) -> None:
    """Raise a TraceError where two recordings of one signature differ."""
    if len(first.entries) != len(second.entries):
        raise TraceError(
            f"compile: two calls with the same signature ran different ops ({len(first.entries)} "
            f"and {len(second.entries)} recorded steps): the function's Python control flow "
            "depends on values (or on state outside its arguments), which a replay would freeze")
    for a, b in zip(first.entries, second.entries):
        if _shape_of_entry(a) != _shape_of_entry(b):
            raise TraceError(
                f"compile: two calls with the same signature differ at {_describe(a)} (then "
                f"{_describe(b)}): the function's control flow depends on values, which a "
                "replay would freeze")
    for a, b in zip(first.constants, second.constants):
        if not _same(a, b):
            raise TraceError(
                f"compile: a constant used by the compiled function changed between two calls "
                f"with the same signature ({_constant_text(a)} then {_constant_text(b)}): it is "
                "computed from values outside the recorded ops (numpy on t.data, a random draw, "
                "a Python number from a tensor), so a replay would freeze it. Compute it with "
                "Tensor ops from the arguments, or pass it in as an argument")
    if len(first.constants) != len(second.constants):
        raise TraceError("compile: two calls with the same signature used different constants")


def _constant_text(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{value!r:.40}"


def _slots_of(spec) -> list:
    """The slots an output spec returns (their memory is the caller's afterwards)."""
    kind = spec[0]
    if kind in ("s", "a"):
        return [spec[1]]
    if kind in ("seq", "dict"):
        return [slot for part in spec[2] for slot in _slots_of(part)]
    return []


def _guard_key(rec) -> tuple:
    """What a recording assumed beyond its signature: the modules' modes, externals' shapes."""
    return (tuple((id(m), flag) for m, flag in rec.module_guards.values()),
            tuple((id(t), t.data.shape, t.data.dtype, t.data.strides)
                  for t in rec.externals.values()))


def _build(rec, output) -> Program:
    guards = [(t, t.data.shape, t.data.dtype, t.data.strides) for t in rec.externals.values()]
    steps = _plan.lower(rec, _slots_of(output))
    return Program(rec, steps, output_builder(output), guards)


def compile(fn=None, *, scalar: bool = False):  # noqa: A001 - ag.compile, as torch.compile
    """Compile a function of Tensors (and Modules, optimizers) that runs a forward pass and,
    optionally, backward and an optimizer step: usable as ``@ag.compile`` or ``ag.compile(fn)``.

    The first two calls with a given signature (shapes, dtypes and requires_grad of Tensor and
    array arguments; plain Python arguments by value; the Modules and optimizers it is given
    or refers to, by identity and train/eval mode; the grad mode) run eagerly and are recorded;
    if the two recordings differ, the function depends on values in a way that cannot be
    replayed and a :class:`TraceError` says where. Later calls replay the recording: the same
    primitives, with the same floating-point operations in the same order, so the results,
    the ``.grad`` of every leaf, the optimizer's state and step count, the version counters
    and the modules' buffers are exactly those of an eager call; but no graph is built.

    Returned Tensors are detached (no ``grad_fn``). Arguments and parameters are read at call
    time, so changing them (in place or not) between calls is seen. Python control flow on
    values, Python numbers read from tensors and numpy on ``.data`` are frozen by a replay:
    reading a traced value (``.item()``, ``float()``, ``bool()``, ``.numpy()``) raises a
    :class:`TraceError` while tracing.

    Scalar code (micrograd-style, over ``ag.Scalar``) has a compiler of its own, which replays
    the recorded float operations as generated straight-line Python (see :mod:`.scalar`): it is
    used for every call that passes a Scalar, and always with ``scalar=True``, for a step that
    reaches its Scalars through a closure (as micrograd's demo step does).

    >>> step = ag.compile(lambda x: (x * x).sum())
    >>> [float(step(ag.tensor([1.0, 2.0]))) for _ in range(3)]
    [5.0, 5.0, 5.0]
    """
    if fn is None:
        return functools.partial(compile, scalar=scalar)
    if scalar:
        from .scalar import compile_scalar
        return compile_scalar(fn)
    return Compiled(fn)
