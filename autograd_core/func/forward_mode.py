"""Forward mode: the tangent of every recorded op, computed as the op is recorded.

``func.jvp`` opens a *level*: a table from graph items (a node, or a leaf) to their tangents,
seeded with the tangents of its inputs. While the level is open, the engine hands every node it
records to :func:`_notify` (one check in ``Function._link``), which computes the node's output
tangent from its inputs' tangents by the node's forward-mode rule:

- ``jvp(ctx, *tangents)`` on the op's class, when it defines one (a rule written by hand, e.g.
  by :func:`autograd_core.custom_op`); it returns the output's tangent.
- Elementwise ops (every :class:`~autograd_core.ops.elementwise.Elementwise` subclass): their
  Jacobian with respect to each input is diagonal, so the backward rule applied to a tangent
  *is* the forward rule: ``backward(ctx, t_i)[i] = t_i * d out / d x_i``, summed over the inputs.
  One elementwise product per input, no extra pass.
- Every other primitive: the *derived* rule, from the backward rule alone (the "double-vjp" or
  transpose trick). ``u -> backward(ctx, u)`` is linear in ``u`` (it is ``J^T u``), so
  ``<J^T u, t>`` is a linear function of ``u`` whose gradient is ``J t``: run the backward rule
  once on a zero ``u`` that requires grad (about one forward pass of the op, recorded), and
  differentiate ``<backward(ctx, u), t>`` with respect to ``u`` (one backward pass of that small
  graph, one or two forward passes). With the primal op itself that is at most about three
  forward passes, which ``tests/test_func_transforms.py`` measures.

:func:`derived_ops` lists the primitives that use the derived rule (a test pins the list, so
that it cannot grow unnoticed).

A level is either *raw* (tangents are numpy arrays, rules run on raw saved values: fast, but the
tangents are constants as far as reverse mode goes) or *differentiable* (rules run in the
engine's create_graph mode, so tangents are graph values that can be differentiated again:
``jacrev(jacfwd(f))``, a jvp inside a grad, a jvp over values that require grad). ``func.jvp``
picks the differentiable kind whenever something outside it may differentiate its results.

Ops that a rule itself runs are seen by the levels outside it only (the rule's level and those
inside it are set aside meanwhile), which is what makes levels nest: ``jacfwd(jacfwd(f))``.
"""

from __future__ import annotations

import numpy as np

from .. import engine, numpy_protocol
from ..engine import Variable, _forward, _to_input_shapes
from ..grad_mode import enable_grad
from ..ops.elementwise import Elementwise
from ..ops.shape import broadcast_to


class Level:
    """One running ``func.jvp``: the tangent of each graph item it has seen."""

    __slots__ = ("tangents", "differentiable")

    def __init__(self, differentiable: bool):
        self.tangents: dict = {}  # graph item (node or leaf) -> tangent
        self.differentiable = differentiable

    def __enter__(self) -> Level:
        _forward.notify = _notify
        _forward.levels = (*_forward.levels, self)
        return self

    def __exit__(self, *exc_info) -> None:
        levels = _forward.levels
        _forward.levels = tuple(level for level in levels if level is not self)

    def tangent_of(self, value):
        """The tangent of ``value`` (a Variable) in this level, or None (zero)."""
        if not isinstance(value, Variable) or not value.requires_grad:
            return None
        return self.tangents.get(value._grad_fn or value)


def rule_kind(function_class: type) -> str:
    """Which forward-mode rule an op's class gets: "explicit", "elementwise" or "derived"."""
    if getattr(function_class, "jvp", None) is not None:
        return "explicit"
    if issubclass(function_class, Elementwise):
        return "elementwise"
    return "derived"


def _notify(node, edges, out) -> None:
    """Called by the engine for every node recorded while a level is open."""
    levels = _forward.levels
    try:
        # Outer levels first: a rule of an inner level runs ops on this node's output, whose
        # tangents in the outer levels must be known by then.
        for depth in range(len(levels)):
            level = levels[depth]
            tangents = [None if edge is None else level.tangents.get(edge) for edge in edges]
            if not any(t is not None for t in tangents):
                continue
            _forward.levels = levels[:depth]  # the rule's own ops: seen by outer levels only
            tangent = _tangent(node, tangents, out, level.differentiable)
            if tangent is not None:
                level.tangents[node] = tangent
    finally:
        _forward.levels = levels


def _tangent(node, tangents: list, out, differentiable: bool):
    cls = type(node)
    kind = rule_kind(cls)
    node._graph_mode = differentiable  # what saved_tensors hands the rule: graph values or raw
    edges = node._next
    if not differentiable:
        # needs_input_grad is read from the edges: hide those without a tangent, so that the
        # rule computes nothing for them (saved values are raw here, so nothing else reads the
        # edges). Not in a differentiable level: there an input's edge is what makes its saved
        # value a graph value, on which the tangent depends.
        node._next = tuple(None if t is None else e for e, t in zip(edges, tangents))
    # The op may be running inside a numpy dispatch (``array @ tensor``), which refuses to be
    # re-entered; the rule is a computation of its own, so it starts with none running.
    dispatching = numpy_protocol._state.__dict__.pop("running", None)
    try:
        with enable_grad():
            if kind == "explicit":
                tangent = cls.jvp(node, *tangents)
            elif kind == "elementwise":
                tangent = _elementwise(node, tangents, out)
            else:
                tangent = _derived(node, tangents, out, differentiable)
        if tangent is not None and np.shape(tangent) != np.shape(out):  # e.g. a bias's alone
            tangent = broadcast_to(tangent, np.shape(out))
        return tangent
    finally:
        node._next = edges
        if dispatching is not None:
            numpy_protocol._state.running = dispatching


def _elementwise(node, tangents: list, out):
    """Sum over inputs of backward(ctx, t_i)[i]: exact, as each input's Jacobian is diagonal."""
    shape = np.shape(out)
    total = None
    for position, tangent in enumerate(tangents):
        if tangent is None:
            continue
        if np.shape(tangent) != shape:  # a broadcast input: rules expect the output's shape
            tangent = broadcast_to(tangent, shape)
        part = type(node).backward(node, tangent)
        part = part[position] if isinstance(part, tuple) else part
        if part is not None:
            total = part if total is None else total + part
    return total


def _derived(node, tangents: list, out, differentiable: bool):
    """J t as the gradient of <backward(ctx, u), t> with respect to u, at u = 0."""
    u = node._out_type._from_op(np.zeros_like(out), None).requires_grad_(True)
    grads = type(node).backward(node, u)
    if not isinstance(grads, tuple):
        grads = (grads,)
    if node._shapes is not None:
        grads = _to_input_shapes(node, grads)
    inner = None
    for grad, tangent in zip(grads, tangents):
        if grad is None or tangent is None:
            continue
        term = grad * tangent
        if np.ndim(term.data):
            term = term.sum()
        inner = term if inner is None else inner + term
    if inner is None or not inner.requires_grad:
        return None
    (jt,) = engine.grad(inner, u, create_graph=differentiable, allow_unused=True)
    if jt is None or differentiable:
        return jt
    return jt.data


def derived_ops() -> list[str]:
    """The registered primitives whose forward-mode rule is the derived one, by op name."""
    from ..registry import OPS

    return sorted(name for name, op in OPS.items()
                  if op.kind == "primitive" and rule_kind(op.primitive) == "derived")
