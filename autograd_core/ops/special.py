"""Special functions: erf and erfc in pure numpy; lgamma, digamma and polygamma through
scipy.special (an optional dependency: ``pip install 'autograd-core[special]'``).

erf/erfc are computed here (numpy has neither) by the power series below |x| = 1.5 and the
continued fraction of erfc above, which agree with C's erf/erfc to about 1e-15 relative (tested
against ``math.erf``/``math.erfc``). lgamma/digamma have no accurate short pure-numpy form near
their zeros (lgamma(1) = lgamma(2) = 0, digamma's root near 1.46), where a Lanczos or Stirling
sum loses all relative accuracy, so they use scipy's, which is. On Scalars, erf, erfc and lgamma
use ``math``'s float functions; digamma and polygamma scipy's.
"""

from __future__ import annotations

import math

import numpy as np

from ..registry import primitive
from .elementwise import Elementwise, exp

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SERIES_LIMIT = 1.5  # below: the series (all terms positive); above: erfc's continued fraction
_SERIES_TERMS = 40   # the terms are below 1e-17 of the sum by then (|x| < 1.5)
_FRACTION_DEPTH = 100  # 1e-16 relative at |x| = 1.5 (60 would give 2e-13), more than enough beyond


def _erf_series(x):
    """erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1 * 3 * ... * (2n+1))."""
    x2 = x * x
    term = x.copy()
    total = x.copy()
    for n in range(1, _SERIES_TERMS):
        term = term * (2.0 * x2 / (2 * n + 1))
        total += term
    return _TWO_OVER_SQRT_PI * np.exp(-x2) * total


def _erfc_fraction(x):
    """erfc(x) for x >= 1.5: exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
    evaluated from the bottom."""
    tail = np.zeros_like(x)
    for k in range(_FRACTION_DEPTH, 0, -1):
        tail = (k / 2.0) / (x + tail)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(-x * x) / math.sqrt(math.pi) / (x + tail)


def _float_array(x):
    x = np.asarray(x)
    return x.astype(np.float64) if x.dtype.kind not in "f" else x


def _erf(x):
    x = _float_array(x)
    out = np.empty_like(x)
    ax = np.abs(x)
    small = ax < _SERIES_LIMIT
    out[small] = _erf_series(x[small])
    large = ~small
    out[large] = np.copysign(1.0 - _erfc_fraction(ax[large]), x[large])
    return out[()] if out.ndim == 0 else out


def _erfc(x):
    x = _float_array(x)
    out = np.empty_like(x)
    small = np.abs(x) < _SERIES_LIMIT
    out[small] = 1.0 - _erf_series(x[small])
    large = ~small
    tail = _erfc_fraction(np.abs(x[large]))
    out[large] = np.where(x[large] > 0, tail, 2.0 - tail)
    return out[()] if out.ndim == 0 else out


class Erf(Elementwise):
    """The error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt; gradient
    ``2/sqrt(pi) exp(-x^2)``."""

    kernel = staticmethod(_erf)
    scalar_kernel = staticmethod(math.erf)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * _TWO_OVER_SQRT_PI * exp(-(x * x))


class Erfc(Elementwise):
    """1 - erf(x), accurate where erf(x) is near 1 (large x); gradient
    ``-2/sqrt(pi) exp(-x^2)``."""

    kernel = staticmethod(_erfc)
    scalar_kernel = staticmethod(math.erfc)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * -_TWO_OVER_SQRT_PI * exp(-(x * x))


def _scipy_special():
    try:
        import scipy.special
    except ImportError:
        raise ImportError("lgamma, digamma and polygamma compute with scipy.special, which is "
                          "not installed: pip install 'autograd-core[special]' (or scipy)"
                          ) from None
    return scipy.special


def _lgamma(x):
    return _scipy_special().gammaln(x)


def _digamma(x):
    return _scipy_special().digamma(x)


def _float_digamma(x: float) -> float:
    return float(_scipy_special().digamma(x))


def _polygamma(n, x):
    out = _scipy_special().polygamma(n, x)
    dtype = getattr(x, "dtype", None)  # scipy widens float32 to float64 here (n is an int)
    if dtype is not None and dtype.kind == "f" and out.dtype != dtype:
        out = out.astype(dtype)
    return out


def _float_polygamma(n, x: float) -> float:
    return float(_scipy_special().polygamma(n, x))


class Lgamma(Elementwise):
    """log|Gamma(x)| (inf at the poles 0, -1, -2, ...); gradient ``digamma(x)``."""

    kernel = staticmethod(_lgamma)
    scalar_kernel = staticmethod(math.lgamma)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * digamma(x)


class Digamma(Elementwise):
    """The derivative of lgamma, Gamma'(x) / Gamma(x); gradient ``polygamma(1, x)``."""

    kernel = staticmethod(_digamma)
    scalar_kernel = staticmethod(_float_digamma)
    saves = (0,)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * polygamma(1, x)


class Polygamma(Elementwise):
    """The n-th derivative of digamma (``n`` a constant integer >= 0, as PyTorch's
    ``polygamma(n, x)``); gradient ``polygamma(n + 1, x)``."""

    kernel = staticmethod(_polygamma)
    scalar_kernel = staticmethod(_float_polygamma)
    saves = (0, 1)

    @staticmethod
    def backward(ctx, grad):
        n, x = ctx.saved_tensors
        return None, grad * polygamma(n + 1, x)


erf = primitive("erf", Erf, method=True)
erfc = primitive("erfc", Erfc, method=True)
lgamma = primitive("lgamma", Lgamma, method=True)
digamma = primitive("digamma", Digamma, method=True)


def _polygamma_public(n, x):
    """The n-th derivative of digamma at x (n a non-negative integer constant)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise TypeError(f"polygamma: n must be a non-negative integer constant, got {n!r}")
    from ..engine import Variable

    if isinstance(x, Variable):
        return Polygamma.apply(int(n), x)
    return Polygamma.compute(int(n), x)


polygamma = primitive("polygamma", Polygamma, public=_polygamma_public)
