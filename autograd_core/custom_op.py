"""``custom_op``: make an existing numpy/scipy function a differentiable op.

The function keeps computing on numpy arrays; you supply its vector-Jacobian product (and, if
you like, its Jacobian-vector product) written with ``autograd_core`` ops, so that they also run
on Tensors and second derivatives and forward mode come out right::

    @ag.custom_op(vjp=lambda g, out, x: g * (ag.cos(np.pi * x) - out) / x, check=True)
    def sinc(x):                      # sin(pi x) / (pi x); scipy.special functions work alike
        return np.sinc(x)

    y = sinc(ag.Tensor([0.5, 1.5], requires_grad=True))

User ops are not entered in the registry of built-in ops (``registry.OPS``): that table is the
catalogue the test suite walks (every entry must have a property-test spec) and the source of
``ag.*``, Tensor methods and numpy dispatch, which user code should not change behind the
library's back. A custom op is a :class:`~autograd_core.engine.Function` like the built-in ones,
so the engine, ``func`` transforms and anomaly detection treat it alike.
"""

from __future__ import annotations

import functools

import numpy as np

from .engine import Function, Variable
from .errors import BackwardError, GradcheckError


def custom_op(fn=None, *, vjp=None, jvp=None, check: bool = False, eps: float = 1e-6,
              rtol: float = 1e-4, atol: float = 1e-6):
    """Decorator: ``fn`` (numpy arrays in, one array out) as an op that records on Tensors.

    ``vjp(grad, out, *inputs)`` returns the gradient of each positional input (a tuple, or one
    value for a one-input op; None for an input without gradient): ``grad`` has ``out``'s shape;
    ``inputs`` and ``out`` are arrays, or Tensors when the backward pass is recorded, so write
    it with operators and ``ag`` functions. Keyword arguments of the call are passed to ``fn``
    and to the rules. ``jvp(tangents, out, *inputs)`` (optional) returns the output's tangent
    for ``func.jvp`` from one tangent (or None) per input; without it forward mode derives one
    from ``vjp``. Without ``vjp`` the op still computes, and differentiating it raises.

    ``check=True`` compares ``vjp`` (and ``jvp``) with central differences of ``fn`` in float64
    on the first call that records the op, and raises :class:`GradcheckError` naming the op, the
    input and the worst element if they disagree (cost: two calls of ``fn`` per input element,
    once).
    """
    if fn is None:
        return functools.partial(custom_op, vjp=vjp, jvp=jvp, check=check, eps=eps, rtol=rtol,
                                 atol=atol)
    if not callable(fn):
        raise TypeError(f"custom_op: expected a function, got {type(fn).__name__}")
    for rule, label in ((vjp, "vjp"), (jvp, "jvp")):
        if rule is not None and not callable(rule):
            raise TypeError(f"custom_op {fn.__name__}: {label} must be a function, got "
                            f"{type(rule).__name__}")
    name = getattr(fn, "__name__", "custom_op")
    op_class = _op_class(fn, name, vjp, jvp)
    pending_check = [check and vjp is not None]

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if not any(isinstance(a, Variable) for a in args):
            return fn(*args, **kwargs)
        out = op_class.apply(*args, **kwargs)
        if pending_check[0] and out.requires_grad:
            pending_check[0] = False
            _check_rules(fn, name, vjp, jvp, args, kwargs, eps, rtol, atol)
        return out

    op.function_class = op_class
    return op


def _op_class(fn, name: str, vjp, jvp) -> type:
    def forward(ctx, *inputs, **kwargs):
        out = np.asarray(fn(*inputs, **kwargs))
        ctx.save_for_backward(*inputs, out)
        ctx.kwargs = kwargs
        return out

    def backward(ctx, grad):
        if vjp is None:
            raise BackwardError(f"custom_op {name}: no vjp rule was given, so it cannot be "
                                f"differentiated; declare it with @custom_op(vjp=...)")
        *inputs, out = ctx.saved_tensors
        grads = vjp(grad, out, *inputs, **ctx.kwargs)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(inputs):
            raise BackwardError(f"custom_op {name}: vjp returned {len(grads)} gradient(s) for "
                                f"{len(inputs)} input(s): return one per positional input")
        return grads

    namespace = {"forward": staticmethod(forward), "backward": staticmethod(backward),
                 "__doc__": fn.__doc__, "__module__": getattr(fn, "__module__", __name__)}
    if jvp is not None:
        def forward_rule(ctx, *tangents):
            *inputs, out = ctx.saved_tensors
            return jvp(tangents, out, *inputs, **ctx.kwargs)

        namespace["jvp"] = staticmethod(forward_rule)
    return type(name, (Function,), namespace)


def _check_rules(fn, name, vjp, jvp, args, kwargs, eps, rtol, atol) -> None:
    """Compare the rules with central differences of ``fn`` at ``args`` (float64)."""
    values = [np.array(a.data if isinstance(a, Variable) else a, dtype=np.float64)
              if isinstance(a, Variable) else a for a in args]
    out = np.asarray(fn(*values, **kwargs), dtype=np.float64)
    rng = np.random.default_rng(0)
    cotangent = rng.standard_normal(out.shape)
    grads = vjp(cotangent, out, *values, **kwargs)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for k, a in enumerate(args):
        if not (isinstance(a, Variable) and a.requires_grad):
            continue
        numeric_vjp = np.zeros(values[k].shape)
        tangent = rng.standard_normal(values[k].shape)
        numeric_jvp = np.zeros(out.shape)
        for index in np.ndindex(*values[k].shape):
            column = _difference(fn, values, kwargs, k, index, eps)
            numeric_vjp[index] = np.sum(column * cotangent)
            numeric_jvp = numeric_jvp + column * tangent[index]
        analytic = grads[k] if k < len(grads) else None
        analytic = np.zeros(values[k].shape) if analytic is None else np.broadcast_to(
            np.asarray(analytic, dtype=np.float64), values[k].shape)
        _compare(name, "vjp", k, analytic, numeric_vjp, rtol, atol)
        if jvp is not None:
            tangents = tuple(tangent if j == k else None for j in range(len(args)))
            analytic = jvp(tangents, out, *values, **kwargs)
            analytic = np.zeros(out.shape) if analytic is None else np.broadcast_to(
                np.asarray(analytic, dtype=np.float64), out.shape)
            _compare(name, "jvp", k, analytic, numeric_jvp, rtol, atol)


def _difference(fn, values, kwargs, k, index, eps) -> np.ndarray:
    """d fn / d values[k][index], by central differences."""
    plus, minus = list(values), list(values)
    plus[k], minus[k] = values[k].copy(), values[k].copy()
    plus[k][index] += eps
    minus[k][index] -= eps
    return (np.asarray(fn(*plus, **kwargs), dtype=np.float64)
            - np.asarray(fn(*minus, **kwargs), dtype=np.float64)) / (2 * eps)


def _compare(name, rule, k, analytic, numeric, rtol, atol) -> None:
    error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    if error.size and error.max() > 0:
        worst = np.unravel_index(np.argmax(error), error.shape)
        raise GradcheckError(
            f"custom_op {name}: its {rule} disagrees with central differences for input {k} "
            f"at index {tuple(int(i) for i in worst)}: {rule} gives {analytic[worst]:.6g}, "
            f"central differences {numeric[worst]:.6g} (a random "
            f"{'cotangent' if rule == 'vjp' else 'tangent'}, float64)")
