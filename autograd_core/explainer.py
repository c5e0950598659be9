"""The backward pass, step by step: what ``ag.explain`` prints and ``draw_graph(explain=True)``
draws.

>>> import autograd_core as ag
>>> a, b = ag.Scalar(2.0, name="a"), ag.Scalar(-3.0, name="b")
>>> c = a * b
>>> c.name = "c"
>>> print(ag.explain(c))
step 1: Mul node c (grad 1): d c/d a = -3, grad a += -3 x 1 = -3; d c/d b = 2, grad b += 2 x 1 = 2
step 2: leaf b: grad 2
step 3: leaf a: grad -3

:func:`explain` walks the graph exactly as ``backward()`` does (the engine's own topological
order, its own backward rules, its own sums in the same order), without touching any ``.grad``:

* each op node, once its gradient is complete, calls its backward rule with that gradient (the
  *upstream* gradient). What the rule returns for an input is the *contribution* that input
  receives, the very number backward adds to it. The *local derivative* d node/d input is the
  same rule called with a unit gradient (for a Tensor: one call per output element, which gives
  the Jacobian). So every op, built in or custom, is explained by its own rule, and for a
  Scalar the contribution is local x upstream;
* a value used several times (fan-out) receives one contribution per use; its gradient is their
  sum, in the order backward added them;
* leaves come last: their gradient is what ``backward()`` puts in ``.grad``.

The graph's saved values must still be there: explain before calling ``backward()``, or call
``backward(retain_graph=True)``. Gradient hooks are not run (a warning says so when there are
any), so the numbers are those of the chain rule alone.
"""

from __future__ import annotations

import inspect
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .engine import (
    Function,
    Variable,
    _count_error,
    _leaf_hooks,
    _sorted_graph,
    _to_input_shapes,
    _Unrecorded,
)
from .errors import BackwardError
from .grad_mode import set_grad_enabled

JACOBIAN_LIMIT = 16  # the most elements of a local Jacobian computed and shown
VALUE_LIMIT = 4      # the most elements of a tensor written out (else its shape and norm)


@dataclass
class Edge:
    """One contribution of the backward pass: ``source`` (an op node) sends ``product`` to its
    input ``target``. ``local`` is d source/d target (a number for Scalars, the Jacobian
    ``(source elements, target elements)`` for Tensors, None when too large to show),
    ``upstream`` the gradient of ``source``; ``step`` is the step that sent it."""

    source: object
    target: object
    local: object
    upstream: object
    product: object
    step: int


@dataclass
class Step:
    """One step of the backward pass: ``item`` (an op node or a leaf) has its complete ``grad``,
    the sum of ``received`` (in the order they were added); an op then ``sends`` one
    contribution to each input that takes a gradient."""

    number: int
    item: object
    grad: object
    received: list = field(default_factory=list)
    sends: list = field(default_factory=list)


class Explanation:
    """The backward pass behind a Tensor/Scalar, step by step. ``str()`` is the text (one line
    per step); ``steps`` the steps; ``names[item]`` the name used for a graph item;
    ``grad_of(value)`` the gradient backward gives ``value`` (a leaf or a computed value);
    ``data[item]`` the value of the items whose data is known (leaves, the root, retained
    values)."""

    def __init__(self, root: Variable, steps: list, names: dict, data: dict):
        self.root = root
        self.steps = steps
        self.names = names
        self.data = data
        self.step_of = {step.item: step for step in steps}

    def grad_of(self, value: Variable):
        """The complete gradient of ``value`` (raw: a float or a numpy array), or None."""
        step = self.step_of.get(value._grad_fn or value)
        return None if step is None else step.grad

    def lines(self) -> list[str]:
        return [self.line(step) for step in self.steps]

    def line(self, step: Step) -> str:
        """The text of one step."""
        name = self.names[step.item]
        grad = _number(step.grad)
        if len(step.received) > 1:
            grad = " + ".join(_number(edge.product) for edge in step.received) + " = " + grad
        if not isinstance(step.item, Function):
            return f"step {step.number}: leaf {name}: grad {grad}"
        parts = []
        for edge in step.sends:
            target = self.names[edge.target]
            local = f"d {name}/d {target} = {_local(edge.local, edge.upstream, edge.product)}"
            parts.append(f"{local}, grad {target} += "
                         f"{_product(edge.local, edge.upstream, edge.product)}")
        head = f"step {step.number}: {step.item.name()} node {name} (grad {grad})"
        return head + (": " + "; ".join(parts) if parts else ": no input takes a gradient")

    def __str__(self) -> str:
        return "\n".join(self.lines())

    __repr__ = __str__  # shown as text in a notebook


def _number(value) -> str:
    """A float to four significant digits, a small array written out, a large one's shape."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        if value.size <= VALUE_LIMIT:
            return _array(value)
        norm = float(np.linalg.norm(value.astype(np.float64)))
        return f"<{'x'.join(map(str, value.shape))} array, norm {norm:.4g}>"
    return f"{float(value):.4g}"


def _array(value: np.ndarray) -> str:
    text = np.array2string(value, separator=", ", max_line_width=10**6,
                           formatter={"all": lambda v: f"{float(v):.4g}"})
    return " ".join(text.split())  # one line


def _local(local, upstream, product) -> str:
    if local is None:  # a Jacobian too large to show: say its size
        return f"<{np.size(upstream)}x{np.size(product)} Jacobian>"
    if isinstance(local, np.ndarray) and local.ndim == 2:
        return "J " + _array(local)
    return _number(local)


def _product(local, upstream, product) -> str:
    """``local x upstream = product`` (for a Tensor, the vector-Jacobian product)."""
    if isinstance(product, np.ndarray) and product.ndim > 0 or isinstance(upstream, np.ndarray):
        return f"{_number(upstream)} . J = {_number(product)}"
    return f"{_number(local)} x {_number(upstream)} = {_number(product)}"


# ---- the walk ------------------------------------------------------------------------------------

def _backward_of(node: Function, grad) -> tuple:
    """What ``node``'s backward rule returns for ``grad``: one gradient per input, each summed to
    its input's shape, as the engine's backward loop gets them (without freeing anything)."""
    if node._saved is None:
        raise BackwardError(
            f"explain: {node.name()} has freed the values it saved for backward, so its step "
            "cannot be shown: a backward() already ran through this graph. Explain before calling "
            "backward(), or call backward(retain_graph=True)")
    node._graph_mode = False  # raw values in, raw gradients out: nothing is recorded
    try:
        grads = type(node).backward(node, grad)
    except ArithmeticError:  # Python floats raise where numpy gives inf or nan, as in _run
        grads = node._out_type._backward_in_numpy(node, grad)
    if not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) != len(node._next):
        raise _count_error(node, grads)
    if node._shapes is not None:
        grads = _to_input_shapes(node, grads)
    return grads


def _locals(node: Function, grad) -> list:
    """d node/d input for each input: the backward rule run on a unit gradient (a Scalar), or on
    each unit vector in turn, giving the Jacobian's rows (a Tensor; None when it has more than
    JACOBIAN_LIMIT elements)."""
    if not isinstance(grad, np.ndarray):
        return list(_backward_of(node, 1.0))
    count = len(node._next)
    if grad.size * grad.size > JACOBIAN_LIMIT * JACOBIAN_LIMIT:  # cheap bound before the calls
        return [None] * count
    rows = [[] for _ in range(count)]
    for index in range(grad.size):
        unit = np.zeros(grad.size, dtype=grad.dtype)
        unit[index] = 1
        for position, part in enumerate(_backward_of(node, unit.reshape(grad.shape))):
            rows[position].append(None if part is None else np.ravel(part))
    jacobians = []
    for row in rows:
        if any(part is None for part in row) or len(row) * row[0].size > JACOBIAN_LIMIT:
            jacobians.append(None)
        else:
            jacobians.append(np.stack(row))
    return jacobians


def _names(leaves: list, nodes: list, root: Variable) -> tuple[dict, dict]:
    """A name for every item (its value's name if it has a unique one, else n1, n2, ... in the
    order of the forward pass) and the data of the items whose value is known."""
    values = {}
    for leaf in leaves:
        values[leaf] = leaf
    for node in nodes:
        kept = node._retained() if node._retained is not None else None
        if kept is not None:
            values[node] = kept
    if root._grad_fn is not None:
        values[root._grad_fn] = root
    given = Counter(value.name for value in values.values() if value.name)
    names = {}
    for number, item in enumerate(leaves + nodes, start=1):
        value = values.get(item)
        name = value.name if value is not None else None
        names[item] = name if name and given[name] == 1 else f"n{number}"
    data = {item: value.data for item, value in values.items()}
    return names, data


def explain(out: Variable, grad=None) -> Explanation:
    """The backward pass from ``out`` as :class:`Explanation`: ``print(ag.explain(out))`` shows
    one line per step, ``ag.draw_graph(out, explain=True)`` the same on the graph.

    ``grad`` is d(loss)/d(out), as for ``backward()`` (may be left out for a single element).
    Nothing is changed: no ``.grad`` is set and no saved value freed, so ``backward()`` can run
    afterwards; the gradients shown are the ones it will give. Each op's local derivative is
    computed by its own backward rule (see the module docstring).
    """
    if not isinstance(out, Variable):
        raise TypeError(f"explain: expected a Tensor or Scalar, got {type(out).__name__}")
    if not out.requires_grad:
        raise BackwardError("explain: the value does not require grad, so there is no backward "
                            "pass to show: set requires_grad=True on the leaves it comes from")
    root_grad = out._root_grad(grad, False)
    root = out._grad_fn or out
    nodes, leaves = _sorted_graph([root])
    names, data = _names(leaves, nodes, out)
    hooked = [names[node] for node in nodes
              if node._retained is not None and node._retained.hooks]
    hooked += [names[leaf] for leaf in leaves if _leaf_hooks.get(id(leaf))]
    if hooked:
        warnings.warn(f"explain: {', '.join(hooked)} have gradient hooks, which backward() runs "
                      "and the explanation does not: the gradients shown are the chain rule's, "
                      "before any hook changes them", UserWarning, stacklevel=2)
    received = {root: []}
    grads = {root: root_grad}
    steps = []
    with set_grad_enabled(False):
        for item in [*reversed(nodes), *leaves]:
            grad = grads.pop(item, None)
            if grad is None:
                continue  # no gradient reaches it (backward skips it too)
            step = Step(len(steps) + 1, item, grad, received.pop(item, []))
            steps.append(step)
            if not isinstance(item, Function):
                continue
            products = _backward_of(item, grad)
            local = _locals(item, grad)
            for position, (parent, product) in enumerate(zip(item._next, products)):
                if parent is None or product is None:
                    continue
                edge = Edge(item, parent, local[position], grad, product, step.number)
                step.sends.append(edge)
                received.setdefault(parent, []).append(edge)
                previous = grads.get(parent)  # summed as the engine sums, in the same order
                grads[parent] = product if previous is None else previous + product
    return Explanation(out, steps, names, data)


# ---- a Tensor op as the Scalar ops it stands for -------------------------------------------------

def _options(node: Function) -> dict:
    """The keyword options a node was called with, where the graph keeps them."""
    return dict(getattr(node, "kwargs", None) or {})


def expand(out: Variable) -> tuple[np.ndarray, dict]:
    """Replay the Tensor graph behind ``out`` on Scalars, one per element: each op's own forward
    runs on numpy object arrays of Scalars, so a 2x2 matmul becomes the Scalar multiplications
    and additions numpy's matmul does. Returns the output as an object array of Scalars and
    {leaf Tensor: object array of its Scalars} (named ``x[0,1]``).

    Only graphs whose ops can be replayed from what the graph keeps can be expanded: every input
    of an op is a value of the graph or a constant it saved, and options (``axis=``, ...) only
    where the op keeps them. The replayed output is checked against ``out``'s data, so an op
    replayed with other options than it had raises rather than drawing another computation.
    """
    if not isinstance(out, Variable) or not isinstance(out.data, np.ndarray):
        raise TypeError(f"expand: expected a Tensor, got {type(out).__name__} (a Scalar graph is "
                        "already made of Scalar ops: draw it as it is)")
    if not out.requires_grad:
        raise BackwardError("expand: the tensor does not require grad, so it has no graph")
    from .scalar import Scalar

    root = out._grad_fn or out
    nodes, leaves = _sorted_graph([root])
    count = sum(leaf.data.size for leaf in leaves)
    if count > 64:
        raise ValueError(f"expand: the leaves have {count} elements in all; expanding draws one "
                         "Scalar per element, which is legible for tiny graphs only (64 at most)")
    values, scalars = {}, {}
    for leaf in leaves:
        label = leaf.name or "leaf"
        cells = np.empty(leaf.data.shape, dtype=object)
        for index in np.ndindex(leaf.data.shape):
            where = ",".join(map(str, index))
            cells[index] = Scalar(float(leaf.data[index]), name=f"{label}[{where}]")
        values[leaf] = scalars[leaf] = cells
    for node in nodes:
        saved = node._saved or ()
        roles = node._roles if saved else None  # (set only on nodes that saved something)
        args = []
        for position, parent in enumerate(node._next):
            if parent is not None:
                args.append(values[parent])
                continue
            found = [value for slot, value in enumerate(saved)
                     if (slot if roles is None else roles[slot]) == position]
            if not found:
                raise ValueError(f"expand: {node.name()} has a constant input the graph did not "
                                 "keep, so the op cannot be replayed on Scalars")
            args.append(found[0])
        try:
            with set_grad_enabled(True):
                result = type(node).forward(_Unrecorded(), *args, **_options(node))
        except (TypeError, AttributeError) as error:
            signature = inspect.signature(type(node).forward)
            raise ValueError(f"expand: {node.name()}{signature} cannot be replayed on Scalars "
                             f"({error})") from None
        values[node] = np.asarray(result, dtype=object)
    result = values[root]
    replayed = np.vectorize(lambda s: s.data if isinstance(s, Scalar) else float(s),
                            otypes=[np.float64])(result) if result.size else result
    if np.shape(replayed) != out.data.shape or not np.allclose(
            replayed, out.data.astype(np.float64), rtol=1e-4, atol=1e-6):
        raise ValueError("expand: replaying the ops on Scalars did not give the tensor's values "
                         f"(shape {np.shape(replayed)} for {out.data.shape}): an op's options "
                         "(axis=, ...) are not kept in the graph; expand graphs of elementwise "
                         "ops, matmul and full reductions")
    return result, scalars
