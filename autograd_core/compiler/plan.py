"""From a trace to the steps a replay runs: lowering, liveness and buffer assignment.

Most entries run as the engine would (see :mod:`.replay`). The primitives that dominate training
steps are *lowered* instead: their forward and backward become the very numpy calls their eager
code makes (the same ufuncs, on the same operands, in the same order, so the floats are the
same), written with ``out=`` into buffers that the program owns. No ctx is made for them.

Buffers: each lowered result gets one, unless the value can be seen from outside the program
(returned, kept as a ``.grad``, passed to an opaque call, changed in place), in which case a
fresh array is made on every call, as eager code would; but a large gradient that only becomes
a leaf's ``.grad`` gets back its previous array when nothing else holds that any more (see
:class:`_Recycled`). Buffers from LOCAL_BYTES up to RECYCLE_BYTES are made on each call and let
go after their last use (see :class:`_Local`); smaller and larger ones are kept across calls.
Within a call a buffer is reused (liveness) once every reader of its previous value has run;
values that a non-lowered step may hold on to (a view it returned, an array its ctx saved) keep
their buffer alive as long as anything made by that step is read.
"""

from __future__ import annotations

import operator
from sys import getrefcount

import numpy as np

from ..engine import version_of
from ..grad_mode import set_grad_enabled
from ..ops import elementwise as ew
from ..ops import linalg
from ..ops.reductions import SoftmaxCrossEntropy, _check_label_range
from ..tensor import Tensor
from .replay import build_step
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


# ---- lowered steps ----------------------------------------------------------------------------
# Each lowering returns ``emit(em) -> [lines of Python]`` (or None: run the entry as the engine
# would). ``em.arg(spec)`` spells an operand, ``em.out(slot)`` the array a result is written
# into; every line of a step also stores its result in ``env[slot]``.

def _fwd_lowering(entry, values):
    """emit for a forward entry, or None to run it as the engine."""
    _, cls, specs, kw, slot, ctx, node = entry
    if cls is SoftmaxCrossEntropy:
        return _cross_entropy_forward(entry, values)
    if kw or not any(s[0] != "c" for s in specs) or any(s[0] == "t" for s in specs):
        return None
    out_value = values[slot]
    if cls is ew.Relu:
        return lambda em: [f"env[{slot}] = maximum({em.arg(specs[0])}, 0, out={em.out(slot)})"]
    if issubclass(cls, ew.Elementwise):
        ufunc = _ufunc(cls)
        if ufunc is None or ufunc.nin != len(specs) or ufunc.nout != 1:
            return None
        return lambda em: [f"env[{slot}] = {em.name(ufunc, 'U')}("
                           f"{', '.join(em.arg(s) for s in specs)}, out={em.out(slot)})"]
    if cls is linalg.Linear:
        x, w, b = (_value(s, values) for s in specs)
        if x is None or w is None or b is None or x.ndim != 2 or w.ndim != 2 or \
                out_value.dtype != b.dtype:
            return None
        return lambda em: [
            f"env[{slot}] = t = matmul({em.arg(specs[0])}, {em.arg(specs[1])}, "
            f"out={em.out(slot)})",
            f"add(t, {em.arg(specs[2])}, out=t)"]  # as out += bias
    if cls is linalg.MatMul:
        a, b = (_value(s, values) for s in specs)
        if a is None or b is None or a.ndim != 2 or b.ndim != 2:
            return None
        return lambda em: [f"env[{slot}] = matmul({em.arg(specs[0])}, {em.arg(specs[1])}, "
                           f"out={em.out(slot)})"]
    return None


def _value(spec, values):
    kind, payload = spec
    if kind == "s":
        return values.get(payload)
    if kind == "e":
        return Meta(payload.data)
    return Meta(payload) if isinstance(payload, np.ndarray) else None


# SoftmaxCrossEntropy over (N, C) logits, reduced by mean or sum: its forward computes
# exp(x - max) and the row sums, and its backward computes them again from the saved logits
# (the same ufuncs on the same values, so the same floats). Lowered, the forward keeps them in
# locals of the generated function (named after the node) and the backward starts from them:
# softmax = e / sums, minus 1 at each row's label (the eager rule subtracts a one-hot matrix,
# whose zeros change nothing), times grad / N for a mean.

def _cross_entropy_shape(entry, values):
    """(N, C, labels spec, reduction) when the entry is lowered, else None."""
    _, cls, specs, kw, slot, ctx, node = entry
    labels, reduction = kw.get("labels"), kw.get("reduction", ("c", "mean"))
    if len(specs) != 1 or labels is None or set(kw) - {"labels", "reduction"} or \
            reduction[0] != "c" or reduction[1] not in ("mean", "sum"):
        return None
    x, lab = _value(specs[0], values), _value(labels, values)
    if x is None or lab is None or x.ndim != 2 or not x.c_contiguous or \
            x.dtype not in (np.float32, np.float64) or lab.shape != x.shape[:1] or \
            lab.dtype.kind not in "iu":
        return None
    return x.shape[0], x.shape[1], labels, reduction[1]


def _cross_entropy_forward(entry, values):
    shape = _cross_entropy_shape(entry, values)
    if shape is None:
        return None
    n, classes, labels, reduction = shape
    _, _, specs, _, slot, ctx, _ = entry
    k = slot  # names the locals the backward reads
    lab_dtype = _value(labels, values).dtype

    def emit(em):
        rows = em.name(np.arange(n), "C")
        check = em.name(_check_label_range, "F")
        loss = "losses.sum()" + (f" / {n}" if reduction == "mean" else "")
        # the range check in one reduction: seen as unsigned, a negative label is huge; only a
        # bad label calls the check that raises (with eager's message)
        unsigned = em.name(np.dtype(f"u{lab_dtype.itemsize}"), "D")
        return [
            f"x = {em.arg(specs[0])}",
            f"ce_l{k} = {em.arg(labels)}",
            f"if ce_l{k}.view({unsigned}).max() >= {classes}: "
            f"{check}(ce_l{k}, {classes}, 'softmax_cross_entropy')",
            "s = subtract(x, maximum.reduce(x, axis=-1, keepdims=True))",
            f"picked = s[{rows}, ce_l{k}]",
            f"ce_e{k} = exp(s, out=s)",
            f"ce_t{k} = add.reduce(ce_e{k}, axis=-1)",
            f"losses = subtract(log(ce_t{k}), picked)",
            f"env[{slot}] = asarray({loss})"]
    return emit


def _cross_entropy_backward(fwd, entry, values):
    shape = _cross_entropy_shape(fwd, values)
    _, _, g, out_slots, retain = entry
    if shape is None or out_slots[0] is None:
        return None
    n, _, _, reduction = shape
    k, target = fwd[4], out_slots[0]

    def emit(em):
        rows = em.name(np.arange(n), "C")
        scale = f"env[{g}] / {n}" if reduction == "mean" else f"env[{g}]"
        return [f"t = divide(ce_e{k}, ce_t{k}[:, None], out={em.out(target)})",
                f"t[{rows}, ce_l{k}] -= 1",
                f"env[{target}] = multiply({scale}, t, out=t)"]
    return emit


def _bwd_lowering(fwd, entry, values):
    """emit for a backward entry whose forward is ``fwd`` ("alias" for Add's), or None."""
    _, cls, specs, kw, fwd_slot, ctx, node = fwd
    _, _, g, out_slots, retain = entry
    if cls is SoftmaxCrossEntropy and node is not None:
        return _cross_entropy_backward(fwd, entry, values)
    if node is None or kw:
        return None
    if issubclass(cls, ew.Elementwise) and node._shapes is not None:
        return None  # an input was broadcast: the engine sums its gradient (not lowered)
    if cls is ew.Add:
        return "alias"
    if cls is ew.Neg or (cls is ew.Sub and out_slots[0] is None and out_slots[1] is not None):
        target = out_slots[0] if cls is ew.Neg else out_slots[1]
        return lambda em: [f"env[{target}] = negative(env[{g}], out={em.out(target)})"]
    if cls is ew.Mul:
        first, second = out_slots

        def emit(em):  # grad * b first, then grad * a, as the rule's tuple is built
            lines = []
            if first is not None:
                lines.append(f"env[{first}] = multiply(env[{g}], {em.arg(specs[1])}, "
                             f"out={em.out(first)})")
            if second is not None:
                lines.append(f"env[{second}] = multiply(env[{g}], {em.arg(specs[0])}, "
                             f"out={em.out(second)})")
            return lines
        return emit
    if cls in (ew.Tanh, ew.Exp, ew.Relu):
        (target,) = out_slots
        if target is None:
            return None
        if cls is ew.Exp:
            return lambda em: [f"env[{target}] = multiply(env[{g}], env[{fwd_slot}], "
                               f"out={em.out(target)})"]
        if cls is ew.Relu:  # grad * (out > 0)
            return lambda em: [f"env[{target}] = multiply(env[{g}], greater(env[{fwd_slot}], 0),"
                               f" out={em.out(target)})"]
        return lambda em: [  # grad * (1 - out * out)
            f"t = {em.out(target)}",
            f"multiply(env[{fwd_slot}], env[{fwd_slot}], out=t)",
            "subtract(1, t, out=t)",
            f"env[{target}] = multiply(env[{g}], t, out=t)"]
    if cls is linalg.Linear:
        x = _value(specs[0], values)
        if x is None or x.ndim != 2:
            return None
        dx, dw, db = out_slots

        def emit(em):  # the rule's order: grad_x, then grad_w, then grad_b
            lines = _matmul_grad_lines(em, g, specs, dx, dw)
            if db is not None:
                lines.append(f"env[{db}] = add.reduce(env[{g}], axis=0, out={em.out(db)})")
            return lines
        return emit
    if cls is linalg.MatMul:
        a, b = (_value(s, values) for s in specs)
        if a is None or b is None or a.ndim != 2 or b.ndim != 2:
            return None
        da, db = out_slots
        return lambda em: _matmul_grad_lines(em, g, specs, da, db)
    return None


def _matmul_grad_lines(em, g, specs, da, db) -> list:
    """The gradients of a @ b (MatMul's, and Linear's x @ W) as the rules compute them, in
    their order: grad @ b.T for a, then a.T @ grad for b (each only where needed)."""
    lines = []
    if da is not None:
        lines.append(f"env[{da}] = matmul(env[{g}], {em.arg(specs[1])}.swapaxes(-1, -2),"
                     f" out={em.out(da)})")
    if db is not None:
        lines.append(f"env[{db}] = matmul({em.arg(specs[0])}.swapaxes(-1, -2), "
                     f"env[{g}], out={em.out(db)})")
    return lines


class _Emitter:
    """Names for the objects the generated program uses, and its lines."""

    def __init__(self, buffer_of, fresh):
        self.ns = {name: getattr(np, name) for name in (
            "add", "subtract", "multiply", "divide", "negative", "maximum", "greater", "matmul",
            "exp", "log", "asarray", "ones_like", "array")}
        self.ns["from_op"] = Tensor._from_op
        self.ns["accumulate"] = _accumulate
        self.lines = []
        self.buffer_of, self.fresh = buffer_of, fresh
        self.names = {}

    def name(self, obj, prefix: str) -> str:
        key = (prefix, id(obj))
        name = self.names.get(key)
        if name is None:
            name = self.names[key] = f"{prefix}{len(self.names)}"
            self.ns[name] = obj
        return name

    def arg(self, spec) -> str:
        kind, payload = spec
        if kind == "s":
            return f"env[{payload}]"
        if kind == "e":
            return f"{self.name(payload, 'E')}.data"  # read live
        return self.name(payload, "C")

    def out(self, slot) -> str:
        buf = slot if isinstance(slot, _Local) else self.buffer_of.get(slot)
        if isinstance(buf, _Local):
            return self.name(buf, "b")  # a local variable of the program
        if buf is not None:
            return self.name(buf, "B")
        return f"{self.name(self.fresh[slot], 'A')}()"

    def step(self, run) -> None:
        self.lines.append(f"{self.name(run, 'S')}(env, ctxs, args)")

    def program(self):
        source = "def program(env, ctxs, args):\n" + "".join(
            f"    {line}\n" for line in self.lines or ["pass"])
        exec(compile(source, "<ag.compile program>", "exec"), self.ns)  # noqa: S102
        program = self.ns["program"]
        program.source = source
        return program


# ---- the planner ----------------------------------------------------------------------------

def _slots(specs):
    """The slots that operand specs read (those inside a tuple operand included)."""
    slots = []
    for kind, payload in specs:
        if kind == "s":
            slots.append(payload)
        elif kind == "t":
            slots.extend(_slots(payload[1]))
    return slots


def lower(rec, output_slots=()):
    """The replay of ``rec`` as one generated function ``program(env, ctxs, args)``: lowered
    entries as numpy calls, the others as calls of their steps (see :mod:`.replay`)."""
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
    granted = set()  # slots whose array may become a leaf's .grad (and nothing else outside)
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
                elif cls is SoftmaxCrossEntropy:  # the labels; e and the sums are locals
                    read = [entry[2]] + _slots([fwd[3]["labels"]])
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
                def make(em, dst=dst, a=a, b=b):
                    return [f"env[{dst}] = add(env[{a}], env[{b}], out={em.out(dst)})"]
        elif kind == "acc":
            read = [slot for _, slot, _ in entry[1]]
            write = [after for _, _, after in entry[1]]
            escaping.update(write)
            granted.update(read)  # escapes into a .grad, which may take the memory back
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
    granted_groups = {find(s) for s in granted} - escaping_groups
    # 3. buffers: kept across calls for private groups, reused once their group is dead
    free: dict = {}  # (shape, dtype) -> [buffer, ...]
    dying: list = []  # (last reader, key, buffer)
    buffer_of: dict = {}  # slot -> kept buffer
    fresh: dict = {}  # slot -> (shape, dtype) made anew per call
    em = _Emitter(buffer_of, fresh)
    ends = []  # ends[i]: the number of lines once entry i is emitted
    for i, (entry, make) in enumerate(zip(entries, makers)):
        if i:
            ends.append(len(em.lines))
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
            if entry[0] == "root" and entry[2] == "ones":  # backward()'s 1
                root = values[entry[1]]
                em.lines.append(
                    f"env[{entry[1]}] = array(1, {em.name(root.dtype, 'D')})" if root.ndim == 0
                    else f"env[{entry[1]}] = ones_like({em.arg(entry[3])})")
            elif entry[0] == "acc":
                _emit_acc(em, entry, values, find, granted_groups)
            else:
                em.step(build_step(entry))
            continue
        if make == "alias":  # Add's backward passes the gradient on to both inputs
            em.lines.extend(f"env[{s}] = env[{entry[2]}]" for s in entry[3] if s is not None)
            continue
        for slot in writes[i]:
            value = values[slot]
            key = (value.shape, value.dtype, value.strides)
            group = find(slot)
            if group in escaping_groups or group not in last_read:
                fresh[slot] = _allocator(value)
                continue
            if group in granted_groups:
                fresh[slot] = _Recycled.of(value)
                continue
            pool = free.get(key)
            same = next((j for j, (k, _) in enumerate(ending) if k == key), None)
            if same is not None:  # in place: an elementwise op may write over its own input
                buf = ending.pop(same)[1]
            elif pool:
                buf = pool.pop()
            elif not LOCAL_BYTES <= _nbytes(value) < RECYCLE_BYTES:
                buf = _allocator(value)()  # kept across calls
            else:  # made on each call (see _Local)
                buf = _Local(_allocator(value))
                em.lines.append(f"{em.out(buf)} = {em.name(buf.make, 'A')}()")
            buffer_of[slot] = buf
            if isinstance(buf, _Local):
                buf.groups.add(group)
                buf.last = max(buf.last, last_read[group])
            dying.append((last_read[group], key, buf))
        for end_key, buf in ending:  # not taken: free from the next step on
            dying.append((i, end_key, buf))
        em.lines.extend(make(em))
    ends.append(len(em.lines))
    _release_locals(em, ends, buffer_of, find, rec.nslots)
    return em.program()


class _Local:
    """A buffer made on every call, when its first value is computed, and let go (its local
    name and every slot that holds it set to None) once the last reader of its last value has
    run: as a numpy program's temporaries are, so that the memory a call holds at its peak is
    the live values', and between calls nothing. malloc hands such an array the memory just
    freed, without page faults (see RECYCLE_BYTES); larger buffers are kept across calls, and
    so are small ones (under LOCAL_BYTES), whose memory does not matter but whose making would
    (about half a microsecond each: a 200-op chain of 16-element arrays took 1.8x raw numpy's
    time per op made per call, 1.47x kept)."""

    __slots__ = ("make", "groups", "last", "__weakref__")

    def __init__(self, make):
        self.make, self.groups, self.last = make, set(), -1


def _release_locals(em, ends, buffer_of, find, nslots) -> None:
    """Insert after each step the lines letting go of the _Local buffers it read last."""
    slots_of = {}
    for slot in range(nslots):
        slots_of.setdefault(find(slot), []).append(slot)
    at = {}
    for buf in {id(b): b for b in buffer_of.values() if isinstance(b, _Local)}.values():
        slots = sorted(s for group in buf.groups for s in slots_of[group])
        at.setdefault(buf.last, []).append(
            f"{em.out(buf)} = t = None" + "".join(f"; env[{s}] = None" for s in slots))
    for step in sorted(at, reverse=True):
        position = ends[step]
        em.lines[position:position] = at[step]


def _nbytes(value) -> int:
    return int(np.prod(value.shape)) * value.dtype.itemsize


def _emit_acc(em, entry, values, find, granted_groups) -> None:
    """A backward pass's accumulation into the leaves' ``.grad``. A gradient that a lowered
    step wrote into an array of its own (fresh or recycled, shared with no other gradient of
    this pass) and that has the leaf's shape and dtype becomes the ``.grad`` of a leaf that has
    none as eager's accumulation would make it: the array itself, in a new Tensor. The others
    (a leaf that has a gradient, a gradient that needs a copy or a cast) go through the engine's
    accumulation, as before."""
    accs = entry[1]
    group_count = {}
    for _, slot, _ in accs:
        group_count[find(slot)] = group_count.get(find(slot), 0) + 1
    inline, rest = [], []
    for spec, slot, after in accs:
        grad, leaf_grad = values[slot], values[after]
        own = slot in em.fresh and group_count[find(slot)] == 1 and find(slot) in granted_groups
        if own and grad.shape == leaf_grad.shape and grad.dtype == leaf_grad.dtype:
            inline.append((spec, slot, after))
        else:
            rest.append((spec, slot, after))
    if rest:
        em.step(build_step(("acc", tuple(rest))))
    for spec, slot, after in inline:
        leaf = f"args[{spec[1]}]" if spec[0] == "a" else em.name(spec[1], "E")
        em.lines.extend([
            f"p = {leaf}",
            f"if p._grad is None: p._grad = from_op(env[{slot}], None)",
            f"else: accumulate(p, env[{slot}])",
            f"env[{after}] = p._grad.data"])


def _accumulate(leaf, grad) -> None:
    """The engine's accumulation of ``grad`` into a leaf that already has a ``.grad``."""
    with set_grad_enabled(False):
        leaf._accumulate_grad(grad, False, set())


# Gradients of at least this many bytes are recycled (see _Recycled). numpy takes memory from
# malloc; glibc's malloc serves a request under its mmap threshold (which adapts, up to 32 MiB
# on 64-bit systems) from memory it keeps, so a new array costs no page faults, and holding the
# old gradient until it is overwritten would only raise the peak memory (by every gradient's
# size, during the forward and backward passes). Above it every new array is a fresh mapping
# whose pages fault in on first write: measured on a 4096x4096 float32 layer, 544 page faults
# and 25% more time per compiled step without recycling, none with it.
RECYCLE_BYTES = 32 << 20
LOCAL_BYTES = 64 << 10  # buffers of this size and up to RECYCLE_BYTES are made on each call


class _Recycled:
    """The allocator of a large gradient that becomes a leaf's ``.grad``: it hands back the
    array it made on the previous call when nothing but itself holds that array any more (the
    ``.grad`` Tensor it went into was dropped, by ``zero_grad()`` or ``p.grad = None``, and no
    view of it or reference to it is alive), was never changed in place (so its version count
    is 0, as a new array's is) and is still writeable; otherwise it makes a new array, as eager
    code does. So no one can see the memory being written again, and a replay does not map and
    fault in a large new array on every call. Only for arrays owning their memory: a view's
    owner could be shared through other views without being counted."""

    __slots__ = ("array", "make")

    def __init__(self, make):
        self.array = None
        self.make = make

    @classmethod
    def of(cls, value):
        make = _allocator(value)
        if _nbytes(value) < RECYCLE_BYTES or not (value.c_contiguous or value.f_contiguous or
                                         value.ndim < 2):
            return make
        return cls(make)

    def __call__(self):
        array = self.array
        # 3 references: self.array, the local name and getrefcount's argument
        if array is not None and getrefcount(array) == 3 and array.flags.writeable and \
                version_of(array) == 0:
            return array
        array = self.array = self.make()
        return array


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
