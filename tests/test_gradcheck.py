"""``gradcheck`` and ``gradgradcheck``: they pass correct ops, and when a backward is wrong they
fail loudly, naming the worst element with its analytic and numerical values."""

import re

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import Function, GradcheckError, Scalar, Tensor


def leaf(values, dtype=np.float64):
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


# ---- custom Functions with known (and known-wrong) backward rules -------------------------------

class SquareWithBias(Function):
    """x**2 whose backward adds ``bias`` to the true derivative 2x (elementwise)."""

    @staticmethod
    def forward(ctx, x, bias):
        ctx.save_for_backward(x)
        ctx.bias = bias
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (2 * x + ctx.bias), None


class MulWrongRight(Function):
    """a * b with d/db off by a factor of 1.5."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b, grad * a * 1.5


class CubeRawNumpy(Function):
    """x**3 whose backward works on raw ``.data``: right values, but nothing recorded for x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        raw = x.data if isinstance(x, Tensor) else x
        return grad * (3 * np.square(raw))


class CubeWithOps(Function):
    """x**3 with its backward written in differentiable operators, as the docs ask."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2


# ---- gradcheck passes correct ops ---------------------------------------------------------------

def test_gradcheck_returns_true_for_a_correct_tensor_op():
    assert ag.gradcheck(lambda x: (x * x).tanh().sum(), [leaf([0.3, -1.2, 2.0])]) is True


def test_gradcheck_accepts_a_single_input_not_wrapped_in_a_list():
    assert ag.gradcheck(lambda x: x.exp(), leaf([0.5, 1.0])) is True


def test_gradcheck_returns_true_for_scalar_inputs():
    a, b = Scalar(0.7), Scalar(-1.3)
    assert ag.gradcheck(lambda a, b: a * b + (a / b).exp() - b.tanh(), [a, b]) is True


def test_gradcheck_checks_every_input_of_a_multi_input_function():
    a, b, c = leaf([[1.0, 2.0], [0.5, -1.0]]), leaf([[0.3], [-0.7]]), leaf([1.5, 2.5])
    assert ag.gradcheck(lambda a, b, c: (a @ b).sigmoid() * c, [a, b, c]) is True


def test_gradcheck_checks_every_output_of_a_tuple_returning_function():
    fn = lambda x, y: (x * y, (x - y).tanh().sum(), x.exp())  # noqa: E731
    assert ag.gradcheck(fn, [leaf([0.1, 0.9]), leaf([1.2, -0.4])]) is True


def test_gradcheck_passes_non_tensor_constants_through_unchanged():
    seen = []

    def fn(x, k, shift, label):
        seen.append((k, label))
        return x * k + shift

    shift = np.array([1.0, -1.0])
    assert ag.gradcheck(fn, [leaf([0.5, 1.5]), 3.0, shift, "label"]) is True
    assert set(seen) == {(3.0, "label")}


def test_gradcheck_skips_tensor_inputs_that_do_not_require_grad():
    const = Tensor(np.array([2.0, 3.0]))
    assert ag.gradcheck(lambda c, x: c * x * x, [const, leaf([1.0, -1.0])]) is True


def test_gradcheck_checks_float32_inputs_on_float64_copies():
    x = leaf([0.25, -0.5, 1.0], dtype=np.float32)
    before = x.data.copy()
    dtypes = set()

    def fn(t):
        dtypes.add(t.dtype)
        return (t ** 3).sum()

    # eps=1e-6 is below float32 resolution: this only passes because the check runs in float64.
    assert ag.gradcheck(fn, [x], eps=1e-6, atol=1e-7, rtol=1e-6) is True
    assert dtypes == {np.dtype(np.float64)}
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x.data, before)
    assert x.grad is None


def test_gradcheck_passes_when_the_output_ignores_the_input():
    assert ag.gradcheck(lambda x: Tensor(np.ones(3)), [leaf([1.0, 2.0])]) is True


def test_gradcheck_passes_the_identity_function():
    assert ag.gradcheck(lambda x: x, [leaf([1.0, 2.0])]) is True


def test_gradcheck_passes_a_correct_custom_function():
    assert ag.gradcheck(CubeWithOps.apply, [leaf([0.5, -2.0, 1.5])]) is True


# ---- gradcheck catches wrong gradients ----------------------------------------------------------

def test_gradcheck_error_names_the_worst_element_with_its_analytic_and_numeric_values():
    x = leaf([[1.0, 2.0], [1.5, -1.0]])
    bias = np.array([[0.0, 0.5], [3.0, 0.0]])  # (0, 1) is off by 0.5, (1, 0) by 3: the worst
    with pytest.raises(GradcheckError) as info:
        ag.gradcheck(lambda t: SquareWithBias.apply(t, bias), [x])
    message = str(info.value)
    # d out[1,0] / d x[1,0]: analytic 2 * 1.5 + 3 = 6, numeric 2 * 1.5 = 3.
    assert "output 0 element (1, 0)" in message
    assert "input 0 element (1, 0)" in message
    assert "analytic 6 " in message
    assert "numeric 3 " in message
    assert "(0, 1)" not in message


def test_gradcheck_error_is_an_assertion_error():
    with pytest.raises(AssertionError):
        ag.gradcheck(lambda t: SquareWithBias.apply(t, 1.0), [leaf([1.0])])


def test_gradcheck_error_counts_the_input_index_among_all_inputs_including_constants():
    def fn(k, a, b):
        return MulWrongRight.apply(a, b) * k

    a, b = leaf([2.0, 4.0]), leaf([1.0, 1.0])
    with pytest.raises(GradcheckError) as info:
        ag.gradcheck(fn, [2.0, a, b])
    message = str(info.value)
    # d out[1] / d b[1]: analytic 1.5 * 2 * a[1] = 12, numeric 2 * a[1] = 8.
    assert "input 2 element (1,)" in message
    assert "output 0 element (1,)" in message
    assert "analytic 12 " in message and "numeric 8 " in message


def test_gradcheck_error_names_the_output_index_of_a_tuple_output():
    x = leaf([1.0, 2.0])
    with pytest.raises(GradcheckError, match=r"gradient of output 1 element \(1,\)"):
        ag.gradcheck(lambda t: (t * 2, SquareWithBias.apply(t, np.array([0.0, 1.0]))), [x])


def test_gradcheck_error_for_scalar_inputs_uses_empty_element_indices():
    a, b = Scalar(3.0), Scalar(0.5)
    with pytest.raises(GradcheckError) as info:
        ag.gradcheck(MulWrongRight.apply, [a, b])
    message = str(info.value)
    assert "output 0 element ()" in message and "input 1 element ()" in message
    assert "analytic 4.5 " in message and "numeric 3 " in message


def test_gradcheck_returns_false_instead_of_raising_when_asked():
    x = leaf([1.0, 2.0])
    fn = lambda t: SquareWithBias.apply(t, 1.0)  # noqa: E731
    assert ag.gradcheck(fn, [x], raise_exception=False) is False


def test_gradcheck_tolerances_decide_whether_a_small_error_fails():
    x = leaf([1.0, 2.0])
    fn = lambda t: SquareWithBias.apply(t, 1e-3)  # noqa: E731
    assert ag.gradcheck(fn, [x], atol=1e-2, raise_exception=False) is True
    assert ag.gradcheck(fn, [x], atol=1e-5, rtol=1e-5, raise_exception=False) is False


def test_gradcheck_with_no_input_requiring_grad_raises_value_error():
    with pytest.raises(ValueError, match="no input requires grad"):
        ag.gradcheck(lambda x, k: x * k, [Tensor(np.ones(2)), 2.0])


def test_gradcheck_of_a_function_returning_a_non_tensor_raises_type_error():
    with pytest.raises(TypeError, match="must return Tensors or Scalars, got ndarray"):
        ag.gradcheck(lambda x: x.data * 2, [leaf([1.0])])
    with pytest.raises(TypeError, match="got float"):
        ag.gradcheck(lambda x: (x * 2, 1.0), [leaf([1.0])])


def test_gradcheck_does_not_touch_the_callers_inputs():
    x = leaf([0.5, 1.5])
    before = x.data.copy()
    ag.gradcheck(lambda t: (t * t).sum(), [x])
    np.testing.assert_array_equal(x.data, before)
    assert x.grad is None


# ---- gradgradcheck ------------------------------------------------------------------------------

@pytest.mark.parametrize("fn, inputs", [
    (lambda x: x.tanh(), [leaf([0.3, -1.1, 2.0])]),
    (lambda x: x ** 3, [leaf([0.5, -1.5])]),
    (lambda a, b: a @ b, [leaf([[1.0, 2.0], [0.5, -1.0]]), leaf([[0.3, 1.0], [-0.7, 2.0]])]),
    (lambda x: ag.logsumexp(x, axis=1), [leaf([[0.1, 2.0, -1.0], [1.5, 0.0, 0.3]])]),
    (lambda a: (a * a).tanh() + a.exp(), [Scalar(0.4)]),
], ids=["tanh", "cube", "matmul", "logsumexp", "scalar"])
def test_gradgradcheck_passes_correct_ops(fn, inputs):
    assert ag.gradgradcheck(fn, inputs) is True


def test_gradgradcheck_passes_a_custom_function_with_a_differentiable_backward():
    assert ag.gradgradcheck(CubeWithOps.apply, [leaf([0.5, -2.0])]) is True


def test_raw_numpy_backward_passes_gradcheck_but_fails_gradgradcheck():
    x = leaf([0.5, -2.0, 1.5])
    assert ag.gradcheck(CubeRawNumpy.apply, [x]) is True
    with pytest.raises(GradcheckError) as info:
        ag.gradgradcheck(CubeRawNumpy.apply, [x])
    # d/dx of (v * 3x^2) is 6xv; the raw-numpy backward records nothing for x, so analytic is 0.
    match = re.search(r"input 0 element \((\d),\): analytic (\S+) vs numeric (\S+)",
                      str(info.value))
    assert match, str(info.value)
    assert float(match.group(2)) == 0.0
    assert abs(float(match.group(3))) > 1.0


def test_gradgradcheck_returns_false_instead_of_raising_when_asked():
    assert ag.gradgradcheck(CubeRawNumpy.apply, [leaf([1.0, 2.0])],
                            raise_exception=False) is False


@pytest.mark.parametrize("make_v", [
    lambda v: [Tensor(v, requires_grad=True)],
    lambda v: [Tensor(v)],
    lambda v: [v],
    lambda v: Tensor(v, requires_grad=True),
], ids=["tensor-requiring-grad", "tensor", "ndarray", "unwrapped-tensor"])
def test_gradgradcheck_accepts_explicit_grad_outputs(make_v):
    v = np.array([1.0, -2.0, 0.5])
    assert ag.gradgradcheck(lambda x: x.tanh(), [leaf([0.3, -1.1, 2.0])],
                            grad_outputs=make_v(v)) is True


def test_gradgradcheck_with_explicit_grad_outputs_still_catches_a_wrong_second_derivative():
    v = [Tensor(np.array([1.0, 1.0]), requires_grad=True)]
    with pytest.raises(GradcheckError):
        ag.gradgradcheck(CubeRawNumpy.apply, [leaf([1.0, 2.0])], grad_outputs=v)


def test_gradgradcheck_checks_every_output_of_a_tuple_returning_function():
    fn = lambda a, b: (a * b, (a - b).exp().sum())  # noqa: E731
    assert ag.gradgradcheck(fn, [leaf([0.5, 1.0]), leaf([-0.3, 0.2])]) is True


def test_gradgradcheck_rejects_fewer_grad_outputs_than_outputs():
    # Pairing outputs with grad_outputs by zip() would drop the second output, leaving its wrong
    # second derivative unchecked. grad() itself raises ValueError for this mismatch too.
    fn = lambda t: (t * 2, CubeRawNumpy.apply(t))  # noqa: E731
    with pytest.raises(ValueError, match="grad_outputs"):
        ag.gradgradcheck(fn, [leaf([1.0, 2.0])], grad_outputs=[Tensor(np.ones(2))])
