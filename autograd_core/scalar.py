"""Scalar: a single Python float that records its ops, micrograd-style, on the shared engine.

>>> a, b = Scalar(2.0), Scalar(-3.0)
>>> c = a * b + b ** 2
>>> c.backward()
>>> a.grad, b.grad
(-3.0, -4.0)

Unlike Tensor, a Scalar requires grad unless told otherwise (``Scalar(1.0, requires_grad=False)``),
as every value does in micrograd. Scalar has no ops of its own: every op declared with a float
kernel in ``autograd_core.ops`` (``Elementwise.scalar_kernel``) is a Scalar op too, with the same
backward rule as on Tensors, run on floats (fast) or on Scalars when ``create_graph=True`` asks
for a differentiable backward pass. Results follow numpy's float64 semantics: ``Scalar(0.0).log()``
is -inf and ``Scalar(nan).relu()`` is nan, as for a Tensor.
"""

from __future__ import annotations

import inspect
import numbers
import types

import numpy as np

from . import (
    anomaly,
    ops,  # noqa: F401 - declares the ops whose Scalar methods are made below
    registry,
)
from . import engine as _engine  # its clock, read by every recorded op
from .engine import Variable
from .errors import DTypeError
from .grad_mode import _special
from .grad_mode import _state as _grad_state
from .ops.elementwise import _OUT, on_floats

_new = object.__new__
_next_number = _engine._next_number  # see engine._next_number
_anomaly = anomaly._state
_forward = _engine._forward  # func.jvp's levels: while any run, ops take the general path
_PLAIN = (float, int, bool)  # Python numbers an op takes as they are


# ---- recording ----------------------------------------------------------------------------------
# Scalar graphs are made of one op per float, so Scalar's operators record their node with less
# of the general machinery than Function.apply: one or two inputs of one family, no keyword
# arguments, and the op's float kernel and saver called directly (Elementwise.forward_scalar,
# written out: its varargs and keyword dict cost a third of an op's forward). The node's fields
# and the output's are set here as Function._link and _scalar set them, written out too: at about
# 1.3 us per op, the two calls were a fifth of a Scalar op's forward. tests/test_one_definition.py
# checks that these nodes are the ones Function.apply makes. Anomaly detection, forward mode
# (func.jvp, which computes tangents as nodes are made) and ops with options (keyword arguments)
# take the general path.

def _saving(function) -> int:
    """How an op's saver is run inline: 0 saves nothing, 1 saves exactly its inputs, 3 saves
    its output, 2 calls the saver (a call costs as much as the comparisons that avoid it, and
    Add, Mul and the activations are most of a Scalar graph)."""
    saves = tuple(function.saves)
    if not saves:
        return 0
    if saves == (_OUT,):
        return 3
    return 1 if saves == tuple(range(function.arity)) else 2


def _node_maker(function):
    """What makes an empty node of ``function``: calling the class itself when it has neither
    ``__new__`` nor ``__init__`` of its own (the built-in ops), which costs a quarter less than
    ``object.__new__(function)`` (that checks the class's bases on every call)."""
    if function.__new__ is object.__new__ and function.__init__ is object.__init__:
        return function
    return lambda: _new(function)


def _unary(function):
    """The method ``self.op()`` recording ``function``."""
    kernel, pick_saved, roles = function.scalar_kernel, function._pick_saved, \
        function._saved_roles
    saving = _saving(function)
    make_node = _node_maker(function)

    if _takes_options(kernel):  # leaky_relu(slope=...), round(decimals=...): rare on Scalars
        def method(self, **kwargs):
            return function.apply(self, **kwargs)
    else:  # the fast path, without a keyword dict to build per call
        def method(self):
            if _special and (_anomaly.enabled or _forward.levels):
                return function.apply(self)
            value = self.data
            try:
                data = kernel(value)
            except (ArithmeticError, ValueError):  # numpy's inf or nan, as on a Tensor
                data = on_floats(function, (value,), {})
            node = None
            if self._requires_grad and (not _special or _grad_state.enabled):
                node = make_node()
                node._saved = (data,) if saving == 3 else (value,) if saving == 1 else () \
                    if saving == 0 else pick_saved((value,), data)
                node._edge_a = self._grad_fn or self  # see Function's slots
                node._out_type = Scalar
                node._shapes = node._retained = None
                node._roles = roles
                node._saved_at = _engine._clock
                node._number = _next_number()
            out = _new(Scalar)
            out.data = data
            out._grad = None
            out.name = None
            out._grad_fn = node
            out._requires_grad = node is not None
            return out

    return _own_code(method, function.__name__.lower())


def _takes_options(kernel, arity: int = 1) -> bool:
    """Whether a float kernel takes keyword options after its ``arity`` inputs."""
    try:
        return len(inspect.signature(kernel).parameters) > arity
    except (TypeError, ValueError):  # a builtin such as math.log or math.hypot: inputs only
        return False


def _binary(function, reflected: bool = False):
    """The method ``self <op> other`` (``other <op> self`` when ``reflected``) recording
    ``function``; a Python number (or numpy scalar) on the other side is a constant."""
    kernel, pick_saved, roles = function.scalar_kernel, function._pick_saved, \
        function._saved_roles
    saving = _saving(function)
    make_node = _node_maker(function)

    def operator(self, other):
        if type(other) is not Scalar:
            if type(other) is not float:
                other = _constant(other, function)
            x, y, edge_a, edge_b = self.data, other, self, None
        else:
            x, y, edge_a, edge_b = self.data, other.data, self, other
        if reflected:
            x, y, edge_a, edge_b = y, x, edge_b, edge_a
        if _special and (_anomaly.enabled or _forward.levels):
            return function.apply(edge_a if edge_a is not None else x,
                                  edge_b if edge_b is not None else y)
        try:
            data = kernel(x, y)
        except (ArithmeticError, ValueError):  # numpy's inf or nan instead, as on a Tensor
            data = on_floats(function, (x, y), {})
        if edge_a is not None:
            edge_a = (edge_a._grad_fn or edge_a) if edge_a._requires_grad else None
        if edge_b is not None:
            edge_b = (edge_b._grad_fn or edge_b) if edge_b._requires_grad else None
        node = None
        if (edge_a is not None or edge_b is not None) and (not _special or _grad_state.enabled):
            node = make_node()
            node._saved = () if saving == 0 else (x, y) if saving == 1 else (data,) \
                if saving == 3 else pick_saved((x, y), data)
            node._edge_a = edge_a  # see Function's slots
            node._edge_b = edge_b
            node._out_type = Scalar
            node._shapes = node._retained = None
            node._roles = roles
            node._saved_at = _engine._clock
            node._number = _next_number()
        out = _new(Scalar)
        out.data = data
        out._grad = None
        out.name = None
        out._grad_fn = node
        out._requires_grad = node is not None
        return out

    return _own_code(operator, function.__name__.lower())


def _own_code(fn, name: str):
    """``fn`` (a method made above) with a code object of its own. Python 3.11 specializes
    attribute reads and stores in a code object's own copy of its bytecode, for one class at a
    time: with one code object for every op, the stores into a node (whose class is the op's)
    met a different class from one op to the next and stayed unspecialized (about 60
    instructions each instead of a few, eight per op)."""
    code = fn.__code__.replace(co_name=name, co_qualname=name)
    own = types.FunctionType(code, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    own.__qualname__ = name
    own.__kwdefaults__ = fn.__kwdefaults__
    return own


def _scalar(data: float, node):
    out = _new(Scalar)
    out.data = data
    out._grad = None
    out.name = None
    out._grad_fn = node
    out._requires_grad = node is not None
    return out


def _constant(other, function):
    """A Python number (or numpy real scalar) used as a constant operand, as a float or int."""
    if type(other) in _PLAIN:  # float, int, bool
        return other
    if isinstance(other, (numbers.Real, np.bool_)):  # numpy's scalars, Fraction, ...
        return float(other)
    if isinstance(other, Variable):
        raise TypeError(f"Scalar {function.name()}: cannot combine a Scalar with a "
                        f"{type(other).__name__}; use Tensor for arrays")
    raise TypeError(f"Scalar {function.name()}: expected a Scalar or a real number, got "
                    f"{type(other).__name__}")


# ---- the Scalar class ---------------------------------------------------------------------------

class Scalar(Variable):
    """One float that records the ops applied to it (requires grad by default, as micrograd)."""

    __slots__ = ()
    __hash__ = Variable.__hash__  # == compares values, yet Scalars stay usable as dict keys

    def __init__(self, data, requires_grad: bool = True, name: str | None = None):
        if isinstance(data, Variable):
            data = data.data
        try:
            self.data = float(data)
        except (TypeError, ValueError):
            raise DTypeError(f"Scalar: expected a real number, got {type(data).__name__} "
                             f"{data!r:.80}") from None
        self._grad = None
        self._grad_fn = None
        self._requires_grad = bool(requires_grad)
        self.name = name

    # ---- engine hooks ---------------------------------------------------------------------------
    @classmethod
    def _from_op(cls, data, node):
        return _scalar(float(data), node)

    @staticmethod
    def _run_forward(function, ctx, raw, kwargs):
        forward = getattr(function, "forward_scalar", None) or function.forward
        try:
            return forward(ctx, *raw, **kwargs)
        except (ArithmeticError, ValueError) as error:  # a custom op's math error
            raise type(error)(f"{function.name()}: {error} (inputs: {list(raw)})") from None

    @staticmethod
    def _backward_in_numpy(node, grad):
        # A rule divided by a float 0 (the gradient of log or sqrt at 0, say): the same rule on
        # float64 numbers gives numpy's inf or nan, as on a Tensor.
        saved = node._saved
        node._saved = tuple(np.float64(v) if type(v) is float else v for v in saved)
        try:
            with np.errstate(all="ignore"):
                grads = type(node).backward(node, _as_float64(grad))
        finally:
            node._saved = saved
        if type(grads) is not tuple:
            return float(grads) if grads is not None else None
        return tuple(None if g is None else float(g) for g in grads)

    def _root_grad(self, grad, create_graph: bool):
        if grad is None:
            grad = 1.0
        elif isinstance(grad, Scalar):
            if create_graph:
                return grad
            grad = grad.data
        elif not isinstance(grad, numbers.Real) or isinstance(grad, bool):
            raise DTypeError(f"backward: grad for a Scalar must be a number or Scalar, "
                             f"got {type(grad).__name__}")
        return Scalar._from_op(float(grad), None) if create_graph else float(grad)

    def _capture(self, grad, create_graph: bool, claimed: set):
        if create_graph:
            return grad if isinstance(grad, Scalar) else Scalar._from_op(float(grad), None)
        return float(grad.data if isinstance(grad, Scalar) else grad)

    def _accumulate_grad(self, grad, create_graph: bool, claimed: set) -> None:
        grad = self._capture(grad, create_graph, claimed)
        self._grad = grad if self._grad is None else self._grad + grad

    def _check_grad(self, value):
        """``s.grad = value``: None, a real number (kept as a float) or a Scalar."""
        if isinstance(value, Scalar):
            return value
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            return float(value)
        raise TypeError(f"grad: a Scalar's gradient must be a real number or a Scalar, got "
                        f"{type(value).__name__} {value!r:.40}")

    @staticmethod
    def _from_hook(result, create_graph: bool, shape):
        if create_graph:
            return result if isinstance(result, Scalar) else Scalar._from_op(float(result), None)
        return float(_value(result))

    # ---- conversions ----------------------------------------------------------------------------
    def item(self) -> float:
        return self.data

    def __float__(self) -> float:
        return self.data

    def __bool__(self) -> bool:
        return self.data != 0.0

    def __format__(self, spec: str) -> str:
        return format(self.data, spec)

    def detach(self) -> Scalar:
        """A new leaf with the same value that does not require grad."""
        return Scalar(self.data, requires_grad=False)

    def __repr__(self) -> str:
        grad = self.grad.data if isinstance(self.grad, Scalar) else self.grad
        return f"Scalar(data={self.data!r}, grad={grad!r})"

    # Comparisons compare values and return plain bools (Scalars stay hashable by identity).
    def __lt__(self, other):
        return self.data < _value(other)

    def __le__(self, other):
        return self.data <= _value(other)

    def __gt__(self, other):
        return self.data > _value(other)

    def __ge__(self, other):
        return self.data >= _value(other)

    def __eq__(self, other):
        if isinstance(other, Scalar) or isinstance(other, numbers.Real):
            return self.data == _value(other)
        return NotImplemented

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __pos__(self):
        return self


def _as_float64(x):
    return np.float64(x) if type(x) is float else x


def _value(x):
    return x.data if isinstance(x, Scalar) else x


Scalar._family = Scalar
Scalar._float_graph = True

# Operators and methods: every op declared with a float kernel (see the module docstring).
_OPERATORS = {"add": "add", "sub": "sub", "mul": "mul", "div": "truediv", "pow": "pow"}
for _op in registry.OPS.values():
    if not _op.scalar:
        continue
    if not _takes_options(_op.primitive.scalar_kernel, _op.primitive.arity):  # see there
        _engine._register_float_rule(_op.primitive)  # Scalar's driver calls it with a _FloatCtx
    if _op.name in _OPERATORS:
        _dunder = _OPERATORS[_op.name]
        setattr(Scalar, f"__{_dunder}__", _binary(_op.primitive))
        setattr(Scalar, f"__r{_dunder}__", _binary(_op.primitive, reflected=True))
    elif _op.primitive.arity == 1:
        setattr(Scalar, _op.name, _unary(_op.primitive))
    elif _op.primitive.arity == 2:
        setattr(Scalar, _op.name, _binary(_op.primitive))
Scalar.__neg__ = Scalar.neg
Scalar.__abs__ = Scalar.abs
del _op, _dunder
