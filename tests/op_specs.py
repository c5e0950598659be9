"""The catalogue of op specs: how to property-test every op the library registers.

Each entry is an :class:`OpSpec`: the registered name of the op, how to call ours, what numpy
(``math`` for Scalars) computes instead, and a hypothesis strategy that draws the call's inputs
(:class:`Case`). An op with special cases inside it (Pow with a constant exponent, MatMul with
1-D operands, ...) has one entry per case, told apart by ``variant``, so that every case is run
on every test run rather than only when hypothesis happens to draw it.

``tests/test_tensor_ops.py`` and ``tests/test_scalar_ops.py`` put every entry through the same
checks (forward against the reference, ``gradcheck``, ``gradgradcheck``, float32 in -> float32
out) and fail when a registered op has no entry here. To test a new op, declare it and add one
line to ``TENSOR_SPECS`` (a primitive or an op without gradient) or ``COMPOSITE_SPECS``, for
instance::

    OpSpec("exp", ag.exp, np.exp, unary(elements=(-5.0, 5.0))),

An op with a float kernel (a Scalar op too) is then also tested on Scalars, from the same entry.

Two rules keep the checks meaningful and fast:

- Inputs are small (sides <= ``SIDE``, at most 3 dims): gradcheck runs the op twice per input
  element, gradgradcheck runs its backward twice per input and output element.
- Values stay away from kinks and ties (``avoid=``, ``margin=``, ``unique=``, grids), where the
  derivative does not exist and central differences would straddle two branches.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_core as ag
from autograd_core import registry
from autograd_core.engine import Variable
from autograd_core.ops.shape import Cast, scatter_add
from autograd_core.testing import (
    axes,
    broadcastable_shapes,
    mutually_broadcastable_shapes,
    shapes,
    tensors,
)

SIDE = 3  # the longest side drawn: gradcheck is O(elements), and 3 already has repeats and ties

# Values on grids that never meet: maximum/minimum of a HALVES value and a QUARTERS value never
# tie, and a tensor of distinct HALVES values has its max at least 0.5 above the runner-up.
HALVES = st.integers(-20, 20).map(lambda k: k / 2)
QUARTERS = HALVES.map(lambda v: v + 0.25)
NO_KWARGS = st.just({})


# ---- the spec -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One drawn call: ``args`` are positional (the Tensors/Scalars that get differentiated and
    constants such as Python numbers, numpy arrays or indices); ``kwargs`` are keyword arguments
    such as ``axis`` and ``keepdims``, never differentiated."""

    args: tuple
    kwargs: dict = field(default_factory=dict)

    def raw_args(self, args=None) -> tuple:
        """The arguments as the reference sees them: the data of each Tensor/Scalar."""
        args = self.args if args is None else args
        return tuple(a.data if isinstance(a, Variable) else a for a in args)


@dataclass(frozen=True)
class OpSpec:
    """How to test one op (or one special case of it, named by ``variant``)."""

    op: str                         # its name in registry.OPS (ag.<op>)
    call: Callable                  # ours: call(*case.args, **case.kwargs)
    ref: Callable                   # numpy/math on the raw values: ref(*raw args, **kwargs)
    cases: st.SearchStrategy        # draws a Case
    variant: str = ""               # which special case inside the op this entry covers
    family: str = "tensor"          # "tensor", or "scalar" for the Scalar copy of an entry
    preserves_dtype: bool = True    # float32 inputs give a float32 output (not so for Cast)

    @property
    def id(self) -> str:
        return f"{self.op}[{self.variant}]" if self.variant else self.op

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return f"OpSpec({self.id!r})"

    @property
    def kind(self) -> str:
        """The op's kind in the registry: "primitive", "composite" or "untracked"."""
        return registry.OPS[self.op].kind

    @property
    def primitive(self) -> type | None:
        """The Function subclass this spec is filed under (None for a composite)."""
        return registry.OPS[self.op].primitive

    def on_scalars(self) -> OpSpec:
        """The same entry for Scalars: each drawn case with every Tensor replaced by a Scalar of
        its first element (values keep the bounds and gaps the case was drawn with) and every
        array constant by a Python number; the reference is numpy's, on floats."""
        ref = self.ref
        return OpSpec(self.op, self.call, lambda *args, **kw: float(ref(*args, **kw)),
                      self.cases.map(_on_scalars), self.variant, family="scalar")

    def run(self, case: Case, args=None):
        """Our op on ``case`` (or on ``args`` in place of its positional arguments)."""
        return self.call(*(case.args if args is None else args), **case.kwargs)

    def expected(self, case: Case, args=None):
        """The reference result for ``case`` (or for ``args``)."""
        return self.ref(*case.raw_args(args), **case.kwargs)

    def function_of_args(self, case: Case) -> Callable:
        """``args -> our op``, with the keyword arguments bound: what gradcheck differentiates."""
        return lambda *args: self.call(*args, **case.kwargs)


def _first_element(value):
    """A Tensor as a Scalar of its first element, an array as a Python number, else unchanged."""
    if isinstance(value, ag.Tensor):
        first = value.data.flat[0].item()
        return first if value.dtype == np.bool_ else ag.Scalar(first, value.requires_grad)
    if isinstance(value, np.ndarray):
        return value.flat[0].item()
    return value


def _on_scalars(case: Case) -> Case:
    return Case(tuple(_first_element(a) for a in case.args), case.kwargs)


# ---- strategies for tensor inputs ---------------------------------------------------------------

def small_shapes(min_dims: int = 0, max_dims: int = 3) -> st.SearchStrategy[tuple]:
    """Shapes with 0-d, size-1 and longer sides, none longer than SIDE."""
    return shapes(min_dims=min_dims, max_dims=max_dims, max_side=SIDE)


def _as_constant(draw, t: ag.Tensor):
    """``t``'s values as a constant the op must not differentiate: a Python float (its first
    element, which broadcasts anywhere) or its numpy array."""
    return float(t.data.flat[0]) if draw(st.booleans()) else t.data


def unary(elements=(-5.0, 5.0), avoid=(), margin=0.1, unique=False,
          kwargs=NO_KWARGS) -> st.SearchStrategy[Case]:
    """One tensor of any small shape (0-d included), with keyword arguments drawn by ``kwargs``."""
    x = tensors(small_shapes(), elements=elements, avoid=avoid, margin=margin, unique=unique)
    return st.builds(lambda x, kw: Case((x,), kw), x, kwargs)


@st.composite
def binary(draw, a=(-5.0, 5.0), b=(-5.0, 5.0), a_avoid=(), b_avoid=(), margin=0.1,
           constant=False) -> Case:
    """Two tensors whose shapes broadcast together. With ``constant=True`` one of them (either
    side) is a Python number or a numpy array instead, which exercises ``3.0 - t``,
    ``array * t`` and the like. ``a``/``b`` are (low, high) bounds or strategies of floats."""
    a_shape, b_shape = draw(mutually_broadcastable_shapes(2, max_side=SIDE))
    args = [draw(tensors(a_shape, elements=a, avoid=a_avoid, margin=margin)),
            draw(tensors(b_shape, elements=b, avoid=b_avoid, margin=margin))]
    if constant:
        side = draw(st.integers(0, 1))
        args[side] = _as_constant(draw, args[side])
    return Case(tuple(args))


@st.composite
def reduction(draw, elements=(-5.0, 5.0), unique=False, ddof=False) -> Case:
    """A tensor and a reduction's ``axis`` (None, int, negative int or tuple) and ``keepdims``;
    with ``ddof=True`` also a ``ddof`` below the number of elements reduced."""
    x = draw(tensors(small_shapes(), elements=elements, unique=unique))
    axis = draw(axes(x.ndim))
    kwargs = {"axis": axis, "keepdims": draw(st.booleans())}
    if ddof:
        count = x.size // np.sum(x.data, axis=axis, keepdims=True).size  # elements reduced
        kwargs["ddof"] = draw(st.integers(0, min(1, count - 1)))
    return Case((x,), kwargs)


@st.composite
def pow_constant_exponent(draw) -> Case:
    """``t ** c`` for a constant c: a Python int (0 and negatives included, any sign of base), a
    Python float or a numpy array (positive bases, where a real power exists)."""
    shape = draw(small_shapes())
    kind = draw(st.sampled_from(["int", "float", "array"]))
    if kind == "int":
        c = draw(st.integers(-3, 3))
        x = draw(tensors(shape, elements=(-3.0, 3.0), avoid=(0.0,) if c < 0 else (), margin=0.3))
        return Case((x, c))
    x = draw(tensors(shape, elements=(0.2, 3.0)))
    if kind == "float":
        return Case((x, draw(st.floats(-3.0, 3.0))))
    c_shape = draw(broadcastable_shapes(shape, max_side=SIDE))
    return Case((x, draw(hnp.arrays(np.float64, c_shape, elements=st.floats(-3.0, 3.0)))))


@st.composite
def pow_constant_base(draw) -> Case:
    """``c ** t`` for a constant positive base: a Python int or float (``2 ** t``) or an array."""
    x = draw(tensors(small_shapes(), elements=(-2.0, 2.0)))
    if draw(st.booleans()):
        base = draw(st.integers(1, 3) | st.floats(0.2, 3.0))
    else:
        base_shape = draw(broadcastable_shapes(x.shape, max_side=SIDE))
        base = draw(hnp.arrays(np.float64, base_shape, elements=st.floats(0.2, 3.0)))
    return Case((base, x))


MATMUL_KINDS = ("1d", "2d", "batched")


def _operand_shape(kind: str, batch: tuple, matrix: tuple, vector: tuple) -> tuple:
    """A matmul operand's shape: a vector, a matrix, or a batch of matrices."""
    return {"1d": vector, "2d": matrix, "batched": batch + matrix}[kind]


@st.composite
def matmul(draw, kinds, constant=False) -> Case:
    """``a @ b`` with each operand "1d", "2d" or "batched" (batch dims that broadcast against
    each other's); ``kinds`` draws the (left, right) pair. ``constant=True`` makes one side a
    numpy array (``array @ t`` goes through ``Tensor.__rmatmul__``)."""
    left, right = draw(kinds)
    m, k, n = (draw(st.integers(1, SIDE)) for _ in range(3))
    batch_a, batch_b = draw(mutually_broadcastable_shapes(2, min_dims=1, max_dims=2, max_side=2))
    a_shape = _operand_shape(left, batch_a, (m, k), (k,))
    b_shape = _operand_shape(right, batch_b, (k, n), (k,))
    args = [draw(tensors(a_shape)), draw(tensors(b_shape))]
    if constant:
        side = draw(st.integers(0, 1))
        args[side] = args[side].data
    return Case(tuple(args))


@st.composite
def linear(draw) -> Case:
    """``linear(x, weight, bias)``: x of shape (..., in) with 0 to 2 leading axes, weight
    (in, out), bias (out,); x may be a numpy constant (an input batch)."""
    n_in, n_out = draw(st.integers(1, SIDE)), draw(st.integers(1, SIDE))
    lead = draw(small_shapes(max_dims=2))
    x = draw(tensors(lead + (n_in,)))
    args = [x.data if draw(st.booleans()) else x, draw(tensors((n_in, n_out))),
            draw(tensors((n_out,)))]
    return Case(tuple(args))


def _repeating(picks: list) -> list:
    """``picks`` with its first index again at the end: a repeated index, whose gradient
    contributions must add up rather than overwrite each other."""
    return picks + picks[:1]


@st.composite
def integer_array_index(draw, shape: tuple):
    """An advanced index with a repeat: an int array (or int Tensor) on the first axis, a tuple of
    int arrays from hypothesis (broadcast together), or ``(..., array)`` on the last axis."""
    kind = draw(st.sampled_from(["first axis", "tensor", "all axes", "last axis"]))
    if kind == "all axes":
        return draw(hnp.integer_array_indices(shape, result_shape=small_shapes(1, 2)))
    side = shape[-1] if kind == "last axis" else shape[0]
    picks = np.array(_repeating(draw(st.lists(st.integers(-side, side - 1), min_size=1,
                                              max_size=SIDE))))
    if kind == "last axis":
        return (Ellipsis, picks)
    return ag.Tensor(picks) if kind == "tensor" else picks


@st.composite
def getitem(draw, index_kind: str) -> Case:
    """A tensor and an index of ``index_kind``: "basic" (ints, slices, None, Ellipsis),
    "integer array" (with repeated indices) or "boolean mask" (over some leading dims)."""
    min_dims = 0 if index_kind == "basic" else 1
    x = draw(tensors(small_shapes(min_dims=min_dims)))
    if index_kind == "basic":
        index = draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True))
    elif index_kind == "integer array":
        index = draw(integer_array_index(x.shape))
    else:
        mask_dims = draw(st.integers(1, x.ndim))
        index = draw(hnp.arrays(np.bool_, x.shape[:mask_dims]))
    return Case((x, index))


@st.composite
def scatter(draw, index_kind: str) -> Case:
    """Values for ``scatter_add(values, index, shape)``, the adjoint of getitem: with a "basic"
    index or an "integer array" index with repeats (where the values must accumulate)."""
    shape = draw(small_shapes(min_dims=1))
    if index_kind == "basic":
        index = draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    else:
        index = draw(integer_array_index(shape))
        index = index.data if isinstance(index, ag.Tensor) else index
    values = draw(tensors(np.zeros(shape)[index].shape))
    return Case((values,), {"index": index, "shape": shape})


@st.composite
def joined(draw, same_shape: bool) -> Case:
    """1 to 3 tensors to concatenate (sides may differ along ``axis``) or to stack
    (``same_shape``), and the axis; some of them (never all) may be numpy constants."""
    base = draw(small_shapes(min_dims=0 if same_shape else 1))
    ndim = len(base) + 1 if same_shape else len(base)
    axis = draw(axes(ndim, allow_none=False, allow_tuple=False))
    xs = []
    for _ in range(draw(st.integers(1, 3))):
        shape = list(base)
        if not same_shape:
            shape[axis] = draw(st.integers(1, SIDE))
        xs.append(draw(tensors(tuple(shape))))
    keep = draw(st.integers(0, len(xs) - 1))  # this one stays a Tensor
    xs = [x if i == keep or draw(st.booleans()) else x.data for i, x in enumerate(xs)]
    return Case(tuple(xs), {"axis": axis})


@st.composite
def where(draw) -> Case:
    """``where(condition, a, b)``, all three broadcasting together; the bool condition is a numpy
    array or a Tensor, and a or b may be a constant."""
    c_shape, a_shape, b_shape = draw(mutually_broadcastable_shapes(3, max_side=SIDE))
    condition = draw(hnp.arrays(np.bool_, c_shape))
    args = [ag.Tensor(condition) if draw(st.booleans()) else condition,
            draw(tensors(a_shape)), draw(tensors(b_shape))]
    constant_side = draw(st.sampled_from([None, 1, 2]))
    if constant_side is not None:
        args[constant_side] = _as_constant(draw, args[constant_side])
    return Case(tuple(args))


@st.composite
def clip(draw) -> Case:
    """A tensor and clip bounds, each a number or None, with values kept off the bounds."""
    low = draw(st.none() | st.floats(-3.0, 0.0))
    high = draw(st.none() | st.floats(0.5, 3.0))
    bounds = tuple(v for v in (low, high) if v is not None)
    x = draw(tensors(small_shapes(), elements=(-5.0, 5.0), avoid=bounds))
    return Case((x,), {"low": low, "high": high})


@st.composite
def reshape(draw) -> Case:
    """A tensor and a new shape for it: its sides permuted, size-1 sides inserted, maybe a -1."""
    x = draw(tensors(small_shapes()))
    sides = list(draw(st.permutations(x.shape)))
    for _ in range(draw(st.integers(0, 2))):
        sides.insert(draw(st.integers(0, len(sides))), 1)
    if sides and draw(st.booleans()):
        sides[draw(st.integers(0, len(sides) - 1))] = -1
    return Case((x, tuple(sides)))


@st.composite
def transpose(draw) -> Case:
    """A tensor and ``axes``: None (reverse) or a permutation, some of it as negative axes."""
    x = draw(tensors(small_shapes()))
    perm = tuple(a - x.ndim if draw(st.booleans()) else a
                 for a in draw(st.permutations(range(x.ndim))))
    return Case((x,), {"axes": draw(st.sampled_from([None, perm]))})


@st.composite
def broadcast_to(draw) -> Case:
    """A tensor and a shape it broadcasts to (leading dims added, size-1 sides stretched)."""
    x = draw(tensors(small_shapes()))
    other = draw(broadcastable_shapes(x.shape, max_dims=3, max_side=SIDE))
    return Case((x,), {"shape": np.broadcast_shapes(x.shape, other)})


@st.composite
def expand_dims(draw) -> Case:
    x = draw(tensors(small_shapes(max_dims=2)))
    return Case((x,), {"axis": draw(st.integers(-x.ndim - 1, x.ndim))})


@st.composite
def squeeze(draw) -> Case:
    """A tensor with some size-1 sides, and ``axis``: None (all of them) or some of them."""
    sides = list(draw(small_shapes(max_dims=2)))
    for _ in range(draw(st.integers(0, 2))):
        sides.insert(draw(st.integers(0, len(sides))), 1)
    x = draw(tensors(tuple(sides)))
    ones = [i - x.ndim if draw(st.booleans()) else i for i, n in enumerate(sides) if n == 1]
    subsets = st.lists(st.sampled_from(ones), min_size=1, unique=True) if ones else st.nothing()
    axis = draw(st.none() | subsets.map(tuple) | (st.sampled_from(ones) if ones else st.nothing()))
    return Case((x,), {"axis": axis})


@st.composite
def swapaxes(draw) -> Case:
    x = draw(tensors(small_shapes(min_dims=1)))
    pick = axes(x.ndim, allow_none=False, allow_tuple=False)
    return Case((x,), {"axis1": draw(pick), "axis2": draw(pick)})


@st.composite
def logits_and_labels(draw) -> Case:
    """Logits of shape (..., C) (1 to 3 dims, C >= 1), integer labels for their last axis and a
    reduction."""
    shape = draw(small_shapes(min_dims=1))
    x = draw(tensors(shape))
    labels = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, shape[-1] - 1)))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return Case((x,), {"labels": labels, "reduction": reduction})


# ---- calls and references that are not a single library/numpy function ------------------------

def _index(x, index):
    return x[index]


def _cast(x, dtype):
    """The Cast primitive itself: ``astype`` to the same dtype returns x and records nothing."""
    return Cast.apply(x, dtype=dtype)


def _astype(x, dtype):
    return x.astype(dtype)


def _scatter_add_ref(values, index, shape):
    out = np.zeros(shape, dtype=values.dtype)
    np.add.at(out, index, values)
    return out


def _concatenate(*xs, axis):
    return ag.concatenate(xs, axis=axis)


def _np_concatenate(*xs, axis):
    return np.concatenate(xs, axis=axis)


def _stack(*xs, axis):
    return ag.stack(xs, axis=axis)


def _np_stack(*xs, axis):
    return np.stack(xs, axis=axis)


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_leaky_relu(x, slope=0.01):
    return np.where(x > 0, x, slope * x)


def _np_clip(x, low=None, high=None):
    return np.clip(x, low, high)


def _np_logsumexp(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


def _np_softmax_cross_entropy(x, labels, reduction):
    log_probs = x - np.log(np.sum(np.exp(x), axis=-1, keepdims=True))
    losses = -np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
    return {"mean": np.mean, "sum": np.sum, "none": np.asarray}[reduction](losses)


def binary_specs(op: str, call, ref, **bounds) -> list[OpSpec]:
    """Two entries for a binary op: tensor with tensor (shapes broadcasting), and a constant
    (Python number or numpy array) on either side."""
    return [OpSpec(op, call, ref, binary(**bounds), variant="tensor, tensor"),
            OpSpec(op, call, ref, binary(constant=True, **bounds), variant="constant")]


_ALL_KINDS = st.tuples(st.sampled_from(MATMUL_KINDS), st.sampled_from(MATMUL_KINDS))
_SLOPES = st.fixed_dictionaries({}, optional={"slope": st.floats(-1.0, 1.0)})


# ---- numeric -------------------------------------------------------------------------------------
# Trigonometric, hyperbolic, exp/log and rounding ops (autograd_core/ops/numeric.py). Inverse
# functions stay inside their domains, away from the edges where the slope is infinite; rounding
# stays off integers and halves (QUARTERS), where it jumps.

_OFF_TIES = st.integers(-50, 50).map(lambda k: k / 10 + 0.03)  # no tie at 0, 1 or 2 decimals
_DECIMALS = st.fixed_dictionaries({"decimals": st.sampled_from([-1, 1, 2])})
_SPECIAL = st.sampled_from([math.nan, math.inf, -math.inf]) | st.floats(-5.0, 5.0)


def _np_softplus(x):
    return np.log1p(np.exp(x))  # inputs stay small enough not to overflow here


@st.composite
def close_pairs(draw) -> Case:
    """Two operands on a grid of halves (some equal, some 0.5 apart; a constant on either side)
    and tolerances that make some of them close."""
    case = draw(binary(a=HALVES, b=HALVES, constant=draw(st.booleans())))
    kwargs = draw(st.fixed_dictionaries({}, optional={"atol": st.sampled_from([0.0, 0.6]),
                                                      "rtol": st.sampled_from([0.0, 0.2])}))
    return Case(case.args, kwargs)


NUMERIC_SPECS: list[OpSpec] = [
    OpSpec("sin", ag.sin, np.sin, unary()),
    OpSpec("cos", ag.cos, np.cos, unary()),
    OpSpec("tan", ag.tan, np.tan, unary(elements=(-1.2, 1.2))),
    OpSpec("arcsin", ag.arcsin, np.arcsin, unary(elements=(-0.9, 0.9))),
    OpSpec("arccos", ag.arccos, np.arccos, unary(elements=(-0.9, 0.9))),
    OpSpec("arctan", ag.arctan, np.arctan, unary()),
    *binary_specs("arctan2", ag.arctan2, np.arctan2, a_avoid=(0.0,), margin=0.5),  # y off the cut
    OpSpec("sinh", ag.sinh, np.sinh, unary()),
    OpSpec("cosh", ag.cosh, np.cosh, unary()),
    OpSpec("arcsinh", ag.arcsinh, np.arcsinh, unary()),
    OpSpec("arctanh", ag.arctanh, np.arctanh, unary(elements=(-0.9, 0.9))),
    OpSpec("exp2", ag.exp2, np.exp2, unary()),
    OpSpec("log2", ag.log2, np.log2, unary(elements=(0.1, 10.0))),
    OpSpec("log10", ag.log10, np.log10, unary(elements=(0.1, 10.0))),
    OpSpec("log1p", ag.log1p, np.log1p, unary(elements=(-0.9, 10.0))),
    OpSpec("expm1", ag.expm1, np.expm1, unary()),
    OpSpec("softplus", ag.softplus, _np_softplus, unary(elements=(-10.0, 10.0))),
    OpSpec("square", ag.square, np.square, unary()),
    *binary_specs("hypot", ag.hypot, np.hypot, a_avoid=(0.0,), margin=0.5),  # off the origin
    OpSpec("floor", ag.floor, np.floor, unary(elements=QUARTERS)),
    OpSpec("ceil", ag.ceil, np.ceil, unary(elements=QUARTERS)),
    OpSpec("round", ag.round, np.round, unary(elements=QUARTERS)),
    OpSpec("round", ag.round, np.round, unary(elements=_OFF_TIES, kwargs=_DECIMALS),
           variant="decimals"),
    OpSpec("isnan", ag.isnan, np.isnan, unary(elements=_SPECIAL)),
    OpSpec("isinf", ag.isinf, np.isinf, unary(elements=_SPECIAL)),
    OpSpec("isfinite", ag.isfinite, np.isfinite, unary(elements=_SPECIAL)),
    OpSpec("isclose", ag.isclose, np.isclose, close_pairs()),
]


# ---- array ops: rearranging, sorting, tensordot, prod/std, creation (ops/rearrange.py,
# ordering.py, creation.py, the end of linalg.py) ------------------------------------------------

# prod's gradient divides by the elements where none is 0: values near 0 (1e-300) would overflow
# its second derivative (1 / x**2), as in PyTorch; exact zeros take another path (the "zeros" case).
# Magnitudes up to 1.25 keep a product of 27 elements below 500: with 2.0 it reached 1e8, and the
# central differences of its second derivative (exactly 0 on the diagonal) lost 3e-5 to rounding.
NONZERO = st.floats(0.25, 1.25) | st.floats(-1.25, -0.25)


def _small_tensor(draw, min_dims=0, max_dims=3, **bounds):
    return draw(tensors(small_shapes(min_dims=min_dims, max_dims=max_dims), **bounds))


@st.composite
def prod_with_zeros(draw) -> Case:
    """A reduction case for prod with 1 to 3 elements set to exactly 0 (often in one slice):
    prod is multilinear, so central differences are exact there too."""
    case = draw(reduction(elements=NONZERO))
    data = case.args[0].data.copy()
    flat = data.reshape(-1)
    count = draw(st.integers(1, min(3, flat.size)))
    flat[draw(st.lists(st.integers(0, flat.size - 1), min_size=count, max_size=count,
                       unique=True))] = 0.0
    return Case((ag.Tensor(data, dtype=np.float64, requires_grad=True),), case.kwargs)


@st.composite
def spread_reduction(draw) -> Case:
    """std's cases: distinct values, and at least two elements in each slice reduced (a slice of
    equal values has an infinite derivative), with ddof 0 or 1."""
    x = _small_tensor(draw, min_dims=1, elements=HALVES, unique=True)
    axis = draw(axes(x.ndim).filter(
        lambda a: x.size // np.sum(x.data, axis=a, keepdims=True).size >= 2))
    return Case((x,), {"axis": axis, "keepdims": draw(st.booleans()),
                       "ddof": draw(st.integers(0, 1))})


@st.composite
def split_cases(draw, equal: bool) -> Case:
    """A tensor, and sections (for split: a divisor of the axis) or a list of split points
    (negative, unsorted and out-of-range ones included), and an axis."""
    x = _small_tensor(draw, min_dims=1)
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    if draw(st.booleans()):
        sections = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]) if equal
                        else st.integers(1, n + 1))
    else:
        sections = draw(st.lists(st.integers(-n - 1, n + 1), max_size=3))
    return Case((x, sections), {"axis": axis})


def _joined_by(join):
    """``join`` of a sequence, called with its items as arguments (what gradcheck varies)."""
    return lambda *xs: join(xs)


def _weighted_pieces(pieces) -> list:
    """Pieces flattened and scaled by their position: one array whose values say where each
    element went (which a plain concatenation of the pieces would not)."""
    return [p.reshape(-1) * (i + 1) for i, p in enumerate(pieces)]


def _split_call(split):
    return lambda x, sections, axis: ag.concatenate(_weighted_pieces(split(x, sections, axis)))


def _split_ref(split):
    return lambda x, sections, axis: np.concatenate(_weighted_pieces(split(x, sections, axis)))


@st.composite
def stack_inputs(draw, rows: bool) -> Case:
    """1 to 3 tensors for vstack (``rows``) or hstack: all 0-d, all 1-d of one length (hstack:
    any lengths), or n-d differing only along the joined axis; some may be numpy arrays."""
    ndim = draw(st.integers(0, 3))
    base = list(draw(small_shapes(min_dims=ndim, max_dims=ndim)))
    joined_axis = 0 if rows else 1
    xs = []
    for _ in range(draw(st.integers(1, 3))):
        shape = list(base)
        if ndim > joined_axis and (ndim > 1 or not rows):
            shape[joined_axis] = draw(st.integers(1, SIDE))
        xs.append(draw(tensors(tuple(shape))))
    keep = draw(st.integers(0, len(xs) - 1))
    return Case(tuple(x if i == keep or draw(st.booleans()) else x.data
                      for i, x in enumerate(xs)))


@st.composite
def matrices(draw, min_dims=2, offset="offset", axes_too=False) -> Case:
    """A tensor of ``min_dims`` to 3 dims, a diagonal offset (beyond the sides too) and, with
    ``axes_too``, two distinct axes."""
    x = _small_tensor(draw, min_dims=min_dims)
    kwargs = {offset: draw(st.integers(-SIDE - 1, SIDE + 1))}
    if axes_too:
        a, b = draw(st.permutations(range(x.ndim)))[:2]
        kwargs.update(axis1=a - x.ndim if draw(st.booleans()) else a, axis2=b)
    return Case((x,), kwargs)


@st.composite
def diag_vector(draw) -> Case:
    return Case((_small_tensor(draw, min_dims=1, max_dims=1),),
                {"k": draw(st.integers(-2, 2))})


@st.composite
def flip_cases(draw) -> Case:
    x = _small_tensor(draw)
    return Case((x,), {"axis": draw(axes(x.ndim))})


@st.composite
def roll_cases(draw) -> Case:
    """Shifts (beyond the side and negative too) on None (flattened), one axis, or a tuple of
    axes that may name one axis twice."""
    x = _small_tensor(draw)
    shift = st.integers(-2 * SIDE, 2 * SIDE)
    kind = draw(st.sampled_from(["flat", "axis", "axes"] if x.ndim else ["flat"]))
    if kind == "flat":
        return Case((x, draw(shift)), {"axis": None})
    if kind == "axis":
        return Case((x, draw(shift)), {"axis": draw(st.integers(-x.ndim, x.ndim - 1))})
    count = draw(st.integers(1, 3))
    return Case((x, tuple(draw(shift) for _ in range(count))),
                {"axis": tuple(draw(st.integers(-x.ndim, x.ndim - 1)) for _ in range(count))})


@st.composite
def tile_cases(draw) -> Case:
    x = _small_tensor(draw, max_dims=2)
    reps = draw(st.integers(1, 2) | st.lists(st.integers(1, 2), max_size=3).map(tuple))
    return Case((x, reps))


@st.composite
def repeat_cases(draw) -> Case:
    """An int count or one count per element (0 included) along an axis or the flattened x."""
    x = _small_tensor(draw)
    axis = draw(st.none() | (st.integers(-x.ndim, x.ndim - 1) if x.ndim else st.nothing()))
    n = x.size if axis is None else x.shape[axis]
    counts = draw(st.integers(1, 2) | hnp.arrays(np.int64, (n,), elements=st.integers(0, 2)))
    return Case((x, counts), {"axis": axis})


@st.composite
def moveaxis_cases(draw) -> Case:
    x = _small_tensor(draw, min_dims=1)
    count = draw(st.integers(1, x.ndim))
    source = draw(st.permutations(range(x.ndim)))[:count]
    destination = [d - x.ndim if draw(st.booleans()) else d
                   for d in draw(st.permutations(range(x.ndim)))[:count]]
    if count == 1 and draw(st.booleans()):
        return Case((x, source[0], destination[0]))
    return Case((x, tuple(source), tuple(destination)))


@st.composite
def tensordot_cases(draw, named: bool, constant: bool = False) -> Case:
    """``tensordot(a, b, axes)`` summing over 0 to 2 axes: ``axes=n`` (the last n of a with the
    first n of b), or (``named``) pairs of axes anywhere in a and b, in any pairing order."""
    count = draw(st.integers(0, 2))
    summed = [draw(st.integers(1, SIDE)) for _ in range(count)]
    a_free = list(draw(small_shapes(max_dims=3 - count)))
    b_free = list(draw(small_shapes(max_dims=3 - count)))
    if named:
        a_place = draw(st.permutations(range(count + len(a_free))))
        b_place = draw(st.permutations(range(count + len(b_free))))
        a_shape, b_shape = [0] * len(a_place), [0] * len(b_place)
        for positions, shape, free in ((a_place, a_shape, a_free), (b_place, b_shape, b_free)):
            for p, side in zip(positions, summed + free):
                shape[p] = side
        a_axes = [p - len(a_place) if draw(st.booleans()) else p for p in a_place[:count]]
        axes_arg = (a_axes, list(b_place[:count]))
    else:
        a_shape, b_shape, axes_arg = a_free + summed, summed + b_free, count
    args = [draw(tensors(tuple(a_shape))), draw(tensors(tuple(b_shape)))]
    if constant:
        # a 0-d array constant counts as a Python number (weakly typed, as in PyTorch), so it
        # would not keep float64 in the float32 test: constants here have at least one axis
        sides = [i for i in (0, 1) if args[i].ndim > 0]
        if sides:
            side = draw(st.sampled_from(sides))
            args[side] = args[side].data
    return Case(tuple(args), {"axes": axes_arg})


@st.composite
def dot_cases(draw) -> Case:
    """np.dot's cases: a 0-d operand; else a (..., k) with b (k,) or (..., k, n), 0 to 3 dims."""
    na, nb = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    side = st.integers(1, 2)
    k = draw(side)
    a_shape = () if na == 0 else tuple(draw(side) for _ in range(na - 1)) + (k,)
    if nb == 0 or na == 0:
        b_shape = tuple(draw(side) for _ in range(nb))
    else:
        b_shape = (k,) if nb == 1 else tuple(draw(side) for _ in range(nb - 2)) + (k, draw(side))
    args = [draw(tensors(a_shape)), draw(tensors(b_shape))]
    if draw(st.booleans()):
        which = draw(st.integers(0, 1))
        args[which] = args[which].data
    return Case(tuple(args))


@st.composite
def sort_cases(draw, elements=HALVES, unique=True) -> Case:
    """Distinct values (sorting ties has no derivative) sorted along an axis or flattened."""
    x = _small_tensor(draw, elements=elements, unique=unique)
    return Case((x,), {"axis": draw(st.none() | (st.integers(-x.ndim, x.ndim - 1)
                                                 if x.ndim else st.nothing()))})


@st.composite
def arg_reduction(draw) -> Case:
    """argmax/argmin's cases: values on a grid, so ties are frequent; axis None or one axis."""
    x = _small_tensor(draw, elements=st.integers(-2, 2).map(float))
    axis = draw(st.none() | (st.integers(-x.ndim, x.ndim - 1) if x.ndim else st.nothing()))
    return Case((x,), {"axis": axis, "keepdims": draw(st.booleans())})


@st.composite
def topk_cases(draw, unique=True) -> Case:
    x = _small_tensor(draw, min_dims=1, elements=HALVES, unique=unique)
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    return Case((x,), {"k": draw(st.integers(1, x.shape[axis])), "axis": axis,
                       "largest": draw(st.booleans())})


def _topk_values(x, **kwargs):
    return ag.topk(x, **kwargs).values


def _np_topk_values(x, k, axis, largest):
    """The reference: numpy's stable sort of x (of -x for the largest), first k along axis."""
    order = np.argsort(-x if largest else x, axis=axis, kind="stable")
    return np.take_along_axis(x, np.take(order, np.arange(k), axis=axis), axis=axis)


def _np_argsort(x, axis):
    return np.argsort(x, axis=axis, kind="stable")


def _as_float32(values):
    """numpy's float64 result as the float32 a creation helper gives by default."""
    values = np.asarray(values)
    return values.astype(np.float32) if values.dtype == np.float64 else values


@st.composite
def arange_args(draw, floats: bool) -> Case:
    if floats:
        start, step = draw(HALVES), draw(st.sampled_from([0.25, 0.5, 1.5, -0.5]))
        return Case((start, start + step * draw(st.integers(0, 5)) + step / 2, step))
    if draw(st.booleans()):
        return Case((draw(st.integers(0, 6)),))
    return Case((draw(st.integers(-5, 5)), draw(st.integers(-5, 5)),
                 draw(st.sampled_from([1, 2, -1, -3]))))


@st.composite
def linspace_args(draw) -> Case:
    return Case((draw(HALVES), draw(HALVES)), {"num": draw(st.integers(0, 6)),
                                               "endpoint": draw(st.booleans())})


@st.composite
def full_like_args(draw) -> Case:
    """Like a float tensor, an int array or an int tensor, with a float or int fill value."""
    like = draw(st.sampled_from(["tensor", "int array", "int tensor"]))
    shape = draw(small_shapes())
    template = np.zeros(shape, dtype=np.float32 if like == "tensor" else np.int64)
    if like != "int array":
        template = ag.Tensor(template)
    kwargs = draw(st.fixed_dictionaries({}, optional={"dtype": st.sampled_from(
        [np.float64, np.int32])}))
    return Case((template, draw(HALVES | st.integers(-3, 3))), kwargs)


@st.composite
def eye_args(draw) -> Case:
    """n, or n and m (numpy calls it M), and maybe a diagonal k and a dtype."""
    sides = draw(st.lists(st.integers(0, 4), min_size=1, max_size=2))
    kwargs = draw(st.fixed_dictionaries({}, optional={
        "k": st.integers(-3, 3), "dtype": st.sampled_from([np.float64, np.int64])}))
    return Case(tuple(sides), kwargs)


def _creation_ref(np_func):
    """numpy's function with float64 made float32 unless a dtype was asked (numpy's eye is
    float64 by default, ours float32)."""
    def ref(*args, **kwargs):
        values = np_func(*args, **kwargs)
        return values if "dtype" in kwargs else _as_float32(values)
    return ref


ARRAY_SPECS: list[OpSpec] = [
    OpSpec("prod", ag.prod, np.prod, reduction(elements=NONZERO)),
    OpSpec("prod", ag.prod, np.prod, prod_with_zeros(), variant="zeros"),
    OpSpec("tensordot", ag.tensordot, np.tensordot, tensordot_cases(named=False),
           variant="axes=n"),
    OpSpec("tensordot", ag.tensordot, np.tensordot, tensordot_cases(named=True),
           variant="named axes"),
    OpSpec("tensordot", ag.tensordot, np.tensordot, tensordot_cases(named=True, constant=True),
           variant="constant"),
    # index results and creation helpers: forward only, against numpy (ties included)
    OpSpec("argsort", ag.argsort, _np_argsort,
           sort_cases(elements=st.integers(-2, 2).map(float), unique=False)),
    OpSpec("argmax", ag.argmax, np.argmax, arg_reduction()),
    OpSpec("argmin", ag.argmin, np.argmin, arg_reduction()),
    OpSpec("arange", ag.arange, _creation_ref(np.arange), arange_args(floats=False),
           variant="integers"),
    OpSpec("arange", ag.arange, _creation_ref(np.arange), arange_args(floats=True),
           variant="floats"),
    OpSpec("linspace", ag.linspace, _creation_ref(np.linspace), linspace_args()),
    OpSpec("full_like", ag.full_like, np.full_like, full_like_args()),
    OpSpec("eye", ag.eye, _creation_ref(np.eye), eye_args()),
]

ARRAY_COMPOSITE_SPECS: list[OpSpec] = [
    OpSpec("std", ag.std, np.std, spread_reduction()),
    OpSpec("split", _split_call(ag.split), _split_ref(np.split), split_cases(equal=True)),
    OpSpec("array_split", _split_call(ag.array_split), _split_ref(np.array_split),
           split_cases(equal=False)),
    OpSpec("vstack", _joined_by(ag.vstack), _joined_by(np.vstack), stack_inputs(rows=True)),
    OpSpec("hstack", _joined_by(ag.hstack), _joined_by(np.hstack), stack_inputs(rows=False)),
    OpSpec("diag", ag.diag, np.diag, diag_vector(), variant="vector"),
    OpSpec("diag", ag.diag, np.diag, matrices(min_dims=2, offset="k").filter(
        lambda case: case.args[0].ndim == 2), variant="matrix"),
    OpSpec("diagonal", ag.diagonal, np.diagonal, matrices(axes_too=True)),
    OpSpec("trace", ag.trace, np.trace, matrices(axes_too=True)),
    OpSpec("tril", ag.tril, np.tril, matrices(offset="k")),
    OpSpec("triu", ag.triu, np.triu, matrices(offset="k")),
    OpSpec("flip", ag.flip, np.flip, flip_cases()),
    OpSpec("roll", ag.roll, np.roll, roll_cases()),
    OpSpec("tile", ag.tile, np.tile, tile_cases()),
    OpSpec("repeat", ag.repeat, np.repeat, repeat_cases()),
    OpSpec("moveaxis", ag.moveaxis, np.moveaxis, moveaxis_cases()),
    OpSpec("outer", ag.outer, np.outer, binary()),
    OpSpec("dot", ag.dot, np.dot, dot_cases()),
    OpSpec("sort", ag.sort, np.sort, sort_cases()),
    OpSpec("topk", _topk_values, _np_topk_values, topk_cases()),
]


# ---- sequence-model ops: einsum, gather, cumsum, softmax, erf/gelu/silu, attention -------------
# (ops/einsum.py, gather.py, reductions.py, numeric.py, attention.py)

def _np_erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _np_gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _np_erf(x / math.sqrt(2)))


def _np_silu(x):
    return x / (1 + np.exp(-x))


def _np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


@st.composite
def one_axis(draw, elements=(-5.0, 5.0), none=False) -> Case:
    """A tensor with at least one axis and one axis of it (negative too; or None)."""
    x = _small_tensor(draw, min_dims=1, elements=elements)
    axis = st.integers(-x.ndim, x.ndim - 1)
    return Case((x,), {"axis": draw(st.none() | axis if none else axis)})


# subscripts, and which letters may be drawn with size 1 only (none: any of 1..SIDE)
EINSUM_FORMS = {
    "matmul": "ij,jk->ik",
    "batched": "bij,bjk->bik",
    "implicit": "ij,jk",
    "implicit order": "kB,ka",      # upper case before lower case in the implicit output
    "outer": "i,j->ij",
    "sum": "ij->",
    "transpose": "ij->ji",
    "diagonal": "ii->i",
    "trace": "ii",
    "repeated letter": "iij,j->ij",
    "three operands": "ij,jk,k->i",
    "ellipsis": "...ij,...j->...i",
    "ellipsis dot": "...i,...i->...",
}


@st.composite
def einsum_cases(draw, form: str, constant: bool = False) -> Case:
    """``einsum(subscripts, *operands)`` for one of EINSUM_FORMS, each letter a side of 1 to
    SIDE; '...' axes are drawn to broadcast against each other's (size-1 stretching included).
    ``constant``: one operand is a numpy array."""
    subscripts = EINSUM_FORMS[form]
    inputs = subscripts.split("->")[0].split(",")
    sides = {c: draw(st.integers(1, SIDE)) for c in set("".join(inputs)) if c.isalpha()}
    lead = draw(mutually_broadcastable_shapes(len(inputs), max_dims=2, max_side=2)) \
        if "..." in subscripts else [()] * len(inputs)
    args = [draw(tensors(tuple(lead[i]) + tuple(sides[c] for c in part.replace("...", ""))))
            for i, part in enumerate(inputs)]
    if constant:
        side = draw(st.integers(0, len(args) - 1))
        args[side] = args[side].data
    return Case((subscripts, *args))


@st.composite
def take_along_cases(draw) -> Case:
    """x, indices with x's dims (sides equal to x's or 1, to broadcast; any length on the axis;
    negative indices too, and repeats), and an axis; or axis None with 1-d indices."""
    x = _small_tensor(draw, min_dims=1)
    if draw(st.booleans()):
        n = x.size
        index = draw(hnp.arrays(np.int64, (draw(st.integers(1, 4)),),
                                elements=st.integers(-n, n - 1)))
        return Case((x, index), {"axis": None})
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    shape = tuple(draw(st.integers(1, 3)) if d == axis % x.ndim
                  else draw(st.sampled_from([1, side])) for d, side in enumerate(x.shape))
    index = draw(hnp.arrays(np.int64, shape, elements=st.integers(-n, n - 1)))
    return Case((x, index), {"axis": axis})


@st.composite
def gather_cases(draw) -> Case:
    """PyTorch's gather(x, dim, index): index no longer than x except on dim, values in
    [0, x.shape[dim]) (repeats likely)."""
    x = _small_tensor(draw, min_dims=1)
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    shape = tuple(draw(st.integers(1, 3)) if d == dim % x.ndim else draw(st.integers(1, side))
                  for d, side in enumerate(x.shape))
    index = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, x.shape[dim] - 1)))
    return Case((x, dim, index))


def _np_gather(x, dim, index):
    """PyTorch's gather by its definition, element by element."""
    out = np.empty(index.shape, dtype=x.dtype)
    for position in np.ndindex(*index.shape):
        source = list(position)
        source[dim] = index[position]
        out[position] = x[tuple(source)]
    return out


@st.composite
def attention_cases(draw) -> Case:
    """q (B?, L, E), k (B?, S, E), v (B?, S, Ev) with a shared optional batch axis; a boolean
    mask (L, S) or (B, L, S) sometimes (rows without any key included), causal sometimes."""
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    length, source = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    e, ev = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    q = draw(tensors(batch + (length, e), elements=(-2.0, 2.0)))
    k = draw(tensors(batch + (source, e), elements=(-2.0, 2.0)))
    v = draw(tensors(batch + (source, ev), elements=(-2.0, 2.0)))
    kwargs = {}
    if draw(st.booleans()):
        mask_shape = draw(st.sampled_from([(length, source), batch + (length, source)]))
        kwargs["mask"] = draw(hnp.arrays(np.bool_, mask_shape))
    if draw(st.booleans()):
        kwargs["causal"] = True
    return Case((q, k, v), kwargs)


def _np_attention(q, k, v, mask=None, causal=False):
    """softmax(q k^T / sqrt(E)) v, row by row: a row whose keys are all masked gives zeros."""
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    keep = np.ones(scores.shape, dtype=bool)
    if mask is not None:
        keep &= mask
    if causal:
        keep &= np.tril(np.ones(scores.shape[-2:], dtype=bool))
    out = np.zeros(scores.shape[:-1] + (v.shape[-1],))
    values = np.broadcast_to(v, scores.shape[:-2] + v.shape[-2:])
    for row in np.ndindex(*scores.shape[:-1]):
        kept = keep[row]
        if kept.any():
            weights = _np_softmax(scores[row][kept])
            out[row] = weights @ values[row[:-1]][kept]
    return out


_APPROXIMATE = st.fixed_dictionaries({}, optional={"approximate": st.sampled_from(["none",
                                                                                    "tanh"])})

SEQ_SPECS: list[OpSpec] = [
    OpSpec("gelu", ag.gelu, _np_gelu, unary(kwargs=_APPROXIMATE)),
    OpSpec("silu", ag.silu, _np_silu, unary(elements=(-10.0, 10.0))),
    OpSpec("softmax", ag.softmax, _np_softmax, one_axis()),
    OpSpec("cumsum", ag.cumsum, np.cumsum, one_axis(none=True)),
    *[OpSpec("einsum", ag.einsum, np.einsum, einsum_cases(form), variant=form)
      for form in EINSUM_FORMS],
    OpSpec("einsum", ag.einsum, np.einsum, einsum_cases("three operands", constant=True),
           variant="constant"),
]

SEQ_COMPOSITE_SPECS: list[OpSpec] = [
    OpSpec("take_along_axis", ag.take_along_axis, np.take_along_axis, take_along_cases()),
    OpSpec("gather", ag.gather, _np_gather, gather_cases()),
    OpSpec("scaled_dot_product_attention", ag.scaled_dot_product_attention, _np_attention,
           attention_cases()),
]


# ---- convolution, pooling, padding (autograd_core/ops/convolution.py) ---------------------------
# References are plain loops over every output position (and kernel offset), nothing shared with
# the library's strided-view implementation.

def _np_conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    nd = w.ndim - 2
    stride, padding, dilation = ((v,) * nd if isinstance(v, int) else tuple(v)
                                 for v in (stride, padding, dilation))
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding))
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    kernel = w.shape[2:]
    out_size = tuple((xp.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
                     for i in range(nd))
    out = np.zeros((n, o) + out_size, dtype=np.result_type(x, w))
    og = o // groups
    for b_, oc in itertools.product(range(n), range(o)):
        first = (oc // og) * cg
        for pos in itertools.product(*(range(m) for m in out_size)):
            total = 0.0
            for ci in range(cg):
                for k in itertools.product(*(range(m) for m in kernel)):
                    at = tuple(pos[i] * stride[i] + k[i] * dilation[i] for i in range(nd))
                    total += w[(oc, ci) + k] * xp[(b_, first + ci) + at]
            out[(b_, oc) + pos] = total
    if b is not None:
        out = out + np.reshape(b, (-1,) + (1,) * nd)
    return out


def _np_conv_transpose(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                       dilation=1):
    nd = w.ndim - 2
    stride, padding, output_padding, dilation = (
        (v,) * nd if isinstance(v, int) else tuple(v)
        for v in (stride, padding, output_padding, dilation))
    n, c_in = x.shape[:2]
    cg = w.shape[1]
    kernel = w.shape[2:]
    size = tuple((x.shape[2 + i] - 1) * stride[i] - 2 * padding[i]
                 + dilation[i] * (kernel[i] - 1) + output_padding[i] + 1 for i in range(nd))
    out = np.zeros((n, cg * groups) + tuple(m + 2 * p for m, p in zip(size, padding)),
                   dtype=np.result_type(x, w))
    per_group = c_in // groups
    for b_, ic in itertools.product(range(n), range(c_in)):
        first = (ic // per_group) * cg
        for pos in itertools.product(*(range(m) for m in x.shape[2:])):
            for co in range(cg):
                for k in itertools.product(*(range(m) for m in kernel)):
                    at = tuple(pos[i] * stride[i] + k[i] * dilation[i] for i in range(nd))
                    out[(b_, first + co) + at] += x[(b_, ic) + pos] * w[(ic, co) + k]
    out = out[(slice(None), slice(None)) + tuple(slice(p, p + m) for p, m in zip(padding, size))]
    if b is not None:
        out = out + np.reshape(b, (-1,) + (1,) * nd)
    return out


def _np_pool(x, kernel_size, stride=None, padding=0, kind="max"):
    kernel = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
    stride = kernel if stride is None else (stride,) * 2 if isinstance(stride, int) else stride
    padding = (padding,) * 2 if isinstance(padding, int) else tuple(padding)
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding), constant_values=fill)
    out_size = tuple((xp.shape[2 + i] - kernel[i]) // stride[i] + 1 for i in range(2))
    out = np.zeros(x.shape[:2] + out_size, dtype=x.dtype)
    for i, j in itertools.product(*(range(m) for m in out_size)):
        window = xp[:, :, i * stride[0]:i * stride[0] + kernel[0],
                    j * stride[1]:j * stride[1] + kernel[1]]
        out[:, :, i, j] = window.max(axis=(2, 3)) if kind == "max" else window.sum(
            axis=(2, 3)) / (kernel[0] * kernel[1])
    return out


def _pool_ref(kind):
    return lambda x, kernel_size, stride=None, padding=0: _np_pool(x, kernel_size, stride,
                                                                    padding, kind)


@st.composite
def conv_cases(draw, nd: int, general: bool, transposed: bool = False) -> Case:
    """A small convolution: batch 1-2; ``general`` draws stride, padding, dilation and groups
    (else all default), each spatial size is drawn so that the dilated kernel fits the padded
    input. The input may be a numpy constant, the bias a Tensor or absent."""
    small = st.integers(1, 2)
    groups = draw(small) if general else 1
    c_in, c_out = groups * draw(small), groups * draw(small)
    kernel = tuple(draw(st.integers(1, 3 if nd == 1 else 2)) for _ in range(nd))
    stride = tuple(draw(small) for _ in range(nd)) if general else (1,) * nd
    padding = tuple(draw(st.integers(0, 1)) for _ in range(nd)) if general else (0,) * nd
    dilation = tuple(draw(small) for _ in range(nd)) if general else (1,) * nd
    kwargs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    n = draw(small)
    if transposed:
        size = tuple(draw(st.integers(1, 3)) for _ in range(nd))
        # padding must leave a non-empty output: (size-1)*s + d*(k-1) + 1 > 2p
        padding = tuple(p if (m - 1) * s + d * (k - 1) + 1 > 2 * p else 0
                        for p, m, s, d, k in zip(padding, size, stride, dilation, kernel))
        kwargs["padding"] = padding
        if general:
            kwargs["output_padding"] = tuple(draw(st.integers(0, max(s, d) - 1))
                                             for s, d in zip(stride, dilation))
        x = draw(tensors((n, c_in) + size, elements=(-2.0, 2.0)))
        w = draw(tensors((c_in, c_out // groups) + kernel, elements=(-2.0, 2.0)))
        out_channels = c_out
    else:
        size = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p),
                                      max(1, d * (k - 1) + 1 - 2 * p) + (3 if nd == 1 else 2)))
                     for k, p, d in zip(kernel, padding, dilation))
        x = draw(tensors((n, c_in) + size, elements=(-2.0, 2.0)))
        w = draw(tensors((c_out, c_in // groups) + kernel, elements=(-2.0, 2.0)))
        out_channels = c_out
    args = [x.data if draw(st.booleans()) else x, w]
    if draw(st.booleans()):
        args.append(draw(tensors((out_channels,), elements=(-2.0, 2.0))))
    return Case(tuple(args), kwargs)


@st.composite
def pool_cases(draw, distinct: bool) -> Case:
    """(N, C, H, W) input, a kernel (int or pair), stride None (= kernel), an int or a pair, and
    padding up to half the kernel; ``distinct``: values on a half grid, all different, so each
    window's maximum is 0.5 clear of the runner-up (max has no derivative at a tie)."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.none() | st.integers(1, 3) | st.tuples(st.integers(1, 2),
                                                            st.integers(1, 2)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    size = tuple(draw(st.integers(max(1, k - 2 * p), max(1, k - 2 * p) + 2))
                 for k, p in zip(kernel, padding))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + size
    elements = HALVES if distinct else (-5.0, 5.0)
    x = draw(tensors(shape, elements=elements, unique=distinct))
    kernel_size = kernel if draw(st.booleans()) or kernel[0] != kernel[1] else kernel[0]
    return Case((x, kernel_size), {"stride": stride, "padding": padding})


@st.composite
def pad_cases(draw) -> Case:
    """A tensor and np.pad's pad_width in each of its forms (an int, one pair, a pair per
    axis), with a constant value or numpy's default 0."""
    x = draw(tensors(small_shapes(min_dims=1)))
    form = draw(st.sampled_from(["int", "pair", "per axis"]))
    if form == "int":
        widths = draw(st.integers(0, 2))
    elif form == "pair":
        widths = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    else:
        widths = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in x.shape)
    kwargs = draw(st.fixed_dictionaries({}, optional={"constant_values": HALVES}))
    return Case((x, widths), kwargs)


def _np_pad(x, widths, constant_values=0):
    return np.pad(x, widths, mode="constant", constant_values=constant_values)


CONV_SPECS: list[OpSpec] = [
    OpSpec("conv1d", ag.conv1d, _np_conv, conv_cases(1, general=False), variant="plain"),
    OpSpec("conv1d", ag.conv1d, _np_conv, conv_cases(1, general=True),
           variant="stride padding dilation groups"),
    OpSpec("conv2d", ag.conv2d, _np_conv, conv_cases(2, general=False), variant="plain"),
    OpSpec("conv2d", ag.conv2d, _np_conv, conv_cases(2, general=True),
           variant="stride padding dilation groups"),
    OpSpec("conv_transpose1d", ag.conv_transpose1d, _np_conv_transpose,
           conv_cases(1, general=True, transposed=True)),
    OpSpec("conv_transpose2d", ag.conv_transpose2d, _np_conv_transpose,
           conv_cases(2, general=True, transposed=True)),
    OpSpec("max_pool2d", ag.max_pool2d, _pool_ref("max"), pool_cases(distinct=True)),
    OpSpec("pad", ag.pad, _np_pad, pad_cases()),
]

CONV_COMPOSITE_SPECS: list[OpSpec] = [
    OpSpec("avg_pool2d", ag.avg_pool2d, _pool_ref("avg"), pool_cases(distinct=False)),
]


# ---- linear algebra and special functions (ops/decompositions.py, ops/special.py) --------------
# Matrices are built well-conditioned from the drawn values, so that central differences are
# accurate: diagonally dominant for solve/inv/det, A A^T + n I for the Cholesky factor, and a
# prescribed spectrum (distinct values at least 0.5 apart) for eigh, svd and qr.

_LINALG_BATCHES = st.sampled_from([(), (1,), (2,)])
_UNIT = st.floats(-1.0, 1.0)


def _draw_values(draw, shape: tuple) -> np.ndarray:
    return draw(hnp.arrays(np.float64, shape, elements=_UNIT))


def _orthonormal(draw, batch: tuple, rows: int, cols: int) -> np.ndarray:
    """Orthonormal columns: Q of the QR of a drawn matrix made full rank by a shifted diagonal."""
    x = _draw_values(draw, batch + (rows, cols)) + 4 * np.eye(rows, cols)
    return np.linalg.qr(x)[0]


def _spectrum(draw, batch: tuple, size: int, low: int, high: int) -> np.ndarray:
    """Distinct values on a grid of halves in [low/2, high/2], sorted ascending, per matrix."""
    values = st.lists(st.integers(low, high), min_size=size, max_size=size, unique=True)
    return np.array([sorted(draw(values)) for _ in range(math.prod(batch))]).reshape(
        batch + (size,)) / 2


@st.composite
def linalg_matrices(draw, kind: str) -> Case:
    """One matrix or a batch: "general" (diagonally dominant), "spd", "symmetric" (distinct
    eigenvalues, some negative) or "rectangular" (distinct singular values in [1, 4], any
    m x n up to 3 x 3)."""
    batch = draw(_LINALG_BATCHES)
    if kind == "rectangular":
        m, n = draw(st.integers(1, SIDE)), draw(st.integers(1, SIDE))
        k = min(m, n)
        u, v = _orthonormal(draw, batch, m, k), _orthonormal(draw, batch, n, k)
        s = _spectrum(draw, batch, k, 2, 8)[..., ::-1]
        data = (u * s[..., None, :]) @ np.swapaxes(v, -1, -2)
        return Case((ag.Tensor(data, requires_grad=True),))
    n = draw(st.integers(1, SIDE))
    x = _draw_values(draw, batch + (n, n))
    if kind == "general":
        data = x + 4 * np.eye(n)  # |off-diagonal| row sums <= 2 < 3 <= |diagonal|
    elif kind == "spd":
        data = x @ np.swapaxes(x, -1, -2) + n * np.eye(n)
    else:
        q, w = _orthonormal(draw, batch, n, n), _spectrum(draw, batch, n, -6, 6)
        data = (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)
        data = (data + np.swapaxes(data, -1, -2)) / 2
    return Case((ag.Tensor(data, requires_grad=True),))


@st.composite
def linear_systems(draw, kind: str = "general", vector: bool = False, kwargs=NO_KWARGS) -> Case:
    """``a`` (as linalg_matrices) and a right-hand side: a vector (n,) or matrices (..., n, k)
    whose batch dims broadcast against a's; either may be a numpy constant."""
    (a,) = draw(linalg_matrices(kind)).args
    n = a.shape[-1]
    b_shape = (n,) if vector else draw(st.sampled_from([(), a.shape[:-2]])) + (
        n, draw(st.integers(1, SIDE)))
    b = ag.Tensor(_draw_values(draw, b_shape), requires_grad=True)
    args = [a, b]
    constant = draw(st.sampled_from([None, 0, 1]))
    if constant is not None:
        args[constant] = args[constant].data
    return Case(tuple(args), draw(kwargs))


@st.composite
def cholesky_factors(draw, vector: bool = False) -> Case:
    """A lower Cholesky factor (of an "spd" matrix) and a right-hand side."""
    a, b = draw(linear_systems("spd", vector=vector)).args
    low = np.linalg.cholesky(a.data if isinstance(a, ag.Tensor) else a)
    return Case((ag.Tensor(low, requires_grad=True), b))


def _joined(lib, parts) -> object:
    """Results of a factorisation flattened and joined along one last axis: one output to
    compare and differentiate (lib is ag or np)."""
    batch = parts[0].shape[:-2] if parts[0].ndim >= 2 else parts[0].shape[:-1]
    return lib.concatenate([p.reshape(batch + (-1,)) for p in parts], axis=-1)


def _sign_free(lib, left, right):
    """Products ``left[:, j] * right[j, :]`` for every j: unchanged when a column of ``left`` and
    the matching row of ``right`` change sign together, so the spec does not depend on the
    signs the factorisation picked (for eigh and svd they are arbitrary)."""
    return lib.expand_dims(left, -1) * lib.expand_dims(right, -3)


def _eigh_outputs(lib, eigh):
    def call(a, **kwargs):
        w, v = eigh(a, **kwargs)
        return _joined(lib, [w, _sign_free(lib, v, lib.swapaxes(v, -1, -2))])
    return call


def _svd_outputs(lib, svd):
    def call(a):
        u, s, vh = svd(a, full_matrices=False)
        return _joined(lib, [s, _sign_free(lib, u, vh)])
    return call


def _qr_outputs(lib, qr):
    def call(a):
        q, r = qr(a)
        return _joined(lib, [_sign_free(lib, q, r)])
    return call


def _logabsdet(slogdet):
    return lambda a: slogdet(a)[1]


def _np_cholesky_solve(low, b, lower=True):
    a = low @ np.swapaxes(low, -1, -2)
    return np.linalg.solve(a, b)


def _np_solve_triangular(a, b, lower=False):
    return np.linalg.solve(np.tril(a) if lower else np.triu(a), b)


@st.composite
def norm_cases(draw, kind: str) -> Case:
    """``norm`` of a vector (an int axis, or a 1-d tensor with axis None), of matrices (a pair
    of axes) or of the whole tensor (axis and ord None), with keepdims."""
    keepdims = draw(st.booleans())
    if kind == "all":
        x = _small_tensor(draw, min_dims=0, elements=(-5.0, 5.0), avoid=(0.0,))
        return Case((x,), {"keepdims": keepdims})
    if kind == "vector":
        ord_ = draw(st.sampled_from([None, 2, 1]))
        x = _small_tensor(draw, min_dims=1, elements=(-5.0, 5.0), avoid=(0.0,), margin=0.2)
        return Case((x,), {"ord": ord_, "axis": draw(st.integers(-x.ndim, x.ndim - 1)),
                           "keepdims": keepdims})
    if kind == "extreme":  # distinct magnitudes: a tie has no derivative
        x = _small_tensor(draw, min_dims=1, elements=HALVES.map(lambda v: abs(v) + 0.25),
                          unique=True)
        x = ag.Tensor(x.data * np.where(draw(hnp.arrays(bool, x.shape)), -1, 1),
                      requires_grad=True)
        return Case((x,), {"ord": draw(st.sampled_from([np.inf, -np.inf])),
                           "axis": draw(st.integers(-x.ndim, x.ndim - 1)),
                           "keepdims": keepdims})
    x = _small_tensor(draw, min_dims=2, elements=(-5.0, 5.0), avoid=(0.0,))
    first, second = draw(st.permutations(range(x.ndim)))[:2]
    return Case((x,), {"ord": draw(st.sampled_from([None, "fro"])), "axis": (first, second),
                       "keepdims": keepdims})


@st.composite
def nuclear_norm_cases(draw) -> Case:
    (a,) = draw(linalg_matrices("rectangular")).args
    first, second = draw(st.sampled_from([(-2, -1), (-1, -2)]))
    return Case((a,), {"ord": "nuc", "axis": (a.ndim + first, second),
                       "keepdims": draw(st.booleans())})


@st.composite
def kron_cases(draw) -> Case:
    a = _small_tensor(draw, max_dims=2)
    b = _small_tensor(draw, max_dims=2)
    args = [a, b]
    constant = draw(st.sampled_from([None, 0, 1]))
    if constant is not None:
        args[constant] = args[constant].data
    return Case(tuple(args))


def _np_erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _np_erfc(x):
    return np.vectorize(math.erfc, otypes=[np.float64])(x)


def _np_lgamma(x):
    return np.vectorize(math.lgamma, otypes=[np.float64])(x)


def _scipy(name):
    def ref(*args):
        import scipy.special

        return getattr(scipy.special, name)(*args)
    return ref


@st.composite
def polygamma_cases(draw) -> Case:
    x = _small_tensor(draw, elements=(0.3, 8.0))
    return Case((draw(st.integers(0, 2)), x))


_LOWER = st.fixed_dictionaries({"lower": st.booleans()})

LINALG_SPECS: list[OpSpec] = [
    OpSpec("solve", ag.solve, np.linalg.solve, linear_systems(), variant="matrices"),
    OpSpec("solve", ag.solve, np.linalg.solve, linear_systems(vector=True), variant="vector"),
    OpSpec("solve_triangular", ag.solve_triangular, _np_solve_triangular,
           linear_systems(kwargs=_LOWER), variant="matrices"),
    OpSpec("solve_triangular", ag.solve_triangular, _np_solve_triangular,
           linear_systems(vector=True, kwargs=_LOWER), variant="vector"),
    OpSpec("inv", ag.inv, np.linalg.inv, linalg_matrices("general")),
    OpSpec("det", ag.det, np.linalg.det, linalg_matrices("general")),
    OpSpec("cholesky", ag.cholesky, np.linalg.cholesky, linalg_matrices("spd")),
    OpSpec("erf", ag.erf, _np_erf, unary(elements=(-4.0, 4.0))),
    OpSpec("erfc", ag.erfc, _np_erfc, unary(elements=(-4.0, 4.0))),
    OpSpec("lgamma", ag.lgamma, _np_lgamma, unary(elements=(0.3, 8.0))),
    OpSpec("digamma", ag.digamma, _scipy("digamma"), unary(elements=(0.3, 8.0))),
    OpSpec("polygamma", ag.polygamma, _scipy("polygamma"), polygamma_cases()),
]

LINALG_COMPOSITE_SPECS: list[OpSpec] = [
    OpSpec("slogdet", _logabsdet(ag.slogdet), _logabsdet(np.linalg.slogdet),
           linalg_matrices("general")),
    OpSpec("cholesky_solve", ag.cholesky_solve, _np_cholesky_solve, cholesky_factors()),
    OpSpec("eigh", _eigh_outputs(ag, ag.eigh), _eigh_outputs(np, np.linalg.eigh),
           linalg_matrices("symmetric")),
    OpSpec("svd", _svd_outputs(ag, ag.svd), _svd_outputs(np, np.linalg.svd),
           linalg_matrices("rectangular")),
    OpSpec("qr", _qr_outputs(ag, ag.qr), _qr_outputs(np, np.linalg.qr),
           linalg_matrices("rectangular")),
    OpSpec("norm", ag.norm, np.linalg.norm, norm_cases("all"), variant="all elements"),
    OpSpec("norm", ag.norm, np.linalg.norm, norm_cases("vector"), variant="vector"),
    OpSpec("norm", ag.norm, np.linalg.norm, norm_cases("extreme"), variant="inf"),
    OpSpec("norm", ag.norm, np.linalg.norm, norm_cases("matrix"), variant="frobenius"),
    OpSpec("norm", ag.norm, np.linalg.norm, nuclear_norm_cases(), variant="nuclear"),
    OpSpec("kron", ag.kron, np.kron, kron_cases()),
]


# ---- the catalogue: tensor primitives -----------------------------------------------------------

TENSOR_SPECS: list[OpSpec] = [
    # arithmetic
    *binary_specs("add", operator.add, np.add),
    *binary_specs("sub", operator.sub, np.subtract),
    *binary_specs("mul", operator.mul, np.multiply),
    *binary_specs("div", operator.truediv, np.true_divide, b_avoid=(0.0,), margin=0.5),
    OpSpec("neg", operator.neg, np.negative, unary()),
    OpSpec("clone", ag.clone, np.copy, unary()),
    OpSpec("pow", operator.pow, np.power, binary(a=(0.2, 3.0), b=(-2.0, 2.0)),
           variant="tensor exponent"),
    OpSpec("pow", operator.pow, np.power, pow_constant_exponent(), variant="constant exponent"),
    OpSpec("pow", operator.pow, np.power, pow_constant_base(), variant="constant base"),
    # exp / log family and activations (kinks avoided)
    OpSpec("exp", ag.exp, np.exp, unary()),
    OpSpec("log", ag.log, np.log, unary(elements=(0.1, 10.0))),
    OpSpec("sqrt", ag.sqrt, np.sqrt, unary(elements=(0.1, 10.0))),
    OpSpec("abs", ag.abs, np.abs, unary(avoid=(0.0,))),
    OpSpec("tanh", ag.tanh, np.tanh, unary()),
    OpSpec("sigmoid", ag.sigmoid, _np_sigmoid, unary(elements=(-10.0, 10.0))),
    OpSpec("relu", ag.relu, lambda x: np.maximum(x, 0), unary(avoid=(0.0,))),
    OpSpec("leaky_relu", ag.leaky_relu, _np_leaky_relu, unary(avoid=(0.0,), kwargs=_SLOPES)),
    # choosing between inputs (operands on interleaved grids never tie)
    *binary_specs("maximum", ag.maximum, np.maximum, a=HALVES, b=QUARTERS),
    *binary_specs("minimum", ag.minimum, np.minimum, a=HALVES, b=QUARTERS),
    OpSpec("where", ag.where, np.where, where()),
    OpSpec("clip", ag.clip, _np_clip, clip()),
    OpSpec("sign", ag.sign, np.sign, unary()),
    # reductions (distinct values for max/min: a tie has no derivative)
    OpSpec("sum", ag.sum, np.sum, reduction()),
    OpSpec("max", ag.max, np.max, reduction(elements=HALVES, unique=True)),
    OpSpec("min", ag.min, np.min, reduction(elements=HALVES, unique=True)),
    OpSpec("logsumexp", ag.logsumexp, _np_logsumexp, reduction()),
    OpSpec("softmax_cross_entropy", ag.softmax_cross_entropy, _np_softmax_cross_entropy,
           logits_and_labels()),
    # matmul, each way numpy treats the operands
    OpSpec("matmul", operator.matmul, np.matmul, matmul(st.just(("1d", "1d"))), variant="1d @ 1d"),
    OpSpec("matmul", operator.matmul, np.matmul, matmul(st.just(("1d", "2d"))), variant="1d @ 2d"),
    OpSpec("matmul", operator.matmul, np.matmul, matmul(st.just(("2d", "1d"))), variant="2d @ 1d"),
    OpSpec("matmul", operator.matmul, np.matmul, matmul(st.just(("2d", "2d"))), variant="2d @ 2d"),
    OpSpec("matmul", operator.matmul, np.matmul,
           matmul(_ALL_KINDS.filter(lambda pair: "batched" in pair)), variant="batched"),
    OpSpec("matmul", operator.matmul, np.matmul, matmul(_ALL_KINDS, constant=True),
           variant="constant"),
    OpSpec("linear", ag.linear, lambda x, w, b: np.matmul(x, w) + b, linear()),
    # shapes
    OpSpec("reshape", ag.reshape, np.reshape, reshape()),
    OpSpec("transpose", ag.transpose, np.transpose, transpose()),
    OpSpec("broadcast_to", ag.broadcast_to, np.broadcast_to, broadcast_to()),
    OpSpec("concatenate", _concatenate, _np_concatenate, joined(same_shape=False)),
    OpSpec("astype", _cast, _astype,
           unary(kwargs=st.fixed_dictionaries(
               {"dtype": st.sampled_from([np.dtype(np.longdouble), np.dtype(np.float64)])})),
           preserves_dtype=False),
    # indexing and its adjoint
    OpSpec("getitem", _index, _index, getitem("basic"), variant="basic"),
    OpSpec("getitem", _index, _index, getitem("integer array"), variant="integer array"),
    OpSpec("getitem", _index, _index, getitem("boolean mask"), variant="boolean mask"),
    OpSpec("scatter_add", scatter_add, _scatter_add_ref, scatter("basic"), variant="basic"),
    OpSpec("scatter_add", scatter_add, _scatter_add_ref, scatter("integer array"),
           variant="repeated indices"),
    # numeric: trigonometry, exp/log, rounding, float tests (NUMERIC_SPECS above)
    *NUMERIC_SPECS,
    *ARRAY_SPECS,
    *SEQ_SPECS,
    *CONV_SPECS,
    *LINALG_SPECS,
]

COMPOSITE_SPECS: list[OpSpec] = [
    OpSpec("mean", ag.mean, np.mean, reduction()),
    OpSpec("var", ag.var, np.var, reduction(ddof=True)),
    OpSpec("expand_dims", ag.expand_dims, np.expand_dims, expand_dims()),
    OpSpec("squeeze", ag.squeeze, np.squeeze, squeeze()),
    OpSpec("stack", _stack, _np_stack, joined(same_shape=True)),
    OpSpec("swapaxes", ag.swapaxes, np.swapaxes, swapaxes()),
    *ARRAY_COMPOSITE_SPECS,
    *SEQ_COMPOSITE_SPECS,
    *CONV_COMPOSITE_SPECS,
    *LINALG_COMPOSITE_SPECS,
]


# ---- the catalogue: Scalar ops, derived ----------------------------------------------------------
# Every op with a float kernel is a Scalar op too, with the same rule: its entries above run again
# on Scalars (tests/test_scalar_ops.py), so the two front ends are tested from one catalogue.

SCALAR_SPECS: list[OpSpec] = [spec.on_scalars() for spec in TENSOR_SPECS
                              if registry.OPS[spec.op].scalar]
