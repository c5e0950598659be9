"""Function transforms, named and called as ``torch.func`` / JAX name them.

Each takes a function of Tensors and returns a function (``grad``, ``value_and_grad``,
``jacrev``, ``jacfwd``, ``hessian``) or evaluates one (``vjp``, ``jvp``, ``hvp``). Arguments
may be Tensors, numpy arrays or numbers, or tuples, lists and dicts of them (pytrees); the
differentiated ones are picked by ``argnums`` (an int or a tuple of ints).

They compose: ``grad(grad(f))``, ``jacfwd(jacrev(f))``, ``jvp`` of a ``grad``. Reverse mode is the
engine's ``grad``; the inner transform records its backward pass (``create_graph``) whenever
something outside may differentiate its result: an argument that requires grad (the argument of
an outer transform), or a Tensor that ``f`` closes over and that requires grad. Otherwise it
runs the plain, unrecorded backward and returns constants. Forward mode is ``forward_mode``.

Each differentiated argument is a new graph value for the call (a detached leaf, or a recorded
copy when it already requires grad), so that a nested transform differentiates with respect to
its own argument only, even when ``f`` also uses the outer value (no "perturbation confusion").
"""

from __future__ import annotations

import numpy as np

from .. import engine
from ..engine import Variable, _item_of, _sorted_graph
from ..errors import ShapeError
from ..grad_mode import enable_grad, is_grad_enabled
from ..ops.elementwise import clone
from ..ops.shape import reshape, stack
from ..tensor import Tensor
from .forward_mode import Level
from .vmap import _levels as _vmap_levels
from .vmap import is_batched, lift, physical, wrap

# ---- pytrees: tuples, lists and dicts of leaves (Tensors, arrays, numbers) ----------------------


def _flatten(tree) -> tuple[list, object]:
    """The leaves of ``tree`` in order, and its structure (for :func:`_unflatten`)."""
    if isinstance(tree, (tuple, list)):
        leaves, specs = [], []
        for item in tree:
            item_leaves, spec = _flatten(item)
            leaves += item_leaves
            specs.append((len(item_leaves), spec))
        return leaves, (type(tree), specs)
    if isinstance(tree, dict):
        keys = list(tree)
        leaves, spec = _flatten([tree[key] for key in keys])
        return leaves, (dict, keys, spec)
    return [tree], None


def _unflatten(spec, leaves: list):
    if spec is None:
        return leaves[0]
    if spec[0] is dict:
        _, keys, inner = spec
        return dict(zip(keys, _unflatten(inner, leaves)))
    kind, specs = spec
    items, start = [], 0
    for count, item_spec in specs:
        items.append(_unflatten(item_spec, leaves[start:start + count]))
        start += count
    return kind(items)


# ---- shared pieces -------------------------------------------------------------------------------


def _check_argnums(name: str, argnums, count: int) -> tuple[int, ...]:
    """``argnums`` as a tuple of non-negative positions, checked against ``count`` arguments."""
    single = isinstance(argnums, (int, np.integer)) and not isinstance(argnums, bool)
    if not single and not (isinstance(argnums, tuple) and argnums and all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in argnums)):
        raise TypeError(f"{name}: argnums must be an int or a non-empty tuple of ints, "
                        f"got {argnums!r}")
    positions = (argnums,) if single else argnums
    fixed = []
    for a in positions:
        if not -count <= a < count:
            raise ValueError(f"{name}: argnums {a} is out of range for a call with {count} "
                             f"positional argument(s)")
        fixed.append(int(a) % count)
    if len(set(fixed)) != len(fixed):
        raise ValueError(f"{name}: argnums {argnums!r} names an argument twice")
    return tuple(fixed)


def _fresh(name: str, value, where: str) -> Tensor:
    """A new graph value standing for one differentiated input leaf."""
    if isinstance(value, Variable) and not isinstance(value, Tensor):
        raise TypeError(f"{name}: {where} is a {type(value).__name__}; the func transforms take "
                        "Tensors (for Scalars use ag.grad or .backward())")
    if isinstance(value, Variable):
        if value.requires_grad:
            return clone(value)  # recorded: an outer transform still sees through it
        value = value.detach()
    elif isinstance(value, (np.ndarray, np.generic, float, int)) and not isinstance(value, bool):
        value = Tensor(np.asarray(value) if not isinstance(value, float) else value)
    else:
        raise TypeError(f"{name}: {where} is a {type(value).__name__}; expected a Tensor, a "
                        "numpy array or a number (or tuples, lists and dicts of them)")
    if not np.issubdtype(value.dtype, np.floating):
        raise TypeError(f"{name}: {where} has dtype {value.dtype}; only floating-point inputs "
                        "can be differentiated")
    return value.requires_grad_(True)


def _prepare(name: str, args: tuple, positions: tuple) -> tuple[list, list, list, bool]:
    """New arguments with fresh leaves at ``positions``; the fresh leaves per position (with
    their pytree specs) and whether any differentiated input already required grad."""
    args = list(args)
    per_arg, specs = [], []
    outer = False
    for p in positions:
        leaves, spec = _flatten(args[p])
        fresh = []
        for k, leaf in enumerate(leaves):
            outer = outer or (isinstance(leaf, Variable) and leaf.requires_grad)
            where = f"argument {p}" + (f" (leaf {k})" if spec is not None else "")
            fresh.append(_fresh(name, leaf, where))
        per_arg.append(fresh)
        specs.append(spec)
        args[p] = _unflatten(spec, fresh)
    return args, per_arg, specs, outer


def _split_aux(name: str, result, has_aux: bool):
    if not has_aux:
        return result, None
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(f"{name}: has_aux=True needs f to return a pair (output, aux), got "
                        f"{_describe(result)}")
    return result


def _describe(value) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    return f"a {type(value).__name__}"


def _check_outputs(name: str, leaves: list, has_aux: bool) -> None:
    for k, out in enumerate(leaves):
        if not isinstance(out, Variable):
            hint = (" (if f returns (output, aux), pass has_aux=True)"
                    if isinstance(out, (tuple, list, dict)) or not has_aux else "")
            raise TypeError(f"{name}: f must return Tensors, got {_describe(out)} (output leaf "
                            f"{k}){hint}")


def _needs_graph(outputs: list, inputs: list, outer: bool) -> bool:
    """Whether derivatives must be recorded: grad mode is on and something outside this call
    may differentiate them (an input that required grad, or another leaf ``f`` used)."""
    if not is_grad_enabled():
        return False
    if outer:
        return True
    roots = [_item_of(out) for out in outputs if out.requires_grad]
    if not roots:
        return False
    own = set(inputs)
    _, leaves = _sorted_graph(roots)
    return any(leaf not in own for leaf in leaves)


def _zeros_like(x: Tensor) -> Tensor:
    return Tensor(np.zeros(x.shape, dtype=x.dtype))


def _result(value, graph: bool):
    """A computed value as returned: in the graph when it is being recorded, else a constant."""
    if value is None or graph or not isinstance(value, Variable):
        return value
    return value.detach()


def _vjp_core(name: str, f, args: tuple, kwargs: dict, positions: tuple, has_aux: bool):
    """Run ``f`` on fresh inputs; return what vjp-based transforms need."""
    _refuse_under_vmap(name)
    new_args, per_arg, specs, outer = _prepare(name, args, positions)
    with enable_grad():  # f is differentiated even when called under no_grad
        result = f(*new_args, **kwargs)
    out, aux = _split_aux(name, result, has_aux)
    out_leaves, out_spec = _flatten(out)
    _check_outputs(name, out_leaves, has_aux)
    inputs = [leaf for fresh in per_arg for leaf in fresh]
    graph = _needs_graph(out_leaves, inputs, outer)
    return out_leaves, out_spec, aux, inputs, per_arg, specs, graph


def _pullback(name, out_leaves, inputs, cotangents: list, graph: bool, retain: bool) -> list:
    """Gradients of sum_k <out_k, cotangent_k> for each input (zeros where none flows)."""
    roots, seeds = [], []
    for out, cot in zip(out_leaves, cotangents):
        if out.requires_grad:
            roots.append(out)
            seeds.append(cot)
    if not roots:
        return [_zeros_like(x) for x in inputs]
    with enable_grad():
        grads = engine.grad(roots, inputs, grad_outputs=seeds, retain_graph=retain or graph,
                            create_graph=graph, allow_unused=True)
    return [_zeros_like(x) if g is None else g for x, g in zip(inputs, grads)]


def _regroup(per_arg: list, specs: list, flat: list, single: bool):
    """Flat per-leaf results back into one pytree per differentiated argument."""
    trees, start = [], 0
    for fresh, spec in zip(per_arg, specs):
        trees.append(_unflatten(spec, flat[start:start + len(fresh)]))
        start += len(fresh)
    return trees[0] if single else tuple(trees)


def _single_output(name: str, out_leaves: list, out_spec):
    if out_spec is not None or len(out_leaves) != 1:
        raise TypeError(f"{name}: f must return a single Tensor, got a {out_spec[0].__name__} "
                        f"of {len(out_leaves)} (if f returns (output, aux), pass has_aux=True)")
    return out_leaves[0]


# ---- reverse mode --------------------------------------------------------------------------------


def value_and_grad(f, argnums=0, has_aux: bool = False):
    """``f``'s value and its gradient with respect to argument(s) ``argnums``, as a function.

    ``f`` must return a single-element Tensor (or ``(output, aux)`` with ``has_aux=True``; the
    aux is passed through). The gradient has the structure of the argument (a pytree of Tensors),
    a tuple of them for a tuple ``argnums``. The new function returns ``(value, gradient)``, or
    ``((value, aux), gradient)``.

    >>> import autograd_core as ag
    >>> value, g = ag.func.value_and_grad(lambda x: (x ** 3).sum())(ag.Tensor([1.0, 2.0]))
    >>> value.item(), g.numpy().tolist()
    (9.0, [3.0, 12.0])
    """
    return _value_and_grad(f, argnums, has_aux, "func.value_and_grad")


def _value_and_grad(f, argnums, has_aux: bool, name: str):
    def value_and_grad_f(*args, **kwargs):
        positions = _check_argnums(name, argnums, len(args))
        if _vmap_levels():
            return _value_and_grad_batched(name, f, args, kwargs, positions, has_aux,
                                           isinstance(argnums, (int, np.integer)))
        out_leaves, out_spec, aux, inputs, per_arg, specs, graph = _vjp_core(
            name, f, args, kwargs, positions, has_aux)
        out = _single_output(name, out_leaves, out_spec)
        if out.size != 1:
            raise ShapeError(f"{name}: f must return a single value, got shape {out.shape}; "
                             "use func.jacrev or func.vjp for other outputs")
        grads = _pullback(name, [out], inputs, [None], graph, retain=False)
        grads = [_result(g, graph) for g in grads]
        value = _result(out, graph)
        gradient = _regroup(per_arg, specs, grads, isinstance(argnums, (int, np.integer)))
        return ((value, aux) if has_aux else value), gradient

    value_and_grad_f.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    return value_and_grad_f


def _refuse_under_vmap(name: str) -> None:
    # Only grad and value_and_grad know how to give one gradient per example (below); any other
    # transform would mix the examples' gradients, so it says so rather than answer wrongly.
    if _vmap_levels():
        raise NotImplementedError(f"{name} inside func.vmap is not supported (it would mix the "
                                  "examples); func.grad and func.value_and_grad are, or call "
                                  f"{name} outside vmap")


def _value_and_grad_batched(name, f, args, kwargs, positions, has_aux, single):
    """value_and_grad inside ``vmap``: one gradient per example. Each differentiated input is
    lifted (vmap.lift: batched along every running level, as a broadcast view where it is the
    same for every example), so the gradient of the sum of the examples' values with respect to
    it is every example's own gradient, as examples do not mix."""
    args = list(args)
    lifted, specs = [], []
    outer = False
    for p in positions:
        leaves, spec = _flatten(args[p])
        pairs = []
        for k, leaf in enumerate(leaves):
            outer = outer or bool(getattr(physical(leaf), "requires_grad", False))
            if isinstance(leaf, (float, int, np.generic)) and not isinstance(leaf, bool):
                leaf = np.asarray(leaf, dtype=float)
            if not (is_batched(leaf) or isinstance(leaf, (Variable, np.ndarray))) or \
                    not np.issubdtype(leaf.dtype, np.floating):
                where = f"argument {p}" + (f" (leaf {k})" if spec is not None else "")
                raise TypeError(f"{name}: {where} must be a floating-point Tensor or array, got "
                                f"{_describe(leaf)}")
            pairs.append(lift(leaf))
        lifted.append(pairs)
        specs.append(spec)
        args[p] = _unflatten(spec, [value for value, _ in pairs])
    with enable_grad():
        result = f(*args, **kwargs)
    out, aux = _split_aux(name, result, has_aux)
    out_leaves, out_spec = _flatten(out)
    _check_outputs(name, out_leaves, has_aux)
    out = _single_output(name, out_leaves, out_spec)
    if int(np.prod(out.shape)) != 1:
        raise ShapeError(f"{name}: f must return a single value per example, got shape "
                         f"{out.shape}; use func.jacrev or func.vjp for other outputs")
    root = physical(out)
    graph = outer and is_grad_enabled()
    targets = [target for pairs in lifted for _, target in pairs]
    if root.requires_grad:
        with enable_grad():
            grads = engine.grad([root], targets, grad_outputs=[np.ones(root.shape, root.dtype)],
                                retain_graph=graph, create_graph=graph, allow_unused=True)
    else:
        grads = [None] * len(targets)
    flat = []
    for (value, target), g in zip((pair for pairs in lifted for pair in pairs), grads):
        g = _zeros_like(target) if g is None else _result(g, graph)
        flat.append(wrap(g, like=value))
    gradient = _regroup(lifted, specs, flat, single)
    value = out if graph else out.detach()
    return ((value, aux) if has_aux else value), gradient


def grad(f, argnums=0, has_aux: bool = False):
    """The gradient of a single-valued ``f`` with respect to argument(s) ``argnums``, as a
    function (returning ``(gradient, aux)`` with ``has_aux=True``). Composes:
    ``grad(grad(f))`` is the second derivative.

    >>> import autograd_core as ag
    >>> d2 = ag.func.grad(lambda x: ag.func.grad(lambda y: (y ** 3).sum())(x).sum())
    >>> d2(ag.Tensor([1.0, 2.0])).numpy().tolist()  # 6 x
    [6.0, 12.0]
    """
    inner = _value_and_grad(f, argnums, has_aux, "func.grad")

    def grad_f(*args, **kwargs):
        value, gradient = inner(*args, **kwargs)
        return (gradient, value[1]) if has_aux else gradient

    grad_f.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    return grad_f


def vjp(f, *primals, has_aux: bool = False):
    """``(f(*primals), vjp_fn)``: ``vjp_fn(cotangent)`` returns the tuple of gradients of
    ``<f(*primals), cotangent>`` with respect to each primal (pytrees like the primals; the
    cotangent is shaped like the output). ``vjp_fn`` may be called any number of times. With
    ``has_aux=True`` the result is ``(output, vjp_fn, aux)``.
    """
    name = "func.vjp"
    positions = tuple(range(len(primals)))
    if not positions:
        raise TypeError(f"{name}: needs at least one primal argument")
    out_leaves, out_spec, aux, inputs, per_arg, specs, graph = _vjp_core(
        name, f, primals, {}, positions, has_aux)

    def vjp_fn(cotangents):
        cot_leaves, cot_spec = _flatten(cotangents)
        if cot_spec != out_spec and not (out_spec is None and len(cot_leaves) == 1):
            raise TypeError(f"{name}: the cotangent must have the structure of f's output "
                            f"({len(out_leaves)} Tensor(s)), got {_describe(cotangents)}")
        seeds = []
        for k, (out, cot) in enumerate(zip(out_leaves, cot_leaves)):
            shape = np.shape(cot.data if isinstance(cot, Variable) else cot)
            if shape != out.shape:
                raise ShapeError(f"{name}: cotangent {k} has shape {shape} but the output has "
                                 f"shape {out.shape}; they must match")
            seeds.append(cot if graph and isinstance(cot, Variable)
                         else np.asarray(cot.data if isinstance(cot, Variable) else cot,
                                         dtype=out.dtype))
        grads = _pullback(name, out_leaves, inputs, seeds, graph, retain=True)
        return _regroup(per_arg, specs, [_result(g, graph) for g in grads], False)

    out = _unflatten(out_spec, [_result(o, graph) for o in out_leaves])
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def jacrev(f, argnums=0, has_aux: bool = False):
    """The Jacobian of ``f`` by reverse mode, as a function: one backward pass per output
    element. The Jacobian of an output of shape ``out.shape`` with respect to an input of shape
    ``in.shape`` has shape ``out.shape + in.shape``; for a tuple ``argnums``, a tuple of them;
    for an output that is a tuple (list, dict) of Tensors, that structure of them (as JAX).
    With ``has_aux=True``, ``(jacobian, aux)``."""
    name = "func.jacrev"

    def jacrev_f(*args, **kwargs):
        positions = _check_argnums(name, argnums, len(args))
        out_leaves, out_spec, aux, inputs, per_arg, specs, graph = _vjp_core(
            name, f, args, kwargs, positions, has_aux)
        single = isinstance(argnums, (int, np.integer))
        per_output = []
        for out in out_leaves:
            rows = []  # the gradients of each input, one list per element of this output
            for index in np.ndindex(*out.shape):
                seed = np.zeros(out.shape, dtype=out.dtype)
                seed[index] = 1
                rows.append(_pullback(name, [out], inputs, [seed], graph, retain=True))
            jacobians = [_assemble([row[k] for row in rows], out.shape, x.shape, x.dtype,
                                   graph, last=False)
                         for k, x in enumerate(inputs)]
            per_output.append(_regroup(per_arg, specs, jacobians, single))
        result = _unflatten(out_spec, per_output)
        return (result, aux) if has_aux else result

    return jacrev_f


def _assemble(parts: list, out_shape: tuple, in_shape: tuple, dtype, graph: bool, last: bool):
    """A Jacobian of shape out_shape + in_shape from rows (one per output element, shaped like
    the input) or, with ``last``, columns (one per input element, shaped like the output)."""
    shape = out_shape + in_shape
    if not parts:  # an empty output or input
        return Tensor(np.zeros(shape, dtype=dtype))
    if graph and any(isinstance(p, Variable) and p.requires_grad for p in parts):
        tensors = [p if isinstance(p, Variable) else Tensor(p) for p in parts]
        return reshape(stack(tensors, axis=-1 if last else 0), shape)
    arrays = [np.asarray(p.data if isinstance(p, Variable) else p) for p in parts]
    return Tensor(np.stack(arrays, axis=-1 if last else 0).reshape(shape).astype(dtype,
                                                                                 copy=False))


# ---- forward mode --------------------------------------------------------------------------------


def jvp(f, primals, tangents, has_aux: bool = False):
    """``(f(*primals), J tangents)``: the Jacobian-vector product by forward mode.

    ``primals`` and ``tangents`` are tuples (or lists) with the same structure and shapes;
    every op ``f`` runs computes its output's tangent as it runs (see ``forward_mode``). Returns
    ``(output, tangent_out)`` with the structure of ``f``'s output, or ``(output, tangent_out,
    aux)`` with ``has_aux=True``.

    >>> import autograd_core as ag
    >>> out, t = ag.func.jvp(lambda x: x.sin(), (ag.Tensor([0.0]),), (ag.Tensor([2.0]),))
    >>> t.numpy().tolist()  # cos(0) * 2
    [2.0]
    """
    name = "func.jvp"
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"{name}: primals and tangents must be tuples (one entry per argument "
                        f"of f), got {type(primals).__name__} and {type(tangents).__name__}")
    if len(primals) != len(tangents):
        raise ValueError(f"{name}: got {len(primals)} primal(s) but {len(tangents)} tangent(s)")
    tangent_leaves, tangent_spec = _flatten(list(tangents))
    _, primal_spec = _flatten(list(primals))
    if tangent_spec != primal_spec:
        raise TypeError(f"{name}: tangents must have the structure of primals")
    outer = any(isinstance(t, Variable) and t.requires_grad for t in tangent_leaves)
    differentiable = is_grad_enabled() and (outer or any(
        isinstance(p, Variable) and p.requires_grad for p in _flatten(list(primals))[0]))
    result = _jvp_once(name, f, primals, tangent_leaves, has_aux, differentiable)
    if result is None:  # f used other values that require grad: tangents must be in the graph
        result = _jvp_once(name, f, primals, tangent_leaves, has_aux, True)
    return result


def _jvp_once(name, f, primals, tangent_leaves, has_aux, differentiable):
    _refuse_under_vmap(name)
    positions = tuple(range(len(primals)))
    new_args, per_arg, specs, outer = _prepare(name, primals, positions)
    inputs = [leaf for fresh in per_arg for leaf in fresh]
    with Level(differentiable) as level:
        for k, (x, t) in enumerate(zip(inputs, tangent_leaves)):
            level.tangents[_item_of(x)] = _seed(name, k, x, t, differentiable)
        with enable_grad():
            result = f(*new_args)
    out, aux = _split_aux(name, result, has_aux)
    out_leaves, out_spec = _flatten(out)
    _check_outputs(name, out_leaves, has_aux)
    if not differentiable and _needs_graph(out_leaves, inputs, False):
        return None
    tangents_out = []
    for out in out_leaves:
        t = level.tangent_of(out)
        if t is None:
            t = _zeros_like(out)
        elif not isinstance(t, Variable):
            t = Tensor(np.asarray(t), dtype=out.dtype)
        tangents_out.append(_result(t, differentiable))
    outs = [_result(o, differentiable) for o in out_leaves]
    result = (_unflatten(out_spec, outs), _unflatten(out_spec, tangents_out))
    return (*result, aux) if has_aux else result


def _seed(name: str, k: int, x: Tensor, t, differentiable: bool):
    raw = t.data if isinstance(t, Variable) else np.asarray(t)
    if np.shape(raw) != x.shape:
        raise ShapeError(f"{name}: tangent {k} has shape {np.shape(raw)} but its primal has "
                         f"shape {x.shape}; they must match")
    if differentiable:
        return t if isinstance(t, Variable) else Tensor(raw, dtype=x.dtype)
    return np.asarray(raw, dtype=x.dtype)


def jacfwd(f, argnums=0, has_aux: bool = False):
    """The Jacobian of ``f`` by forward mode, as a function: one ``jvp`` per input element,
    each giving a column of every output. Shapes and structure as :func:`jacrev`'s."""
    name = "func.jacfwd"

    def jacfwd_f(*args, **kwargs):
        positions = _check_argnums(name, argnums, len(args))
        leaves_per_arg, specs = [], []
        for p in positions:
            leaves, spec = _flatten(args[p])
            leaves_per_arg.append(leaves)
            specs.append(spec)
        flat = [leaf for leaves in leaves_per_arg for leaf in leaves]
        shapes = [np.shape(leaf.data if isinstance(leaf, Variable) else leaf) for leaf in flat]

        def g(*diff_args):
            full = list(args)
            for p, a in zip(positions, diff_args):
                full[p] = a
            return f(*full, **kwargs)

        primals = tuple(args[p] for p in positions)
        columns = [[] for _ in flat]  # per input leaf: per element, the tangent of each output
        outs = out_spec = aux = None
        for k, shape in enumerate(shapes):
            for index in np.ndindex(*shape):
                basis = [np.zeros(s) for s in shapes]
                basis[k][index] = 1
                tangents = tuple(_unflatten(spec, basis[start:start + len(leaves)])
                                 for spec, leaves, start in _starts(specs, leaves_per_arg))
                result = jvp(g, primals, tangents, has_aux=has_aux)
                outs, out_spec = _flatten(result[0])
                columns[k].append(_flatten(result[1])[0])
                aux = result[2] if has_aux else None
        if outs is None:  # every input is empty: run f once (on Tensors) for the outputs
            result = g(*(_unflatten(spec, [leaf if isinstance(leaf, Variable) else Tensor(leaf)
                                           for leaf in leaves])
                         for spec, leaves, _ in _starts(specs, leaves_per_arg)))
            outs, out_spec = _flatten(result[0] if has_aux else result)
            aux = result[1] if has_aux else None
        _check_outputs(name, outs, has_aux)
        graph = is_grad_enabled() and any(isinstance(c, Variable) and c.requires_grad
                                          for cols in columns for col in cols for c in col)
        single = isinstance(argnums, (int, np.integer))
        per_output = []
        for m, out in enumerate(outs):
            jacobians = [_assemble([col[m] for col in cols], out.shape, shape, out.dtype, graph,
                                   last=True)
                         for cols, shape in zip(columns, shapes)]
            per_output.append(_regroup(leaves_per_arg, specs, jacobians, single))
        result = _unflatten(out_spec, per_output)
        return (result, aux) if has_aux else result

    return jacfwd_f


def _starts(specs, leaves_per_arg):
    start = 0
    for spec, leaves in zip(specs, leaves_per_arg):
        yield spec, leaves, start
        start += len(leaves)


def hessian(f, argnums=0):
    """The Hessian of a single-valued ``f``, as a function: ``jacrev(jacrev(f))``.

    Reverse-over-reverse rather than JAX's forward-over-reverse: this engine's forward mode runs
    ``f`` once per tangent (there is no batching over tangents), so ``jacfwd(jacrev(f))`` would
    rerun ``f`` and its backward pass n times, while ``jacrev(jacrev(f))`` records ``f``'s
    backward pass once and then runs n backward passes through that recorded gradient. Both
    agree (tested); the shape is ``input.shape + input.shape``.
    """
    return jacrev(jacrev(f, argnums), argnums)


def hvp(f, primals, tangents):
    """``(f(*primals), H tangents)``: the Hessian of a single-valued ``f`` times ``tangents``
    (a tuple like ``primals``), without forming H, as ``torch.func.hvp``.

    Forward-over-reverse: the ``jvp`` of ``f``'s gradient, which costs a constant number of
    passes whatever the size of H. The product is a tuple with one entry per primal.
    """
    if not isinstance(primals, (tuple, list)):
        raise TypeError(f"func.hvp: primals must be a tuple, got {type(primals).__name__}")
    argnums = tuple(range(len(primals)))

    def gradient_with_value(*args):
        value, gradient = _value_and_grad(f, argnums, False, "func.hvp")(*args)
        return gradient, value

    _, product, value = jvp(gradient_with_value, tuple(primals), tuple(tangents), has_aux=True)
    recorded = any(isinstance(p, Variable) and p.requires_grad for p in _flatten(product)[0])
    return (value if recorded else value.detach()), product
