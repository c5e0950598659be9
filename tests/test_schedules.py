"""Learning-rate schedules: values against their formulas, use by an optimizer, state, errors."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_core as ag
import nn
from nn.schedules import CosineDecay, ExponentialDecay, InverseTimeDecay, StepDecay

rates = st.floats(1e-4, 10.0)
steps = st.integers(0, 10_000)


@given(rates, st.floats(0.0, 1.0), steps)
def test_inverse_time_decay_is_lr_over_one_plus_decay_t(lr, decay, t):
    assert InverseTimeDecay(lr, decay)(t) == pytest.approx(lr / (1 + decay * t), rel=1e-12)


@given(rates, st.floats(0.5, 1.0), st.integers(0, 500))
def test_exponential_decay_is_lr_times_gamma_to_the_t(lr, gamma, t):
    assert ExponentialDecay(lr, gamma)(t) == pytest.approx(lr * gamma ** t, rel=1e-12)


@given(rates, st.integers(1, 50), st.floats(0.1, 1.0), st.integers(0, 500))
def test_step_decay_drops_by_gamma_every_step_size_steps(lr, step_size, gamma, t):
    schedule = StepDecay(lr, step_size=step_size, gamma=gamma)
    assert schedule(t) == pytest.approx(lr * gamma ** (t // step_size), rel=1e-12)


def test_schedules_at_a_few_steps():
    inverse = InverseTimeDecay(1.0, decay=1e-3)
    assert [inverse(t) for t in (0, 1, 1000)] == [1.0, 1 / 1.001, 0.5]
    assert [ExponentialDecay(2.0, 0.5)(t) for t in (0, 1, 2, 10)] == [2.0, 1.0, 0.5, 2 / 1024]
    step = StepDecay(1.0, step_size=3, gamma=0.5)
    assert [step(t) for t in range(8)] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    cosine = CosineDecay(1.0, total_steps=4, min_lr=0.2)
    expected = [0.2 + 0.8 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)]
    assert [cosine(t) for t in range(5)] == pytest.approx(expected, rel=1e-12)
    assert cosine(0) == 1.0 and cosine(2) == pytest.approx(0.6) and cosine(4) == 0.2
    assert cosine(100) == 0.2


@given(rates, st.floats(0.0, 1.0), st.integers(1, 1000))
def test_cosine_decay_falls_from_lr_to_min_lr_and_stays(lr, fraction, total):
    min_lr = lr * fraction
    schedule = CosineDecay(lr, total_steps=total, min_lr=min_lr)
    values = [schedule(t) for t in range(0, total + 3, max(1, total // 10))]
    assert schedule(0) == pytest.approx(lr, rel=1e-12)
    assert schedule(total) == schedule(total + 5) == min_lr
    assert all(a >= b - 1e-12 for a, b in zip(values, values[1:]))
    assert all(min_lr - 1e-12 <= v <= lr + 1e-12 for v in values)


def test_schedules_return_python_floats():
    for schedule in (InverseTimeDecay(1, 1), ExponentialDecay(1, 0.5), StepDecay(1, 2),
                     CosineDecay(1, 10)):
        assert type(schedule(3)) is float, schedule


# ---- with an optimizer --------------------------------------------------------------------------

@pytest.mark.parametrize("schedule", [InverseTimeDecay(0.5, decay=0.1),
                                      ExponentialDecay(0.5, gamma=0.8),
                                      StepDecay(0.5, step_size=2, gamma=0.5),
                                      CosineDecay(0.5, total_steps=5, min_lr=0.05)],
                         ids=repr)
def test_sgd_moves_by_the_scheduled_learning_rate_each_step(schedule):
    w = ag.Tensor([0.0, 0.0], dtype=np.float64, requires_grad=True)
    slope = np.array([1.0, -2.0])
    opt = nn.SGD([w], lr=schedule)
    for t in range(8):
        assert opt.current_lr == schedule(t)
        before = w.data.copy()
        opt.zero_grad()
        (w * slope).sum().backward()  # gradient: slope, whatever w is
        opt.step()
        np.testing.assert_allclose(before - w.data, schedule(t) * slope, rtol=1e-12)
    assert opt.step_count == 8 and opt.current_lr == schedule(8)


def test_the_nnfs_example_decays_the_effective_learning_rate():
    opt = nn.SGD([ag.Tensor([1.0], requires_grad=True)], lr=InverseTimeDecay(1.0, decay=1e-3),
                 momentum=0.9)
    seen = []
    for _ in range(3):
        seen.append(opt.current_lr)
        opt.params[0].grad = ag.Tensor([0.0])
        opt.step()
    assert seen == [1.0, 1 / 1.001, 1 / 1.002]
    assert "InverseTimeDecay(lr=1.0, decay=0.001)" in repr(opt)


def test_any_callable_works_as_a_schedule():
    opt = nn.Adam([ag.Tensor([1.0], requires_grad=True)], lr=lambda t: 0.1 / (t + 1))
    opt.step_count = 4
    assert opt.current_lr == pytest.approx(0.02)
    assert "hyper.lr" not in opt.state_dict() and opt.state_dict()["step_count"] == 4


def test_schedule_numbers_and_the_step_count_come_back_with_the_optimizer_state():
    w = ag.Tensor([1.0], requires_grad=True)
    opt = nn.SGD([w], lr=StepDecay(0.4, step_size=2, gamma=0.5))
    for _ in range(5):
        w.grad = ag.Tensor([1.0])
        opt.step()
    fresh = nn.SGD([ag.Tensor([1.0], requires_grad=True)], lr=StepDecay(9.0, step_size=7))
    fresh.load_state_dict(opt.state_dict())
    assert fresh.step_count == 5 and fresh.current_lr == opt.current_lr == 0.1
    assert fresh.lr.state_dict() == {"lr": 0.4, "step_size": 2, "gamma": 0.5}


# ---- state, display and errors ------------------------------------------------------------------

def test_state_dict_round_trip_and_repr():
    schedule = CosineDecay(1.0, total_steps=10, min_lr=0.1)
    assert schedule.state_dict() == {"lr": 1.0, "total_steps": 10, "min_lr": 0.1}
    other = CosineDecay(5.0, total_steps=3)
    other.load_state_dict(schedule.state_dict())
    assert [other(t) for t in range(12)] == [schedule(t) for t in range(12)]
    assert repr(other) == "CosineDecay(lr=1.0, total_steps=10, min_lr=0.1)"
    with pytest.raises(ValueError, match="CosineDecay: total_steps must be a positive int"):
        other.load_state_dict({"total_steps": 0})
    assert other.total_steps == 10  # unchanged after a refused load


@pytest.mark.parametrize("make, error, message", [
    (lambda: InverseTimeDecay(-1.0, decay=0.1), ValueError,
     "InverseTimeDecay: lr must be a finite number >= 0, got -1.0"),
    (lambda: InverseTimeDecay(1.0, decay=float("inf")), ValueError,
     "InverseTimeDecay: decay must be a finite number >= 0, got inf"),
    (lambda: ExponentialDecay(1.0, gamma=0.0), ValueError,
     "ExponentialDecay: gamma must be a finite number > 0, got 0.0"),
    (lambda: ExponentialDecay("1", gamma=0.5), TypeError,
     "ExponentialDecay: lr must be a number, got str '1'"),
    (lambda: StepDecay(1.0, step_size=2.5), ValueError,
     "StepDecay: step_size must be a positive int, got 2.5"),
    (lambda: StepDecay(1.0, step_size=True), ValueError,
     "StepDecay: step_size must be a positive int, got True"),
    (lambda: CosineDecay(1.0, total_steps=10, min_lr=-0.1), ValueError,
     "CosineDecay: min_lr must be a finite number >= 0"),
    (lambda: InverseTimeDecay(1.0, 0.1)(-1), ValueError,
     "InverseTimeDecay: the step t must be an int >= 0, got -1"),
])
def test_bad_arguments_are_refused_with_clear_messages(make, error, message):
    with pytest.raises(error, match=message):
        make()


# ---- values that overflow or are not numbers: a clear error before anything changes -------------

def test_a_schedule_that_overflows_raises_a_value_error_naming_it_the_step_and_the_value():
    schedule = ExponentialDecay(1.0, gamma=10.0)
    assert schedule(300) == 1e300
    # 10.0 ** 400 raises OverflowError in Python; 10.0 ** 308 * 10 is inf.
    for t in (309, 400):
        with pytest.raises(ValueError, match=rf"ExponentialDecay\(lr=1.0, gamma=10.0\): the "
                                             rf"learning rate at step {t} is inf \(it overflows\)"):
            schedule(t)
    with pytest.raises(ValueError, match=r"StepDecay.*at step 4000 is inf"):
        StepDecay(1.0, step_size=10, gamma=10.0)(4000)


def test_a_schedule_subclass_giving_nan_is_refused():
    class Broken(nn.Schedule):
        def rate(self, t):
            return float("nan") if t >= 2 else 0.1

    assert Broken()(1) == 0.1
    with pytest.raises(ValueError, match="at step 2 is nan; expected a finite number >= 0"):
        Broken()(2)


def test_an_optimizer_step_with_an_overflowing_schedule_changes_nothing():
    w = ag.Tensor([1.0, -2.0], requires_grad=True)
    b = ag.Tensor([0.5], requires_grad=True)
    opt = nn.SGD([w, b], lr=ExponentialDecay(1.0, gamma=10.0), momentum=0.9)
    w.grad, b.grad = ag.Tensor([0.1, 0.2]), ag.Tensor([0.3])
    state = opt.state_dict()
    state["step_count"] = 400
    opt.load_state_dict(state)
    before = ({k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v
               for k, v in opt.state_dict().items()}, w.data.copy(), b.data.copy())
    with pytest.raises(ValueError, match="at step 400 is inf"):
        opt.step()
    after = opt.state_dict()
    assert after.keys() == before[0].keys()
    for key, value in before[0].items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)
    np.testing.assert_array_equal(w.data, before[1])
    np.testing.assert_array_equal(b.data, before[2])
    assert opt.step_count == 400
