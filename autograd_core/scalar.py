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

Values and gradients follow IEEE arithmetic, as a float64 Tensor's (numpy's and PyTorch's) do,
never Python's exceptions: ``Scalar(1.0) / 0`` is inf, ``Scalar(0.0).log()`` is -inf, the
gradient of ``x ** 0.5`` at 0 is inf, ``Scalar(-1.0).sqrt()`` is nan, and a NaN input gives a
NaN output (``relu``, ``maximum`` and ``minimum`` included). Where a derivative has a kink or a
tie, both front ends pick the same value, as PyTorch: 0 for relu and abs at 0, ``slope`` for
leaky_relu at 0, half each for a tie of maximum/minimum; a NaN operand of maximum/minimum takes
the whole gradient. ``tests/test_scalar_tensor_agreement.py`` checks every primitive against
its Tensor counterpart on 0, +-inf, NaN and ties.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

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


# ---- IEEE arithmetic on floats ------------------------------------------------------------------
# Python raises where numpy and PyTorch return inf or nan (1.0 / 0.0, math.log(0.0), 0.0 ** -1,
# math.exp(1000.0)). These helpers give the IEEE answer instead; the exception path costs nothing
# until it is taken. On Scalars they record as the operators do.

_INF, _NAN = math.inf, math.nan


def _is_odd_integer(b) -> bool:
    return b == b and abs(b) != _INF and b == int(b) and int(b) % 2 == 1


def _ieee_divide(a: float, b: float) -> float:
    """a / 0.0 for floats: nan for 0 / 0 and nan / 0, else inf with the sign of a times b's."""
    if a == 0 or a != a:
        return _NAN
    return math.copysign(_INF, a) * math.copysign(1.0, b)


def _divide(a, b):
    """a / b, with x / 0 as IEEE floats have it (inf or nan); Scalars record."""
    try:
        return a / b
    except ZeroDivisionError:
        return _ieee_divide(float(a), float(b))


def _float_power(a: float, b: float) -> float:
    """a ** b on floats as numpy computes it: never complex (nan for a negative base and a
    non-integer exponent), inf for 0 ** negative (-inf for -0.0 and an odd exponent), +-inf on
    overflow. ``a ** 0.5`` is sqrt(a), as numpy and PyTorch compute it (so (-inf) ** 0.5 is nan,
    where C's pow gives inf)."""
    if b == 0.5:
        return math.sqrt(a) if a >= 0 else _NAN
    try:
        return math.pow(a, b)
    except OverflowError:  # |a| ** b too large: negative for a negative base and an odd b
        return -_INF if a < 0 and _is_odd_integer(b) else _INF
    except ValueError:
        if a == 0:  # 0 ** negative
            return math.copysign(_INF, a) if _is_odd_integer(b) else _INF
        return _NAN  # a negative base and a non-integer exponent


def _power(a, b):
    """a ** b on floats (IEEE, see _float_power) or Scalars (recorded)."""
    if isinstance(a, Scalar) or isinstance(b, Scalar):
        return a ** b
    return _float_power(a, b)


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
        try:
            return a / b
        except ZeroDivisionError:
            return _ieee_divide(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _divide(grad, b), _divide(-grad * a, b * b)


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
        out = _float_power(a, b)  # unlike **, never a complex number
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_b = None
        if need_a:
            # An exponent 0 gives derivative 0, also at a == 0 where a ** -1 is inf (as PyTorch).
            # An exponent that is a Scalar keeps the general rule, with base 1 in place of the
            # 0 (b * 1 ** (b - 1) is that 0), so that it is differentiated again.
            if not isinstance(b, Scalar) and b == 0:
                grad_a = grad * 0.0
            elif _value(b) == 0 and (_value(a) == 0 or _value(a) != _value(a)):
                grad_a = grad * b  # a == 0 or nan, where a ** -1 is not finite
            else:
                grad_a = grad * b * _power(a, b - 1)
        if need_b:
            grad_b = grad * out * log(a) if _value(a) > 0 else grad * 0.0
        return grad_a, grad_b


@primitive("scalar")
class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        try:
            out = math.exp(x)
        except OverflowError:
            out = _INF
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
        try:
            return math.log(x)
        except ValueError:  # log(0) is -inf, log of a negative number nan
            return -_INF if x == 0 else _NAN

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return _divide(grad, x)


@primitive("scalar")
class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        try:
            out = math.sqrt(x)
        except ValueError:  # a negative number
            out = _NAN
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return _divide(grad, out * 2)


@primitive("scalar")
class Abs(Function):
    __slots__ = ("sign",)  # what backward needs, without a __dict__ per node

    @staticmethod
    def forward(ctx, x):
        # 0 at 0, the subgradient PyTorch picks; nan at nan, as numpy's sign
        ctx.sign = (x > 0) - (x < 0) if x == x else _NAN
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
        ctx.active = x > 0  # the gradient at 0 (and at nan) is 0, as Tensor's relu
        return x if x > 0 or x != x else 0.0  # nan stays nan

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
    """max/min of two Scalars; at a tie each gets half the gradient (as PyTorch). A NaN operand
    wins: the result is nan and that operand gets the gradient (both NaN: half each)."""

    __slots__ = ("share",)
    larger = True

    @classmethod
    def forward(cls, ctx, a, b):
        if a == b or (a != a and b != b):
            ctx.share = 0.5  # a's share of the gradient
        elif a != a or b != b:
            ctx.share = 1.0 if a != a else 0.0
            return _NAN
        else:
            ctx.share = float((a > b) == cls.larger)
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
    out._grad = None
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
        out._grad = None
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
        self._grad = None
        self._grad_fn = None
        self._requires_grad = bool(requires_grad)
        self.name = name

    # ---- engine hooks ---------------------------------------------------------------------------
    @classmethod
    def _from_op(cls, data, node):
        scalar = Scalar.__new__(Scalar)
        scalar.data = data
        scalar._grad = None
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
        return self.data != 0.0  # as bool(float): Scalar(0.0) is False

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats the value."""
        return format(self.data, spec)

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

    # Comparisons compare values and return plain bools, == and != included (as for floats);
    # Scalars stay hashable by identity, which is what the engine's sets and dicts rely on.
    __hash__ = Variable.__hash__

    def __eq__(self, other):
        if isinstance(other, Scalar):
            return self.data == other.data
        if isinstance(other, numbers.Real):
            return self.data == other
        return NotImplemented

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

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
    """A Scalar, or a Python number used as a constant (a numpy number becomes a float)."""
    kind = type(other)
    if kind is float or kind is Scalar:  # the common cases, without the checks below
        return other
    if isinstance(other, np.generic) and isinstance(other, numbers.Real) \
            and not isinstance(other, np.bool_):
        return float(other)  # np.float32, np.float64, np.int64: plain floats, one semantics
    if isinstance(other, (int, float)) and not isinstance(other, bool):
        return other
    if isinstance(other, Scalar):
        return other
    if isinstance(other, Variable):
        raise TypeError(f"Scalar {op}: cannot combine a Scalar with a {type(other).__name__}; "
                        "use Tensor for arrays")
    raise TypeError(f"Scalar {op}: expected a Scalar or a Python number, got "
                    f"{type(other).__name__}")

