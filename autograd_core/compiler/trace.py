"""Recording one eager call of a function as a flat list of entries (the trace).

While a :class:`Recorder` is active (in the thread that started it) a few engine entry points
are wrapped, and each call through them is both run eagerly (the traced call *is* an eager
call, with all its effects) and written down:

- ``Function.apply``: a primitive's forward (class, operands, keyword arguments, output);
- ``Variable.backward``: the backward pass, node by node, as the engine runs it (each node's
  backward rule, each sum of two gradients reaching one value, each leaf's accumulation);
- Tensor comparisons, ``t[i] = v`` and ``t += v`` style in-place updates;
- functions marked :func:`opaque` (an optimizer's ``step``/``zero_grad``, BatchNorm's running
  statistics), recorded as one call that the replay makes again, eagerly: their Python state
  (step counts, schedules) changes from call to call, so it cannot be frozen.

Every value is named by a *slot*: the arguments of the call, and every array an entry makes.
A Tensor that existed before the call (a parameter, a buffer) is *external*: its ``.data`` is
read when the replay needs it, never frozen. What depends on neither is a constant.

Reading a traced value into Python (``.item()``, ``float()``, ``bool()``, ``.numpy()``) would
freeze the branch or number it feeds, so it raises a :class:`TraceError` while tracing.
"""

from __future__ import annotations

import functools
import sys
import threading
import weakref

import numpy as np

from .. import engine
from ..engine import Variable, _item_of, _sorted_graph, _to_input_shapes
from ..errors import AutogradError
from ..grad_mode import _state as _grad_state
from ..grad_mode import set_grad_enabled
from ..tensor import Tensor

_SCALAR_HINT = ("compile Scalar code with ag.compile(fn, scalar=True) (or pass a Scalar as an "
                "argument, which chooses the Scalar compiler): this tracer follows Tensors only")


class TraceError(AutogradError, RuntimeError):
    """A compiled function did something its replay could not reproduce (the message says what
    and how to change the function)."""


class _Busy(Exception):
    """Raised by Recorder.__enter__ while another thread traces (the wrappers are global)."""


_current = None  # the active Recorder (one at a time, process-wide; checked by thread)
_lock = threading.Lock()


def recording():
    """The Recorder of this thread's trace when ops are being recorded now, else None."""
    rec = _current
    if rec is None or rec.depth or rec.thread != threading.get_ident():
        return None
    return rec


def opaque(func):
    """Mark a function (e.g. ``Optimizer.step``) to be recorded as one call and made again,
    eagerly, by every replay: for updates whose Python state (a step count, a schedule) changes
    from call to call. Its Tensor arguments are passed as Tensors over the replay's arrays; it
    must return None.

    Setting ``fast_replay`` on the returned function, to ``f(*args) -> callable or None``
    (called once per compiled program with the recorded arguments), lets a replay call that
    callable instead: it must do exactly what ``func(*args)`` does (the same floats), checking
    on every call that what it assumed still holds and calling ``func`` itself otherwise."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if _current is None:  # the common case: one global read
            return func(*args, **kwargs)
        rec = recording()
        if rec is None:
            return func(*args, **kwargs)
        return rec.call(func, args, kwargs, wrapper.fast_replay)

    wrapper.fast_replay = None
    return wrapper


def note_module(module) -> None:
    """Called by nn's Module.__call__ while a trace runs: the replay is valid only while the
    module's ``training`` flag is what it was (train/eval changes what forward does)."""
    rec = recording()
    if rec is not None and id(module) not in rec.module_guards:
        rec.module_guards[id(module)] = (module, module.training)


def _value_read(name):
    """A Tensor method that reads values into Python: refused on traced values while tracing."""
    original = getattr(Tensor, name)

    def guarded(self, *args, **kwargs):
        rec = recording()
        if rec is not None and rec.is_traced(self):
            raise TraceError(
                f"compile: {name}() reads the value of a tensor (shape {self.data.shape}) that "
                "the compiled function computes or takes as input; a replay would freeze the "
                "number (or the branch) it gives. Return the tensor instead and read it after "
                "the call, or keep value-dependent Python outside the compiled function")
        return original(self, *args, **kwargs)

    guarded.__name__ = name
    return original, guarded


_READS = ("item", "__float__", "__int__", "__bool__", "__index__", "__format__", "numpy",
          "__array__", "tolist")


def _collect_slots(obj, into: set) -> None:
    """The slots named by operand specs anywhere in recorded entries: ("s", k), an opaque
    call's ("T" or "A", "s", k), and those inside tuple operands."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if type(item) is tuple:
            if len(item) == 2 and item[0] == "s" and type(item[1]) is int:
                into.add(item[1])
            elif len(item) == 3 and item[0] in ("T", "A") and item[1] == "s":
                into.add(item[2])
            elif len(item) == 2 and item[0] == "a" and type(item[1]) is int:  # returned
                into.add(item[1])
            else:
                stack.extend(item)
        elif type(item) is list:
            stack.extend(item)
        elif type(item) is dict:
            stack.extend(item.values())


class Meta:
    """What the planner needs of a traced value, without keeping the array alive."""

    __slots__ = ("shape", "dtype", "strides", "ndim", "c_contiguous", "f_contiguous")

    def __init__(self, array):
        array = np.asarray(array)
        self.shape, self.dtype, self.strides, self.ndim = (array.shape, array.dtype,
                                                           array.strides, array.ndim)
        self.c_contiguous = array.flags.c_contiguous
        self.f_contiguous = array.flags.f_contiguous


class Recorder:
    """One trace in progress: the entries and the bookkeeping that names values."""

    def __init__(self, flat_args):
        self.thread = threading.get_ident()
        self.depth = 0  # > 0 inside an opaque call: nothing is recorded there
        self.entries = []
        self.nslots = 0
        self.nctx = 0
        self.slot_of = {}     # id(array) -> slot
        self.values = {}      # slot -> the array it held in this trace (for shapes, dtypes)
        self.keep = []        # nodes and folded constants, alive until the trace ends
        self.refs = []        # weak references dropping dead values' ids from the tables
        self.created = {}     # id(Tensor made during the trace) -> "const" | "tainted"
        self.const_ids = set()  # ids of arrays folded to constants
        self.ctx_of = {}      # id(node recorded here) -> ctx index
        self.arg_slots = []   # (slot, position in flat args) for array-valued arguments
        self.arg_tensor = {}  # id(argument Tensor) -> position in flat args
        self.externals = {}   # id(Tensor) -> Tensor, read live by the replay
        self.constants = []   # every constant operand, in order (compared between two traces)
        self.external_data = {}  # id(Tensor) -> (Tensor, its .data when first used)
        self.module_guards = {}  # id(Module) -> (Module, its training flag when it ran)
        for i, arg in enumerate(flat_args):
            if isinstance(arg, Tensor):
                self.arg_tensor[id(arg)] = i
                self.arg_slots.append((self.new_slot(arg.data), i))
            elif isinstance(arg, np.ndarray):
                self.arg_slots.append((self.new_slot(arg), i))
        self._patches = []

    # ---- names for values ----------------------------------------------------------------------
    def new_slot(self, array) -> int:
        k = self.nslots
        self.nslots += 1
        self.slot_of[id(array)] = k
        self.forget_when_gone(array, self.slot_of)
        self.values[k] = Meta(array)
        return k

    def forget_when_gone(self, obj, table) -> None:
        """Drop ``id(obj)`` from ``table`` when obj dies (its id may then be reused): values are
        not kept alive by the trace, so that tracing takes the memory an eager call takes."""
        key = id(obj)
        self.refs.append(weakref.ref(obj, lambda _, table=table, key=key: table.pop(key, None)))

    def constant(self, value):
        self.constants.append(value)
        return ("c", value)

    def is_traced(self, tensor) -> bool:
        """Whether a Tensor's value depends on the call: computed in it, an argument, or a
        Tensor that outlives it (a parameter)."""
        data = tensor.data
        if id(data) in self.const_ids:
            return False
        if id(data) in self.slot_of:
            return True
        return self.created.get(id(tensor)) != "const"

    def operand(self, value, where: str):
        """The spec of one operand: ("s", slot), ("e", Tensor), ("c", constant) or, for a list
        or tuple holding traced values, ("t", (list or tuple, the items' specs))."""
        if isinstance(value, Variable):
            if not isinstance(value, Tensor):
                raise TraceError(f"compile: {where} got a {type(value).__name__}; "
                                 f"{_SCALAR_HINT}")
            data = value.data
            k = self.slot_of.get(id(data))
            if k is not None:
                return ("s", k)
            if id(data) in self.const_ids:
                return self.constant(data)
            state = self.created.get(id(value))
            if state == "const":
                return self.constant(data)
            if state == "tainted":
                raise TraceError(
                    f"compile: {where} was given a tensor (shape {data.shape}) computed outside "
                    "the recorded ops (an untracked op such as argmax/sign/floor, or "
                    "Tensor(t.data)), so a replay could not recompute it; use differentiable "
                    "ops, or keep this computation outside the compiled function")
            if id(value) not in self.externals:
                self.externals[id(value)] = value
                self.external_data[id(value)] = (value, data)
            return ("e", value)
        if isinstance(value, np.ndarray):
            k = self.slot_of.get(id(value))
            if k is not None:
                return ("s", k)
            base = value.base
            while isinstance(base, np.ndarray):
                if id(base) in self.slot_of:
                    raise TraceError(
                        f"compile: {where} was given a numpy view (shape {value.shape}) of a "
                        "traced value; pass the Tensor itself so that the replay can follow it")
                base = base.base
            return self.constant(value)  # held by reference: in-place changes are seen
        if type(value) in (list, tuple) and any(isinstance(v, (Variable, np.ndarray))
                                                for v in value):
            # an index such as (rows, labels): rebuilt by the replay from its parts' values
            specs = [self.operand(v, where) for v in value]
            if all(kind == "c" for kind, _ in specs):
                return self.constant(value)
            return ("t", (type(value), tuple(specs)))
        return self.constant(value)

    def leaf_spec(self, leaf, where: str):
        """How the replay finds a leaf Tensor (to accumulate its gradient)."""
        position = self.arg_tensor.get(id(leaf))
        if position is not None:
            return ("a", position)
        if id(leaf) in self.created:
            raise TraceError(f"compile: {where}: a tensor created inside the compiled function "
                             f"(shape {leaf.data.shape}) requires grad and gets a gradient; "
                             "create it outside and pass it in (or use a Parameter)")
        self.externals[id(leaf)] = leaf
        return ("e", leaf)

    # ---- the wrapped entry points ---------------------------------------------------------------
    def run_forward(self, original, cls, ctx, raw, kwargs):
        """Tensor._run_forward, called by Function.apply (whose arguments are read from its
        frame: the public functions hold apply itself, so apply cannot be wrapped)."""
        if self.depth or self.thread != threading.get_ident():
            return original(cls, ctx, raw, kwargs)
        args = sys._getframe(2).f_locals.get("args")
        if args is None or len(args) != len(raw):
            raise TraceError(f"compile: {cls.name()} was run by something other than "
                             "Function.apply, which the tracer cannot follow")
        where = cls.name()
        specs = []
        requires_grad = False
        for arg in args:
            if isinstance(arg, np.generic) or (type(arg) is np.ndarray and arg.ndim == 0):
                if id(arg) in self.slot_of:
                    raise TraceError(f"compile: {where} was given the raw 0-d array of a traced "
                                     "value, which it reads as a number; pass the Tensor")
                specs.append(self.constant(arg.item()))  # as apply converts it
                continue
            if isinstance(arg, Variable) and arg._requires_grad:
                requires_grad = True
            specs.append(self.operand(arg, where))
        kw = {name: self.operand(value, f"{where}({name}=...)") for name, value in kwargs.items()}
        out = original(cls, ctx, raw, kwargs)
        if type(out) is not np.ndarray:
            out = np.asarray(out)  # what apply's Tensor would hold; named here
        node = None
        if requires_grad and _grad_state.enabled and Tensor._can_carry_grad(out):
            node = self.nctx
            self.nctx += 1
            self.ctx_of[id(ctx)] = node
            self.keep.append(ctx)
        elif all(kind == "c" for kind, _ in specs) and all(kind == "c" for kind, _ in
                                                             kw.values()):
            self.const_ids.add(id(out))  # folded: computed once, here
            self.keep.append(out)
            return out
        slot = self.new_slot(out)
        # the node (ctx) itself: its edges and shapes are set by apply after this returns
        self.entries.append(("fwd", cls, tuple(specs), kw, slot, node,
                             ctx if node is not None else None))
        return out

    def backward(self, original, root_value, grad, retain_graph, create_graph):
        if self.depth or self.thread != threading.get_ident():
            return original(root_value, grad, retain_graph, create_graph)
        if create_graph:
            raise TraceError("compile: backward(create_graph=True) inside a compiled function "
                             "is not supported; compile the outer step without it")
        if not isinstance(root_value, Tensor):
            raise TraceError(f"compile: backward() of a Scalar inside a compiled function; "
                             f"{_SCALAR_HINT}")
        engine._check_requires_grad(root_value, "backward", "the tensor")
        if engine._anomaly.enabled:
            raise TraceError("compile: anomaly detection is on; run the function uncompiled")
        root = root_value._root_grad(grad, False)
        value_spec = self.operand(root_value, "backward")
        if grad is None:
            kind = ("ones", value_spec)
        else:
            given = grad.data if isinstance(grad, Variable) else grad
            kind = ("copy", self.operand(given, "backward(grad=...)"), root.dtype)
        root_slot = self.new_slot(root)
        self.entries.append(("root", root_slot) + kind)
        root_item = _item_of(root_value)
        nodes, leaves = _sorted_graph([root_item])
        grads = {root_item: (root, root_slot)}
        take = grads.pop
        with set_grad_enabled(False):
            for node in reversed(nodes):
                pair = take(node, None)
                if pair is None:
                    continue
                grad_in, grad_slot = pair
                if node._retained is not None:
                    raise TraceError(f"compile: {node.name()}: retain_grad() or register_hook() "
                                     "on a value inside a compiled function is not supported")
                ctx = self.ctx_of.get(id(node))
                if ctx is None:
                    raise TraceError(f"compile: backward reached {node.name()}, recorded before "
                                     "the compiled function was called; compute the whole graph "
                                     "inside it")
                if node._saved is None:
                    raise engine._freed_error(node)
                node._graph_mode = False
                input_grads = type(node).backward(node, grad_in)
                if type(input_grads) is not tuple:
                    input_grads = tuple(input_grads) if isinstance(input_grads, tuple) \
                        else (input_grads,)
                if len(input_grads) != len(node._next):
                    raise engine._count_error(node, input_grads)
                if node._shapes is not None:
                    input_grads = _to_input_shapes(node, input_grads)
                if not retain_graph:
                    node._saved = None
                out_slots, sums = [], []
                for parent, parent_grad in zip(node._next, input_grads):
                    if parent is None or parent_grad is None:
                        out_slots.append(None)
                        continue
                    slot = self.nslots  # not by id: one array may be two inputs' gradient
                    self.nslots += 1
                    self.values[slot] = Meta(parent_grad)
                    out_slots.append(slot)
                    previous = grads.get(parent)
                    if previous is None:
                        grads[parent] = (parent_grad, slot)
                    else:
                        total = previous[0] + parent_grad
                        self.values[self.nslots] = Meta(total)
                        sums.append(("add", self.nslots, previous[1], slot))
                        grads[parent] = (total, self.nslots)
                        self.nslots += 1
                self.entries.append(("bwd", ctx, grad_slot, tuple(out_slots),
                                     bool(retain_graph)))
                self.entries.extend(sums)
            reached = []
            for leaf in leaves:
                pair = take(leaf, None)
                if pair is None:
                    continue
                if engine._leaf_hooks and engine._leaf_hooks.get(id(leaf)):
                    raise TraceError("compile: a hook registered on a leaf is not supported "
                                     "inside a compiled function")
                reached.append((leaf, pair))
        claimed = set()
        accs = []
        with set_grad_enabled(False):
            for leaf, (grad_value, slot) in reached:
                spec = self.leaf_spec(leaf, "backward")
                leaf._accumulate_grad(grad_value, False, claimed)
                after = self.new_slot(leaf._grad.data)
                accs.append((spec, slot, after))
        self.entries.append(("acc", tuple(accs)))

    def call(self, func, args, kwargs, fast=None):
        where = getattr(func, "__qualname__", "an opaque call")
        specs = [self.call_operand(a, where) for a in args]
        kw = {name: self.call_operand(v, where) for name, v in kwargs.items()}
        self.depth += 1
        try:
            result = func(*args, **kwargs)
        finally:
            self.depth -= 1
        if result is not None:
            raise TraceError(f"compile: {where} returned a value, which a replay cannot follow")
        self.entries.append(("call", func, tuple(specs), kw, fast))
        return result

    def call_operand(self, value, where):
        if isinstance(value, (Variable, np.ndarray)):
            return ("T" if isinstance(value, Variable) else "A",) + self.operand(value, where)
        return ("c", value)  # objects (the optimizer, a module) by reference; not compared

    def compare(self, original, tensor, other, compare):
        if self.depth or self.thread != threading.get_ident():
            return original(tensor, other, compare)
        a = self.operand(tensor, "a comparison")
        b = self.operand(other, "a comparison")
        out = original(tensor, other, compare)
        if a[0] == "c" and b[0] == "c":
            self.const_ids.add(id(out.data))
            self.keep.append(out.data)
            return out
        self.entries.append(("np", compare, (a, b), self.new_slot(out.data)))
        return out

    def invert(self, original, tensor):
        if self.depth or self.thread != threading.get_ident():
            return original(tensor)
        a = self.operand(tensor, "~")
        out = original(tensor)
        if a[0] == "c":
            self.const_ids.add(id(out.data))
            self.keep.append(out.data)
            return out
        self.entries.append(("np", np.logical_not, (a,), self.new_slot(out.data)))
        return out

    def setitem(self, original, tensor, index, value):
        if self.depth or self.thread != threading.get_ident():
            return original(tensor, index, value)
        target = self.operand(tensor, "setitem")
        parts = index if isinstance(index, tuple) else (index,)
        raw = []
        for part in parts:
            spec = self.operand(part, "setitem's index") if isinstance(
                part, (Variable, np.ndarray)) else ("c", part)
            if spec[0] != "c":
                raise TraceError("compile: an index computed inside the compiled function (or "
                                 "passed to it) is not supported in t[index] = v yet")
            raw.append(spec[1].data if isinstance(spec[1], Variable) else spec[1])
        raw_index = tuple(raw) if isinstance(index, tuple) else raw[0]
        source = self.operand(value, "setitem's value")
        original(tensor, index, value)
        self.entries.append(("setitem", target, raw_index, source))

    def inplace(self, original, tensor, ufunc, other, op):
        if self.depth or self.thread != threading.get_ident():
            return original(tensor, ufunc, other, op)
        target = self.operand(tensor, op)
        source = self.operand(other, op)
        result = original(tensor, ufunc, other, op)
        self.entries.append(("inplace", ufunc, target, source))
        return result

    def set_grad(self, original, tensor, value):
        if self.depth or self.thread != threading.get_ident():
            return original(tensor, value)
        target = self.leaf_spec(tensor, ".grad = ...") if isinstance(tensor, Tensor) else None
        if target is None:
            raise TraceError(f"compile: assigning .grad of a Scalar; {_SCALAR_HINT}")
        source = None if value is None else self.operand(value, ".grad = ...")
        original(tensor, value)
        self.entries.append(("setgrad", target, source))

    def check_externals(self) -> None:
        """Raise if the function rebound an outside Tensor's ``.data`` (not followed)."""
        for tensor, data in self.external_data.values():
            if tensor.data is not data:
                raise TraceError(
                    f"compile: the compiled function replaced .data of a tensor of shape "
                    f"{data.shape} that it did not create; a replay cannot follow that. Change "
                    "it in place (t[...] = v under no_grad) instead")

    def check_arguments_read(self, flat_args, output) -> None:
        """Raise for an array or Tensor argument that no recorded step reads (nor the output):
        whatever the function computed from it, numpy on its values or a branch on them, was
        computed outside the recorded ops, and a replay would use the traced call's result for
        every later argument: a silent wrong answer that two tracing calls with equal arguments
        (a repeated batch) would not reveal."""
        read = set()
        _collect_slots((self.entries, output), read)
        for slot, position in self.arg_slots:
            if slot in read:
                continue
            arg = flat_args[position]
            data = arg.data if isinstance(arg, Tensor) else arg
            if data.size == 0:
                continue
            kind = "Tensor" if isinstance(arg, Tensor) else "array"
            raise TraceError(
                f"compile: the {kind} argument of shape {data.shape} and dtype {data.dtype} "
                f"(argument {position} of the flattened arguments) is read by no recorded op, so "
                "anything computed from its values inside the function (numpy on it, an index "
                "built from it, a branch) would be frozen by a replay. Use it through Tensor "
                "ops (pass labels as the array itself to a loss, or as ag.Tensor(labels)), "
                "compute the numpy part outside the compiled function and pass its result, or "
                "drop the argument if it is unused")

    def made(self, tensor, data) -> None:
        """Note a Tensor created during the trace: a constant, unless made from traced data."""
        if self.depth or self.thread != threading.get_ident():
            return
        traced = isinstance(data, Variable) and self.is_traced(data) or (
            isinstance(data, np.ndarray) and id(data) in self.slot_of)
        self.created[id(tensor)] = "tainted" if traced else "const"
        self.forget_when_gone(tensor, self.created)

    def wrapped(self, tensor) -> None:
        """Note a Tensor made by ``_from_op`` (an op's result, before apply names it)."""
        if self.depth or self.thread != threading.get_ident():
            return
        if id(tensor) not in self.created:
            self.created[id(tensor)] = "tainted"
            self.forget_when_gone(tensor, self.created)

    # ---- switching the wrappers on and off -------------------------------------------------------
    def __enter__(self):
        global _current
        if not _lock.acquire(blocking=False):
            raise _Busy  # another thread is tracing: the caller runs its function eagerly
        rec = self
        run_forward = Tensor.__dict__["_run_forward"].__func__
        backward = Variable.backward
        compare = Tensor._compare
        invert = Tensor.__invert__
        setitem = Tensor.__setitem__
        inplace = Tensor._inplace
        init = Tensor.__init__
        grad_property = Variable.__dict__["grad"]
        from_op = Tensor.__dict__["_from_op"].__func__

        def traced_init(tensor, data, *args, **kwargs):
            init(tensor, data, *args, **kwargs)
            rec.made(tensor, data)

        def traced_from_op(cls, data, node):
            tensor = from_op(cls, data, node)
            rec.wrapped(tensor)
            return tensor

        patches = [
            (Tensor, "_run_forward", staticmethod(
                lambda cls, ctx, raw, kw: rec.run_forward(run_forward, cls, ctx, raw, kw))),
            (Variable, "backward",
             lambda value, grad=None, retain_graph=False, create_graph=False:
             rec.backward(backward, value, grad, retain_graph, create_graph)),
            (Tensor, "_compare", lambda t, other, cmp: rec.compare(compare, t, other, cmp)),
            (Tensor, "__invert__", lambda t: rec.invert(invert, t)),
            (Tensor, "__setitem__", lambda t, i, v: rec.setitem(setitem, t, i, v)),
            (Tensor, "_inplace", lambda t, uf, o, op: rec.inplace(inplace, t, uf, o, op)),
            (Tensor, "__init__", traced_init),
            (Variable, "grad", property(grad_property.fget, lambda t, v: rec.set_grad(
                grad_property.fset, t, v), doc=grad_property.__doc__)),
            (Tensor, "_from_op", classmethod(traced_from_op)),
        ]
        for name in _READS:
            if hasattr(Tensor, name):
                patches.append((Tensor, name, _value_read(name)[1]))
        for owner, name, value in patches:
            self._patches.append((owner, name, owner.__dict__[name] if name in owner.__dict__
                                  else None))
            setattr(owner, name, value)
        _current = self
        return self

    def __exit__(self, *exc_info):
        global _current
        _current = None
        for owner, name, value in reversed(self._patches):
            if value is None:
                delattr(owner, name)
            else:
                setattr(owner, name, value)
        self._patches = []
        _lock.release()
        return False


def grad_enabled() -> bool:
    return _grad_state.enabled
