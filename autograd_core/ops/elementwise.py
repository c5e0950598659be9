"""Elementwise primitives: arithmetic, exp/log family, activations, max/min, where, clip.

Each op is a Function whose forward runs numpy and whose backward is written with operators and
the functions of this package, so it runs on raw arrays or, when the backward pass is recorded,
on Tensors. Each public function works on Tensors (recorded) and on plain arrays (numpy).
"""

import numbers

import numpy as np

from ..engine import Function, Variable
from ..registry import primitive
from .broadcasting import sum_to


def _shape(x) -> tuple:
    # np.shape is a Python-level function; arrays, the common case, answer directly.
    return x.shape if type(x) is np.ndarray else np.shape(x)


def _binary_shapes(ctx, a, b) -> None:
    ctx.shapes = (_shape(a), _shape(b))


# ---- arithmetic ---------------------------------------------------------------------------------

@primitive("tensor")
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        _binary_shapes(ctx, a, b)
        return a + b

    @staticmethod
    def backward(ctx, grad):
        need_a, need_b = ctx.needs_input_grad
        a_shape, b_shape = ctx.shapes
        return (sum_to(grad, a_shape) if need_a else None,
                sum_to(grad, b_shape) if need_b else None)


@primitive("tensor")
class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        _binary_shapes(ctx, a, b)
        return a - b

    @staticmethod
    def backward(ctx, grad):
        need_a, need_b = ctx.needs_input_grad
        a_shape, b_shape = ctx.shapes
        return (sum_to(grad, a_shape) if need_a else None,
                sum_to(-grad, b_shape) if need_b else None)


@primitive("tensor")
class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        _binary_shapes(ctx, a, b)
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        a_shape, b_shape = ctx.shapes
        return (sum_to(grad * b, a_shape) if need_a else None,
                sum_to(grad * a, b_shape) if need_b else None)


@primitive("tensor")
class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        _binary_shapes(ctx, a, b)
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        a_shape, b_shape = ctx.shapes
        return (sum_to(grad / b, a_shape) if need_a else None,
                sum_to(-grad * a / (b * b), b_shape) if need_b else None)


@primitive("tensor")
class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


@primitive("tensor")
class Pow(Function):
    """a ** b for a tensor or constant exponent b (and a constant base with ``2 ** t``).

    At a zero base, as PyTorch: ``0 ** -0.5`` is inf, the gradient of ``x ** 0.5`` at 0 is inf
    (the slope's limit), that of ``x ** 1.5`` is 0 and that of ``x ** 0`` is 0, all without
    numpy's divide-by-zero warnings; d(a ** b)/db is 0 where a <= 0.
    """

    @staticmethod
    def forward(ctx, a, b):
        _binary_shapes(ctx, a, b)
        with np.errstate(divide="ignore"):
            out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        a_shape, b_shape = ctx.shapes
        grad_a = grad_b = None
        if need_a:
            if isinstance(b, numbers.Number):
                if b == 0:
                    grad_a = grad * 0  # d(a**0)/da is 0 everywhere, a == 0 included (PyTorch)
                else:
                    with np.errstate(divide="ignore"):
                        grad_a = sum_to(grad * b * a ** (b - 1), a_shape)
            else:
                # An exponent array or tensor: where it is 0 the derivative is 0 too (PyTorch),
                # even at a == 0 or nan, where b * a ** (b - 1) would be 0 * inf or 0 * nan.
                # Base 1 there gives b * 1 ** (b - 1) = 0 and keeps the rule differentiable in b.
                a_raw = a.data if isinstance(a, Variable) else np.asarray(a)
                b_raw = b.data if isinstance(b, Variable) else np.asarray(b)
                undefined = (b_raw == 0) & ((a_raw == 0) | np.isnan(a_raw))
                base = where(undefined, 1, a) if undefined.any() else a
                with np.errstate(divide="ignore", invalid="ignore"):
                    grad_a = sum_to(grad * b * base ** (b - 1), a_shape)
        if need_b:
            # d(a**b)/db = a**b * log(a); taken as 0 where a <= 0, where no real log exists.
            positive = a > 0
            grad_b = sum_to(where(positive, grad * out * log(where(positive, a, 1)), 0), b_shape)
        return grad_a, grad_b


@primitive("tensor")
class Clone(Function):
    """A copy in new memory that stays in the graph (``Tensor.clone()``, as PyTorch's)."""

    @staticmethod
    def forward(ctx, x):
        return np.array(x, copy=True)

    @staticmethod
    def backward(ctx, grad):
        return grad


# ---- exp / log family ---------------------------------------------------------------------------

@primitive("tensor")
class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


@primitive("tensor")
class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / x


@primitive("tensor")
class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (out * 2)


@primitive("tensor")
class Abs(Function):
    """|x|; the gradient at 0 is 0 (the subgradient PyTorch picks)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * sign(x)


# ---- activations --------------------------------------------------------------------------------

@primitive("tensor")
class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


def _sigmoid(x):
    # exp of a non-positive number only, so neither branch overflows for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


@primitive("tensor")
class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        out = _sigmoid(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)


@primitive("tensor")
class Relu(Function):
    """max(x, 0); the gradient at 0 is 0, as in PyTorch; relu(nan) is nan, with gradient 0."""

    @staticmethod
    def forward(ctx, x):
        out = np.maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out > 0)


@primitive("tensor")
class LeakyRelu(Function):
    """x for x > 0, slope * x otherwise (the gradient at 0 is slope, as in PyTorch)."""

    @staticmethod
    def forward(ctx, x, slope=0.01):
        ctx.slope = slope
        ctx.save_for_backward(x)
        return np.where(x > 0, x, x * slope)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return where(x > 0, grad, grad * ctx.slope)


# ---- choosing between inputs --------------------------------------------------------------------

class _Extremum(Function):
    """maximum/minimum of two inputs; at ties each input gets half the gradient (as PyTorch).

    NaN propagates, as numpy's and PyTorch's maximum: the result is nan and the NaN operand
    gets the gradient (two NaNs share it as a tie).
    """

    pick = None  # np.maximum or np.minimum

    @classmethod
    def forward(cls, ctx, a, b):
        _binary_shapes(ctx, a, b)
        ctx.save_for_backward(a, b)
        return cls.pick(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        a_shape, b_shape = ctx.shapes
        a_raw = a.data if isinstance(a, Variable) else np.asarray(a)
        b_raw = b.data if isinstance(b, Variable) else np.asarray(b)
        a_nan, b_nan = np.isnan(a_raw), np.isnan(b_raw)
        # A NaN wins over a number; NaN against NaN is a tie. Constants (masks) throughout.
        wins = ((a_raw > b_raw) if ctx.pick is np.maximum else (a_raw < b_raw)) | (a_nan & ~b_nan)
        ties = (a_raw == b_raw) | (a_nan & b_nan)
        half = grad * 0.5
        grad_a = grad_b = None
        if need_a:
            grad_a = sum_to(where(wins, grad, where(ties, half, 0)), a_shape)
        if need_b:
            grad_b = sum_to(where(wins, 0, where(ties, half, grad)), b_shape)
        return grad_a, grad_b


@primitive("tensor")
class Maximum(_Extremum):
    pick = staticmethod(np.maximum)


@primitive("tensor")
class Minimum(_Extremum):
    pick = staticmethod(np.minimum)


@primitive("tensor")
class Where(Function):
    """``a`` where ``condition`` holds, else ``b``; no gradient flows to the condition."""

    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        ctx.save_for_backward(condition)
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_tensors
        _, need_a, need_b = ctx.needs_input_grad
        a_shape, b_shape = ctx.shapes
        return (None,
                sum_to(where(condition, grad, 0), a_shape) if need_a else None,
                sum_to(where(condition, 0, grad), b_shape) if need_b else None)


@primitive("tensor")
class Clip(Function):
    """x limited to [low, high] (either may be None); gradient 1 inside, boundaries included."""

    @staticmethod
    def forward(ctx, x, low=None, high=None):
        inside = np.ones(np.shape(x), dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        ctx.save_for_backward(inside)
        return np.clip(x, low, high)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return where(inside, grad, 0)


# ---- public functions: record on Tensors, plain numpy on arrays ---------------------------------

def _any_variable(a, b) -> bool:
    return isinstance(a, Variable) or isinstance(b, Variable)


def add(a, b):
    """a + b with broadcasting."""
    return Add.apply(a, b) if _any_variable(a, b) else np.add(a, b)


def sub(a, b):
    """a - b with broadcasting."""
    return Sub.apply(a, b) if _any_variable(a, b) else np.subtract(a, b)


def mul(a, b):
    """a * b with broadcasting."""
    return Mul.apply(a, b) if _any_variable(a, b) else np.multiply(a, b)


def div(a, b):
    """a / b (true division) with broadcasting."""
    return Div.apply(a, b) if _any_variable(a, b) else np.true_divide(a, b)


def neg(x):
    """-x."""
    return Neg.apply(x) if isinstance(x, Variable) else np.negative(x)


def pow(a, b):  # noqa: A001 - the name users expect, as numpy's and PyTorch's
    """a ** b with broadcasting; either may be a tensor."""
    return Pow.apply(a, b) if _any_variable(a, b) else np.power(a, b)


def clone(x):
    """A copy of x in new memory; on a Tensor the copy stays in the graph."""
    return Clone.apply(x) if isinstance(x, Variable) else np.array(x, copy=True)


def exp(x):
    """e ** x."""
    return Exp.apply(x) if isinstance(x, Variable) else np.exp(x)


def log(x):
    """Natural logarithm."""
    return Log.apply(x) if isinstance(x, Variable) else np.log(x)


def sqrt(x):
    """Square root."""
    return Sqrt.apply(x) if isinstance(x, Variable) else np.sqrt(x)


def abs(x):  # noqa: A001
    """|x|; its gradient at 0 is 0, as in PyTorch (``abs(Tensor([0.]))`` passes no gradient)."""
    return Abs.apply(x) if isinstance(x, Variable) else np.abs(x)


def tanh(x):
    """Hyperbolic tangent."""
    return Tanh.apply(x) if isinstance(x, Variable) else np.tanh(x)


def sigmoid(x):
    """1 / (1 + e**-x), computed without overflow for large |x|."""
    return Sigmoid.apply(x) if isinstance(x, Variable) else _sigmoid(x)


def relu(x):
    """max(x, 0); its gradient at 0 is 0, as in PyTorch."""
    return Relu.apply(x) if isinstance(x, Variable) else np.maximum(x, 0)


def leaky_relu(x, slope: float = 0.01):
    """x for x > 0, else slope * x; its gradient at 0 is ``slope``, as in PyTorch."""
    if isinstance(x, Variable):
        return LeakyRelu.apply(x, slope=_weak(slope))
    return np.where(x > 0, x, x * slope)


def maximum(a, b):
    """Elementwise larger of a and b (ties split the gradient evenly)."""
    return Maximum.apply(a, b) if _any_variable(a, b) else np.maximum(a, b)


def minimum(a, b):
    """Elementwise smaller of a and b (ties split the gradient evenly)."""
    return Minimum.apply(a, b) if _any_variable(a, b) else np.minimum(a, b)


def where(condition, a, b):
    """``a`` where ``condition`` is true, else ``b`` (all three broadcast together)."""
    if _any_variable(a, b):
        return Where.apply(condition, a, b)
    if isinstance(condition, Variable):
        condition = condition.data
    return np.where(condition, a, b)


def _weak(value):
    """A numpy scalar or 0-d array as a Python number, so that it does not widen a float32
    tensor (as Function.apply does for positional constants)."""
    if isinstance(value, np.generic) or (type(value) is np.ndarray and value.ndim == 0):
        return value.item()
    return value


def clip(x, low=None, high=None):
    """x limited to [low, high]; the gradient is 1 inside and on the bounds, 0 beyond (as
    PyTorch's clamp), so values clipped away pass no gradient."""
    if isinstance(x, Variable):
        return Clip.apply(x, low=_weak(low), high=_weak(high))
    return np.clip(x, low, high)


def sign(x):
    """-1, 0 or 1 by the sign of x; a constant as far as gradients go (its derivative is 0)."""
    if isinstance(x, Variable):
        return x._family._from_op(np.sign(x.data), None)
    return np.sign(x)
