"""From a trace to the steps a replay runs: lowering, liveness and buffer assignment.

Most entries run as the engine would (see :mod:`.replay`). The primitives that dominate training
steps are *lowered* instead: their forward and backward become the very numpy calls their eager
code makes (the same ufuncs, on the same operands, in the same order, so the floats are the
same), written with ``out=`` into buffers that the program owns. No ctx is made for them.

Buffers: each lowered result gets one, allocated once and kept across calls, unless the value
can be seen from outside the program (returned, kept as a ``.grad``, passed to an opaque call,
changed in place), in which case a fresh array is made on every call, as eager code would.
Within a call a buffer is reused (liveness) once every reader of its previous value has run;
values that a non-lowered step may hold on to (a view it returned, an array its ctx saved) keep
their buffer alive as long as anything made by that step is read.
"""

from __future__ import annotations

import operator

import numpy as np

from ..ops import elementwise as ew
from ..ops import linalg
from .replay import build_step, getter
from .trace import Meta

_UFUNC_OF = {operator.add: np.add, operator.sub: np.subtract, operator.mul: np.multiply,
             operator.truediv: np.true_divide, operator.neg: np.negative}


def _ufunc(cls):
    """The numpy ufunc an Elementwise op's kernel calls on arrays, or None."""
    if cls is ew.Relu:
        return None
    kernel = cls.__dict__.get("kernel", getattr(cls, "kernel", None))
    kernel = getattr(kernel, "__func__", kernel)
    if isinstance(kernel, np.ufunc):
        return kernel
    return _UFUNC_OF.get(kernel)


# ---- lowered steps: each a (run, reads, writes, aliases) ---------------------------------------
# ``out(env)`` gives the step its output buffer (kept or fresh, decided by the planner).

def _fwd_lowering(entry, values):
    """(make(outs) -> run, output slot) for a forward entry, or None to run it as the engine."""
    _, cls, specs, kw, slot, ctx, node = entry
    if kw:
        return None
    getters = [getter(s) for s in specs]
    if not any(s[0] != "c" for s in specs):
        return None
    out_value = values[slot]
    if cls is ew.Relu:
        (get,) = getters

        def make(out):
            return lambda env, ctxs, args: np.maximum(get(env), 0, out=out(env, slot))
        return make
    if issubclass(cls, ew.Elementwise):
        ufunc = _ufunc(cls)
        if ufunc is None or ufunc.nin != len(getters) or ufunc.nout != 1:
            return None
        if len(getters) == 1:
            (get,) = getters

            def make(out):
                return lambda env, ctxs, args: ufunc(get(env), out=out(env, slot))
            return make
        get_a, get_b = getters

        def make(out):
            return lambda env, ctxs, args: ufunc(get_a(env), get_b(env), out=out(env, slot))
        return make
    if cls is linalg.Linear:
        x_spec, w_spec, b_spec = specs
        x = _value(x_spec, values)
        w = _value(w_spec, values)
        b = _value(b_spec, values)
        if x is None or w is None or b is None or x.ndim != 2 or w.ndim != 2 or \
                out_value.dtype != b.dtype:
            return None
        get_x, get_w, get_b = getters

        def make(out):
            def run(env, ctxs, args):
                result = np.matmul(get_x(env), get_w(env), out=out(env, slot))
                result += get_b(env)
            return run
        return make
    if cls is linalg.MatMul:
        a, b = (_value(s, values) for s in specs)
        if a is None or b is None or a.ndim != 2 or b.ndim != 2:
            return None
        get_a, get_b = getters

        def make(out):
            return lambda env, ctxs, args: np.matmul(get_a(env), get_b(env), out=out(env, slot))
        return make
    return None


def _value(spec, values):
    kind, payload = spec
    if kind == "s":
        return values.get(payload)
    if kind == "e":
        return Meta(payload.data)
    return Meta(payload) if isinstance(payload, np.ndarray) else None


def _bwd_lowering(fwd, entry, values):
    """(make(out) -> run) for a backward entry whose forward is ``fwd``, or None."""
    _, cls, specs, kw, fwd_slot, ctx, node = fwd
    _, _, grad_slot, out_slots, retain = entry
    if node is None or kw:
        return None
    getters = [getter(s) for s in specs]
    g = grad_slot
    if issubclass(cls, ew.Elementwise) and node._shapes is not None:
        return None  # an input was broadcast: the engine sums its gradient (not lowered)
    if cls is ew.Add:
        return "alias"
    if cls is ew.Neg or (cls is ew.Sub and out_slots[0] is None and out_slots[1] is not None):
        target = out_slots[0] if cls is ew.Neg else out_slots[1]

        def make(out):
            return lambda env, ctxs, args: np.negative(env[g], out=out(env, target))
        return make
    if cls is ew.Mul:
        get_a, get_b = getters
        first, second = out_slots

        def make(out):
            def run(env, ctxs, args):
                grad = env[g]
                if first is not None:
                    np.multiply(grad, get_b(env), out=out(env, first))
                if second is not None:
                    np.multiply(grad, get_a(env), out=out(env, second))
            return run
        return make
    if cls is ew.Tanh or cls is ew.Exp or cls is ew.Relu:
        (target,) = out_slots
        if target is None:
            return None
        if cls is ew.Exp:
            def make(out):
                return lambda env, ctxs, args: np.multiply(env[g], env[fwd_slot],
                                                           out=out(env, target))
            return make
        if cls is ew.Relu:
            def make(out):
                def run(env, ctxs, args):
                    mask = np.greater(env[fwd_slot], 0)
                    np.multiply(env[g], mask, out=out(env, target))
                return run
            return make

        def make(out):
            def run(env, ctxs, args):
                result = out(env, target)
                square = env[fwd_slot]
                np.multiply(square, square, out=result)
                np.subtract(1, result, out=result)
                np.multiply(env[g], result, out=result)
            return run
        return make
    if cls is linalg.Linear:
        x_spec, w_spec, _ = specs
        x = _value(x_spec, values)
        if x is None or x.ndim != 2:
            return None
        get_x, get_w, _ = getters
        dx, dw, db = out_slots

        def make(out):
            def run(env, ctxs, args):
                grad = env[g]
                if dx is not None:
                    np.matmul(grad, get_w(env).swapaxes(-1, -2), out=out(env, dx))
                if dw is not None:
                    np.matmul(get_x(env).swapaxes(-1, -2), grad, out=out(env, dw))
                if db is not None:
                    np.add.reduce(grad, axis=0, out=out(env, db))
            return run
        return make
    if cls is linalg.MatMul:
        a, b = (_value(s, values) for s in specs)
        if a is None or b is None or a.ndim != 2 or b.ndim != 2:
            return None
        get_a, get_b = getters
        da, db = out_slots

        def make(out):
            def run(env, ctxs, args):
                grad = env[g]
                if da is not None:
                    np.matmul(grad, get_b(env).swapaxes(-1, -2), out=out(env, da))
                if db is not None:
                    np.matmul(get_a(env).swapaxes(-1, -2), grad, out=out(env, db))
            return run
        return make
    return None


# ---- the planner ----------------------------------------------------------------------------

def _slots(specs):
    return [s[1] for s in specs if s[0] == "s"]


def lower(rec, output_slots=()) -> list:
    """The steps of a replay of ``rec``, lowered and with buffers assigned where possible."""
    entries, values = rec.entries, rec.values
    fwd_of_ctx = {e[5]: e for e in entries if e[0] == "fwd" and e[5] is not None}
    # 1. what each entry reads and writes, which results may share memory with what
    parent = list(range(rec.nslots))

    def find(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def union(a, b):
        parent[find(a)] = find(b)

    makers, reads, writes = [], [], []
    escaping = set(output_slots)
    lowered_bwd = {}
    for entry in entries:  # which backward entries lower (their forwards then lower too)
        if entry[0] == "bwd":
            made = _bwd_lowering(fwd_of_ctx[entry[1]], entry, values)
            if made is not None:
                lowered_bwd[entry[1]] = made
    for entry in entries:
        kind = entry[0]
        make, read, write = None, [], []
        if kind == "fwd":
            _, cls, specs, kw, slot, ctx, node = entry
            read = _slots(specs) + _slots(kw.values())
            write = [slot]
            if ctx is None or ctx in lowered_bwd:
                make = _fwd_lowering(entry, values)
            if make is None and ctx in lowered_bwd:
                del lowered_bwd[ctx]  # its backward needs the ctx after all
            if make is None:
                for r in read:
                    union(slot, r)  # a view of an input, or an input itself
        elif kind == "bwd":
            fwd = fwd_of_ctx[entry[1]]
            read = [entry[2]] + _slots(fwd[2]) + _slots(fwd[3].values()) + [fwd[4]]
            write = [s for s in entry[3] if s is not None]
            made = lowered_bwd.get(entry[1])
            if made is not None:  # what the lowered rule reads: no ctx holds the rest
                cls = fwd[1]
                if cls in (ew.Relu, ew.Exp, ew.Tanh):
                    read = [entry[2], fwd[4]]
                elif cls in (ew.Add, ew.Neg, ew.Sub):
                    read = [entry[2]]
                elif cls is linalg.Linear:
                    read = [entry[2]] + _slots(fwd[2][:2])
            if made == "alias":
                for s in write:
                    union(s, entry[2])
                make = "alias"
            elif made is not None:
                make = made
            else:
                for w in write:
                    for r in read:
                        union(w, r)
        elif kind == "add":
            read, write = [entry[2], entry[3]], [entry[1]]
            dst, a, b = entry[1], entry[2], entry[3]
            if values[a].shape == values[b].shape == values[dst].shape and \
                    values[a].dtype == values[b].dtype == values[dst].dtype:
                def make(out, dst=dst, a=a, b=b):
                    return lambda env, ctxs, args: np.add(env[a], env[b], out=out(env, dst))
        elif kind == "acc":
            read = [slot for _, slot, _ in entry[1]]
            write = [after for _, _, after in entry[1]]
            escaping.update(read + write)
        elif kind == "root":
            write = [entry[1]]
            read = _slots([entry[3]])
            escaping.add(entry[1])
        elif kind == "call":
            read = [s[2] for s in entry[2] if s[0] in "TA" and s[1] == "s"] + [
                s[2] for s in entry[3].values() if s[0] in "TA" and s[1] == "s"]
            escaping.update(read)
        elif kind == "setgrad":
            read = _slots([entry[2]]) if entry[2] is not None else []
            escaping.update(read)
        elif kind == "np":
            read, write = _slots(entry[2]), [entry[3]]
            escaping.update(read)
        elif kind in ("setitem", "inplace"):
            target, source = (entry[1], entry[3]) if kind == "setitem" else (entry[2], entry[3])
            read = _slots([target, source])
            escaping.update(read)
        makers.append(make)
        reads.append(read)
        writes.append(write)
    # 2. liveness: the last step reading anything that shares memory with each group
    last_read = {}
    for i, read in enumerate(reads):
        for r in read:
            last_read[find(r)] = i
    escaping_groups = {find(s) for s in escaping}
    # 3. buffers: kept across calls for private groups, reused once their group is dead
    free: dict = {}  # (shape, dtype) -> [buffer, ...]
    dying: list = []  # (last reader, key, buffer)
    buffer_of: dict = {}  # slot -> kept buffer
    fresh: dict = {}  # slot -> (shape, dtype) made anew per call
    steps = []
    for i, (entry, make) in enumerate(zip(entries, makers)):
        still, ending = [], []
        for end, key, buf in dying:
            if end < i:
                free.setdefault(key, []).append(buf)
            elif end == i and _elementwise(entry, fwd_of_ctx):
                ending.append((key, buf))  # read for the last time here, element by element
            else:
                still.append((end, key, buf))
        dying = still
        if make is None:
            steps.append(build_step(entry))
            continue
        if make == "alias":
            grad_slot, out_slots = entry[2], entry[3]

            def alias(env, ctxs, args, g=grad_slot, outs=tuple(s for s in out_slots if s)):
                grad = env[g]
                for s in outs:
                    env[s] = grad
            steps.append(alias)
            continue
        for slot in writes[i]:
            value = values[slot]
            key = (value.shape, value.dtype, value.strides)
            group = find(slot)
            if group in escaping_groups or group not in last_read:
                fresh[slot] = _allocator(value)
                continue
            pool = free.get(key)
            same = next((j for j, (k, _) in enumerate(ending) if k == key), None)
            if same is not None:  # in place: an elementwise op may write over its own input
                buf = ending.pop(same)[1]
            else:
                buf = pool.pop() if pool else _allocator(value)()
            buffer_of[slot] = buf
            dying.append((last_read[group], key, buf))
        for end_key, buf in ending:  # not taken: free from the next step on
            dying.append((i, end_key, buf))
        steps.append(make(_out(buffer_of, fresh)))
    return steps


def _elementwise(entry, fwd_of_ctx) -> bool:
    """Whether a lowered entry computes its one output element by element from inputs of the
    output's shape in a single numpy call, so that the output may overwrite an input read for
    the last time (numpy allows an output identical to an input)."""
    kind = entry[0]
    if kind == "add":
        return True
    if kind == "fwd":
        cls = entry[1]
        return cls is ew.Relu or (issubclass(cls, ew.Elementwise) and _ufunc(cls) is not None)
    if kind == "bwd":  # one numpy call with one output (relu's mask is made before it)
        cls = fwd_of_ctx[entry[1]][1]
        return cls in (ew.Relu, ew.Exp, ew.Neg) or (cls is ew.Sub and entry[3][0] is None)
    return False


def _allocator(value):
    """A function making an empty array laid out in memory as ``value`` is: numpy gives an
    operation's result its inputs' layout, and a reduction's order of additions (so its rounding)
    follows the layout, so a buffer must have the layout the eager result had."""
    shape, dtype = value.shape, value.dtype
    if value.c_contiguous or value.ndim < 2:
        return lambda: np.empty(shape, dtype)
    if value.f_contiguous:
        return lambda: np.empty(shape, dtype, order="F")
    order = sorted(range(value.ndim), key=lambda a: -abs(value.strides[a]))
    inverse = tuple(int(a) for a in np.argsort(order))
    permuted = tuple(shape[a] for a in order)
    return lambda: np.empty(permuted, dtype).transpose(inverse)


def _out(buffer_of, fresh):
    """out(env, slot): the buffer a lowered step writes ``slot`` into, recorded in env."""

    def out(env, slot):
        buf = buffer_of.get(slot)
        if buf is None:
            buf = fresh[slot]()
        env[slot] = buf
        return buf

    return out
