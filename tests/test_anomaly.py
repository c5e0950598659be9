"""detect_anomaly(): the first op whose forward or backward produces NaN/inf raises an
AnomalyError naming the op, the user's line and the input shapes; off, nothing is checked."""


import numpy as np
import pytest

import autograd_core as ag
import nn
from autograd_core import AnomalyError, BackwardError, Function, Scalar, Tensor
from tests.other_thread import held_in_another_thread

THIS_FILE = __file__


def line_of(marker: str) -> int:
    """The line number of the line in this file that contains ``marker``."""
    with open(THIS_FILE) as source:
        return next(i for i, line in enumerate(source, 1)
                    if marker in line and "line_of" not in line)


def test_off_by_default_and_nan_spreads_silently():
    assert not ag.is_anomaly_enabled()
    x = Tensor([-1.0, 1.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        y = x.sqrt().sum()
        y.backward()
    assert np.isnan(y.item()) and np.isnan(x.grad.data[0])


def test_forward_nan_names_the_op_the_line_and_the_shapes():
    x = Tensor(np.array([[-1.0, 4.0, 9.0]]), requires_grad=True)
    with ag.detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(AnomalyError) as error:
            x.sqrt()  # anomaly: sqrt of a negative
    message = str(error.value)
    assert "Sqrt produced NaN" in message
    assert f"{THIS_FILE}:{line_of('anomaly: sqrt of a negative')}" in message
    assert "(1, 3)" in message and "all of its inputs were finite" in message
    assert isinstance(error.value, RuntimeError) and isinstance(error.value, ag.AutogradError)
    np.testing.assert_array_equal(x.data, [[-1.0, 4.0, 9.0]])  # the input is untouched


def test_forward_overflow_to_inf_is_caught_but_inf_passed_through_is_not():
    big = Tensor(np.float32([100.0]), requires_grad=True)
    with ag.detect_anomaly():
        with pytest.raises(AnomalyError, match="Exp produced inf"), \
                np.errstate(over="ignore"):
            big.exp()
        # A -inf mask and logsumexp of a -inf row are legitimate: inf in, inf out.
        masked = ag.where(np.array([[False, False]]), Tensor([[1.0, 2.0]], requires_grad=True),
                          -np.inf)
        assert ag.logsumexp(masked, axis=1).item() == -np.inf


def test_nan_in_the_input_data_is_reported_at_the_first_op():
    model = nn.Dense(3, 2, rng=0)
    x = np.array([[1.0, np.nan, 0.0]], dtype=np.float32)
    with ag.detect_anomaly(), pytest.raises(AnomalyError) as error:
        model(x)
    assert "produced NaN" in str(error.value) and "already held NaN" in str(error.value)
    assert f"{THIS_FILE}:" in str(error.value)  # the user's line, not nn's


def test_backward_nan_names_the_op_and_where_it_was_created():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with ag.detect_anomaly():
        y = (x ** 0.5).sum()  # anomaly: created here
        with pytest.raises(AnomalyError) as error:
            y.backward()
    message = str(error.value)
    assert "Pow.backward produced inf" in message
    assert f"{THIS_FILE}:{line_of('anomaly: created here')}" in message
    assert "input shapes (2,), ()" in message and "flowing into it was finite" in message
    assert x.grad is None  # stopped before anything was accumulated


def test_backward_checked_even_when_the_forward_was_not():
    x = Tensor([0.0], requires_grad=True)
    y = (x ** 0.5).sum()
    with ag.detect_anomaly(), pytest.raises(AnomalyError, match="run it under detect_anomaly"):
        y.backward()


def test_a_nan_gradient_given_to_backward_is_named_as_the_source():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with ag.detect_anomaly():
        y = x * 2
        with pytest.raises(AnomalyError, match="already held NaN"):
            y.backward(np.array([np.nan, 1.0]))


def test_custom_function_with_a_bad_backward():
    class BadBackward(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return grad * np.nan

    x = Tensor([1.0], requires_grad=True)
    with ag.detect_anomaly(), pytest.raises(AnomalyError, match="BadBackward.backward"):
        BadBackward.apply(x).sum().backward()


def test_scalar_front_end_is_checked_too():
    x = Scalar(float("inf"))
    with ag.detect_anomaly(), pytest.raises(AnomalyError, match="Sub produced NaN"):
        x - x


def test_clean_training_step_passes_and_gives_the_same_result():
    def step(anomaly: bool):
        model = nn.Sequential(nn.Dense(2, 4, rng=0), nn.Tanh(), nn.Dense(4, 3, rng=1))
        x, y = np.float32([[0.5, -1.0], [2.0, 0.1]]), np.array([0, 2])
        with ag.set_detect_anomaly(anomaly):
            nn.cross_entropy(model(x), y).backward()
        return [p.grad.data for p in model.parameters()]

    for a, b in zip(step(True), step(False)):
        np.testing.assert_array_equal(a, b)


def test_mode_nests_restores_and_works_as_a_decorator():
    @ag.detect_anomaly()
    def inside():
        return ag.is_anomaly_enabled()

    @ag.set_detect_anomaly(False)
    def off():
        return ag.is_anomaly_enabled()

    assert inside() and not ag.is_anomaly_enabled()
    unused = ag.detect_anomaly()  # switches nothing until entered
    assert not ag.is_anomaly_enabled()
    with unused:
        assert ag.is_anomaly_enabled()
    with ag.detect_anomaly():
        assert not off() and ag.is_anomaly_enabled()
        with ag.set_detect_anomaly(False):
            assert not ag.is_anomaly_enabled()
        assert ag.is_anomaly_enabled()
    assert not ag.is_anomaly_enabled()
    ag.set_detect_anomaly(True)
    try:
        assert ag.is_anomaly_enabled()
    finally:
        ag.set_detect_anomaly(False)
    with pytest.raises(ZeroDivisionError), ag.detect_anomaly():
        raise ZeroDivisionError
    assert not ag.is_anomaly_enabled()


def test_mode_is_per_thread():
    seen = {}

    def worker():
        with ag.detect_anomaly():
            yield
            seen["worker"] = ag.is_anomaly_enabled()

    with held_in_another_thread(worker):
        assert not ag.is_anomaly_enabled()
        with np.errstate(invalid="ignore"):
            Tensor([-1.0], requires_grad=True).sqrt()  # no error in this thread
    assert seen["worker"]


def test_writing_into_a_saved_array_through_numpy_is_caught_in_anomaly_mode():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with ag.detect_anomaly():
        y = (x * x).sum()  # anomaly: saved x
        x.numpy()[0] = 5.0  # bypasses the version counter, not the checksum
        with pytest.raises(BackwardError) as error:
            y.backward()
    assert "Mul" in str(error.value) and "(2,)" in str(error.value)
    assert f"{THIS_FILE}:{line_of('anomaly: saved x')}" in str(error.value)

