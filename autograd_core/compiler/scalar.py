"""compile_scalar: trace a function of Scalars once, then replay it as straight-line float code.
``ag.compile`` uses it for Scalar code (a Scalar argument, or ``scalar=True``).

>>> import autograd_core as ag
>>> w = ag.Scalar(0.25)
>>> def train_step():
...     loss = (w * 2.0 - 1.0) ** 2
...     loss.backward()
...     w.data -= 0.1 * w.grad
...     w.grad = None
...     return loss
>>> step = compile_scalar(train_step)
>>> [round(step().data, 6) for _ in range(3)]  # traced (eagerly, recording), then replayed
[0.25, 0.01, 0.0004]

The first call runs ``fn`` eagerly, as it would run without compiling, while recording every
float operation it performs on the values of Scalars: each Scalar op (forward), the backward rule
of each node (run by a copy of the engine's chain-rule loop, in the engine's order), the sums of
gradients, and the Python arithmetic the function does itself on ``.data`` and ``.grad`` (the
parameter update ``p.data -= lr * p.grad``). Values are followed through that arithmetic by
giving ``.data`` and ``.grad`` a float subclass during the trace (``_Traced``) that knows which
recorded value it is. Later calls run one generated Python function: the same float operations
in the same order, so values, ``.grad`` and updated ``.data`` are bit-identical to the eager run.
Ops whose float kernel is a Python operator (add, sub, mul, neg) are written inline; every other
op calls its registered float kernel and its registered backward rule, so no op is defined twice.

What a replay reads anew at each call: ``.data`` (and ``.grad`` where the trace read it) of every
Scalar the trace used, the Scalars passed as arguments. What is frozen, as in jax.jit: Python
numbers the function closes over, and all Python control flow. A retrace happens when the
arguments' structure, a leaf's ``requires_grad``, whether a leaf's ``.grad`` was None, or the
grad mode differs. Reading a traced value to decide control flow (``if x.data > 0``,
``bool(s)``, ``float(s)``, ``s.item()``, comparisons, ``int()``, ``round()``) raises
ScalarCompileError during the trace rather than replaying a frozen branch. Not detectable: a
``math`` function applied to ``.data`` directly (it sees a plain float and its result is frozen);
use the Scalar op (``s.exp()``) instead. Not supported while tracing (a clear error): hooks,
``retain_grad``, ``create_graph``, ``ag.grad``, anomaly mode, custom Functions on Scalars, and
ops without a gradient (``sign``, rounding) on traced values. Tracing is not thread-safe: it
swaps Scalar's methods for recording ones while it runs.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import operator

from .. import engine as _engine
from .. import registry
from ..grad_mode import _state as _grad_state
from ..ops.elementwise import Add, Elementwise, Mul, Neg, Sub, on_floats
from ..scalar import Scalar, _constant
from .trace import TraceError

__all__ = ["ScalarCompileError", "compile_scalar"]

_plain = float.__float__  # a _Traced's float value, without going through its __float__


class ScalarCompileError(TraceError):
    """What compile_scalar cannot trace faithfully (the message names what and where); a
    TraceError, as the Tensor tracer's refusals are."""


# ---- the trace ----------------------------------------------------------------------------------

class _Trace:
    """The float operations recorded by one trace, on numbered values ("slots")."""

    def __init__(self):
        self.code = []          # instructions, in the order the eager run performed them
        self.slots = itertools.count()
        self.leaves = {}        # id(Scalar) -> (Scalar, data slot, grad slot or None)
        self.leaf_order = []
        self.made = []          # Scalars created during the trace (made plain again at the end)
        self.quiet = 0          # >0 while our own machinery computes on _Traced values
        self.arg_slots = {}     # id(Scalar argument) -> its position in the flattened arguments

    def new(self, value: float) -> _Traced:
        return _Traced(value, next(self.slots))

    def ref(self, value):
        """A recorded value's slot (an int) or a constant (boxed in a 1-tuple)."""
        if isinstance(value, _Traced):
            return value.slot
        return (value,)


_active: _Trace | None = None


def _hazard(what: str):
    raise ScalarCompileError(
        f"compile_scalar: {what} reads the value of a traced Scalar during tracing; the replay "
        "would freeze the branch or value it decided. Write it with Scalar ops instead (relu, "
        "maximum, where, ...), or leave this function uncompiled")


class _Traced(float):
    """A float that knows which recorded value it is (only while a trace runs)."""

    __slots__ = ("slot",)

    def __new__(cls, value, slot):
        self = float.__new__(cls, value)
        self.slot = slot
        return self


def _recording_binary(name: str, symbol: str, reflected: bool):
    op = getattr(operator, name)

    def method(self, other):
        trace = _active
        if not isinstance(other, (float, int)):
            return NotImplemented
        a, b = (other, self) if reflected else (self, other)
        value = op(_plain(a) if type(a) is _Traced else a, _plain(b) if type(b) is _Traced else b)
        if trace is None or trace.quiet:
            return value
        out = trace.new(value)
        trace.code.append(("float", symbol, trace.ref(a), trace.ref(b), out.slot))
        return out

    return method


for _name, _symbol in (("add", "+"), ("sub", "-"), ("mul", "*"), ("truediv", "/"),
                       ("floordiv", "//"), ("mod", "%"), ("pow", "**")):
    setattr(_Traced, f"__{_name}__", _recording_binary(_name, _symbol, False))
    setattr(_Traced, f"__r{_name}__", _recording_binary(_name, _symbol, True))


def _recording_unary(name: str, symbol: str):
    op = getattr(operator, name)

    def method(self):
        trace = _active
        value = op(_plain(self))
        if trace is None or trace.quiet:
            return value
        out = trace.new(value)
        trace.code.append(("float1", symbol, self.slot, out.slot))
        return out

    return method


_Traced.__neg__ = _recording_unary("neg", "-")
_Traced.__abs__ = _recording_unary("abs", "abs")
_Traced.__pos__ = _recording_unary("pos", "+")


def _guarded(name: str):
    plain = getattr(float, name)

    def method(self, *args):
        if _active is not None and not _active.quiet:
            _hazard(f"{name.strip('_')}() of a traced value")
        return plain(_plain(self), *(_plain(a) if type(a) is _Traced else a for a in args))

    return method


for _name in ("__bool__", "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__",
              "__float__", "__int__", "__round__", "__trunc__", "__floor__", "__ceil__",
              "__divmod__", "__rdivmod__"):
    setattr(_Traced, _name, _guarded(_name))
_Traced.__hash__ = float.__hash__


# ---- Scalar's methods while tracing -------------------------------------------------------------
# Every Scalar op takes the general path (Function.apply) while tracing, so that the op is seen
# in one place, Scalar._run_forward, whichever way it was called (operator, method, ag.fn).

def _traced_operator(function, reflected: bool):
    def method(self, other):
        if type(other) is not Scalar and not isinstance(other, _Traced):
            other = _constant(other, function)
        return function.apply(other, self) if reflected else function.apply(self, other)
    return method


def _traced_method(function):
    def method(self, **kwargs):
        return function.apply(self, **kwargs)
    return method


def _traced_run_forward(function, ctx, raw, kwargs):
    trace = _active
    if not issubclass(function, Elementwise) or function.scalar_kernel is None:
        raise ScalarCompileError(f"compile_scalar: {function.name()} is not a registered Scalar "
                                 "op (a custom Function); only registered ops can be replayed")
    for position, value in enumerate(raw):
        if type(value) is float or type(value) is _Traced or isinstance(value, int):
            continue
        raise ScalarCompileError(f"compile_scalar: {function.name()} got a "
                                 f"{type(value).__name__} at position {position}")
    trace.quiet += 1
    try:
        value = _ORIGINAL["_run_forward"](function, ctx, raw, kwargs)
    finally:
        trace.quiet -= 1
    out = trace.new(_plain(value) if type(value) is _Traced else float(value))
    # The output as forward saved it is a plain float: backward must read it as this value.
    ctx._saved = tuple(out if v is value else v for v in ctx._saved)
    trace.code.append(("op", function, dict(kwargs), tuple(trace.ref(v) for v in raw), out.slot))
    return out


def _traced_from_op(cls, data, node):
    if type(data) is not _Traced:
        raise ScalarCompileError(
            "compile_scalar: an op without a gradient (sign, rounding, comparisons) or a "
            "gradient hook made a Scalar from a traced value; it is not recorded")
    out = object.__new__(Scalar)
    out.data, out._grad, out.name, out._grad_fn = data, None, None, node
    out._requires_grad = node is not None
    _active.made.append(out)
    return out


def _traced_item(self):
    _hazard("float()/item() of a Scalar")


def _no_engine_run(*args, **kwargs):
    raise ScalarCompileError("compile_scalar: ag.grad() (or a backward through the general "
                             "engine) is not supported while tracing; use loss.backward()")


def _see_leaf(trace: _Trace, leaf: Scalar):
    """Make a Scalar that no traced op made (a parameter, an argument) an input of the trace."""
    if id(leaf) in trace.leaves:
        return
    if leaf._grad_fn is not None:
        raise ScalarCompileError(
            "compile_scalar: a Scalar computed before the compiled function was called (it "
            "has a graph) was used; pass its value as a new Scalar, or compute it inside")
    data_slot = next(trace.slots)
    leaf.data = _Traced(leaf.data, data_slot)
    grad_slot = None
    if type(leaf._grad) is float or type(leaf._grad) is int:
        grad_slot = next(trace.slots)
        leaf._grad = _Traced(leaf._grad, grad_slot)
    elif leaf._grad is not None:
        raise ScalarCompileError("compile_scalar: a Scalar whose .grad is itself a Scalar "
                                 "(from create_graph=True) cannot be traced")
    trace.leaves[id(leaf)] = (leaf, data_slot, grad_slot, leaf._requires_grad)
    trace.leaf_order.append(leaf)


def _traced_apply_family_check(original_apply):
    """Function.apply for Scalar ops while tracing: inputs are seen first (a leaf becomes an
    input of the trace the first time an op reads it)."""
    @functools.wraps(original_apply)
    def apply(cls, *args, **kwargs):
        trace = _active
        for arg in args:
            if type(arg) is Scalar and type(arg.data) is not _Traced:
                _see_leaf(trace, arg)
        return original_apply.__func__(cls, *args, **kwargs)
    return apply


def _traced_backward(self, grad=None, retain_graph: bool = False, create_graph: bool = False):
    """Scalar.backward while tracing: the engine's loop (_run, for one Scalar root without
    targets or hooks), computing the same floats in the same order and recording them. (The
    engine finds its nodes as it goes; all of them are needed here up front, so that the
    recorded program is written in that order.)"""
    trace = _active
    if create_graph:
        raise ScalarCompileError("compile_scalar: backward(create_graph=True) is not supported")
    if _engine._anomaly.enabled:
        raise ScalarCompileError("compile_scalar: anomaly mode is not supported while tracing")
    _engine._check_requires_grad(self, "backward", "the tensor")
    if isinstance(grad, Scalar):
        grad = grad.data
    if not isinstance(grad, _Traced):
        trace.quiet += 1
        try:
            grad = self._root_grad(grad, False)
        finally:
            trace.quiet -= 1
        constant, grad = grad, trace.new(grad)
        trace.code.append(("const", (constant,), grad.slot))
    root = _engine._item_of(self)
    nodes, leaves = _engine._sorted_graph([root])
    grads = {root: grad}
    code, new, ref, take = trace.code, trace.new, trace.ref, grads.pop
    for node in reversed(nodes):
        grad = take(node, None)
        if grad is None:
            continue
        if node._retained is not None:
            raise ScalarCompileError("compile_scalar: retain_grad() and register_hook() on "
                                     "traced Scalars are not supported")
        if node._saved is None:
            raise _engine._freed_error(node)
        node._graph_mode = False
        traced = node._saved  # the rule computes on plain floats, as it does eagerly
        node._saved = tuple(_plain(v) if type(v) is _Traced else v for v in traced)
        trace.quiet += 1
        try:
            try:
                values = type(node).backward(node, _plain(grad))
            except ArithmeticError:
                values = Scalar._backward_in_numpy(node, _plain(grad))
        finally:
            trace.quiet -= 1
            node._saved = traced
        if type(values) is not tuple:
            values = (values,)
        edges = node._next
        if len(values) != len(edges):
            raise _engine._count_error(node, values)
        saved = tuple(ref(v) for v in traced)
        needs = tuple(edge is not None for edge in edges)
        if type(node) is Add:  # the rule passes its gradient on unchanged: no new values
            outs = (grad, grad)
        else:
            outs = tuple(None if v is None else new(_plain(v) if type(v) is _Traced else float(v))
                         for v in values)
        code.append(("backward", type(node), dict(getattr(node, "kwargs", {}) or {}), saved,
                     needs, ref(grad), tuple(None if o is None else o.slot for o in outs)))
        if not retain_graph:
            node._saved = None
        for parent, parent_grad in zip(edges, outs):
            if parent is None or parent_grad is None:
                continue
            previous = grads.get(parent)
            grads[parent] = parent_grad if previous is None else _sum(trace, previous,
                                                                      parent_grad)
    for leaf in leaves:
        grad = take(leaf, None)
        if grad is None:
            continue
        if _engine._leaf_hooks and id(leaf) in _engine._leaf_hooks:
            raise ScalarCompileError("compile_scalar: hooks on traced Scalars are not supported")
        _see_leaf(trace, leaf)
        leaf._grad = grad if leaf._grad is None else _sum(trace, leaf._grad, grad)


def _sum(trace: _Trace, a: _Traced, b: _Traced) -> _Traced:
    out = trace.new(_plain(a) + _plain(b))
    trace.code.append(("float", "+", a.slot, b.slot, out.slot))
    return out


_ORIGINAL: dict = {}


def _swap_in(trace: _Trace) -> dict:
    """Replace Scalar's op methods (and a few engine entry points) by recording ones; returns
    what was replaced, for _swap_out."""
    saved = {}

    def put(owner, name, value):
        saved[(owner, name)] = owner.__dict__.get(name, _MISSING)
        setattr(owner, name, value)

    operators = {"add": "add", "sub": "sub", "mul": "mul", "div": "truediv", "pow": "pow"}
    for op in registry.OPS.values():
        if not op.scalar:
            continue
        function = op.primitive
        if op.name in operators:
            dunder = operators[op.name]
            put(Scalar, f"__{dunder}__", _traced_operator(function, False))
            put(Scalar, f"__r{dunder}__", _traced_operator(function, True))
        elif function.arity == 1:
            put(Scalar, op.name, _traced_method(function))
        elif function.arity == 2:
            put(Scalar, op.name, _traced_operator(function, False))
    put(Scalar, "__neg__", Scalar.neg)
    put(Scalar, "__abs__", Scalar.abs)
    _ORIGINAL["_run_forward"] = Scalar.__dict__["_run_forward"].__func__
    put(Scalar, "_run_forward", staticmethod(_traced_run_forward))
    put(Scalar, "_from_op", classmethod(_traced_from_op))
    put(Scalar, "backward", _traced_backward)
    put(Scalar, "__float__", _traced_item)
    put(Scalar, "item", _traced_item)
    put(_engine.Function, "apply", classmethod(_traced_apply_family_check(
        _engine.Function.__dict__["apply"])))
    put(_engine, "_run", _no_engine_run)
    return saved


_MISSING = object()


def _swap_out(saved: dict) -> None:
    for (owner, name), value in saved.items():
        if value is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, value)


# ---- arguments ----------------------------------------------------------------------------------

def _flatten(value, out: list, shape: list):
    """Scalars (in lists, tuples and dict values) into ``out``; everything else into ``shape``,
    which is the key a replay must match."""
    if isinstance(value, Scalar):
        out.append(value)
        shape.append(Scalar)
    elif isinstance(value, (list, tuple)):
        shape.append((type(value), len(value)))
        for item in value:
            _flatten(item, out, shape)
    elif isinstance(value, dict):
        shape.append((dict, tuple(value)))
        for item in value.values():
            _flatten(item, out, shape)
    else:
        try:
            hash(value)
        except TypeError:
            raise ScalarCompileError(f"compile_scalar: an argument of type "
                                     f"{type(value).__name__} is neither a Scalar nor a "
                                     "hashable constant") from None
        shape.append((type(value), value))


def _plain_result(value, trace: _Trace):
    """The function's result with traced values made plain, and how to rebuild it at replay."""
    if isinstance(value, Scalar):
        data = value.data
        return ("scalar", trace.ref(data), value.requires_grad)
    if isinstance(value, _Traced):
        return ("float", value.slot)
    if isinstance(value, (list, tuple)):
        return ("seq", type(value), [_plain_result(v, trace) for v in value])
    if isinstance(value, dict):
        return ("dict", {k: _plain_result(v, trace) for k, v in value.items()})
    return ("const", value)


def _rebuild(spec, values: dict):
    kind = spec[0]
    if kind == "scalar":
        ref = spec[1]
        return Scalar(ref[0] if type(ref) is tuple else values[ref], requires_grad=False)
    if kind == "float":
        return values[spec[1]]
    if kind == "seq":
        return spec[1](_rebuild(s, values) for s in spec[2])
    if kind == "dict":
        return {k: _rebuild(s, values) for k, s in spec[1].items()}
    return spec[1]


# ---- code generation ----------------------------------------------------------------------------

_INLINE_FORWARD = {Add: "{0} + {1}", Sub: "{0} - {1}", Mul: "{0} * {1}", Neg: "-{0}"}


def _safe_forward(function, kwargs):
    """The op's float kernel, with numpy's inf/nan where it raises (as the eager op)."""
    kernel = function.scalar_kernel

    if kwargs:
        def run(*xs):
            return float(on_floats(function, xs, kwargs))
    else:
        def run(*xs):
            try:
                return kernel(*xs)
            except (ArithmeticError, ValueError):
                return float(on_floats(function, xs, {}))
    return run


def _rule_runner(function, kwargs: dict, needs: tuple):
    """The op's registered backward rule on a ctx that holds the replayed saved values."""
    ctx = function.__new__(function)
    ctx._next = tuple(True if need else None for need in needs)  # needs_input_grad reads these
    ctx._out_type, ctx._shapes, ctx._retained, ctx._graph_mode = Scalar, None, None, False
    ctx._roles = function._saved_roles if function._saved_roles is not _engine._UNKNOWN else None
    if kwargs:
        ctx.kwargs = kwargs
    backward = function.backward
    count = len(needs)

    def run(grad, *saved):
        ctx._saved = saved
        ctx._saved_at = _engine._clock
        try:
            values = backward(ctx, grad)
        except ArithmeticError:
            values = Scalar._backward_in_numpy(ctx, grad)
        if type(values) is not tuple:
            values = (values,)
        if len(values) != count:
            raise _engine._count_error(ctx, values)
        return tuple(None if v is None else float(v) for v in values)
    return run


def _is_plain_constant(value) -> bool:
    return (type(value) is int and abs(value) < 2 ** 53) or (
        type(value) is float and value == value and abs(value) != float("inf"))


class _Program:
    """One trace turned into a Python function ``replay(flat_args) -> result``."""

    def __init__(self, trace: _Trace, arg_leaves: list, effects: list, result):
        namespace = {"_Retrace": _Retrace}
        lines = []
        # an argument's position, by identity (Scalar's == compares values)
        positions = {id(leaf): position for position, leaf in enumerate(arg_leaves)}
        constants = {}

        def expr(ref):
            if type(ref) is tuple:
                value = ref[0]
                if _is_plain_constant(value):
                    return repr(value)
                name = constants.setdefault(id(value), f"c{len(constants)}")
                namespace[name] = value
                return name
            return f"v{ref}"

        # Liveness: keep only the instructions whose values reach an effect or the result.
        live = set()
        for _, _, ref in effects:
            if type(ref) is int:
                live.add(ref)
        self._collect_result_slots(result, live)
        kept = []
        for ins in reversed(trace.code):
            kind = ins[0]
            if kind == "const":
                if ins[-1] not in live:
                    continue
            elif kind == "backward":
                if not any(o is not None and o in live for o in ins[-1]):
                    continue
                live.update(r for r in ins[3] if type(r) is int)
                if type(ins[5]) is int:
                    live.add(ins[5])
            else:
                if ins[-1] not in live:
                    continue
                refs = ins[3] if kind == "op" else ins[2:4] if kind == "float" else (ins[2],)
                live.update(r for r in refs if type(r) is int)
            kept.append(ins)
        kept.reverse()

        # Inputs: leaves' values (and gradients) read at the start of the replay.
        guards = []
        for index, leaf in enumerate(trace.leaf_order):
            _, data_slot, grad_slot, requires_grad = trace.leaves[id(leaf)]
            position = positions.get(id(leaf))
            name = f"a[{position}]" if position is not None else f"L{index}"
            if position is None:
                namespace[name] = leaf
            guards.append(f"{name}._requires_grad is not {requires_grad}")
            guards.append(f"({name}._grad is None) is not {grad_slot is None}")
            if data_slot in live:
                lines.append(f"v{data_slot} = {name}.data")
            if grad_slot is not None and grad_slot in live:
                lines.append(f"v{grad_slot} = {name}._grad")
        for index, ins in enumerate(kept):
            kind = ins[0]
            if kind == "const":
                lines.append(f"v{ins[2]} = {expr(ins[1])}")
            elif kind == "op":
                _, function, kwargs, refs, out = ins
                template = _INLINE_FORWARD.get(function)
                if template is not None and not kwargs and all(
                        type(r) is int or _is_plain_constant(r[0]) for r in refs):
                    lines.append(f"v{out} = " + template.format(*map(expr, refs)))
                else:
                    namespace[f"f{index}"] = _safe_forward(function, kwargs)
                    lines.append(f"v{out} = f{index}({', '.join(map(expr, refs))})")
            elif kind == "float":
                _, symbol, a, b, out = ins
                lines.append(f"v{out} = {expr(a)} {symbol} {expr(b)}")
            elif kind == "float1":
                _, symbol, a, out = ins
                lines.append(f"v{out} = {symbol}({expr(a)})")
            else:
                _, function, kwargs, saved, needs, grad, outs = ins
                if function is Add:
                    continue  # its outputs are the incoming gradient itself
                targets = ", ".join("_" if o is None else f"v{o}" for o in outs)
                if function is Mul:
                    a, b = map(expr, saved)
                    parts = [f"{expr(grad)} * {b}" if outs[0] is not None else "None",
                             f"{expr(grad)} * {a}" if outs[1] is not None else "None"]
                    lines.append(f"{targets}, = ({', '.join(parts)},)")
                elif function is Sub:
                    parts = [expr(grad) if outs[0] is not None else "None",
                             f"-{expr(grad)}" if outs[1] is not None else "None"]
                    lines.append(f"{targets}, = ({', '.join(parts)},)")
                elif function is Neg:
                    lines.append(f"{targets}, = (-{expr(grad)},)")
                else:
                    namespace[f"b{index}"] = _rule_runner(function, kwargs, needs)
                    args = ", ".join([expr(grad), *map(expr, saved)])
                    lines.append(f"{targets}, = b{index}({args})")
        # Effects: what the function left in .data and .grad of the Scalars it used.
        for index, (leaf, attribute, ref) in enumerate(effects):
            position = positions.get(id(leaf))
            name = f"a[{position}]" if position is not None else f"E{index}"
            if position is None:
                namespace[name] = leaf
            value = "None" if ref is None else expr(ref)
            lines.append(f"{name}.{attribute} = {value}")
        self.result = result
        result_slots = set()
        self._collect_result_slots(result, result_slots)
        lines.append("return {" + ", ".join(f"{s}: v{s}" for s in sorted(result_slots)) + "}")
        guard = " or ".join(guards) or "False"
        source = ("def replay(a):\n    if " + guard + ":\n        raise _Retrace\n"
                  + "".join(f"    {line}\n" for line in lines))
        self.source = source
        exec(compile(source, "<compile_scalar>", "exec"), namespace)
        self.replay = namespace["replay"]
        self.operations = len(kept)

    @staticmethod
    def _collect_result_slots(spec, slots: set):
        kind = spec[0]
        if kind == "scalar" and type(spec[1]) is int:
            slots.add(spec[1])
        elif kind == "float":
            slots.add(spec[1])
        elif kind == "seq":
            for s in spec[2]:
                _Program._collect_result_slots(s, slots)
        elif kind == "dict":
            for s in spec[1].values():
                _Program._collect_result_slots(s, slots)

    def __call__(self, flat: list):
        return _rebuild(self.result, self.replay(flat))


class _Retrace(Exception):
    """A replay's guard failed: the call needs a trace of its own."""


# ---- the public entry point ---------------------------------------------------------------------

def compile_scalar(fn):
    """``fn`` (a function of Scalars: forward, ``backward()``, parameter updates) traced on its
    first call and replayed as straight-line float code on later calls, with bit-identical
    values, ``.grad`` and updated ``.data``. See the module docstring for what is frozen and
    what raises ScalarCompileError. The returned function has ``fn``'s signature; its
    ``programs`` attribute lists the traces made so far (``.source`` is the generated code)."""
    signature = inspect.signature(fn)
    programs: dict = {}  # key -> list of _Program (one per set of guards seen)

    @functools.wraps(fn)
    def compiled(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        flat, shape = [], []
        _flatten((bound.args, bound.kwargs), flat, shape)
        key = (tuple(shape), _grad_state.enabled, _engine._anomaly.enabled)
        for program in programs.get(key, ()):
            try:
                return program(flat)
            except _Retrace:
                continue
        result, program = _trace(fn, args, kwargs, flat)
        programs.setdefault(key, []).append(program)
        return result

    compiled.__signature__ = signature
    compiled.programs = programs
    return compiled


def _trace(fn, args, kwargs, flat: list):
    global _active
    if _active is not None:
        raise ScalarCompileError("compile_scalar: a compiled function called while another "
                                 "is being traced")
    if _engine._anomaly.enabled:
        raise ScalarCompileError("compile_scalar: anomaly mode is not supported while tracing")
    trace = _Trace()
    saved = _swap_in(trace)
    _active = trace
    try:
        for scalar in flat:
            if type(scalar.data) is not _Traced:
                _see_leaf(trace, scalar)
        result = fn(*args, **kwargs)
        spec = _plain_result(result, trace)
    finally:
        _active = None
        _swap_out(saved)
        effects = _finish(trace)
    program = _Program(trace, flat, effects, spec)
    return _rebuild_eager(result), program


def _finish(trace: _Trace) -> list:
    """Make every traced value plain again; returns the effects on leaves to replay."""
    effects = []
    for leaf in trace.leaf_order:
        _, data_slot, grad_slot, _ = trace.leaves[id(leaf)]
        data, grad = leaf.data, leaf._grad
        if not (type(data) is _Traced and data.slot == data_slot):
            effects.append((leaf, "data", trace.ref(data)))
        if grad is None and grad_slot is None:
            pass
        elif not (type(grad) is _Traced and grad.slot == grad_slot):
            effects.append((leaf, "_grad", None if grad is None else trace.ref(grad)))
        leaf.data = _plain(data) if type(data) is _Traced else data
        leaf._grad = _plain(grad) if type(grad) is _Traced else grad
    for scalar in trace.made:
        if type(scalar.data) is _Traced:
            scalar.data = _plain(scalar.data)
    return effects


def _rebuild_eager(value):
    """The eager result as the user gets it: Scalars already plain (_finish); floats made plain."""
    if type(value) is _Traced:
        return _plain(value)
    if isinstance(value, (list, tuple)) and any(type(v) is _Traced for v in value):
        return type(value)(_rebuild_eager(v) for v in value)
    return value
