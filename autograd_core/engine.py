"""The graph engine that Tensor and Scalar share.

Running an op on values that require grad records a :class:`Function` node: it keeps references
to the nodes of its inputs (the graph's edges) and whatever its ``forward`` saved for
``backward``. ``backward()`` sorts the nodes reachable from the output topologically (with an
explicit stack: graphs millions of nodes deep never touch Python's recursion limit), walks them
from the output back to the leaves and sums the gradients each input receives.

Backward rules are written once, with operators, methods and the functions of
``autograd_core.ops``, which accept Tensors and plain numpy arrays alike. The engine hands each
rule raw arrays (or floats, for Scalar) when no graph of the backward pass is wanted, which is as
fast as hand-written numpy, and Tensors (Scalars) when ``create_graph=True``, so the same rule is
recorded and can be differentiated again.

Two kinds of item take part in a graph walk: Function nodes, and leaf Variables (values created
by the user with ``requires_grad=True``), where gradients are finally accumulated into ``.grad``.
"""

from __future__ import annotations

import heapq
import itertools
import operator
import weakref
from collections.abc import Sequence

import numpy as np

from . import anomaly
from .errors import BackwardError, ShapeError
from .grad_mode import _Setting, _special, set_grad_enabled
from .grad_mode import _state as _grad_state

_OUTPUT = "output"  # a node's role for a saved value that is its own output (see _roles_of)
_UNKNOWN = object()  # a class's _saved_roles when only _roles_of can tell
_anomaly = anomaly._state  # per-thread flag: anomaly detection on (anomaly.py)


class _ForwardModeState(_Setting):
    """The forward-mode transforms (``func.jvp``) tracing this thread's recorded ops,
    innermost last; ``notify`` is set by autograd_core/func/forward_mode.py."""

    levels = ()  # class attribute: every new thread starts with none
    notify = None

    def _away(self) -> bool:
        return bool(self.levels)


_forward = _ForwardModeState()


# ---- version counters: in-place changes of memory -----------------------------------------------
# Counted per block of memory (the numpy array that owns it), so that tensors sharing memory
# (detach(), reshape, slices, transposes) share one count, as PyTorch's views share one version
# counter. Only memory changed at least once has an entry, and the entry goes when the memory
# does. A clock counts all in-place changes: a node notes the clock when it is recorded, and only
# if the clock has moved by the time backward unpacks what it saved are those values looked up.
# So neither Tensors nor nodes grow, recording costs one integer, and so does the check in the
# usual case (no in-place change between a forward pass and its backward).
_changes: dict = {}  # id(owning array) -> (number of in-place changes, clock at the latest)
_clock = 0


def _memory_of(data):
    base = getattr(data, "base", None)  # a view's base is the array owning its memory
    return base if type(base) is np.ndarray else data


def bump_version(data) -> None:
    """Count an in-place change of ``data`` (and of every array sharing its memory)."""
    global _clock
    owner = _memory_of(data)
    key = id(owner)
    count, _ = _changes.get(key, (0, 0))
    if not count:
        weakref.finalize(owner, _changes.pop, key, None)  # ids are reused once owner dies
    _clock += 1
    _changes[key] = (count + 1, _clock)


def version_of(data) -> int:
    """How many in-place changes the memory of ``data`` has seen."""
    return _changes.get(id(_memory_of(data)), (0, 0))[0]


def _changed_since(data, clock: int) -> bool:
    return _changes.get(id(_memory_of(data)), (0, 0))[1] > clock


_ROLES: dict = {}  # one shared copy of each roles tuple, rather than one per node


def _roles_of(saved: tuple, raw, out):
    """What each value forward saved stands for: an input's position, _OUTPUT, or None for a
    constant; None for the whole when saved[p] is input p throughout (``save_for_backward(a, b)``).

    Saved values are recognised by identity. The input at the same position is asked first: that
    keeps ``t * t.data`` right, where the constant is the very array that is ``t``'s data.
    """
    count = len(raw)
    if len(saved) <= count:
        for position, value in enumerate(saved):
            if value is not raw[position]:
                break
        else:
            return None
    roles = []
    for position, value in enumerate(saved):
        if position < count and value is raw[position]:
            roles.append(position)
            continue
        role = next((i for i, data in enumerate(raw) if value is data), None)
        roles.append(_OUTPUT if role is None and value is out else role)
    roles = tuple(roles)
    return _ROLES.setdefault(roles, roles)


_DONE = object()  # in topological_order's stack: the item below it has had its inputs listed

# Every node gets a number when it is recorded, from one counter shared by all threads. A node's
# inputs exist before it, so they have smaller numbers: visiting nodes by decreasing number
# visits each after every node that uses its value. That lets backward() find its nodes as it
# goes (a heap of the nodes that have received a gradient) instead of sorting the graph first:
# a depth-first sort visits every node twice before the first backward rule runs, and was 40%
# of a Scalar graph's backward.
_next_number = itertools.count().__next__


# ---- hooks and retained gradients ---------------------------------------------------------------
# Rare, so kept off the common path: a node's ``_retained`` slot is None unless retain_grad() or
# register_hook() was called on its value, and then holds a _NodeExtras; a leaf's hooks live in
# _leaf_hooks, looked up only when that dict is not empty.
_leaf_hooks: dict = {}  # id(leaf) -> {handle id: hook}
# Whether any node was ever given a _NodeExtras: until then Scalar's driver skips reading each
# node's ``_retained`` (a slot read that does not specialize there, the node's class changing
# from one node to the next) for a global's.
_any_extras = False


def _shape_of(data) -> tuple:
    return getattr(data, "shape", ())


class _NodeExtras:
    """What a node keeps for its output value beyond the graph: the value itself, weakly, when
    retain_grad() asked for its gradient (calling the extras gives it, or None), and hooks."""

    __slots__ = ("retained", "hooks", "shape")

    def __init__(self):
        self.retained = None
        self.hooks = None
        self.shape = None

    def __call__(self):
        return None if self.retained is None else self.retained()


def _extras_of(node) -> _NodeExtras:
    global _any_extras
    if node._retained is None:
        _any_extras = True
        node._retained = _NodeExtras()
    return node._retained


class RemovableHandle:
    """Returned by ``register_hook`` (and nn's module hooks): ``remove()`` takes the hook off
    the dict it was put in."""

    _next_id = 0

    def __init__(self, hooks: dict, hook):
        RemovableHandle._next_id += 1
        self.id = RemovableHandle._next_id
        self._hooks = hooks
        hooks[self.id] = hook

    def remove(self) -> None:
        self._hooks.pop(self.id, None)


def _run_hooks(hooks: dict, grad, family, create_graph: bool, shape):
    """Pass ``grad`` through each hook in registration order; each may replace it."""
    for hook in list(hooks.values()):
        result = hook(grad if create_graph else family._from_op(grad, None))
        if result is not None:
            grad = family._from_hook(result, create_graph, shape)
    return grad


class Variable:
    """A value that can take part in a graph: the common base of Tensor and Scalar.

    A family (Tensor, Scalar) supplies the hooks below that need to know its data type; the
    graph logic itself lives here and in the engine functions.
    """

    # ``_grad`` is read and written by the engine directly; users go through the ``grad``
    # property, whose setter lets a family check what is assigned (Tensor._check_grad).
    __slots__ = ("data", "_grad", "_requires_grad", "_grad_fn", "name", "__weakref__")

    # A function (Function class, args, kwargs) -> result for a family whose values run every
    # op they take part in themselves (vmap's batched tensors, autograd_core/func/vmap.py): an
    # op mixing them with another family's values is handed to it; one on theirs alone reaches
    # the family's _run_forward. None for an ordinary family.
    _takes_over = None

    # Whether the family's graphs are of Python floats, run by _run_floats when nothing asks
    # for the general driver (Scalar's).
    _float_graph = False

    _number = None  # a leaf's, in the backward driver's heap (nodes have their own: _next_number)

    # ---- hooks each family implements -------------------------------------------------------
    @classmethod
    def _from_op(cls, data, node):
        """Wrap an op's raw result; ``node`` is the Function that made it, or None."""
        raise NotImplementedError

    def _check_can_require_grad(self, where: str) -> None:
        """Raise if this value's dtype cannot carry gradients."""

    @staticmethod
    def _can_carry_grad(raw) -> bool:
        """Whether an op's raw result can be differentiated (integer and bool results cannot)."""
        return True

    @staticmethod
    def _backward_in_numpy(node, grad):
        """Run ``node``'s backward again after it raised an ArithmeticError on Python numbers,
        with numpy's semantics (inf, nan) instead; a family of arrays re-raises."""
        raise

    @staticmethod
    def _input_shapes(raw, out, edges):
        """The shapes of an op's inputs (None for those without an edge) when the op may have
        broadcast one that gets a gradient (its gradient is then summed back to its shape by
        the engine), or None when there is nothing to undo."""
        return None

    def _root_grad(self, grad, create_graph: bool):
        """Validate the ``grad`` given to backward() and return it as the engine wants it."""
        raise NotImplementedError

    def _accumulate_grad(self, grad, create_graph: bool, claimed: set) -> None:
        """Add ``grad`` into ``self.grad``. ``claimed`` tracks buffers already handed out."""
        raise NotImplementedError

    @classmethod
    def _capture(cls, grad, create_graph: bool, claimed: set):
        """Turn a gradient reached during ``grad()`` into the value returned to the user."""
        raise NotImplementedError

    def _check_grad(self, value):
        """Validate a value assigned to ``.grad`` and return it as it is to be kept."""
        return value

    @staticmethod
    def _from_hook(result, create_graph: bool, shape):
        """A hook's returned gradient for a value of ``shape``, checked, as the engine wants it
        (raw unless ``create_graph``)."""
        raise NotImplementedError

    # ---- the gradient ---------------------------------------------------------------------------
    @property
    def grad(self):
        """The gradient accumulated by ``backward()`` (None until then, or after zero_grad)."""
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        self._grad = None if value is None else self._check_grad(value)

    # ---- graph state --------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to (leaf) or through (non-leaf) this value."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True):
        """Mark a leaf as needing a gradient (in place); returns self."""
        if self._grad_fn is not None:
            raise BackwardError(
                f"requires_grad_: this value was computed by {self._grad_fn.name()}, so whether "
                "it requires grad follows from its inputs; call .detach() to get a leaf copy"
            )
        if requires_grad:
            self._check_can_require_grad("requires_grad_")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        """True for values created by the user rather than computed by a recorded op."""
        return self._grad_fn is None

    @property
    def grad_fn(self) -> Function | None:
        """The Function node that computed this value, or None for a leaf."""
        return self._grad_fn

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf after backward (leaves always keep theirs)."""
        if not self._requires_grad:
            raise BackwardError("retain_grad: this value does not require grad, so it gets none")
        if self._grad_fn is not None:
            _extras_of(self._grad_fn).retained = weakref.ref(self)

    def register_hook(self, hook):
        """Call ``hook(grad)`` with the gradient reaching this value in every backward pass
        (``backward()`` and ``grad()``), as PyTorch's ``Tensor.register_hook``.

        On a leaf it runs before the gradient is accumulated into ``.grad``; on a computed value,
        once its gradient is complete and before it flows on to the value's inputs (and before
        ``retain_grad`` keeps it). The hook may return a gradient of the same shape to use
        instead, or None to keep it. With ``create_graph=True`` it receives (and may return) a
        value that is part of the recorded graph. Returns a handle whose ``remove()`` unhooks it.
        """
        if not callable(hook):
            raise TypeError(f"register_hook: expected a callable, got {type(hook).__name__}")
        if not self._requires_grad:
            raise BackwardError("register_hook: this value does not require grad, so no gradient "
                                "ever reaches it; set requires_grad=True first")
        if self._grad_fn is not None:
            extras = _extras_of(self._grad_fn)
            if extras.hooks is None:
                extras.hooks, extras.shape = {}, _shape_of(self.data)
            hooks = extras.hooks
        else:
            key = id(self)
            hooks = _leaf_hooks.get(key)
            if hooks is None:
                hooks = _leaf_hooks[key] = {}
                weakref.finalize(self, _leaf_hooks.pop, key, None)  # ids are reused
        return RemovableHandle(hooks, hook)

    def backward(self, grad=None, retain_graph: bool = False, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        ``grad`` is d(loss)/d(self); it may be left out when self holds a single element.
        ``retain_graph=True`` keeps saved values for another backward through the same graph;
        ``create_graph=True`` records the backward pass so gradients can be differentiated again.
        """
        _check_requires_grad(self, "backward", "the tensor")
        root = self._root_grad(grad, create_graph)
        if self._float_graph and not create_graph and not _anomaly.enabled:
            reached, claimed = _run_floats(_item_of(self), root, retain_graph), None
        else:
            reached, claimed = _run([_item_of(self)], [root], retain_graph or create_graph,
                                    create_graph)
        with set_grad_enabled(create_graph):  # a differentiable .grad is a recorded sum
            for leaf, grad in reached.items():
                leaf._accumulate_grad(grad, create_graph, claimed)


class _Unrecorded:
    """The ctx of a forward called on plain values, where nothing is recorded."""

    def save_for_backward(self, *values) -> None:
        pass


class Function:
    """One differentiable op: a ``forward`` on raw data and a ``backward`` in differentiable ops.

    Subclass it for a custom op; every built-in primitive is written this way::

        class Cube(Function):
            @staticmethod
            def forward(ctx, x):               # x: numpy array (a float, for Scalar)
                ctx.save_for_backward(x)
                return x ** 3

            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors       # Tensors when create_graph=True, else arrays
                return grad * 3 * x ** 2       # one gradient per input of forward

        t = ag.Tensor([1.0, 2.0], requires_grad=True)
        y = Cube.apply(t)

    ``apply`` passes the ``.data`` of every Tensor/Scalar argument to ``forward`` and anything else
    unchanged; ``backward`` returns one gradient (or None) per positional argument. Write backward
    with operators, methods, ``autograd_core`` functions or the numpy functions that have an op
    (``np.exp`` runs ``ag.exp`` on a Tensor), so that it also works on Tensors, which makes second
    derivatives correct; a numpy function without an op raises on a Tensor rather than cutting
    the graph. Save through ``save_for_backward``
    whatever backward differentiates through: an input, the output, or a constant.

    An instance is both the ``ctx`` of one call and the node recorded for it in the graph.
    """

    # ``_saved`` holds what forward saved, as it saved it (raw arrays or floats), and None once
    # backward has freed it; ``_roles`` says which of those values are inputs or the output.
    # ``_next`` is the edges to the inputs' nodes (or leaves), None for an input without
    # gradient: the tuple in ``_edges``. Scalar's operators store their one or two edges in
    # ``_edge_a`` and ``_edge_b`` instead, and the tuple is made from them when ``_next`` is
    # first read: a tuple of nodes is an object the garbage collector tracks, and without it a
    # Scalar graph has one tracked object per op instead of two, which halved the collector's
    # time in micrograd's demo step (benchmarks/README.md, "Scalar, seventh pass"). (A
    # __getattr__ making the tuple would have cost more: a class with one gets none of
    # Python 3.11's specialized attribute reads, on any node.)
    __slots__ = (
        "_edges", "_edge_a", "_edge_b", "_saved", "_roles", "_out_type", "_shapes",
        "_retained", "_graph_mode", "_saved_at", "_number", "__dict__",
    )

    @property
    def _next(self) -> tuple:
        try:
            return self._edges
        except AttributeError:
            pass
        try:
            first = self._edge_a
        except AttributeError:  # a ctx not in a graph (yet)
            raise AttributeError(f"{type(self).__name__!r} object has no attribute "
                                 "'_next': it is not a node of a graph") from None
        try:
            edges = (first, self._edge_b)
        except AttributeError:  # an op of one input
            edges = (first,)
        self._edges = edges
        return edges

    @_next.setter
    def _next(self, edges: tuple) -> None:
        self._edges = edges
        for name in ("_edge_a", "_edge_b"):  # the tuple alone holds the edges now
            if hasattr(self, name):
                delattr(self, name)

    # What each saved value stands for (see _roles_of), when a class knows it for every call
    # (Elementwise does, from ``saves``); otherwise found by identity when the node is made.
    _saved_roles = _UNKNOWN

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError(f"{type(ctx).__name__} must define forward(ctx, ...)")

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError(f"{type(ctx).__name__} must define backward(ctx, grad)")

    @classmethod
    def name(cls) -> str:
        return cls.__name__

    @classmethod
    def compute(cls, *args, **kwargs):
        """The op on plain values (numpy arrays), recording nothing."""
        return cls.forward(_Unrecorded(), *args, **kwargs)

    def save_for_backward(self, *values) -> None:
        """Keep values (inputs, the output, or other arrays) for backward."""
        self._saved = values

    @property
    def needs_input_grad(self) -> tuple:
        """One bool per positional input of forward: whether backward must return its gradient."""
        edges = self._next
        if len(edges) == 2:  # most ops: without building a list first
            return edges[0] is not None, edges[1] is not None
        return tuple([edge is not None for edge in edges])

    @property
    def saved_tensors(self) -> tuple:
        """What forward saved: inputs and the output come back as Tensors in create_graph mode.

        Raises a BackwardError if a saved input or the saved output was changed in place since.
        """
        saved = self._saved
        if saved is None:
            raise _freed_error(self)
        if self._saved_at != _clock:
            self._check_unchanged()
        if not self._graph_mode:  # the common case: the raw values, as forward saved them
            return saved
        return self._saved_in_graph()

    def _saved_in_graph(self) -> tuple:
        """The saved values as graph values, for a backward pass that is itself recorded.

        An input comes back as a value whose grad_fn is the input's node (or as the leaf itself),
        the output as a value whose grad_fn is this node: the same graph edges as the real values,
        without the node holding its output alive (which would be a reference cycle). Constants,
        and inputs that need no gradient, stay raw.
        """
        roles, edges, wrap = self._roles, self._next, self._out_type._from_op
        unpacked = []
        for position, value in enumerate(self._saved):
            role = position if roles is None else roles[position]
            if role is _OUTPUT:
                unpacked.append(wrap(value, self))
            elif role is None or edges[role] is None:
                unpacked.append(value)
            elif isinstance(edges[role], Function):
                unpacked.append(wrap(value, edges[role]))
            else:
                unpacked.append(edges[role])  # a leaf
        return tuple(unpacked)

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the op on Tensors/Scalars (and constants), recording it when grad is needed."""
        raw = []
        family = None
        requires_grad = False
        for arg in args:
            if isinstance(arg, Variable):
                raw.append(arg.data)
                if family is None:
                    family = arg._family
                elif arg._family is not family:
                    # A family that takes over the ops it is mixed into (vmap's batched
                    # tensors) runs them itself; checked only here, off the common path.
                    takeover = arg._family._takes_over or family._takes_over
                    if takeover is not None:
                        return takeover(cls, args, kwargs)
                    raise TypeError(
                        f"{cls.name()}: cannot combine a {family.__name__} with a "
                        f"{arg._family.__name__}; convert one of them (Tensor(s.data) or "
                        "t.item()) so that all inputs are of one kind"
                    )
                if arg._requires_grad:
                    requires_grad = True
            elif isinstance(arg, np.generic) or (type(arg) is np.ndarray and arg.ndim == 0):
                # A numpy scalar or 0-d array is a constant like a Python number, so it takes
                # part like one (weakly typed, as in PyTorch): float32 * np.float64(2) stays
                # float32. Arrays with dimensions keep numpy's promotion.
                raw.append(arg.item())
            else:
                raw.append(arg)
        if family is None:
            raise TypeError(f"{cls.__name__}.apply needs at least one Tensor or Scalar argument")
        ctx = cls.__new__(cls)
        ctx._saved = ()
        out = family._run_forward(cls, ctx, raw, kwargs)
        # The modes are thread-local settings, read only when some thread is away from its
        # defaults (grad_mode._special: each read costs as much as a small op's checks).
        special = _special
        if not (requires_grad and (not special or _grad_state.enabled)
                and family._can_carry_grad(out)):
            # (a family that takes over ops had them checked as the ops it ran)
            if special and _anomaly.enabled and family._takes_over is None:
                anomaly.check_forward(cls, raw, out)
            return family._from_op(out, None)
        ctx._record(args, raw, out, family)
        if special and _anomaly.enabled:
            anomaly.check_forward(cls, raw, out)
            anomaly.remember(ctx, raw)
        return family._from_op(out, ctx)

    def _record(self, args, raw, out, family) -> None:
        # A plain loop rather than a generator expression: this runs once per recorded op.
        edges = []
        mutable = False
        for a in args:
            if isinstance(a, Variable):
                edges.append((a._grad_fn or a) if a._requires_grad else None)
            else:
                edges.append(None)
                if isinstance(a, (np.ndarray, list)):
                    mutable = True
        edges = tuple(edges)
        self._link(edges, raw, out, family, family._input_shapes(raw, out, edges))
        if mutable and self._saved:
            self._own_constants(args)

    def _link(self, edges: tuple, raw, out, family, shapes) -> None:
        """Make this ctx a node of the graph: where Function.apply sets a node's fields (Scalar's
        operators set the same ones themselves, see scalar.py)."""
        self._edges = edges  # (the slot behind _next, without the setter's frame)
        self._out_type = family
        self._shapes = shapes
        self._retained = None
        saved = self._saved
        if saved:
            roles = self._saved_roles  # known from the class when it always saves alike
            self._roles = _roles_of(saved, raw, out) if roles is _UNKNOWN else roles
        self._saved_at = _clock  # see "version counters" at the top
        self._number = _next_number()  # see _next_number
        if _special and _forward.levels:  # a func.jvp is running: it computes this tangent now
            _forward.notify(self, edges, out)

    def _own_constants(self, args) -> None:
        """Replace saved operands that are the caller's plain arrays (or lists) by copies.

        A Tensor's in-place changes are counted (bump_version) and checked before backward, but
        nothing counts ``c[:] = 7`` on a numpy array, so backward would silently use the new
        values: ``(w * c).sum()`` then ``c[:] = 7`` would give w the gradient 7. A copy, made
        only when the op is recorded and only of what forward saved, makes that impossible.
        """
        roles = self._roles
        saved = list(self._saved)
        for position, value in enumerate(saved):
            role = position if roles is None else roles[position]
            if (type(role) is int and isinstance(value, (np.ndarray, list))
                    and not isinstance(args[role], Variable)):
                saved[position] = np.array(value, copy=True)
        self._saved = tuple(saved)

    def _check_unchanged(self) -> None:
        """Raise if a saved input or the saved output was changed in place after recording."""
        roles = self._roles
        for position, value in enumerate(self._saved):
            role = position if roles is None else roles[position]
            if role is None and isinstance(value, Variable):  # saved as a Tensor, not raw
                value = value.data
            elif role is None:
                continue  # a constant
            if _changed_since(value, self._saved_at):
                raise _modified_error(self, role is _OUTPUT, value)

    def __repr__(self) -> str:
        return f"<{self.name()}>"


# ---- the backward driver ------------------------------------------------------------------------

def _item_of(value: Variable):
    """The graph item a value stands for: its node, or the value itself for a leaf."""
    return value._grad_fn or value


def _check_requires_grad(value, where: str, what: str) -> None:
    if not isinstance(value, Variable):
        raise TypeError(f"{where}: expected a Tensor or Scalar for {what}, "
                        f"got {type(value).__name__}")
    if not value._requires_grad:
        raise BackwardError(
            f"{where}: {what} does not require grad, so there is no graph to differentiate: "
            "set requires_grad=True on the leaves it is computed from, and do not compute it "
            "under no_grad()"
        )


def _modified_error(node: Function, is_output: bool, value) -> BackwardError:
    what = "its output" if is_output else "one of its inputs"
    return BackwardError(
        f"{node.name()}: {what} (shape {getattr(value, 'shape', ())}), which it saved for "
        "backward, was modified by an in-place operation after the forward pass, so its gradient "
        "would be wrong. Do the in-place change after backward(), or change a copy "
        "(t = t.clone(), or t = t + v)."
    )


def _freed_error(node: Function) -> BackwardError:
    return BackwardError(
        f"{node.name()}: trying to backward through the graph a second time, but the values it "
        "saved were freed by the first backward. Pass retain_graph=True to the first backward() "
        "if you need to go through the same graph again."
    )


def topological_order(roots: Sequence) -> list:
    """Graph items reachable from ``roots``, each listed after every item it depends on."""
    nodes, leaves = _sorted_graph(roots)
    return leaves + nodes


def _sorted_graph(roots: Sequence) -> tuple[list, list]:
    """The Function nodes reachable from ``roots`` in the order they were recorded (each after
    all of its inputs: reversed, the order in which backward visits them, see _run), and the
    leaves reachable from them.

    Iterative depth-first search, then a sort by record number, so that whatever follows the
    engine's order (grad()'s paths, compile's trace, the explainer) sums gradients as it does.
    Items are keys of sets and dicts here and in the driver by
    identity (Tensor keeps object's hash although its == is elementwise), with no id() calls.
    """
    nodes = []
    leaves = []
    seen = set()
    stack = list(reversed(roots))
    # Bound methods in locals: this loop runs twice per node of the graph. A node is pushed
    # again below a _DONE marker before its inputs, and listed when the marker comes back up.
    push, pop, append, mark = stack.append, stack.pop, nodes.append, seen.add
    while stack:
        item = pop()
        if item is _DONE:
            append(pop())
            continue
        if item in seen:
            continue
        mark(item)
        if isinstance(item, Function):
            push(item)
            push(_DONE)
            for parent in item._next:
                if parent is not None and parent not in seen:
                    push(parent)
        else:
            leaves.append(item)
    nodes.sort(key=_record_number)
    return nodes, leaves


_record_number = operator.attrgetter("_number")


def _run(roots, root_grads, retain_graph: bool, create_graph: bool, targets=None):
    """The chain rule, for ``backward()`` and ``grad()`` alike.

    The nodes behind ``roots`` are visited from the output back, each after every node that
    uses its value, so that when a node is reached its gradient is complete: the sum of what
    each use sent it. Hooks may change that gradient; the node's backward turns it into one
    gradient per input (the vector-Jacobian product), and each is added to what that input has
    received so far. A leaf's gradient is complete once every node has
    been visited.

    Returns the complete gradient of each leaf reached (``backward()`` accumulates them into
    ``.grad``) and the set of buffers handed out. With ``targets`` (a set of graph items, for
    ``grad()``) only the nodes on a path to a target run, and the gradients returned are the
    targets'.

    Nodes are visited by decreasing number (see _next_number), from a heap of their negated
    numbers and a dict from number to node (plain ints in the heap: a tuple per node would be
    one more object for the collector to count). Without targets, a node joins the heap when it
    first receives a gradient, so the graph is never sorted beforehand; with targets, the nodes
    on paths to them are found first and all join it at the start. Both visit the same nodes in
    the same order, so backward() and grad() sum the same gradients in the same order.
    """
    wanted = None  # every input of every node, unless only the paths to targets are
    grads = {}  # graph item -> the sum of the gradients it has received so far
    get = grads.get
    for root, grad in zip(roots, root_grads):
        previous = get(root)
        grads[root] = grad if previous is None else previous + grad
    if targets is not None:
        nodes, leaves = _sorted_graph(roots)
        wanted, on_path = _paths_to(leaves + nodes, targets)
        queued = {node._number: node for node in nodes if node in wanted}
    else:
        queued = {root._number: root for root in grads if root._number is not None}
    heap = [-number for number in queued]
    heapq.heapify(heap)
    push, pop, dequeue = heapq.heappush, heapq.heappop, queued.pop
    grow = targets is None  # nodes join the heap as they receive their first gradient
    reached = {}
    claimed = set()
    take = grads.pop
    check = _anomaly.enabled  # read once: a thread-local, and backward does not change it
    with set_grad_enabled(create_graph):
        while heap:
            node = dequeue(-pop(heap))
            grad = take(node, None)
            if grad is None:
                continue
            if node._retained is not None or targets is not None:  # (checked once: rare)
                if node._retained is not None:  # retain_grad() or register_hook() on its value
                    grad = _complete_grad(node, grad, create_graph, claimed, targets is None)
                if targets is not None:
                    if node in targets:
                        reached[node] = grad
                    if node not in on_path:
                        continue
            # The node's backward: one gradient per input (None where none flows), checked,
            # each summed to its input's shape. Written out here: it runs once per node.
            if node._saved is None:
                raise _freed_error(node)
            if check:
                anomaly.check_saved(node)
            node._graph_mode = create_graph
            try:
                input_grads = type(node).backward(node, grad)
            except ArithmeticError:  # Python floats raise where numpy gives inf or nan
                input_grads = node._out_type._backward_in_numpy(node, grad)
            edges = node._next
            if type(input_grads) is not tuple and not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            count = len(edges)
            if len(input_grads) != count:
                raise _count_error(node, input_grads)
            if node._shapes is not None:
                input_grads = _to_input_shapes(node, input_grads)
            if check:
                anomaly.check_backward(node, grad, input_grads)
            if not retain_graph:
                node._saved = None  # free what forward saved, as soon as it has been used
            if grow and count <= 2:
                # Nodes have one or two inputs mostly: indexing them costs half of zip's
                # iterator (the same sums as the loop below).
                parent, parent_grad = edges[0], input_grads[0]
                if parent is not None and parent_grad is not None:
                    previous = get(parent)
                    if previous is None:
                        grads[parent] = parent_grad
                        number = parent._number
                        if number is not None:
                            queued[number] = parent
                            push(heap, -number)
                    else:
                        grads[parent] = previous + parent_grad
                if count == 2:
                    parent, parent_grad = edges[1], input_grads[1]
                    if parent is not None and parent_grad is not None:
                        previous = get(parent)
                        if previous is None:
                            grads[parent] = parent_grad
                            number = parent._number
                            if number is not None:
                                queued[number] = parent
                                push(heap, -number)
                        else:
                            grads[parent] = previous + parent_grad
                continue
            for parent, parent_grad in zip(edges, input_grads):
                if parent is None or parent_grad is None or (
                        wanted is not None and parent not in wanted):
                    continue
                previous = get(parent)
                if previous is None:
                    grads[parent] = parent_grad
                    number = parent._number
                    if grow and number is not None:
                        queued[number] = parent
                        push(heap, -number)
                else:
                    grads[parent] = previous + parent_grad
        # Only leaves are left in grads now, each with the sum of all its uses' gradients.
        for leaf, grad in list(grads.items()):
            if targets is not None and leaf not in targets:
                continue
            if _leaf_hooks:
                hooks = _leaf_hooks.get(id(leaf))
                if hooks:
                    grad = _run_hooks(hooks, grad, leaf._family, create_graph,
                                      _shape_of(leaf.data))
            reached[leaf] = grad
    return reached, claimed


# Built-in Scalar ops' backward rules (scalar.py registers every op of one or two inputs that has
# a float kernel): op class -> (its backward, its number of inputs). _run_floats calls them with
# a _FloatCtx instead of the node.
_float_rules: dict = {}
_NOT_BUILT_IN = (None, 0)


def _register_float_rule(function) -> None:
    """Let _run_floats call ``function``'s backward with a _FloatCtx: for built-in ops whose
    rule reads nothing from its ctx but ``saved_tensors`` and ``needs_input_grad`` (an op with
    options reads ``ctx.kwargs`` from its node, and is left to the general step)."""
    if function.arity in (1, 2):
        _float_rules[function] = (function.backward, function.arity)


class _FloatCtx:
    """The ctx _run_floats hands a built-in Scalar op's backward rule (see _float_rules): what
    forward saved as a plain slot, read as fast as any attribute. On the node, saved_tensors is
    a property (the freed check, in-place version checks and graph values, which a float graph
    without create_graph does not need: floats do not change in place), and its frame was a
    tenth of a Scalar backward. ``needs_input_grad`` comes from the node's edges copied here
    (in the subclasses below, one per number of inputs). It has nothing else: a __getattr__
    passing other reads on to the node would cost every read of the ctx its specialization (5 M
    instructions in the demo's backward), so the ops whose rules read more (``ctx.kwargs``) are
    not registered (see _register_float_rule)."""

    __slots__ = ("saved_tensors", "_edge_a", "_edge_b")


class _UnaryFloatCtx(_FloatCtx):
    __slots__ = ()

    @property
    def needs_input_grad(self) -> tuple:
        return (self._edge_a is not None,)


class _BinaryFloatCtx(_FloatCtx):
    __slots__ = ()

    @property
    def needs_input_grad(self) -> tuple:
        return self._edge_a is not None, self._edge_b is not None


def _run_floats(root, grad, retain_graph: bool) -> dict:
    """backward() on a graph of floats (Scalar's) without create_graph or anomaly mode: _run
    without what only arrays, grad() and recorded backward passes need, in the same order
    (nodes by decreasing number) with the same sums, so that it agrees with _run bit for bit
    (tests/test_scalar_node.py). Returns each leaf reached with its complete gradient.

    Every step of a node is written out here (each bytecode of this loop runs 32,150 times in
    the demo step's backward): built-in ops' rules are called with a _FloatCtx (see there) and
    their one or two gradients unpacked directly; other rules get their node, as in _run.

    The two queued nodes of largest number are held out of the heap (``top`` and ``spare``,
    negated numbers, with their nodes): most often the next node is an input of the node just
    visited, and the one after it that node's other input (a sum's earlier terms, then the
    product just added), so they are compared with the heap's smallest instead of being pushed,
    popped and looked up. In the demo step 3,099 of 32,150 nodes pass through the heap (16,800
    when only one was held out; comparisons of ints were a sixth of a Scalar backward)."""
    grads = {root: grad}
    node = None if root._number is None else root  # a leaf root: its gradient is all
    top = top_node = spare = spare_node = None
    queued = {}  # negated number -> node, for the nodes in the heap
    heap = []
    get, take, rule_of = grads.get, grads.pop, _float_rules.get
    push, pop, dequeue = heapq.heappush, heapq.heappop, queued.pop
    one_ctx, pair_ctx = _UnaryFloatCtx(), _BinaryFloatCtx()
    with set_grad_enabled(False):
        while node is not None:
            grad = take(node)
            if _any_extras and node._retained is not None:  # retain_grad() or register_hook()
                grad = _complete_grad(node, grad, False, None, True)
            saved = node._saved
            if saved is None:
                raise _freed_error(node)
            rule, arity = rule_of(type(node), _NOT_BUILT_IN)
            if arity == 2:  # an op of two inputs (an edge each, None for a constant)
                try:
                    parent, second = node._edge_a, node._edge_b
                except AttributeError:  # a node Function.apply made: its edges are a tuple
                    parent, second = node._edges
                pair_ctx._edge_a, pair_ctx._edge_b = parent, second
                pair_ctx.saved_tensors = saved
                try:
                    input_grads = rule(pair_ctx, grad)
                except ArithmeticError:  # Python floats raise where numpy gives inf or nan
                    node._graph_mode = False
                    input_grads = node._out_type._backward_in_numpy(node, grad)
                try:
                    parent_grad, second_grad = input_grads
                except (TypeError, ValueError):
                    raise _count_error(node, input_grads if isinstance(input_grads, tuple)
                                       else (input_grads,)) from None
                if not retain_graph:
                    node._saved = None  # free what forward saved, as soon as it has been used
            elif arity:  # an op of one input
                try:
                    parent = node._edge_a
                except AttributeError:  # a node Function.apply made
                    (parent,) = node._edges
                one_ctx._edge_a = parent
                second = None
                one_ctx.saved_tensors = saved
                try:
                    parent_grad = rule(one_ctx, grad)
                except ArithmeticError:
                    node._graph_mode = False
                    parent_grad = node._out_type._backward_in_numpy(node, grad)
                if type(parent_grad) is tuple:  # a 1-tuple, as _run takes it
                    if len(parent_grad) != 1:
                        raise _count_error(node, parent_grad)
                    parent_grad = parent_grad[0]
                if not retain_graph:
                    node._saved = None
            else:  # a custom op: its own node is its ctx, and any number of inputs
                edges = node._next
                node._graph_mode = False
                try:
                    input_grads = type(node).backward(node, grad)
                except ArithmeticError:
                    input_grads = node._out_type._backward_in_numpy(node, grad)
                input_grads = tuple(input_grads) if isinstance(input_grads, tuple) \
                    else (input_grads,)
                if len(input_grads) != len(edges):
                    raise _count_error(node, input_grads)
                if not retain_graph:
                    node._saved = None
                for position in range(len(edges)):
                    parent, parent_grad = edges[position], input_grads[position]
                    if parent is not None and parent_grad is not None:
                        previous = get(parent)
                        if previous is not None:
                            grads[parent] = previous + parent_grad
                        else:
                            grads[parent] = parent_grad
                            number = parent._number
                            if number is not None:  # a node (a leaf's gradient waits in grads)
                                key = -number
                                if top is None:
                                    top, top_node = key, parent
                                elif key < top:
                                    if spare is not None:
                                        push(heap, spare)
                                        queued[spare] = spare_node
                                    spare, spare_node, top, top_node = top, top_node, key, parent
                                elif spare is None:
                                    spare, spare_node = key, parent
                                elif key < spare:
                                    push(heap, spare)
                                    queued[spare] = spare_node
                                    spare, spare_node = key, parent
                                else:
                                    push(heap, key)
                                    queued[key] = parent
                parent = second = None
            # The same steps as in the loop above, for the first input and then the second.
            if parent is not None and parent_grad is not None:
                previous = get(parent)
                if previous is not None:
                    grads[parent] = previous + parent_grad
                else:
                    grads[parent] = parent_grad
                    number = parent._number
                    if number is not None:  # a node (a leaf's gradient waits in grads)
                        key = -number
                        if top is None:
                            top, top_node = key, parent
                        elif key < top:
                            if spare is not None:
                                push(heap, spare)
                                queued[spare] = spare_node
                            spare, spare_node, top, top_node = top, top_node, key, parent
                        elif spare is None:
                            spare, spare_node = key, parent
                        elif key < spare:
                            push(heap, spare)
                            queued[spare] = spare_node
                            spare, spare_node = key, parent
                        else:
                            push(heap, key)
                            queued[key] = parent
            if second is not None and second_grad is not None:
                previous = get(second)
                if previous is not None:
                    grads[second] = previous + second_grad
                else:
                    grads[second] = second_grad
                    number = second._number
                    if number is not None:
                        key = -number
                        if top is None:
                            top, top_node = key, second
                        elif key < top:
                            if spare is not None:
                                push(heap, spare)
                                queued[spare] = spare_node
                            spare, spare_node, top, top_node = top, top_node, key, second
                        elif spare is None:
                            spare, spare_node = key, second
                        elif key < spare:
                            push(heap, spare)
                            queued[spare] = spare_node
                            spare, spare_node = key, second
                        else:
                            push(heap, key)
                            queued[key] = second
            # The next node: the one with the largest number, held out or in the heap.
            if top is not None:
                if heap and heap[0] < top:
                    node = dequeue(pop(heap))
                else:
                    node = top_node
                    top, top_node, spare, spare_node = spare, spare_node, None, None
            elif heap:
                node = dequeue(pop(heap))
            else:
                node = None
        if _leaf_hooks:
            for leaf, grad in grads.items():
                hooks = _leaf_hooks.get(id(leaf))
                if hooks:
                    grads[leaf] = _run_hooks(hooks, grad, leaf._family, False, ())
    return grads


def _complete_grad(node: Function, grad, create_graph: bool, claimed: set, keep: bool):
    """A node's complete gradient after its value's hooks, kept in the value's ``.grad`` too
    when ``keep`` (backward()) and retain_grad() asked for it."""
    extras = node._retained
    if extras.hooks:
        grad = _run_hooks(extras.hooks, grad, node._out_type, create_graph, extras.shape)
    if keep:
        kept = extras()
        if kept is not None:
            kept._accumulate_grad(grad, create_graph, claimed)
    return grad


def sum_to(grad, shape: tuple):
    """Sum ``grad`` over the axes broadcasting added or stretched, so that it has ``shape``: how
    the engine undoes broadcasting for every op, so that no rule has to.

    Works on numpy arrays and Tensors alike (it only uses ``.sum`` and ``.reshape``), so it is
    differentiable when the backward pass is being recorded. Raises a ShapeError when ``shape``
    does not broadcast to ``grad``'s shape.

    >>> sum_to(np.ones((4, 2, 3)), (2, 1)).tolist()
    [[12.0], [12.0]]
    """
    grad_shape = grad.shape
    lead = len(grad_shape) - len(shape)
    if lead < 0 or any(size != 1 and size != grad_shape[lead + i]
                       for i, size in enumerate(shape)):
        raise ShapeError(f"a gradient of shape {grad_shape} cannot be summed to shape {shape}: "
                         "expected a shape that broadcasts to it")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and grad_shape[lead + i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        grad = grad.reshape(shape)
    return grad


def _to_input_shapes(node: Function, grads: tuple) -> tuple:
    """Each input's gradient summed to the input's shape (the op broadcast it)."""
    fitted = []
    for grad, shape in zip(grads, node._shapes):
        if grad is not None and shape is not None and getattr(grad, "shape", shape) != shape:
            try:
                grad = sum_to(grad, shape)
            except ShapeError as error:
                raise ShapeError(f"{node.name()}.backward: {error}") from None
        fitted.append(grad)
    return tuple(fitted)


def _count_error(node: Function, grads: tuple) -> BackwardError:
    return BackwardError(
        f"{node.name()}.backward returned {len(grads)} gradient(s) but forward took "
        f"{len(node._next)} positional input(s): return one per input (None for constants)"
    )


def _paths_to(order: list, targets: set) -> tuple[set, set]:
    """The items from which a target can be reached (targets included), and the nodes among
    them whose backward must run (those with an input from which a target can be reached)."""
    needed = set()
    expand = set()
    for item in order:  # inputs come before the items that use them
        leads_to_target = isinstance(item, Function) and any(
            parent is not None and parent in needed for parent in item._next)
        if leads_to_target:
            expand.add(item)
        if leads_to_target or item in targets:
            needed.add(item)
    return needed, expand


def _as_list(values, what: str) -> list:
    if isinstance(values, Variable):
        return [values]
    if isinstance(values, Sequence) and not isinstance(values, str):
        return list(values)
    raise TypeError(f"grad: {what} must be a Tensor/Scalar or a sequence of them, "
                    f"got {type(values).__name__}")


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, returned rather than accumulated.

    ``grad_outputs`` plays the role of ``backward``'s ``grad`` (one per output; None for a
    single-element output). With ``create_graph=True`` the returned gradients are themselves
    differentiable, which gives second derivatives::

        x = ag.Tensor([1.0, 2.0], requires_grad=True)
        y = (x ** 3).sum()
        (dx,) = grad(y, x, create_graph=True)
        (d2x,) = grad(dx.sum(), x)

    An input the outputs do not depend on raises, unless ``allow_unused=True`` (then None).
    """
    outputs = _as_list(outputs, "outputs")
    inputs = _as_list(inputs, "inputs")
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (list, tuple)):
        grad_outputs = list(grad_outputs)
    else:  # one Tensor, array or number, for a single output
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, out in enumerate(outputs):
        _check_requires_grad(out, "grad", f"outputs[{i}]")
    for i, inp in enumerate(inputs):
        _check_requires_grad(inp, "grad", f"inputs[{i}]")
    if retain_graph is None:
        retain_graph = create_graph
    roots = [_item_of(out) for out in outputs]
    root_grads = [out._root_grad(g, create_graph) for out, g in zip(outputs, grad_outputs)]
    targets = {_item_of(inp) for inp in inputs}
    reached, claimed = _run(roots, root_grads, retain_graph, create_graph, targets)
    results = []
    for i, inp in enumerate(inputs):
        g = reached.get(_item_of(inp))
        if g is None:
            if not allow_unused:
                raise BackwardError(
                    f"grad: inputs[{i}] was not used to compute the outputs, so it has no "
                    "gradient; pass allow_unused=True to get None for it instead"
                )
            results.append(None)
        else:
            results.append(inp._capture(g, create_graph, claimed))
    return tuple(results)
