"""Gradient checkpointing: trade compute for memory by recomputing a segment in backward.

``checkpoint(fn, *args)`` runs ``fn`` without recording it (its intermediates are freed as soon
as they are used) and records one node instead, whose backward runs ``fn`` again with recording
on and backpropagates through that fresh graph. Peak memory during backward is then about one
segment's intermediates plus the checkpointed activations, rather than every intermediate of the
whole model.
"""

from __future__ import annotations

import numpy as np

from . import engine
from .engine import Function, Variable, version_of
from .errors import BackwardError
from .grad_mode import enable_grad, no_grad
from .ops.elementwise import clone
from .tensor import Tensor


def _parameters_of(fn) -> list:
    """The tensors ``fn`` differentiates besides its arguments: an nn Module's parameters (any
    object with a ``parameters()`` method) that require grad."""
    parameters = getattr(fn, "parameters", None)
    if not callable(parameters):
        return []
    return [p for p in parameters() if isinstance(p, Variable) and p.requires_grad]


class _Checkpoint(Function):
    """One node for a whole segment: inputs are ``fn``'s arguments, then its parameters."""

    @staticmethod
    def forward(ctx, *values, fn, count, is_tensor, parameters):
        args = [Tensor(v) if tensor else v for v, tensor in zip(values[:count], is_tensor)]
        with no_grad():
            out = fn(*args)
        if not isinstance(out, Tensor):
            raise TypeError(f"checkpoint: fn must return a Tensor, got {type(out).__name__}")
        ctx.fn, ctx.count, ctx.is_tensor, ctx.parameters = fn, count, is_tensor, parameters
        ctx.versions = [version_of(p.data) for p in parameters]
        ctx.save_for_backward(*values[:count])
        return out.data

    @staticmethod
    def backward(ctx, grad):
        saved = ctx.saved_tensors  # checks that no argument was changed in place since
        for p, version in zip(ctx.parameters, ctx.versions):
            if version_of(p.data) != version:
                raise BackwardError(
                    f"checkpoint: a parameter of shape {p.shape} was modified in place after "
                    "the forward pass, so recomputing the segment would give other values; "
                    "step the optimizer after backward()")
        # Recorded when this backward is (create_graph), or when given a graph value as the
        # gradient (forward mode derives this node's tangent from it): the gradients are then
        # functions of the inputs and of ``grad``.
        graph = ctx._graph_mode or isinstance(grad, Variable)
        needs = ctx.needs_input_grad
        inputs, wrt, where = [], [], []
        with enable_grad():
            for position, (value, tensor) in enumerate(zip(saved, ctx.is_tensor)):
                if not tensor:
                    inputs.append(value)
                    continue
                if isinstance(value, Variable) and value.requires_grad:
                    x = clone(value)  # in the graph (create_graph): second derivatives flow
                else:
                    x = Tensor(value.data if isinstance(value, Variable) else value)
                    if needs[position]:
                        x.requires_grad_(True)
                inputs.append(x)
                if needs[position]:
                    wrt.append(x)
                    where.append(position)
            for k, p in enumerate(ctx.parameters):
                if needs[ctx.count + k]:
                    wrt.append(p)
                    where.append(ctx.count + k)
            out = ctx.fn(*inputs)
            _check_no_other_inputs(out, wrt)
            grads = (engine.grad(out, wrt, grad_outputs=[grad], create_graph=graph,
                                 allow_unused=True) if wrt and out.requires_grad else ())
        result = [None] * len(needs)
        for position, g in zip(where, grads):
            result[position] = g if g is None or graph else g.data
        return tuple(result)


def _check_no_other_inputs(out, wrt: list) -> None:
    """Raise if the recomputed segment depends on values that require grad other than its
    arguments and parameters: their gradients would be lost silently."""
    if not out.requires_grad:
        return
    own = {engine._item_of(x) for x in wrt}  # where the walk stops: the segment's inputs
    stack, seen = [engine._item_of(out)], set()
    while stack:
        item = stack.pop()
        if item in seen or item in own:
            continue
        seen.add(item)
        if isinstance(item, Function):
            stack.extend(parent for parent in item._next if parent is not None)
            continue
        raise BackwardError(
            f"checkpoint: fn uses a tensor of shape {np.shape(item.data)} that requires grad "
            "but is neither one of its arguments nor a parameter of fn (a Module), so its "
            "gradient would be lost; pass it to checkpoint as an argument")


def checkpoint(fn, *args):
    """``fn(*args)``, computed without keeping its intermediates: backward recomputes them.

    ``fn`` returns one Tensor; the arguments that are Tensors get gradients, and so do the
    parameters of ``fn`` when it is an nn Module (say a ``Sequential`` segment of a model).
    ``fn`` must compute the same thing when run again (no dropout or other randomness, no
    state it changes). Works with ``create_graph=True`` (the recomputation is recorded, so second
    derivatives are right) and under ``func.jvp``. A Tensor that ``fn`` closes over and that
    requires grad is reported by backward rather than silently left without gradient.

    >>> import autograd_core as ag
    >>> x = ag.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> ag.checkpoint(lambda t: (t.tanh() * t).sum(), x).backward()
    >>> x.grad.numpy().round(4).tolist()
    [1.1816, 1.1053]
    """
    if not callable(fn):
        raise TypeError(f"checkpoint: fn must be callable, got {type(fn).__name__}")
    parameters = _parameters_of(fn)
    is_tensor = tuple(isinstance(a, Tensor) for a in args)
    if not any(is_tensor) and not parameters:
        raise TypeError("checkpoint: no argument is a Tensor and fn has no parameters: there is "
                        "nothing to differentiate")
    if not any(isinstance(a, Variable) and a.requires_grad for a in args) and not parameters:
        return fn(*args)  # no node of ours could get a gradient; fn records what it closes over
    return _Checkpoint.apply(*args, *parameters, fn=fn, count=len(args), is_tensor=is_tensor,
                             parameters=tuple(parameters))
