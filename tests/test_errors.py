"""Misuse gives clear errors: the right exception type, a message that names the op and the
shapes (or says what to do), and inputs left as they were (data and grad)."""

import re

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import (
    BackwardError,
    DTypeError,
    Function,
    Scalar,
    ShapeError,
    StateDictError,
    Tensor,
)


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


# ---- the catalogue: bad inputs to models, losses, optimizers and state dicts --------------------
# Each case gets a fresh World (a small trained model, its optimizer, input arrays), must raise
# the given error type with a message naming what is wrong and what was expected, and must leave
# every parameter, gradient, optimizer state and input array as it was.

class World:
    """A model after one training step, its optimizer, and the arrays a user would pass."""

    def __init__(self):
        import nn

        rng = np.random.default_rng(0)
        self.model = nn.Sequential(nn.Dense(4, 3, rng=0), nn.ReLU(), nn.Dense(3, 2, rng=1))
        self.optimizer = nn.SGD(self.model, lr=0.1, momentum=0.9)
        self.x = rng.standard_normal((5, 4)).astype(np.float32)
        self.labels = np.array([0, 1, 1, 0, 1])
        self.probs = np.float32([[0.3, 0.7]] * 5)
        self.w = Tensor(rng.standard_normal(3), requires_grad=True)
        nn.cross_entropy(self.model(self.x), self.labels).backward()
        self.optimizer.step()
        self.before = self.snapshot()

    def snapshot(self) -> dict:
        state = {f"param.{name}": p.data.copy() for name, p in self.model.named_parameters()}
        state.update((f"grad.{name}", p.grad.data.copy())
                     for name, p in self.model.named_parameters())
        state.update((f"optimizer.{name}", np.copy(value))
                     for name, value in self.optimizer.state_dict().items())
        state.update(x=self.x.copy(), labels=self.labels.copy(), probs=self.probs.copy(),
                     w=self.w.data.copy())
        return state

    def assert_unchanged(self) -> None:
        after = self.snapshot()
        assert list(after) == list(self.before)
        for name, value in self.before.items():
            np.testing.assert_array_equal(after[name], value, err_msg=name)


def _catalogue():
    import nn

    def model_state(w, **changes):
        state = w.model.state_dict()
        state.update(changes)
        return state

    def nan_x(w):
        x = w.x.copy()
        x[1, 2] = np.nan
        return x

    def backward_twice(w):
        loss = nn.cross_entropy(w.model(w.x), w.labels)
        loss.backward()
        w.before = w.snapshot()  # the first backward was fine; the second must change nothing
        loss.backward()

    def through_freed(w):
        hidden = w.model[0](w.x)
        hidden.sum().backward()
        w.before = w.snapshot()
        (hidden * 2).sum().backward()

    def stale_after_step(w):
        loss = nn.cross_entropy(w.model(w.x), w.labels)
        w.optimizer.step()
        w.before = w.snapshot()
        loss.backward()

    def read_only_in_place(w):
        t = ag.broadcast_to(Tensor(w.x[0]), (5, 4))
        t += 1.0

    return [
        # wrong shapes to every layer and loss
        ("dense wrong features", lambda w: w.model(np.ones((5, 3), np.float32)),
         ShapeError, ("Dense", "(5, 3)", "4")),
        ("dense 0-d input", lambda w: w.model[0](Tensor(1.0)), ShapeError, ("Dense", "()")),
        ("second dense wrong features", lambda w: w.model[2](w.x), ShapeError,
         ("Dense", "(5, 4)", "3")),
        ("flatten start axis", lambda w: nn.functional.flatten(w.x, 3), ShapeError,
         ("flatten", "start_axis 3", "(5, 4)")),
        ("softmax layer bad axis", lambda w: nn.Softmax(axis=2)(w.model(w.x)), ShapeError,
         ("softmax", "axis 2", "(5, 2)", "[-2, 1]")),
        ("cross_entropy label shape", lambda w: nn.cross_entropy(w.model(w.x), w.labels[:3]),
         ShapeError, ("cross_entropy", "(3,)", "(5,)")),
        ("cross_entropy soft target shape",
         lambda w: nn.cross_entropy(w.model(w.x), np.zeros((5, 3), np.float32)), ShapeError,
         ("cross_entropy", "(5, 2)", "(5, 3)")),
        ("cross_entropy 0-d logits", lambda w: nn.cross_entropy(Tensor(1.0), [0]), ShapeError,
         ("cross_entropy", "0-d", "(N, C)")),
        ("nll_loss label shape", lambda w: nn.nll_loss(w.model(w.x), w.labels[None]),
         ShapeError, ("nll_loss", "(1, 5)", "(5,)")),
        ("categorical_cross_entropy label shape",
         lambda w: nn.categorical_cross_entropy(w.probs, w.labels[:2]), ShapeError,
         ("categorical_cross_entropy", "(2,)", "(5, 2)")),
        ("mse_loss shape", lambda w: nn.mse_loss(w.model(w.x), w.probs[:, :1]), ShapeError,
         ("mse_loss", "(5, 2)", "(5, 1)")),
        ("half_mse_loss shape", lambda w: nn.half_mse_loss(w.model(w.x), w.labels), ShapeError,
         ("mse_loss", "(5, 2)", "(5,)")),
        ("bce_with_logits shape",
         lambda w: nn.binary_cross_entropy_with_logits(w.model(w.x), w.probs.T), ShapeError,
         ("binary_cross_entropy_with_logits", "(5, 2)", "(2, 5)")),
        ("huber_loss shape", lambda w: nn.huber_loss(w.model(w.x), w.probs[:4]), ShapeError,
         ("huber_loss", "(5, 2)", "(4, 2)")),
        ("accuracy shape", lambda w: nn.accuracy(w.model(w.x).data, w.labels[:4]), ShapeError,
         ("accuracy", "(4,)", "(5, 2)")),
        ("matmul with the weights", lambda w: w.x @ w.w, ShapeError, ("matmul", "(5, 4)",
                                                                      "(3,)")),
        # labels out of range or of the wrong dtype
        ("label too large", lambda w: nn.cross_entropy(w.model(w.x), [0, 1, 2, 0, 1]),
         ValueError, ("cross_entropy", "[0, 1]", "[2]")),
        ("negative label", lambda w: nn.cross_entropy(w.model(w.x), [0, -1, 1, 0, 1]),
         ValueError, ("cross_entropy", "[0, 1]", "[-1]")),
        ("nll label out of range", lambda w: nn.nll_loss(w.model(w.x), w.labels + 5),
         ValueError, ("nll_loss", "[0, 1]", "2 classes")),
        ("categorical label out of range",
         lambda w: nn.categorical_cross_entropy(w.probs, w.labels * 3), ValueError,
         ("categorical_cross_entropy", "[0, 1]", "[3")),
        ("one_hot out of range", lambda w: nn.functional.one_hot(w.labels, 1), ValueError,
         ("one_hot", "[0, 0]", "[1")),
        ("string labels", lambda w: nn.cross_entropy(w.model(w.x), np.array(list("abaab"))),
         DTypeError, ("cross_entropy", "integers", "<U1")),
        ("float labels of the wrong shape",
         lambda w: nn.cross_entropy(w.model(w.x), w.labels.astype(np.float32)), ShapeError,
         ("cross_entropy", "(5,)", "(5, 2)")),
        ("bool labels", lambda w: nn.nll_loss(w.model(w.x), w.labels.astype(bool)), DTypeError,
         ("nll_loss", "integers", "bool")),
        # NaN in inputs, caught by anomaly detection
        ("NaN in the input", lambda w: ag.detect_anomaly()(lambda: w.model(nan_x(w)))(),
         ag.AnomalyError, ("NaN", "already held NaN", "(5, 4)")),
        ("NaN in the targets", lambda w: ag.detect_anomaly()(
            lambda: nn.mse_loss(w.model(w.x), np.full((5, 2), np.nan, np.float32)))(),
         ag.AnomalyError, ("Sub", "NaN", "(5, 2)")),
        # empty batches
        ("empty batch to a loss", lambda w: nn.cross_entropy(w.model(w.x[:0]), w.labels[:0]),
         ShapeError, ("cross_entropy", "empty", "at least one example")),
        ("empty batch to mse", lambda w: nn.mse_loss(w.model(w.x[:0]), w.probs[:0]),
         ShapeError, ("mse_loss", "empty", "at least one example")),
        ("empty training set", lambda w: nn.fit(w.model, nn.cross_entropy, w.optimizer,
                                                (w.x[:0], w.labels[:0]), epochs=1),
         ValueError, ("fit", "no examples")),
        ("batch_size 0", lambda w: list(nn.batches(w.x, w.labels, batch_size=0)), ValueError,
         ("batch_size", "positive int", "0")),
        ("x and y of different lengths", lambda w: list(nn.batches(w.x, w.labels[:4])),
         ShapeError, ("same number of examples", "5", "4")),
        # non-contiguous and read-only arrays
        ("non-contiguous input of the wrong shape",
         lambda w: w.model(np.asfortranarray(w.x)[:, ::2]), ShapeError, ("Dense", "(5, 2)",
                                                                         "4")),
        ("in-place into a read-only broadcast", read_only_in_place, ValueError,
         ("+=", "read-only", "copy")),
        # gradients asked of integer tensors
        ("int tensor requires grad", lambda w: Tensor([1, 2], requires_grad=True), DTypeError,
         ("floating", "int64", "dtype=")),
        ("int parameter", lambda w: nn.Parameter(np.arange(3)), DTypeError,
         ("floating", "int64")),
        ("requires_grad_ on an int tensor", lambda w: Tensor(w.labels).requires_grad_(),
         DTypeError, ("floating", "int64")),
        # backward misuse
        ("backward twice", backward_twice, BackwardError, ("second time", "retain_graph=True")),
        ("backward through a freed graph", through_freed, BackwardError,
         ("second time", "retain_graph=True")),
        ("backward of a non-scalar loss", lambda w: w.model(w.x).backward(), BackwardError,
         ("(5, 2)", "grad=", "sum()")),
        ("backward after an optimizer step", stale_after_step, BackwardError,
         ("in-place", "(3, 2)", "after backward()")),
        ("backward without grad", lambda w: Tensor(w.x).sum().backward(), BackwardError,
         ("does not require grad", "requires_grad=True")),
        # optimizers
        ("optimizer without parameters", lambda w: nn.SGD([], lr=0.1), ValueError,
         ("SGD", "empty parameter list", "expected")),
        ("optimizer with a duplicated parameter",
         lambda w: nn.Adam([w.w, w.w]), ValueError, ("Adam", "params[1]", "more than once")),
        ("optimizer given a tensor", lambda w: nn.SGD(w.w, lr=0.1), TypeError,
         ("SGD", "single Tensor", "[w]")),
        ("optimizer with a constant", lambda w: nn.SGD([Tensor([1.0])], lr=0.1), ValueError,
         ("SGD", "does not require grad", "requires_grad=True")),
        ("negative learning rate", lambda w: nn.SGD(w.model, lr=-1.0), ValueError,
         ("lr", ">= 0", "-1.0")),
        ("beta out of range", lambda w: nn.Adam(w.model, betas=(0.9, 1.5)), ValueError,
         ("betas[1]", "[0, 1)", "1.5")),
        ("optimizer state of another type",
         lambda w: w.optimizer.load_state_dict(nn.Adam(w.model).state_dict()), StateDictError,
         ("'Adam' in the state dict", "'SGD'", "not changed")),
        # modules loaded with a wrong state dict
        ("state dict with a missing key",
         lambda w: w.model.load_state_dict({"0.weight": w.model[0].weight.data}),
         StateDictError, ("missing keys", "2.weight", "not changed")),
        ("state dict with an unexpected key",
         lambda w: w.model.load_state_dict(model_state(w, extra=np.ones(2))), StateDictError,
         ("unexpected keys", "extra")),
        ("state dict with a wrong shape",
         lambda w: w.model.load_state_dict(model_state(w, **{"2.bias": np.ones(3)})),
         StateDictError, ("2.bias", "(3,)", "(2,)")),
        ("state dict with a wrong dtype",
         lambda w: w.model.load_state_dict(model_state(w, **{"0.bias": np.array(["a"] * 3)})),
         StateDictError, ("0.bias", "<U1", "float32")),
        ("state dict that is not a dict", lambda w: w.model.load_state_dict([1, 2]), TypeError,
         ("load_state_dict", "dict", "list")),
    ]


CATALOGUE = _catalogue()


def test_the_catalogue_has_at_least_40_cases():
    assert len(CATALOGUE) >= 40
    assert len({case[0] for case in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("call, error, says", [case[1:] for case in CATALOGUE],
                         ids=[case[0] for case in CATALOGUE])
def test_bad_input_catalogue(call, error, says):
    world = World()
    with pytest.raises(error, match=escaped(*says)):
        call(world)
    world.assert_unchanged()


def test_non_contiguous_and_read_only_inputs_are_accepted_and_left_alone():
    import nn

    world = World()
    wide = np.zeros((5, 8), np.float32, order="F")
    wide[:, ::2] = world.x
    fortran = wide[:, ::2]  # every other column of a Fortran-ordered array
    read_only = world.x.copy()
    read_only.flags.writeable = False
    assert not fortran.flags.c_contiguous
    expected = world.model(world.x).data
    for x in (fortran, read_only, world.x.T.copy().T):
        np.testing.assert_array_equal(world.model(x).data, expected)
    labels = world.labels.copy()
    labels.flags.writeable = False
    nn.fit(world.model, nn.cross_entropy, world.optimizer, (read_only, labels), epochs=1,
           batch_size=2)
    np.testing.assert_array_equal(read_only, world.x)
    np.testing.assert_array_equal(fortran, world.x)


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
        with pytest.raises(DTypeError, match=escaped("softmax_cross_entropy", "float64")):
            ag.softmax_cross_entropy(logits, np.zeros(4))
        with pytest.raises(ValueError, match=re.escape("labels must be in [0, 2]")):
            ag.softmax_cross_entropy(logits, [0, 1, 2, 3])
        with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
            ag.softmax_cross_entropy(logits, [0, 1, 2, 0], reduction="avg")
        with pytest.raises(ShapeError, match=escaped("softmax_cross_entropy", "empty batch")):
            ag.softmax_cross_entropy(leaf((0, 3)), np.zeros(0, np.int64))
        with pytest.raises(ShapeError, match=escaped("softmax_cross_entropy", "0-d", "(N, C)")):
            ag.softmax_cross_entropy(leaf(()), np.zeros((), np.int64))
