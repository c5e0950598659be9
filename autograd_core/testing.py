"""Hypothesis strategies for property-testing ops, ours and yours.

Needs ``hypothesis`` (``pip install autograd-core[dev]``). A test of an op (for a custom op,
``MyOp.apply`` in place of the lambda)::

    from hypothesis import given
    import autograd_core as ag
    from autograd_core.testing import tensors

    @given(tensors(elements=(0.1, 5.0)))
    def test_log_gradient(x):
        assert ag.gradcheck(lambda t: t.log(), [x])

Strategies:

- ``shapes``: shape tuples (0-d, size-1 and larger sides included).
- ``tensors``: float64 tensors requiring grad by default, of a given or drawn shape, with
  bounded elements that can be kept away from points where an op has a kink (``avoid``).
- ``broadcastable_shapes`` / ``mutually_broadcastable_shapes``: shapes that broadcast with a
  given shape, or several that broadcast together.
- ``axes``: a valid ``axis`` argument for a given number of dims (None, an int, or a tuple).
- ``scalars``: :class:`~autograd_core.Scalar` values with bounded data.
"""

from __future__ import annotations

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("autograd_core.testing needs hypothesis: pip install hypothesis "
                      "(or pip install autograd-core[dev])") from error

import numpy as np

from .scalar import Scalar
from .tensor import Tensor


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
           max_side: int = 4) -> st.SearchStrategy[tuple]:
    """Shape tuples with ``min_dims``..``max_dims`` dims and sides ``min_side``..``max_side``."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def _inward(bound: float, dtype, direction: float) -> float:
    """``bound`` rounded to ``dtype``, moved towards ``direction`` if rounding left the range."""
    rounded = dtype.type(bound)
    if (float(rounded) - bound) * (direction - bound) < 0:
        rounded = np.nextafter(rounded, dtype.type(direction))
    return float(rounded)


def _elements(bounds, avoid, margin, dtype) -> st.SearchStrategy[float]:
    dtype = np.dtype(dtype)
    low = _inward(bounds[0], dtype, np.inf)
    high = _inward(bounds[1], dtype, -np.inf)
    values = st.floats(low, high, allow_nan=False, allow_infinity=False,
                       width=dtype.itemsize * 8)
    if not avoid:
        return values

    def far_enough(x: float) -> bool:
        return all(abs(x - point) >= margin for point in avoid)

    def edge(x: float, direction: float) -> float:
        # The first value of ``dtype`` from x towards ``direction`` that is far from every point.
        x = dtype.type(x)
        while not far_enough(float(x)):
            x = np.nextafter(x, dtype.type(direction))
        return float(x)

    # Points closer than 2 * margin share one forbidden zone; a value inside a zone moves to its
    # nearer edge, so every drawn value stays valid without hypothesis having to reject examples.
    zones = []
    for point in sorted(avoid):
        if zones and point - margin <= zones[-1][1]:
            zones[-1][1] = point + margin
        else:
            zones.append([point - margin, point + margin])
    zones = [(edge(lo, -np.inf), edge(hi, np.inf)) for lo, hi in zones]

    def push_away(x: float) -> float:
        for lo, hi in zones:
            if lo < x < hi:
                return lo if x - lo < hi - x else hi
        return x

    return values.map(push_away).filter(lambda x: low <= x <= high and far_enough(x))


def tensors(shape=None, dtype=np.float64, elements=(-10.0, 10.0), requires_grad: bool = True,
            avoid: tuple = (), margin: float = 0.1,
            unique: bool = False) -> st.SearchStrategy[Tensor]:
    """Tensors of ``shape`` (a tuple, a strategy of tuples, or None for ``shapes()``).

    ``elements`` is a (low, high) pair or a strategy of floats; ``avoid`` lists points the values
    keep at least ``margin`` away from (e.g. ``avoid=(0,)`` for relu or abs); ``unique=True``
    draws distinct values (no ties, e.g. for max).
    """
    if shape is None:
        shape = shapes()
    if isinstance(elements, tuple):
        elements = _elements(elements, avoid, margin, dtype)
    arrays = hnp.arrays(dtype=dtype, shape=shape, elements=elements, unique=unique)
    return arrays.map(lambda a: Tensor(a, dtype=dtype, requires_grad=requires_grad))


def broadcastable_shapes(shape: tuple, min_dims: int = 0, max_dims: int | None = None,
                         min_side: int = 1, max_side: int = 4) -> st.SearchStrategy[tuple]:
    """Shapes that broadcast with ``shape`` (possibly with fewer or more dims)."""
    return hnp.broadcastable_shapes(shape, min_dims=min_dims, max_dims=max_dims,
                                    min_side=min_side, max_side=max_side)


def mutually_broadcastable_shapes(num_shapes: int, min_dims: int = 0, max_dims: int = 3,
                                  min_side: int = 1,
                                  max_side: int = 4) -> st.SearchStrategy[tuple]:
    """Tuples of ``num_shapes`` shapes that all broadcast together."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=min_side,
        max_side=max_side).map(lambda result: result.input_shapes)


def axes(ndim: int, allow_none: bool = True, allow_tuple: bool = True,
         allow_negative: bool = True) -> st.SearchStrategy:
    """A valid ``axis`` argument for a tensor with ``ndim`` dims."""
    options = []
    if allow_none:
        options.append(st.none())
    if ndim > 0:
        low = -ndim if allow_negative else 0
        options.append(st.integers(low, ndim - 1))
        if allow_tuple:
            options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                    unique=True).map(tuple))
    elif allow_tuple:
        options.append(st.just(()))
    if not options:
        raise ValueError("axes: no valid axis for a 0-d tensor with allow_none=False")
    return st.one_of(*options)


def scalars(low: float = -10.0, high: float = 10.0, requires_grad: bool = True, avoid: tuple = (),
            margin: float = 0.1) -> st.SearchStrategy[Scalar]:
    """:class:`Scalar` values with data in [low, high], away from the points in ``avoid``."""
    return _elements((low, high), avoid, margin, np.float64).map(
        lambda x: Scalar(x, requires_grad=requires_grad))
