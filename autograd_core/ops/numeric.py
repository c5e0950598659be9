"""Numeric elementwise ops numpy users reach for: trigonometry and its inverses, hyperbolic
functions, more exponentials and logarithms, ``hypot``, ``square``, ``softplus``, rounding, and the
float tests (``isnan``, ``isinf``, ``isfinite``, ``isclose``).

Each differentiable op is one :class:`Elementwise` declaration (see ``ops/elementwise.py``): a
numpy kernel, a float kernel from :mod:`math` where it has one (so the op is a Scalar op too,
with numpy's inf/nan answers where ``math`` raises) and one backward rule written with the
library's differentiable functions, which gives second derivatives as well.

Rounding (``floor``, ``ceil``, ``round``) is piecewise constant. As in PyTorch these are
primitives whose gradient is 0 everywhere (also at the jumps, where no derivative exists), not
untracked functions: the result stays in the graph, so ``x - x.floor()`` requires grad and
passes gradient 1 to ``x``. The float tests return bools and no gradient.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from ..engine import Variable
from ..registry import primitive, untracked
from .elementwise import (
    _OUT,
    _PLAIN_NUMBERS,
    Elementwise,
    _float_sigmoid,
    _sigmoid,
    exp,
    sigmoid,
    sqrt,
    tanh,
)
from .special import erf

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


# ---- trigonometry -------------------------------------------------------------------------------

class Sin(Elementwise):
    """sin(x), x in radians."""

    kernel, scalar_kernel = staticmethod(np.sin), staticmethod(math.sin)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * cos(x)


class Cos(Elementwise):
    """cos(x), x in radians."""

    kernel, scalar_kernel = staticmethod(np.cos), staticmethod(math.cos)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return -grad * sin(x)


class Tan(Elementwise):
    """tan(x), x in radians; its derivative is 1 + tan(x)**2 (huge near the poles at
    pi/2 + k*pi, which floats never hit exactly)."""

    kernel, scalar_kernel = staticmethod(np.tan), staticmethod(math.tan)
    saves = (_OUT,)

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 + out * out)


class Arcsin(Elementwise):
    """Inverse sine, defined on [-1, 1] (nan outside, as numpy). The gradient
    1 / sqrt(1 - x**2) is inf at -1 and 1 (the slope's limit, as PyTorch) and nan outside."""

    kernel, scalar_kernel = staticmethod(np.arcsin), staticmethod(math.asin)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / sqrt((1 - x) * (1 + x))  # (1 - x)(1 + x): no cancellation near |x| = 1


class Arccos(Elementwise):
    """Inverse cosine, defined on [-1, 1] (nan outside, as numpy). The gradient
    -1 / sqrt(1 - x**2) is -inf at -1 and 1 (as PyTorch) and nan outside."""

    kernel, scalar_kernel = staticmethod(np.arccos), staticmethod(math.acos)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return -grad / sqrt((1 - x) * (1 + x))


class Arctan(Elementwise):
    """Inverse tangent, defined everywhere; gradient 1 / (1 + x**2)."""

    kernel, scalar_kernel = staticmethod(np.arctan), staticmethod(math.atan)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + x * x)


class Arctan2(Elementwise):
    """arctan2(y, x): the angle of the point (x, y), in [-pi, pi], with numpy's signed-zero
    and inf conventions. It jumps from pi to -pi across the negative x axis, where the gradient
    is that of either side (x / r**2 and -y / r**2, which agree there). At the origin the
    gradient is 0 / 0 = nan, as PyTorch's."""

    kernel, scalar_kernel = staticmethod(np.arctan2), staticmethod(math.atan2)
    saves = (0, 1)

    @staticmethod
    def backward(ctx, grad):
        y, x = ctx.saved_tensors
        need_y, need_x = ctx.needs_input_grad
        r = hypot(y, x)  # x / r / r rather than x / (x*x + y*y): no overflow or underflow
        return (grad * (x / r) / r if need_y else None,
                -grad * (y / r) / r if need_x else None)


# ---- hyperbolic functions -----------------------------------------------------------------------

class Sinh(Elementwise):
    kernel, scalar_kernel = staticmethod(np.sinh), staticmethod(math.sinh)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * cosh(x)


class Cosh(Elementwise):
    kernel, scalar_kernel = staticmethod(np.cosh), staticmethod(math.cosh)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * sinh(x)


class Arcsinh(Elementwise):
    """Inverse hyperbolic sine, defined everywhere; gradient 1 / sqrt(1 + x**2)."""

    kernel, scalar_kernel = staticmethod(np.arcsinh), staticmethod(math.asinh)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / hypot(x, 1.0)  # sqrt(1 + x**2) without overflow for large |x|


class Arctanh(Elementwise):
    """Inverse hyperbolic tangent, defined on (-1, 1): -inf and inf at -1 and 1, nan outside
    (as numpy). The gradient 1 / (1 - x**2) is inf at -1 and 1 (as PyTorch)."""

    kernel, scalar_kernel = staticmethod(np.arctanh), staticmethod(math.atanh)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / ((1 - x) * (1 + x))


# ---- exponentials and logarithms ----------------------------------------------------------------

def _float_exp2(x: float) -> float:
    return math.pow(2.0, x)  # raises OverflowError past the float range: numpy's inf is used


class Exp2(Elementwise):
    """2 ** x; gradient 2 ** x * ln 2."""

    kernel, scalar_kernel = staticmethod(np.exp2), staticmethod(_float_exp2)
    saves = (_OUT,)

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * _LN2


class Log2(Elementwise):
    """Base-2 logarithm: -inf at 0 and nan below, as numpy; gradient 1 / (x ln 2)."""

    kernel, scalar_kernel = staticmethod(np.log2), staticmethod(math.log2)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (x * _LN2)


class Log10(Elementwise):
    """Base-10 logarithm: -inf at 0 and nan below, as numpy; gradient 1 / (x ln 10)."""

    kernel, scalar_kernel = staticmethod(np.log10), staticmethod(math.log10)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (x * _LN10)


class Log1p(Elementwise):
    """log(1 + x), accurate for small |x|: -inf at -1 and nan below, as numpy; gradient
    1 / (1 + x)."""

    kernel, scalar_kernel = staticmethod(np.log1p), staticmethod(math.log1p)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + x)


class Expm1(Elementwise):
    """exp(x) - 1, accurate for small |x|; gradient exp(x)."""

    kernel, scalar_kernel = staticmethod(np.expm1), staticmethod(math.expm1)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        # exp(x), not out + 1, which rounds to 0 for x below about -37 (exp(x) is still > 0).
        return grad * exp(x)


def _softplus(x):
    return np.logaddexp(0.0, x)


def _float_softplus(x: float) -> float:
    # log(1 + e**x) = max(x, 0) + log(1 + e**-|x|): e is raised to a non-positive power only.
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


class Softplus(Elementwise):
    """log(1 + exp(x)), a smooth relu (PyTorch's ``softplus`` with beta=1), computed without
    overflow for any x; its gradient is sigmoid(x).

    PyTorch returns x itself where x > 20 (its ``threshold``); this op computes
    log(1 + exp(x)) there too, which differs from x by less than 2.1e-9.
    """

    kernel, scalar_kernel = staticmethod(_softplus), staticmethod(_float_softplus)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * sigmoid(x)


# ---- activations built on the error function ----------------------------------------------------

def _erf_fallback(x):
    # math.erf element by element: within an ulp everywhere, but ten times slower than scipy's
    x = np.asarray(x)
    return np.vectorize(math.erf, otypes=[x.dtype if x.dtype.kind == "f" else np.float64])(x)


# GELU's own erf kernel. The ``erf`` op (ops/special.py) applies math.erf per element, for
# last-bit agreement with math; that costs ~25 ms on a transformer's (32, 16, 256) activations
# here, where scipy's compiled erf (Cephes, relative error below 1e-15) takes ~3 ms. GELU uses
# scipy's when installed, on arrays and on floats alike (so that Scalar and Tensor agree), and
# the ``erf`` op only where its backward is recorded (second derivatives).
# scipy.special is imported on GELU's first use, not with the library: it brings about 16,000
# objects that the garbage collector tracks (numpy.testing, unittest, pydoc, ...), and every
# full collection of the user's process walks them all (in a fresh process with the library,
# 39,000 tracked objects instead of 23,000: a full collection there took 18 ms instead of 10).
_erf_kernels = None  # (on arrays, on floats), once chosen


def _chosen_erf() -> tuple:
    global _erf_kernels
    if _erf_kernels is None:
        try:
            from scipy.special import erf
        except ImportError:  # pragma: no cover - scipy comes with scikit-learn in our environments
            _erf_kernels = (_erf_fallback, math.erf)
        else:
            _erf_kernels = (erf, lambda x: float(erf(x)))
    return _erf_kernels


def _erf_kernel(x):
    return _chosen_erf()[0](x)


def _float_erf(x: float) -> float:
    return _chosen_erf()[1](x)

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_SCALE = math.sqrt(2.0 / math.pi)  # the tanh form of gelu (Hendrycks and Gimpel)
_TANH_CUBIC = 0.044715


def _erf(x):
    out = _erf_kernel(x)
    return out.astype(x.dtype, copy=False) if isinstance(x, np.ndarray) else out


# x * Phi(x) is computed as x * ((erf(x / sqrt 2) + 1) * 0.5) everywhere (arrays, floats, the
# forward that keeps Phi), so that Scalar and Tensor round alike.

def _gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(_TANH_SCALE * (x + _TANH_CUBIC * x * x * x)))
    return x * ((_erf(x * _INV_SQRT2) + 1.0) * 0.5)


def _float_gelu(x: float, approximate="none") -> float:
    if approximate == "tanh":
        return 0.5 * x * (1.0 + math.tanh(_TANH_SCALE * (x + _TANH_CUBIC * x * x * x)))
    return x * ((_float_erf(x * _INV_SQRT2) + 1.0) * 0.5)


class Gelu(Elementwise):
    """The Gaussian error linear unit, x * Phi(x) with Phi the standard normal distribution
    function (PyTorch's default, ``approximate="none"``), or PyTorch's ``approximate="tanh"``
    form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))). Smooth everywhere: no kink.
    The gradient is Phi(x) + x * phi(x) (phi the normal density) for the exact form, the
    derivative of the tanh expression for the other."""

    kernel, scalar_kernel = staticmethod(_gelu), staticmethod(_float_gelu)
    saves = (0,)

    @classmethod
    def forward(cls, ctx, x, **kwargs):
        if kwargs:  # the tanh form
            return super().forward(ctx, x, **kwargs)
        # Phi(x) is kept for the first backward pass: erf has no numpy kernel (scipy's costs
        # about six exps), and the exact form's gradient needs Phi(x) again.
        cdf = _erf(x * _INV_SQRT2)
        cdf += 1.0
        cdf *= 0.5
        ctx.cdf = cdf
        ctx._saved = (x,)
        return x * cdf

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        kwargs = getattr(ctx, "kwargs", None)
        cdf = ctx.__dict__.pop("cdf", None)  # once: a second pass (retain_graph) recomputes it
        if cdf is not None and type(x) is np.ndarray:  # raw arrays: no graph to record
            # grad * (cdf + x * phi(x)), in one buffer (temporaries of this size cost page
            # faults): phi(x) = exp(-x**2 / 2) / sqrt(2 pi)
            if x.ndim == 0:  # numpy's 0-d results are scalars: nothing to work in place
                return grad * (cdf + x * np.exp(x * x * -0.5) * _INV_SQRT_2PI)
            slope = np.multiply(x, x)
            slope *= -0.5
            np.exp(slope, out=slope)
            slope *= x
            slope *= _INV_SQRT_2PI
            slope += cdf
            slope *= grad
            return slope
        if kwargs and kwargs.get("approximate") == "tanh":
            t = tanh((x + x * x * x * _TANH_CUBIC) * _TANH_SCALE)
            slope = (1 + x * x * (3 * _TANH_CUBIC)) * _TANH_SCALE
            return grad * ((1 + t) * 0.5 + x * 0.5 * (1 - t * t) * slope)
        if isinstance(x, Variable):  # recorded (second derivatives): erf as an op
            cdf = (erf(x * _INV_SQRT2) + 1) * 0.5
        elif isinstance(x, np.ndarray):
            cdf = (_erf(x * _INV_SQRT2) + 1.0) * 0.5
        else:  # a Scalar's float
            cdf = (_float_erf(x * _INV_SQRT2) + 1.0) * 0.5
        return grad * (cdf + x * exp(x * x * -0.5) * _INV_SQRT_2PI)


def _silu(x):
    return x * _sigmoid(x)


def _float_silu(x: float) -> float:
    return x * _float_sigmoid(x)


class Silu(Elementwise):
    """x * sigmoid(x) (the swish activation; PyTorch's ``silu``), smooth everywhere, without
    overflow for large |x|; gradient s * (1 + x * (1 - s)) with s = sigmoid(x)."""

    kernel, scalar_kernel = staticmethod(_silu), staticmethod(_float_silu)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        s = sigmoid(x)
        return grad * (s * (1 + x * (1 - s)))


# ---- powers and norms ---------------------------------------------------------------------------

def _float_square(x: float) -> float:
    return x * x


class Square(Elementwise):
    """x ** 2; gradient 2x."""

    kernel, scalar_kernel = staticmethod(np.square), staticmethod(_float_square)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x * 2)


class Hypot(Elementwise):
    """sqrt(a**2 + b**2) without overflow or underflow in the squares. The gradient
    (a / hypot, b / hypot) is 0 / 0 = nan at a = b = 0, as PyTorch's."""

    kernel, scalar_kernel = staticmethod(np.hypot), staticmethod(math.hypot)
    saves = (0, 1, _OUT)

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return grad * a / out if need_a else None, grad * b / out if need_b else None


# ---- rounding: zero gradient --------------------------------------------------------------------

def _signed(rounded: int, x: float) -> float:
    """An integer from math's rounding as a float; a zero takes x's sign, as IEEE rounding
    (numpy) gives: floor(-0.0), ceil(-0.5) and round(-0.4) are -0.0."""
    return math.copysign(0.0, x) if rounded == 0 else float(rounded)


def _float_floor(x: float) -> float:
    return _signed(math.floor(x), x)  # inf and nan raise: numpy's answer (x itself) is used


def _float_ceil(x: float) -> float:
    return _signed(math.ceil(x), x)


def _float_round(x: float, decimals: int = 0) -> float:
    if decimals:  # numpy scales by 10**decimals, which Python's correctly rounded round() doesn't
        return float(np.round(x, decimals))
    return _signed(builtins.round(x), x)  # half to even, as numpy's (`round` is ours below)


class _Rounding(Elementwise):
    """A piecewise-constant op: its gradient is 0 everywhere, as in PyTorch."""

    @staticmethod
    def backward(ctx, grad):
        return grad * 0


class Floor(_Rounding):
    """The largest integer <= x (inf and nan stay as they are); gradient 0 everywhere, the jumps
    included (as PyTorch)."""

    kernel, scalar_kernel = staticmethod(np.floor), staticmethod(_float_floor)


class Ceil(_Rounding):
    """The smallest integer >= x (inf and nan stay as they are); gradient 0 everywhere, the
    jumps included (as PyTorch)."""

    kernel, scalar_kernel = staticmethod(np.ceil), staticmethod(_float_ceil)


class Round(_Rounding):
    """x rounded to ``decimals`` decimal places, halves to even (numpy's ``round``:
    round(0.5) = 0, round(1.5) = round(2.5) = 2, round(-0.5) = -0); gradient 0 everywhere, the
    jumps included (as PyTorch)."""

    kernel, scalar_kernel = staticmethod(np.round), staticmethod(_float_round)


# ---- the public functions -----------------------------------------------------------------------

sin = primitive("sin", Sin, numpy=np.sin, method=True)
cos = primitive("cos", Cos, numpy=np.cos, method=True)
tan = primitive("tan", Tan, numpy=np.tan, method=True)
arcsin = primitive("arcsin", Arcsin, numpy=np.arcsin, method=True)
arccos = primitive("arccos", Arccos, numpy=np.arccos, method=True)
arctan = primitive("arctan", Arctan, numpy=np.arctan, method=True)
arctan2 = primitive("arctan2", Arctan2, numpy=np.arctan2, method=True)
sinh = primitive("sinh", Sinh, numpy=np.sinh, method=True)
cosh = primitive("cosh", Cosh, numpy=np.cosh, method=True)
arcsinh = primitive("arcsinh", Arcsinh, numpy=np.arcsinh, method=True)
arctanh = primitive("arctanh", Arctanh, numpy=np.arctanh, method=True)
exp2 = primitive("exp2", Exp2, numpy=np.exp2, method=True)
log2 = primitive("log2", Log2, numpy=np.log2, method=True)
log10 = primitive("log10", Log10, numpy=np.log10, method=True)
log1p = primitive("log1p", Log1p, numpy=np.log1p, method=True)
expm1 = primitive("expm1", Expm1, numpy=np.expm1, method=True)
softplus = primitive("softplus", Softplus)  # no numpy function; PyTorch's is not a method
def _gelu_public(x, approximate: str = "none"):
    """GELU, x * Phi(x) (``approximate="none"``, PyTorch's default) or its tanh approximation
    (``approximate="tanh"``); see :class:`Gelu`."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    kwargs = {"approximate": "tanh"} if approximate == "tanh" else {}
    if isinstance(x, Variable):
        return Gelu.apply(x, **kwargs)
    return Gelu.compute(x, **kwargs)


gelu = primitive("gelu", Gelu, public=_gelu_public)
silu = primitive("silu", Silu)
square = primitive("square", Square, numpy=np.square, method=True)
hypot = primitive("hypot", Hypot, numpy=np.hypot, method=True)
floor = primitive("floor", Floor, numpy=np.floor, method=True)
ceil = primitive("ceil", Ceil, numpy=np.ceil, method=True)


def _round_public(x, decimals: int = 0):
    """x rounded to ``decimals`` decimal places (negative: to tens, hundreds, ...), halves to
    even as numpy's ``round``; gradient 0 everywhere, as PyTorch's."""
    kwargs = {"decimals": decimals} if decimals else {}
    if isinstance(x, Variable):
        return Round.apply(x, **kwargs)
    return Round.compute(x, **kwargs)


round = primitive("round", Round, numpy=(np.round, np.around), method=True,  # noqa: A001
                  public=_round_public)


# ---- float tests: bool results, no gradient -----------------------------------------------------

def _float_test(name: str, np_test, math_test, doc: str):
    """An untracked test of each value: a bool Tensor for a Tensor, a bool for a Scalar or a
    Python number (as Scalar's comparisons), numpy's bool array otherwise."""

    def test(x):
        if isinstance(x, Variable):
            if type(x.data) in _PLAIN_NUMBERS:  # a Scalar
                return math_test(x.data)
            return x._family._from_op(np_test(x.data), None)
        if type(x) in _PLAIN_NUMBERS:
            return math_test(x)
        return np_test(x)

    test.__name__ = test.__qualname__ = name
    test.__doc__ = doc
    return untracked(numpy=np_test, method=True)(test)


isnan = _float_test("isnan", np.isnan, math.isnan,
                    "Whether each value is nan (a bool, or bool Tensor); no gradient.")
isinf = _float_test("isinf", np.isinf, math.isinf,
                    "Whether each value is inf or -inf (a bool, or bool Tensor); no gradient.")
isfinite = _float_test("isfinite", np.isfinite, math.isfinite,
                       "Whether each value is neither inf, -inf nor nan (a bool, or bool "
                       "Tensor); no gradient.")


@untracked(numpy=np.isclose, method=True)
def isclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
    """Whether |a - b| <= atol + rtol * |b| for each pair of values (numpy's test, which is not
    symmetric in a and b, and numpy's and PyTorch's default tolerances); infs are close only to
    themselves and nan to nothing unless ``equal_nan``. A bool Tensor when either side is a
    Tensor, a bool for Scalars and Python numbers, else numpy's; no gradient."""
    raw_a = a.data if isinstance(a, Variable) else a
    raw_b = b.data if isinstance(b, Variable) else b
    close = np.isclose(raw_a, raw_b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    for value, raw in ((a, raw_a), (b, raw_b)):
        if isinstance(value, Variable) and type(raw) not in _PLAIN_NUMBERS:  # a Tensor
            return value._family._from_op(close, None)
    if type(raw_a) in _PLAIN_NUMBERS and type(raw_b) in _PLAIN_NUMBERS:  # Scalars, numbers
        return bool(close)
    return close
