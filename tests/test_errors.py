"""Misuse gives clear errors: the right exception type, a message that names the op and the
shapes (or says what to do), and inputs left as they were (data and grad)."""

import re

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import BackwardError, DTypeError, Function, Scalar, ShapeError, Tensor


def leaf(shape, seed=0):
    """A float64 leaf requiring grad, with a grad already accumulated (so both can be checked)."""
    rng = np.random.default_rng(seed)
    t = Tensor(rng.standard_normal(shape), requires_grad=True)
    (t * 1.0).sum().backward()
    return t


class Unchanged:
    """Context manager: the tensors' data and grad are the same after the block as before."""

    def __init__(self, *tensors):
        self.tensors = tensors

    def __enter__(self):
        self.before = [(t.data.copy(), None if t.grad is None else t.grad.data.copy())
                       for t in self.tensors]
        return self

    def __exit__(self, *exc_info):
        for t, (data, grad) in zip(self.tensors, self.before):
            np.testing.assert_array_equal(t.data, data)
            if grad is None:
                assert t.grad is None
            else:
                np.testing.assert_array_equal(t.grad.data, grad)
        return False


def escaped(*parts):
    """A regex requiring every part, in any order."""
    return "".join(f"(?=.*{re.escape(p)})" for p in parts)


# ---- shapes in forward --------------------------------------------------------------------------

@pytest.mark.parametrize("name, op", [
    ("Add", lambda a, b: a + b),
    ("Sub", lambda a, b: a - b),
    ("Mul", lambda a, b: a * b),
    ("Div", lambda a, b: a / b),
    ("Pow", lambda a, b: a ** b),
    ("Maximum", ag.maximum),
    ("Minimum", ag.minimum),
    ("Where", lambda a, b: ag.where(a > 0, a, b)),
])
def test_broadcast_mismatch_names_the_op_and_both_shapes(name, op):
    a, b = leaf((2, 3)), leaf((4,), seed=1)
    with Unchanged(a, b), pytest.raises(ShapeError, match=escaped(name, "(2, 3)", "(4,)")):
        op(a, b)


def test_broadcast_mismatch_with_a_numpy_operand():
    a = leaf((2, 3))
    with Unchanged(a), pytest.raises(ShapeError, match=escaped("Mul", "(2, 3)", "(4,)")):
        np.ones(4) * a


def test_shape_error_is_also_a_value_error():
    with pytest.raises(ValueError):
        Tensor(np.ones((2, 3))) + Tensor(np.ones(4))


def test_matmul_inner_dimension_mismatch():
    a, b = leaf((2, 3)), leaf((4, 5), seed=1)
    with Unchanged(a, b), pytest.raises(ShapeError, match=escaped("matmul", "(2, 3)", "(4, 5)")):
        a @ b


def test_matmul_vector_mismatch():
    a, v = leaf((2, 3)), leaf((4,), seed=1)
    with Unchanged(a, v), pytest.raises(ShapeError, match=escaped("matmul", "(2, 3)", "(4,)")):
        a @ v


def test_matmul_of_0d_operand():
    a, s = leaf((3,)), leaf((), seed=1)
    with Unchanged(a, s), pytest.raises(ShapeError, match=escaped("matmul", "()", "at least one")):
        a @ s
    with pytest.raises(ShapeError, match="at least one"):
        s @ a


def test_reshape_to_incompatible_size():
    a = leaf((2, 3))
    with Unchanged(a), pytest.raises(ShapeError, match=escaped("Reshape", "size 6", "(4,)")):
        a.reshape(4)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min", "logsumexp", "var"])
@pytest.mark.parametrize("axis, message", [
    (2, "axis 2 is out of range"),
    (-3, "axis -3 is out of range"),
    ((0, 0), "repeats an axis"),
    ((1, -1), "repeats an axis"),
])
def test_reduction_with_bad_axis(reduce, axis, message):
    a = leaf((2, 3))
    with Unchanged(a), pytest.raises(ShapeError, match=re.escape(message)):
        getattr(a, reduce)(axis=axis)


def test_reduction_axis_message_names_the_shape():
    with pytest.raises(ShapeError, match=escaped("sum", "(2, 3)", "[-2, 1]")):
        Tensor(np.ones((2, 3))).sum(axis=5)


def test_concatenate_mismatched_shapes():
    a, b = leaf((2, 3)), leaf((2, 4), seed=1)
    with Unchanged(a, b), pytest.raises(ShapeError, match=escaped("Concatenate", "(2, 3)",
                                                                 "(2, 4)")):
        ag.concatenate([a, b])


def test_concatenate_0d():
    with pytest.raises(ShapeError, match="zero-dimensional"):
        ag.concatenate([leaf(()), leaf(())])


def test_stack_of_different_shapes():
    a, b = leaf((2,)), leaf((3,), seed=1)
    with Unchanged(a, b), pytest.raises(ShapeError, match=escaped("stack", "(2,)", "(3,)")):
        ag.stack([a, b])


def test_squeeze_of_an_axis_that_is_not_1():
    a = leaf((2, 1))
    with Unchanged(a), pytest.raises(ShapeError, match=escaped("squeeze", "axis 0", "size 2")):
        a.squeeze(0)


def test_unsqueeze_and_swapaxes_with_bad_axis():
    a = leaf((2, 3))
    with pytest.raises(ShapeError, match=escaped("expand_dims", "out of range")):
        a.unsqueeze(5)
    with pytest.raises(ShapeError, match=escaped("swapaxes", "out of range")):
        a.swapaxes(0, 4)


def test_transpose_with_repeated_axis():
    with pytest.raises(ShapeError, match="Transpose"):
        leaf((2, 3)).transpose(0, 0)


def test_indexing_out_of_bounds_names_getitem():
    a = leaf((2, 3))
    with Unchanged(a), pytest.raises(IndexError, match=escaped("getitem", "out of bounds",
                                                              "(2, 3)")):
        a[5]
    with pytest.raises(IndexError, match="getitem"):
        a[:, [0, 7]]


def test_in_place_op_that_would_change_the_shape():
    t = Tensor(np.ones(3))
    with Unchanged(t), pytest.raises(ShapeError, match=escaped("+=", "(3,)", "(2, 3)")):
        t += np.ones((2, 3))


def test_in_place_op_on_tensor_requiring_grad():
    a = leaf((3,))
    with Unchanged(a), pytest.raises(BackwardError, match=escaped("*=", "no_grad")):
        a *= 2


# ---- backward -----------------------------------------------------------------------------------

def test_backward_on_non_scalar_without_grad_explains_what_to_pass():
    a = leaf((2, 3))
    y = a * 2
    with Unchanged(a), pytest.raises(BackwardError, match=escaped("(2, 3)", "grad=", "sum()")):
        y.backward()
    y.backward(grad=np.ones((2, 3)))  # the graph is still intact after the error
    np.testing.assert_allclose(a.grad.data, 3.0)


def test_backward_with_wrongly_shaped_grad():
    a = leaf((2, 3))
    y = a * 2
    with Unchanged(a), pytest.raises(ShapeError, match=escaped("(3, 2)", "(2, 3)")):
        y.backward(grad=np.ones((3, 2)))
    with pytest.raises(ShapeError):
        y.backward(grad=np.ones(3))  # broadcastable is not enough


def test_backward_with_int_grad():
    a = leaf((2,))
    y = a * 2
    with Unchanged(a), pytest.raises(DTypeError, match=escaped("floating", "int64")):
        y.backward(grad=np.array([1, 1]))


def test_grad_function_rejects_bad_grad_outputs():
    a = leaf((2,))
    y = a * 2
    with Unchanged(a):
        with pytest.raises(ShapeError, match=escaped("(3,)", "(2,)")):
            ag.grad(y, a, grad_outputs=[np.ones(3)])
        with pytest.raises(DTypeError):
            ag.grad(y, a, grad_outputs=[np.ones(2, dtype=np.int32)])
        with pytest.raises(ValueError, match="2 grad_outputs for 1 outputs"):
            ag.grad(y, a, grad_outputs=[np.ones(2), np.ones(2)])


def test_backward_on_tensor_that_does_not_require_grad():
    t = Tensor([1.0, 2.0])
    with pytest.raises(BackwardError, match=escaped("does not require grad", "requires_grad=True")):
        t.sum().backward()
    a = leaf((2,))
    with ag.no_grad():
        y = a.sum()
    with Unchanged(a), pytest.raises(BackwardError, match="no_grad"):
        y.backward()


def test_grad_function_with_inputs_that_do_not_require_grad():
    a = leaf((2,))
    with pytest.raises(BackwardError, match=escaped("inputs[1]", "does not require grad")):
        ag.grad(a.sum(), [a, Tensor([1.0])])
    with pytest.raises(TypeError, match="Tensor or Scalar"):
        ag.grad(a.sum(), [np.ones(2)])


def test_requires_grad_on_non_leaf():
    a = leaf((2,))
    y = a * 2
    with pytest.raises(BackwardError, match=escaped("Mul", "detach")):
        y.requires_grad_(False)
    with pytest.raises(BackwardError):
        y.requires_grad = True
    assert y.requires_grad and y.grad_fn is not None


def test_retain_grad_on_tensor_without_grad():
    with pytest.raises(BackwardError, match="does not require grad"):
        Tensor([1.0]).retain_grad()


def test_int_tensor_cannot_require_grad_message():
    with pytest.raises(DTypeError, match=escaped("floating", "int64", "dtype=")):
        Tensor([1, 2], requires_grad=True)


def test_scalar_backward_with_non_number_grad():
    x = Scalar(1.0)
    y = x * 2
    with pytest.raises(DTypeError, match="number"):
        y.backward(grad="1")
    assert x.grad is None


class TwoGradsForOneInput(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2, grad


class WrongShapeGrad(Function):
    @staticmethod
    def forward(ctx, x):
        return x.sum()

    @staticmethod
    def backward(ctx, grad):
        return grad  # should have been broadcast to x's shape


def test_custom_function_returning_wrong_number_of_grads():
    a = leaf((3,))
    y = TwoGradsForOneInput.apply(a).sum()
    with Unchanged(a), pytest.raises(BackwardError, match=escaped(
            "TwoGradsForOneInput", "returned 2 gradient(s)", "1 positional input")):
        y.backward()


def test_custom_function_returning_wrongly_shaped_grad():
    a = leaf((3,))
    y = WrongShapeGrad.apply(a)
    with Unchanged(a), pytest.raises(ShapeError, match=escaped("()", "(3,)")):
        y.backward()


def test_custom_function_without_backward():
    class NoBackward(Function):
        @staticmethod
        def forward(ctx, x):
            return x

    y = NoBackward.apply(leaf((2,))).sum()
    with pytest.raises(NotImplementedError, match="NoBackward"):
        y.backward()


def test_function_apply_needs_a_tensor_argument():
    with pytest.raises(TypeError, match="at least one Tensor or Scalar"):
        TwoGradsForOneInput.apply(np.ones(2))


# ---- Scalar -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, error, op", [
    ("Log", ValueError, lambda x: (-x).log()),
    ("Sqrt", ValueError, lambda x: (-x).sqrt()),
    ("Div", ZeroDivisionError, lambda x: x / 0),
    ("Div", ZeroDivisionError, lambda x: 1 / (x - 2)),
    ("Div", ZeroDivisionError, lambda x: x / Scalar(0.0)),
    ("Pow", (ValueError, ZeroDivisionError), lambda x: (x - 2) ** -1),
])
def test_scalar_domain_errors_name_the_op(name, error, op):
    x = Scalar(2.0)
    x.grad = 5.0
    with pytest.raises(error, match=name):
        op(x)
    assert x.data == 2.0 and x.grad == 5.0


@pytest.mark.parametrize("op", [
    lambda s, t: s + t,
    lambda s, t: t + s,
    lambda s, t: s * t,
    lambda s, t: t * s,
    lambda s, t: t - s,
    lambda s, t: t / s,
    lambda s, t: s.maximum(t),
    lambda s, t: ag.add(s, t),
    lambda s, t: ag.mul(t, s),
], ids=["s+t", "t+s", "s*t", "t*s", "t-s", "t/s", "s.maximum(t)", "add(s,t)", "mul(t,s)"])
def test_scalar_combined_with_tensor_raises_type_error(op):
    s, t = Scalar(2.0), Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=escaped("Scalar", "Tensor")):
        op(s, t)


@pytest.mark.parametrize("other", ["a", [1.0], np.ones(2), None])
def test_scalar_with_non_numbers_raises_type_error(other):
    with pytest.raises(TypeError, match="Scalar"):
        Scalar(1.0) + other


def test_scalar_from_non_number():
    with pytest.raises(DTypeError, match=escaped("Scalar", "real number")):
        Scalar("abc")


# ---- fused ops ----------------------------------------------------------------------------------

def test_linear_with_mismatched_shapes_names_linear_and_the_shapes():
    x, w, b = leaf((4, 3)), leaf((2, 5), seed=1), leaf((5,), seed=2)
    with Unchanged(x, w, b), pytest.raises(ShapeError, match=escaped("linear", "(4, 3)", "(2, 5)")):
        ag.linear(x, w, b)
    with Unchanged(x, w), pytest.raises(ShapeError, match=escaped("linear", "(3, 5)", "(4,)")):
        ag.linear(x, leaf((3, 5)), leaf((4,)))


def test_softmax_cross_entropy_with_bad_labels_or_reduction():
    logits = leaf((4, 3))
    with Unchanged(logits):
        with pytest.raises(ShapeError, match=escaped("softmax_cross_entropy", "(4,)", "(2,)")):
            ag.softmax_cross_entropy(logits, [0, 1])
        with pytest.raises(ShapeError, match=escaped("softmax_cross_entropy", "float64")):
            ag.softmax_cross_entropy(logits, np.zeros(4))
        with pytest.raises(ValueError, match=re.escape("labels must be in [0, 2]")):
            ag.softmax_cross_entropy(logits, [0, 1, 2, 3])
        with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
            ag.softmax_cross_entropy(logits, [0, 1, 2, 0], reduction="avg")
