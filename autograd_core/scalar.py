"""Scalar: a single Python float that records its ops, micrograd-style, on the shared engine.

>>> a, b = Scalar(2.0), Scalar(-3.0)
>>> c = a * b + b ** 2
>>> c.backward()
>>> a.grad, b.grad
(-3.0, -4.0)

Unlike Tensor, a Scalar requires grad unless told otherwise (``Scalar(1.0, requires_grad=False)``),
as every value does in micrograd. Its primitives below run ``math`` on floats forward; their
backward rules are written with operators and this module's functions, so they run on floats
(fast) or on Scalars when ``create_graph=True`` asks for a differentiable backward pass.
"""

from __future__ import annotations

import math

from . import anomaly
from . import engine as _engine
from .engine import Function, Variable, _roles_of
from .errors import DTypeError
from .grad_mode import _state as _grad_state
from .registry import primitive

_new = object.__new__
_anomaly = anomaly._state


def _value(x) -> float:
    return x.data if isinstance(x, Scalar) else x


# ---- primitives ---------------------------------------------------------------------------------

@primitive("scalar")
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


@primitive("scalar")
class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad


@primitive("scalar")
class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b, grad * a


@primitive("scalar")
class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad / b, -grad * a / (b * b)


@primitive("scalar")
class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


@primitive("scalar")
class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = math.pow(a, b)  # unlike **, never a complex number: a ValueError instead
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_b = None
        if need_a:
            # A constant exponent 0 gives derivative 0, also at a == 0 where a ** -1 is undefined.
            # An exponent that is a Scalar keeps the general rule: it is differentiated again.
            constant_zero = not isinstance(b, Scalar) and b == 0
            grad_a = grad * 0.0 if constant_zero else grad * b * a ** (b - 1)
        if need_b:
            grad_b = grad * out * log(a) if _value(a) > 0 else grad * 0.0
        return grad_a, grad_b


@primitive("scalar")
class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        out = math.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


@primitive("scalar")
class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return math.log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / x


@primitive("scalar")
class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        out = math.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (out * 2)


@primitive("scalar")
class Abs(Function):
    __slots__ = ("sign",)  # what backward needs, without a __dict__ per node

    @staticmethod
    def forward(ctx, x):
        ctx.sign = (x > 0) - (x < 0)  # 0 at 0, the subgradient PyTorch picks
        return abs(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.sign


@primitive("scalar")
class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        out = math.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


@primitive("scalar")
class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        if x >= 0:
            out = 1 / (1 + math.exp(-x))
        else:
            e = math.exp(x)  # exp of a negative number only: no overflow for large |x|
            out = e / (1 + e)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)


@primitive("scalar")
class Relu(Function):
    __slots__ = ("active",)  # what backward needs, without a __dict__ per node

    @staticmethod
    def forward(ctx, x):
        ctx.active = x > 0  # the gradient at 0 is 0, as in PyTorch
        return x if x > 0 else 0.0

    @staticmethod
    def backward(ctx, grad):
        return grad if ctx.active else grad * 0.0


@primitive("scalar")
class LeakyRelu(Function):
    __slots__ = ("factor",)  # what backward needs, without a __dict__ per node

    @staticmethod
    def forward(ctx, x, slope=0.01):
        ctx.factor = 1.0 if x > 0 else slope
        return x * ctx.factor

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor


class _Extremum(Function):
    """max/min of two Scalars; at a tie each gets half the gradient (as PyTorch)."""

    __slots__ = ("share",)
    larger = True

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.share = 0.5 if a == b else float((a > b) == cls.larger)  # a's share of the gradient
        return float(max(a, b) if cls.larger else min(a, b))  # max(2.5, 3) would be the int 3

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.share, grad * (1.0 - ctx.share)


@primitive("scalar")
class Maximum(_Extremum):
    larger = True


@primitive("scalar")
class Minimum(_Extremum):
    larger = False


def log(x):
    """Natural log of a Scalar (recorded) or a float."""
    return Log.apply(x) if isinstance(x, Scalar) else math.log(x)


# ---- recording -----------------------------------------------------------------------------------
# Scalar graphs are made of one op per float, so the operators below record their node directly:
# the same node, edges and saved values as Function.apply and Function._record make, without
# their loops over any number of arguments, keyword arguments and families. Anomaly detection
# takes the general path, which does its checks. The unary and binary bodies are written out in
# full rather than sharing a helper for their common end: a call there would cost a sixth of an
# op's whole forward.

def _unary(function, x):
    if _anomaly.enabled:
        return function.apply(x)
    node = _new(function)
    node._saved = ()
    value = x.data
    try:
        data = function.forward(node, value)
    except (ArithmeticError, ValueError) as error:
        raise _forward_error(function, error, value) from None
    out = _new(Scalar)
    out.data = data
    out.grad = None
    out.name = None
    if not (x._requires_grad and _grad_state.enabled):
        out._grad_fn = None
        out._requires_grad = False
        return out
    node._next = (x._grad_fn or x,)
    saved = node._saved
    if saved:
        node._roles = None if len(saved) == 1 and saved[0] is value else _roles_of(
            saved, (value,), data)
    node._out_type = Scalar
    node._retained = None
    node._saved_at = _engine._clock  # see "version counters" in engine.py
    out._grad_fn = node
    out._requires_grad = True
    return out


def _binary_operator(function, symbol: str, reflected: bool = False):
    """The method ``self <symbol> other`` (``other <symbol> self`` if ``reflected``) recording
    ``function``: one closure per operator, so that an op costs one Python call before forward."""

    def operator(self, other):
        kind = type(other)
        if kind is not float and kind is not Scalar:
            other = _operand(other, symbol)
        if _anomaly.enabled:
            return function.apply(other, self) if reflected else function.apply(self, other)
        x, edge_a = self.data, (self._grad_fn or self) if self._requires_grad else None
        if kind is Scalar:
            y, edge_b = other.data, (other._grad_fn or other) if other._requires_grad else None
        else:
            y, edge_b = other, None
        if reflected:
            x, y, edge_a, edge_b = y, x, edge_b, edge_a
        node = _new(function)
        node._saved = ()
        try:
            data = function.forward(node, x, y)
        except (ArithmeticError, ValueError) as error:
            raise _forward_error(function, error, x, y) from None
        out = _new(Scalar)
        out.data = data
        out.grad = None
        out.name = None
        if (edge_a is None and edge_b is None) or not _grad_state.enabled:
            out._grad_fn = None
            out._requires_grad = False
            return out
        node._next = (edge_a, edge_b)
        saved = node._saved
        if saved:
            node._roles = None if len(saved) == 2 and saved[0] is x and saved[1] is y else \
                _roles_of(saved, (x, y), data)
        node._out_type = Scalar
        node._retained = None
        node._saved_at = _engine._clock
        out._grad_fn = node
        out._requires_grad = True
        return out

    operator.__name__ = operator.__qualname__ = f"{function.__name__.lower()}_operator"
    return operator


def _forward_error(function, error, *raw):
    """The error of a forward, naming the op and its inputs (as Scalar._run_forward does)."""
    return type(error)(f"{function.name()}: {error} (inputs: {list(raw)})")


# ---- the Scalar class ---------------------------------------------------------------------------

class Scalar(Variable):
    """One float that records the ops applied to it (requires grad by default, as micrograd)."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, name: str | None = None):
        if isinstance(data, Variable):
            data = data.data
        try:
            self.data = float(data)
        except (TypeError, ValueError):
            raise DTypeError(f"Scalar: expected a real number, got {type(data).__name__} "
                             f"{data!r:.80}") from None
        self.grad = None
        self._grad_fn = None
        self._requires_grad = bool(requires_grad)
        self.name = name

    # ---- engine hooks ---------------------------------------------------------------------------
    @classmethod
    def _from_op(cls, data, node):
        scalar = Scalar.__new__(Scalar)
        scalar.data = data
        scalar.grad = None
        scalar._grad_fn = node
        scalar._requires_grad = node is not None
        scalar.name = None
        return scalar

    @staticmethod
    def _run_forward(function, ctx, raw, kwargs):
        try:
            return function.forward(ctx, *raw, **kwargs)
        except (ArithmeticError, ValueError) as error:
            raise _forward_error(function, error, *raw) from None

    def _root_grad(self, grad, create_graph: bool):
        if grad is None:
            grad = 1.0
        elif isinstance(grad, Scalar):
            if create_graph:
                return grad
            grad = grad.data
        elif not isinstance(grad, (int, float)) or isinstance(grad, bool):
            raise DTypeError(f"backward: grad for a Scalar must be a number or Scalar, "
                             f"got {type(grad).__name__}")
        return Scalar._from_op(float(grad), None) if create_graph else float(grad)

    def _capture(self, grad, create_graph: bool, claimed: set):
        if create_graph:
            return grad if isinstance(grad, Scalar) else Scalar._from_op(float(grad), None)
        return float(_value(grad))

    def _accumulate_grad(self, grad, create_graph: bool, claimed: set) -> None:
        grad = self._capture(grad, create_graph, claimed)
        self.grad = grad if self.grad is None else self.grad + grad

    # ---- conversions ----------------------------------------------------------------------------
    def item(self) -> float:
        return self.data

    def __float__(self) -> float:
        return self.data

    def detach(self) -> Scalar:
        """A new leaf with the same value that does not require grad."""
        return Scalar(self.data, requires_grad=False)

    def __repr__(self) -> str:
        grad = self.grad.data if isinstance(self.grad, Scalar) else self.grad
        return f"Scalar(data={self.data!r}, grad={grad!r})"

    # ---- operators (Python numbers on either side are constants) --------------------------------
    __add__ = _binary_operator(Add, "+")
    __radd__ = _binary_operator(Add, "+", reflected=True)
    __sub__ = _binary_operator(Sub, "-")
    __rsub__ = _binary_operator(Sub, "-", reflected=True)
    __mul__ = _binary_operator(Mul, "*")
    __rmul__ = _binary_operator(Mul, "*", reflected=True)
    __truediv__ = _binary_operator(Div, "/")
    __rtruediv__ = _binary_operator(Div, "/", reflected=True)
    __pow__ = _binary_operator(Pow, "**")
    __rpow__ = _binary_operator(Pow, "**", reflected=True)

    def __neg__(self):
        return _unary(Neg, self)

    def __abs__(self):
        return _unary(Abs, self)

    # Comparisons compare values and return plain bools (Scalars stay hashable by identity).
    def __lt__(self, other):
        return self.data < _value(other)

    def __le__(self, other):
        return self.data <= _value(other)

    def __gt__(self, other):
        return self.data > _value(other)

    def __ge__(self, other):
        return self.data >= _value(other)

    # ---- functions ------------------------------------------------------------------------------
    def exp(self):
        return _unary(Exp, self)

    def log(self):
        return _unary(Log, self)

    def sqrt(self):
        return _unary(Sqrt, self)

    def abs(self):
        return _unary(Abs, self)

    def tanh(self):
        return _unary(Tanh, self)

    def sigmoid(self):
        return _unary(Sigmoid, self)

    def relu(self):
        return _unary(Relu, self)

    def leaky_relu(self, slope: float = 0.01):
        return LeakyRelu.apply(self, slope=slope)

    maximum = _binary_operator(Maximum, "maximum")
    minimum = _binary_operator(Minimum, "minimum")


Scalar._family = Scalar


def _operand(other, op: str):
    """A Scalar, or a Python number used as a constant."""
    kind = type(other)
    if kind is float or kind is Scalar:  # the common cases, without the checks below
        return other
    is_number = isinstance(other, (int, float)) and not isinstance(other, bool)
    if is_number or isinstance(other, Scalar):
        return other
    if isinstance(other, Variable):
        raise TypeError(f"Scalar {op}: cannot combine a Scalar with a {type(other).__name__}; "
                        "use Tensor for arrays")
    raise TypeError(f"Scalar {op}: expected a Scalar or a Python number, got "
                    f"{type(other).__name__}")

