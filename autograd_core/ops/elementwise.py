"""Elementwise primitives: arithmetic, the exp/log family, activations, max/min, where, clip.

Each op is declared once, for Tensor and Scalar alike: a numpy ``kernel`` (arrays), a
``scalar_kernel`` (Python floats, for Scalar), what backward reads (``saves``), and one backward
rule written with operators and the public functions of ``autograd_core.ops``. The rule runs on
whatever the engine hands it: arrays, floats, or (for ``create_graph=True``) Tensors and Scalars,
so the same few lines give first and second derivatives for both front ends. Broadcasting is
undone by the engine, not here: a rule returns the gradient with its output's shape.

One semantics for both front ends: numpy's. Where a float kernel raises (``math.log(0)``,
``0.0 ** -1``, ``math.exp(1000)``) the op gives numpy's inf or nan instead, on Scalars as on
Tensors. Derivatives at kinks and ties are PyTorch's (stated on each op).
"""

from __future__ import annotations

import inspect
import math
import operator

import numpy as np

from ..engine import _OUTPUT, Function, Variable
from ..registry import primitive, untracked

_PLAIN_NUMBERS = (float, int, bool)
_OUT = "out"


class Elementwise(Function):
    """An op applied element by element, with numpy broadcasting between its inputs.

    Subclasses set ``kernel`` (numpy arrays), optionally ``scalar_kernel`` (Python floats: makes
    the op a Scalar op too), ``saves`` (which inputs, by position, and/or ``"out"`` backward
    reads: ``saves = (0, "out")``) and write ``backward``. Keyword arguments of the call are kept
    as ``ctx.kwargs`` when given.
    """

    kernel = None
    scalar_kernel = None
    saves: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        saves = tuple(cls.saves)
        cls._pick_saved = staticmethod(_saver(saves))
        # Inputs by position and the output: the roles the engine would find by identity.
        cls._saved_roles = None if saves == tuple(range(len(saves))) else tuple(
            _OUTPUT if s == _OUT else s for s in saves)
        if cls.kernel is not None:
            cls.arity = _arity(cls.kernel, cls.scalar_kernel)

    @classmethod
    def forward(cls, ctx, *xs, **kwargs):
        out = cls.kernel(*xs, **kwargs)
        ctx._saved = cls._pick_saved(xs, out)
        if kwargs:
            ctx.kwargs = kwargs
        return out

    @classmethod
    def forward_scalar(cls, ctx, *xs, **kwargs):
        """Forward on Python floats (Scalar's)."""
        try:  # on_floats, written out: this runs once per Scalar op
            out = cls.scalar_kernel(*xs, **kwargs)
        except (ArithmeticError, ValueError):
            out = on_floats(cls, xs, kwargs)
        ctx._saved = cls._pick_saved(xs, out)
        if kwargs:
            ctx.kwargs = kwargs
        return out

    @classmethod
    def compute(cls, *xs, **kwargs):
        """The op on plain values, recording nothing: floats in, a float out (when the op has a
        float kernel), else numpy."""
        if cls.scalar_kernel is not None:
            for x in xs:
                if type(x) not in _PLAIN_NUMBERS:
                    break
            else:
                return on_floats(cls, xs, kwargs)
        return cls.kernel(*xs, **kwargs)


def _saver(saves: tuple):
    """A function (inputs, output) -> what backward reads, chosen once per op class."""
    if not saves:
        return lambda xs, out: ()
    if saves == (_OUT,):
        return lambda xs, out: (out,)
    if saves == (0,):
        return lambda xs, out: xs[:1]
    if saves == (0, 1):
        return lambda xs, out: xs[:2]
    return lambda xs, out: tuple(out if s == _OUT else xs[s] for s in saves)


def _arity(*kernels) -> int:
    """How many inputs an op takes: a ufunc says so, a Python function by its signature."""
    if hasattr(kernels[0], "nin"):
        return kernels[0].nin
    for kernel in reversed(kernels):  # the float kernel is a Python function, as a rule
        if kernel is None:
            continue
        try:
            parameters = inspect.signature(kernel).parameters.values()
        except (TypeError, ValueError):  # a builtin without a signature
            continue
        return sum(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                   for p in parameters)
    raise TypeError(f"cannot tell how many inputs {kernels} take")


def on_floats(cls, xs, kwargs) -> float:
    """``scalar_kernel`` on floats; where it raises, numpy's answer on float64 (inf, nan)."""
    try:
        return cls.scalar_kernel(*xs, **kwargs)
    except (ArithmeticError, ValueError):
        with np.errstate(all="ignore"):
            return float(cls.kernel(*(np.float64(x) for x in xs), **kwargs))


# ---- arithmetic ---------------------------------------------------------------------------------

class Add(Elementwise):
    kernel = scalar_kernel = staticmethod(operator.add)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Elementwise):
    kernel = scalar_kernel = staticmethod(operator.sub)

    @staticmethod
    def backward(ctx, grad):
        need_a, need_b = ctx.needs_input_grad
        return grad, -grad if need_b else None


class Mul(Elementwise):
    kernel = scalar_kernel = staticmethod(operator.mul)
    saves = (0, 1)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        if type(grad) is float:  # a Scalar's: two float products cost less than asking
            return grad * b, grad * a  # which are needed (the engine drops the unneeded one)
        need_a, need_b = ctx.needs_input_grad
        return grad * b if need_a else None, grad * a if need_b else None


class Div(Elementwise):
    kernel = scalar_kernel = staticmethod(operator.truediv)
    saves = (0, 1)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return grad / b if need_a else None, -grad * a / (b * b) if need_b else None


class Neg(Elementwise):
    kernel = scalar_kernel = staticmethod(operator.neg)

    @staticmethod
    def backward(ctx, grad):
        return -grad


def _power(a, b):
    with np.errstate(divide="ignore"):
        return np.power(a, b)


def _float_power(a, b):
    # numpy computes x ** 0.5 as sqrt(x) (so (-inf) ** 0.5 is nan, where C's pow gives inf)
    return math.sqrt(a) if b == 0.5 else math.pow(a, b)


class Pow(Elementwise):
    """a ** b, either a tensor or a constant.

    As PyTorch at a zero base: ``0 ** -0.5`` is inf, the gradient of ``x ** 0.5`` at 0 is inf (the
    slope's limit), that of ``x ** 1.5`` is 0, and that of ``x ** 0`` is 0 everywhere (also for a
    tensor exponent that is 0); d(a ** b)/db is taken as 0 where a <= 0, which has no real log.
    A negative base with a fractional exponent gives nan, never a complex number.
    """

    kernel = staticmethod(_power)
    scalar_kernel = staticmethod(_float_power)
    saves = (0, 1, _OUT)

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_b = None
        if need_a:
            if type(b) is float or type(b) is int:  # a constant exponent, the usual case
                grad_a = grad * b * pow(a, b - 1) if b != 0 else grad * 0
            else:
                # Where the exponent is 0 the derivative is 0 too (PyTorch), even at a == 0 or
                # nan, where b * a ** (b - 1) would be 0 * inf or 0 * nan: base 1 there gives
                # b * 1 ** (b - 1) = 0 and keeps the rule differentiable in b.
                undefined = (b == 0) & ((a == 0) | (a != a))
                grad_a = grad * b * pow(where(undefined, 1, a), b - 1)
        if need_b:
            positive = a > 0
            grad_b = where(positive, grad * out * log(where(positive, a, 1)), grad * 0)
        return grad_a, grad_b


# ---- exp / log family ---------------------------------------------------------------------------

class Exp(Elementwise):
    kernel, scalar_kernel = staticmethod(np.exp), staticmethod(math.exp)
    saves = (_OUT,)

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Elementwise):
    """Natural logarithm: -inf at 0 and nan below, as numpy."""

    kernel, scalar_kernel = staticmethod(np.log), staticmethod(math.log)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / x


class Sqrt(Elementwise):
    """Square root; its gradient at 0 is inf (the slope's limit), as PyTorch's."""

    kernel, scalar_kernel = staticmethod(np.sqrt), staticmethod(math.sqrt)
    saves = (_OUT,)

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (out * 2)


class Abs(Elementwise):
    """|x|; the gradient at 0 is 0 (the subgradient PyTorch picks)."""

    kernel, scalar_kernel = staticmethod(np.abs), staticmethod(abs)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * sign(x)


# ---- activations --------------------------------------------------------------------------------

class Tanh(Elementwise):
    kernel, scalar_kernel = staticmethod(np.tanh), staticmethod(math.tanh)
    saves = (_OUT,)

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


def _sigmoid(x):
    # exp of a non-positive number only, so neither branch overflows for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _float_sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = math.exp(x)
    return e / (1 + e)


class Sigmoid(Elementwise):
    """1 / (1 + e**-x), without overflow for large |x|."""

    kernel, scalar_kernel = staticmethod(_sigmoid), staticmethod(_float_sigmoid)
    saves = (_OUT,)

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)


def _float_relu(x: float) -> float:
    return 0.0 if x <= 0 else x  # nan stays nan, as np.maximum(nan, 0)


class Relu(Elementwise):
    """max(x, 0); the gradient at 0 is 0, as in PyTorch; relu(nan) is nan, with gradient 0."""

    kernel, scalar_kernel = staticmethod(lambda x: np.maximum(x, 0)), staticmethod(_float_relu)
    saves = (_OUT,)

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out > 0)


def _leaky_relu(x, slope=0.01):
    return np.where(x > 0, x, x * slope)


def _float_leaky_relu(x, slope=0.01):
    return x if x > 0 else x * slope


class LeakyRelu(Elementwise):
    """x for x > 0, slope * x otherwise (the gradient at 0 is slope, as in PyTorch)."""

    kernel, scalar_kernel = staticmethod(_leaky_relu), staticmethod(_float_leaky_relu)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        slope = ctx.kwargs.get("slope", 0.01) if hasattr(ctx, "kwargs") else 0.01
        return where(x > 0, grad, grad * slope)


# ---- choosing between inputs --------------------------------------------------------------------

class _Extremum(Elementwise):
    """maximum/minimum of two inputs; at ties each input gets half the gradient (as PyTorch).

    NaN propagates, as numpy's and PyTorch's maximum: the result is nan and the NaN operand
    gets the gradient (two NaNs share it as a tie).
    """

    saves = (0, 1)
    larger = True

    @classmethod
    def backward(cls, ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        a_nan, b_nan = a != a, b != b
        wins = ((a > b) if cls.larger else (a < b)) | (a_nan & (b == b))
        ties = (a == b) | (a_nan & b_nan)
        zero = grad * 0
        return (where(wins, grad, where(ties, grad * 0.5, zero)) if need_a else None,
                where(wins, zero, where(ties, grad * 0.5, grad)) if need_b else None)


def _float_max(a, b):
    return float(a if a >= b or a != a else b)  # nan wins, as np.maximum


def _float_min(a, b):
    return float(a if a <= b or a != a else b)


class Maximum(_Extremum):
    kernel, scalar_kernel = staticmethod(np.maximum), staticmethod(_float_max)
    larger = True


class Minimum(_Extremum):
    kernel, scalar_kernel = staticmethod(np.minimum), staticmethod(_float_min)
    larger = False


def _float_where(condition, a, b):
    return a if condition else b


class Where(Elementwise):
    """``a`` where ``condition`` holds, else ``b``; no gradient flows to the condition."""

    kernel, scalar_kernel = staticmethod(np.where), staticmethod(_float_where)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_tensors
        _, need_a, need_b = ctx.needs_input_grad
        zero = grad * 0
        return (None,
                where(condition, grad, zero) if need_a else None,
                where(condition, zero, grad) if need_b else None)


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
        return where(inside, grad, grad * 0)


class Clone(Function):
    """A copy in new memory that stays in the graph (``Tensor.clone()``, as PyTorch's)."""

    @staticmethod
    def forward(ctx, x):
        return np.array(x, copy=True)

    @staticmethod
    def backward(ctx, grad):
        return grad


# ---- the public functions -----------------------------------------------------------------------

add = primitive("add", Add, numpy=np.add)
sub = primitive("sub", Sub, numpy=np.subtract)
mul = primitive("mul", Mul, numpy=np.multiply)
div = primitive("div", Div, numpy=np.true_divide)
neg = primitive("neg", Neg, numpy=np.negative)
pow = primitive("pow", Pow, numpy=np.power)  # noqa: A001 - numpy's and PyTorch's name
exp = primitive("exp", Exp, numpy=np.exp, method=True)
log = primitive("log", Log, numpy=np.log, method=True)
sqrt = primitive("sqrt", Sqrt, numpy=np.sqrt, method=True)
abs = primitive("abs", Abs, numpy=np.absolute, method=True)  # noqa: A001
tanh = primitive("tanh", Tanh, numpy=np.tanh, method=True)
sigmoid = primitive("sigmoid", Sigmoid, method=True)
relu = primitive("relu", Relu, method=True)
maximum = primitive("maximum", Maximum, numpy=np.maximum)
minimum = primitive("minimum", Minimum, numpy=np.minimum)
clone = primitive("clone", Clone, numpy=np.copy, method=True)


def _leaky_relu_public(x, slope: float = 0.01):
    """x for x > 0, else slope * x; its gradient at 0 is ``slope``, as in PyTorch."""
    if isinstance(x, Variable):
        return LeakyRelu.apply(x, slope=_weak(slope))
    return LeakyRelu.compute(x, slope=slope)


leaky_relu = primitive("leaky_relu", LeakyRelu, method=True, public=_leaky_relu_public)


def _where_public(condition, a, b):
    """``a`` where ``condition`` is true, else ``b`` (all three broadcast together)."""
    # A condition whose family runs ops itself (vmap's batched values) takes part as it is.
    taken_over = isinstance(condition, Variable) and condition._takes_over is not None
    if taken_over or isinstance(a, Variable) or isinstance(b, Variable):
        if isinstance(condition, Variable) and not taken_over:
            condition = condition.data
        return Where.apply(condition, a, b)
    if isinstance(condition, Variable):
        condition = condition.data
    return Where.compute(condition, a, b)


where = primitive("where", Where, numpy=np.where, public=_where_public)


def _weak(value):
    """A numpy scalar or 0-d array as a Python number, so that it does not widen a float32
    tensor (as Function.apply does for positional constants)."""
    if isinstance(value, np.generic) or (type(value) is np.ndarray and value.ndim == 0):
        return value.item()
    return value


def _clip_public(x, low=None, high=None):
    """x limited to [low, high]; the gradient is 1 inside and on the bounds, 0 beyond (as
    PyTorch's clamp), so values clipped away pass no gradient."""
    if isinstance(x, Variable):
        return Clip.apply(x, low=_weak(low), high=_weak(high))
    return np.clip(x, low, high)


clip = primitive("clip", Clip, numpy=np.clip, method=True, public=_clip_public)


def _float_sign(x: float) -> float:
    return 1.0 if x > 0 else -1.0 if x < 0 else x * 0.0 if x == x else x  # 0 keeps its sign


@untracked(numpy=np.sign, method=True)
def sign(x):
    """-1, 0 or 1 by the sign of x (nan stays nan); a constant as far as gradients go."""
    if isinstance(x, Variable):
        return x._family._from_op(sign(x.data), None)
    if type(x) in _PLAIN_NUMBERS:
        return _float_sign(x)
    return np.sign(x)
