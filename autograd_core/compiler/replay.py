"""A trace turned into a program: one Python closure per entry, run over a list of slots.

No graph is built: a forward entry calls the primitive's ``forward`` on arrays (the op's own
kernel, so the float operations are the eager ones), a backward entry calls its ``backward``
rule on arrays with the ctx that forward filled, gradients meeting at a value are summed in the
order the engine sums them, and leaves get their ``.grad`` through the engine's own
accumulation. Entries that :mod:`plan` lowers (known kernels) run straight numpy calls into
preallocated buffers instead.
"""

from __future__ import annotations

import numpy as np

from ..engine import _to_input_shapes, bump_version
from ..grad_mode import set_grad_enabled
from ..tensor import Tensor
from .trace import TraceError


def getter(spec):
    """A function env -> the operand's value now (a slot, an external's live data, a constant,
    or a tuple of those)."""
    kind, payload = spec
    if kind == "s":
        return lambda env: env[payload]
    if kind == "e":
        return lambda env: payload.data
    if kind == "t":  # a tuple (an index) holding traced values
        container, parts = payload[0], [getter(part) for part in payload[1]]
        return lambda env: container([part(env) for part in parts])
    return lambda env: payload


def _fwd(cls, specs, kw, slot, ctx, node):
    edges = shapes = None
    if node is not None:  # the traced node's edges: only which inputs get a gradient matters
        edges = tuple(None if e is None else True for e in node._next)
        shapes = node._shapes
    getters = [getter(s) for s in specs]
    kw_getters = [(name, getter(s)) for name, s in kw.items()]
    forward, new = cls.forward, cls.__new__

    def run(env, ctxs, args):
        raw = [g(env) for g in getters]
        kwargs = {name: g(env) for name, g in kw_getters}
        node = new(cls)
        node._saved = ()
        out = forward(node, *raw, **kwargs)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        env[slot] = out
        if ctx is not None:
            node._link(edges, raw, out, Tensor, shapes)
            ctxs[ctx] = node

    return run


def _bwd(ctx, grad_slot, out_slots, retain):
    def run(env, ctxs, args):
        node = ctxs[ctx]
        node._graph_mode = False
        grads = type(node).backward(node, env[grad_slot])
        if type(grads) is not tuple:
            grads = tuple(grads) if isinstance(grads, tuple) else (grads,)
        if node._shapes is not None:
            grads = _to_input_shapes(node, grads)
        if not retain:
            node._saved = None
            ctxs[ctx] = None
        for slot, grad in zip(out_slots, grads):
            if slot is not None:
                if grad is None:
                    raise TraceError(f"compile: {node.name()}.backward gave no gradient where "
                                     "the traced call had one; its control flow depends on "
                                     "values, so it cannot be compiled")
                env[slot] = grad

    return run


def _add(dst, a, b):
    def run(env, ctxs, args):
        env[dst] = env[a] + env[b]

    return run


def _root(slot, kind, spec, dtype=None):
    get = getter(spec)
    if kind == "ones":
        def run(env, ctxs, args):
            env[slot] = np.ones_like(get(env))
    else:
        def run(env, ctxs, args):
            env[slot] = np.array(get(env), dtype=dtype)
    return run


def _leaf_getter(spec):
    kind, payload = spec
    if kind == "a":
        return lambda args: args[payload]
    return lambda args: payload


def _acc(accs):
    plan = [(_leaf_getter(spec), slot, after) for spec, slot, after in accs]

    def run(env, ctxs, args):
        claimed = set()
        with set_grad_enabled(False):
            for leaf_of, slot, after in plan:
                leaf = leaf_of(args)
                leaf._accumulate_grad(env[slot], False, claimed)
                env[after] = leaf._grad.data

    return run


def _call_getter(spec):
    kind = spec[0]
    if kind == "T":
        inner = spec[1:]
        if inner[0] == "e":
            return lambda env: inner[1]
        get = getter(inner)
        return lambda env: Tensor._from_op(get(env), None)
    if kind == "A":
        return getter(spec[1:])
    return lambda env: spec[1]


def _call(func, specs, kw, fast=None):
    if fast is not None and all(s[0] == "c" for s in specs) and not kw:
        replay = fast(*[s[1] for s in specs])  # e.g. an optimizer's step, specialised
        if replay is not None:
            return lambda env, ctxs, args: replay()
    getters = [_call_getter(s) for s in specs]
    kw_getters = [(name, _call_getter(s)) for name, s in kw.items()]

    def run(env, ctxs, args):
        func(*[g(env) for g in getters], **{name: g(env) for name, g in kw_getters})

    return run


def _np(func, specs, slot):
    getters = [getter(s) for s in specs]

    def run(env, ctxs, args):
        env[slot] = func(*[g(env) for g in getters])

    return run


def _setitem(target, index, source):
    get_target, get_source = getter(target), getter(source)

    def run(env, ctxs, args):
        array = get_target(env)
        array[index] = get_source(env)
        bump_version(array)

    return run


def _inplace(ufunc, target, source):
    get_target, get_source = getter(target), getter(source)

    def run(env, ctxs, args):
        array = get_target(env)
        ufunc(array, get_source(env), out=array, casting="same_kind")
        bump_version(array)

    return run


def _setgrad(target, source):
    leaf_of = _leaf_getter(target)
    get = None if source is None else getter(source)

    def run(env, ctxs, args):
        leaf = leaf_of(args)
        leaf.grad = None if get is None else Tensor._from_op(get(env), None)

    return run


_BUILDERS = {"setgrad": _setgrad, "fwd": _fwd, "bwd": _bwd, "add": _add, "acc": _acc,
             "call": _call, "np": _np, "setitem": _setitem, "inplace": _inplace}


def build_step(entry):
    kind = entry[0]
    if kind == "root":
        return _root(*entry[1:])
    return _BUILDERS[kind](*entry[1:])


def output_builder(spec):
    """A function (env) -> the call's result, from the spec of what the traced call returned."""
    kind = spec[0]
    if kind == "s":
        slot = spec[1]
        return lambda env: Tensor._from_op(env[slot], None)
    if kind == "e":
        return lambda env: spec[1]
    if kind == "c":
        value = spec[1]
        return lambda env: Tensor._from_op(np.array(value), None)
    if kind == "a":
        slot = spec[1]
        return lambda env: env[slot]
    if kind == "v":  # a plain value
        return lambda env: spec[1]
    parts = [output_builder(s) for s in spec[2]]
    if kind == "seq":
        container = spec[1]
        if container is list:
            return lambda env: [p(env) for p in parts]
        if container is tuple:
            return lambda env: tuple([p(env) for p in parts])
        return lambda env: container(*[p(env) for p in parts])  # a namedtuple
    keys = spec[1]
    return lambda env: dict(zip(keys, [p(env) for p in parts]))


class Program:
    """The replayable form of one trace."""

    def __init__(self, rec, run, output, guards):
        self.nslots = rec.nslots
        self.nctx = rec.nctx
        self.arg_slots = rec.arg_slots
        self.run = run  # the generated function (plan.lower)
        self.output = output
        self.guards = guards  # (Tensor, shape, dtype, strides) of each external, checked per call
        self.modules = list(rec.module_guards.values())  # (Module, training flag)

    def matches(self) -> bool:
        """Whether what the trace assumed still holds: the externals' shapes and dtypes, and
        the train/eval mode of every module that ran."""
        for tensor, shape, dtype, strides in self.guards:
            data = tensor.data
            if data.shape != shape or data.dtype != dtype or data.strides != strides:
                return False
        for module, training in self.modules:
            if module.training is not training:
                return False
        return True

    def __call__(self, flat_args):
        env = [None] * self.nslots
        for slot, position in self.arg_slots:
            arg = flat_args[position]
            env[slot] = arg.data if isinstance(arg, Tensor) else arg
        ctxs = [None] * self.nctx
        self.run(env, ctxs, flat_args)
        return self.output(env)
