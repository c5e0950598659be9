"""The hypothesis strategies of ``autograd_core.testing`` draw what they promise, and an example
of how to property-test your own custom Function with them."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_core as ag
from autograd_core import Function, Scalar, Tensor
from autograd_core.testing import (
    axes,
    broadcastable_shapes,
    mutually_broadcastable_shapes,
    scalars,
    shapes,
    tensors,
)

# Bounds as multiples of 1/4, exactly representable in float16/32/64 alike.
quarters = st.integers(-40, 40).map(lambda n: n / 4)


@st.composite
def bounds(draw, min_width=0.25):
    low = draw(quarters)
    high = draw(quarters.filter(lambda h: h >= low + min_width))
    return low, high


# ---- shapes -------------------------------------------------------------------------------------

@given(shapes())
def test_shapes_default_to_at_most_three_dims_of_sides_one_to_four(shape):
    assert isinstance(shape, tuple) and len(shape) <= 3
    assert all(1 <= side <= 4 for side in shape)


@given(st.data(), st.integers(0, 3), st.integers(0, 2), st.integers(0, 3), st.integers(0, 3))
def test_shapes_stay_within_the_bounds_asked_for(data, min_dims, extra_dims, min_side, extra_side):
    max_dims, max_side = min_dims + extra_dims, min_side + extra_side
    shape = data.draw(shapes(min_dims, max_dims, min_side, max_side))
    assert min_dims <= len(shape) <= max_dims
    assert all(min_side <= side <= max_side for side in shape)


# ---- tensors ------------------------------------------------------------------------------------

@given(tensors())
def test_tensors_default_to_float64_leaves_requiring_grad_with_elements_in_minus_10_to_10(t):
    assert isinstance(t, Tensor) and t.is_leaf and t.requires_grad
    assert t.dtype == np.float64
    assert t.ndim <= 3 and all(1 <= side <= 4 for side in t.shape)
    assert np.all((-10 <= t.data) & (t.data <= 10))


@given(st.data(), st.sampled_from([np.float64, np.float32, np.float16]),
       shapes(min_dims=0, max_dims=3), st.booleans(), bounds())
def test_tensors_have_the_dtype_shape_requires_grad_and_bounds_asked_for(
        data, dtype, shape, requires_grad, element_bounds):
    t = data.draw(tensors(shape=shape, dtype=dtype, elements=element_bounds,
                          requires_grad=requires_grad))
    assert t.dtype == dtype and t.shape == shape and t.requires_grad == requires_grad
    low, high = element_bounds
    assert np.all((low <= t.data) & (t.data <= high))
    assert np.all(np.isfinite(t.data))


@given(tensors(shape=shapes(min_dims=2, max_dims=2, min_side=2, max_side=2)))
def test_tensors_accept_a_strategy_of_shapes(t):
    assert t.shape == (2, 2)


@given(tensors(shape=(3,), elements=st.just(1.5)))
def test_tensors_accept_a_strategy_of_elements(t):
    np.testing.assert_array_equal(t.data, [1.5, 1.5, 1.5])


@given(st.data(), st.lists(st.integers(-3, 3), min_size=1, max_size=3, unique=True),
       st.sampled_from([0.1, 0.25, 0.4]))
def test_tensors_keep_at_least_margin_away_from_well_separated_avoid_points(data, points, margin):
    # Integer points are at least 1 apart, more than 2 * margin: pushing a value away from one
    # point cannot push it close to another.
    t = data.draw(tensors(shape=(4, 3), elements=(-4.0, 4.0), avoid=tuple(points),
                          margin=margin))
    for point in points:  # up to float64 rounding of point +- margin
        assert np.all(np.abs(t.data - point) >= margin * (1 - 1e-12)), (point, t.data)
    assert np.all((-4 <= t.data) & (t.data <= 4))


@given(tensors(shape=(20,), elements=(-1.0, 1.0), avoid=(0.0,), margin=0.5))
def test_tensors_avoid_a_point_even_when_most_of_the_range_is_within_margin(t):
    assert np.all(np.abs(t.data) >= 0.5)


@given(tensors(shape=(6,), elements=(-2.0, 2.0), avoid=(0.0, 0.1), margin=0.1))
def test_tensors_keep_margin_from_every_avoid_point_even_when_points_are_close(t):
    # Pushing a value just above 0 to 0 + margin = 0.1 would land exactly on the other point.
    for point in (0.0, 0.1):
        assert np.all(np.abs(t.data - point) >= 0.1), (point, t.data)


@given(tensors(shape=(6,), dtype=np.float32, elements=(0.5, 1.5), avoid=(1.0,), margin=0.3))
def test_float32_tensors_keep_margin_from_avoid_points(t):
    # 1.0 + 0.3 rounds to float32 1.29999995, closer than the margin: edges are rounded outward.
    assert np.all(np.abs(t.data.astype(np.float64) - 1.0) >= 0.3), t.data


@given(tensors(shape=shapes(min_dims=1, max_dims=2, max_side=4), elements=(-1.0, 1.0),
               unique=True))
def test_tensors_with_unique_true_have_no_repeated_values(t):
    assert len(np.unique(t.data)) == t.size


@given(tensors(shape=(2, 2), requires_grad=False))
def test_tensors_can_be_drawn_without_requires_grad(t):
    assert not t.requires_grad and t.grad is None


# ---- broadcastable shapes -----------------------------------------------------------------------

@given(st.data(), shapes(min_dims=0, max_dims=3))
def test_broadcastable_shapes_broadcast_with_the_given_shape(data, shape):
    other = data.draw(broadcastable_shapes(shape, max_side=4))
    assert all(1 <= side <= 4 for side in other)
    result = np.broadcast_shapes(shape, other)
    assert len(result) == max(len(shape), len(other))


@given(st.data(), shapes(min_dims=1, max_dims=2), st.integers(0, 2), st.integers(0, 2))
def test_broadcastable_shapes_respect_min_and_max_dims(data, shape, min_dims, extra_dims):
    other = data.draw(broadcastable_shapes(shape, min_dims=min_dims,
                                           max_dims=min_dims + extra_dims))
    assert min_dims <= len(other) <= min_dims + extra_dims
    np.broadcast_shapes(shape, other)


@given(st.data(), st.integers(1, 4))
def test_mutually_broadcastable_shapes_give_num_shapes_that_broadcast_together(data, num_shapes):
    drawn = data.draw(mutually_broadcastable_shapes(num_shapes, max_dims=3, max_side=3))
    assert isinstance(drawn, tuple) and len(drawn) == num_shapes
    for shape in drawn:
        assert len(shape) <= 3 and all(1 <= side <= 3 for side in shape)
    np.broadcast_shapes(*drawn)


@given(st.data())
def test_tensors_of_mutually_broadcastable_shapes_can_be_added(data):
    a_shape, b_shape = data.draw(mutually_broadcastable_shapes(2))
    a, b = data.draw(tensors(shape=a_shape)), data.draw(tensors(shape=b_shape))
    assert (a + b).shape == np.broadcast_shapes(a_shape, b_shape)


# ---- axes ---------------------------------------------------------------------------------------

@given(st.data(), shapes(min_dims=0, max_dims=4))
def test_axes_are_valid_for_np_sum_over_that_many_dims(data, shape):
    axis = data.draw(axes(len(shape)))
    assert axis is None or isinstance(axis, (int, tuple))
    np.sum(np.ones(shape), axis=axis)  # raises AxisError for an out-of-range or repeated axis


@given(st.data(), st.integers(1, 4))
def test_axes_honour_the_allow_flags(data, ndim):
    axis = data.draw(axes(ndim, allow_none=False, allow_tuple=False, allow_negative=False))
    assert isinstance(axis, int) and 0 <= axis < ndim
    axis = data.draw(axes(ndim, allow_none=False))
    assert axis is not None


@given(axes(0, allow_none=False))
def test_axes_for_a_0d_tensor_without_none_is_the_empty_tuple(axis):
    assert axis == ()
    np.sum(np.ones(()), axis=axis)


def test_axes_for_a_0d_tensor_with_nothing_allowed_raises_value_error():
    with pytest.raises(ValueError, match="no valid axis"):
        axes(0, allow_none=False, allow_tuple=False)


# ---- scalars ------------------------------------------------------------------------------------

@given(st.data(), bounds(), st.booleans())
def test_scalars_stay_within_bounds_and_require_grad_as_asked(data, scalar_bounds, requires_grad):
    low, high = scalar_bounds
    s = data.draw(scalars(low, high, requires_grad=requires_grad))
    assert isinstance(s, Scalar) and isinstance(s.data, float)
    assert low <= s.data <= high
    assert s.requires_grad == requires_grad


@given(scalars(-1.0, 1.0, avoid=(0.0, 0.5), margin=0.125))
def test_scalars_keep_margin_from_avoid_points(s):
    assert abs(s.data) >= 0.125 and abs(s.data - 0.5) >= 0.125


# ---- example: property-testing your own custom Function -----------------------------------------

class Softplus(Function):
    """log(1 + exp(x)), a custom op as a user would write it.

    backward uses ``ag.sigmoid`` (which takes arrays and Tensors alike) rather than ``np.*`` on raw
    data, so the backward pass is itself differentiable and gradgradcheck can verify it.
    """

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ag.sigmoid(x)


@given(tensors(shape=shapes(max_dims=2, max_side=3), elements=(-5.0, 5.0)))
def test_example_custom_softplus_has_correct_first_and_second_derivatives(x):
    assert ag.gradcheck(Softplus.apply, [x])
    assert ag.gradgradcheck(Softplus.apply, [x])


@given(tensors(shape=(3,), elements=(-3.0, 3.0), avoid=(0.0,)))
def test_example_gradcheck_a_kinked_op_away_from_its_kink(x):
    # |x| has no derivative at 0; avoid=(0,) keeps central differences from straddling it.
    assert ag.gradcheck(lambda t: Softplus.apply(t.abs()), [x])
