"""Learning-rate schedules: the learning rate as a function of the step count.

A schedule is a small object whose ``schedule(t)`` is the learning rate of step ``t``, where ``t``
is the number of optimizer steps already taken (0 for the first step). Pass one as an
optimizer's ``lr``: the optimizer evaluates it at its own step count on every step and shows the
value as ``current_lr``::

    opt = SGD(model.parameters(), lr=InverseTimeDecay(1.0, decay=1e-3), momentum=0.9)

The classes here check every value they give: one that overflows (``ExponentialDecay(1.0,
gamma=10.0)`` at step 400) or is not a finite number >= 0 raises a ValueError naming the
schedule, the step and the value, so an optimizer reading it at the start of a step fails before
any parameter has moved. Any callable ``t -> float`` works as a schedule. The classes here also
put their numbers into the optimizer's ``state_dict()`` (as ``schedule.<name>``), so they come
back with it; the step count is the optimizer's, so a resumed run continues the schedule where
it stopped.
"""

from __future__ import annotations

import math
import numbers


def _number(where: str, name: str, value, positive: bool = False) -> float:
    """``value`` as a float, checked to be a finite number >= 0 (> 0 when ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
        raise ValueError(f"{where}: {name} must be a finite number {'> 0' if positive else '>= 0'}"
                         f", got {value!r}")
    return value


def _count(where: str, name: str, value) -> int:
    """``value`` as an int, checked to be >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return int(value)


class Schedule:
    """Base class of the schedules: a subclass names its constructor arguments in ``_fields``
    and defines ``rate(t) -> float``; calling the schedule checks ``t`` and the value."""

    _fields: tuple[str, ...] = ()

    def rate(self, t: int) -> float:
        """The learning rate of step ``t``, unchecked."""
        raise NotImplementedError(f"{type(self).__name__} must define rate(t)")

    def __call__(self, t: int) -> float:
        """The learning rate of step ``t`` (>= 0): a finite float >= 0, or a ValueError."""
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < 0:
            raise ValueError(f"{type(self).__name__}: the step t must be an int >= 0, got {t!r}")
        try:
            value = float(self.rate(int(t)))
        except OverflowError:  # Python's float ** int raises rather than giving inf
            value = math.inf
        if not (math.isfinite(value) and value >= 0):
            cause = " (it overflows)" if math.isinf(value) else ""
            raise ValueError(f"{self!r}: the learning rate at step {t} is {value!r}{cause}; "
                             "expected a finite number >= 0: choose numbers that keep it "
                             "finite for every step of training")
        return value

    def state_dict(self) -> dict:
        """The schedule's numbers, by argument name."""
        return {name: getattr(self, name) for name in self._fields}

    def load_state_dict(self, state) -> None:
        """Take the numbers in ``state`` (missing ones are kept), checked as the constructor
        checks them; raises TypeError/ValueError and changes nothing if one is wrong."""
        merged = {name: state.get(name, getattr(self, name)) for name in self._fields}
        checked = type(self)(**merged)
        for name in self._fields:
            setattr(self, name, getattr(checked, name))

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({args})"


class InverseTimeDecay(Schedule):
    """``lr / (1 + decay * t)``: the decay of "Neural Networks from Scratch".

    >>> InverseTimeDecay(1.0, decay=0.5)(2)
    0.5
    """

    _fields = ("lr", "decay")

    def __init__(self, lr: float, decay: float):
        self.lr = _number("InverseTimeDecay", "lr", lr)
        self.decay = _number("InverseTimeDecay", "decay", decay)

    def rate(self, t: int) -> float:
        return self.lr / (1.0 + self.decay * t)


class ExponentialDecay(Schedule):
    """``lr * gamma ** t``: multiply the learning rate by ``gamma`` every step.

    >>> ExponentialDecay(1.0, gamma=0.5)(3)
    0.125
    """

    _fields = ("lr", "gamma")

    def __init__(self, lr: float, gamma: float):
        self.lr = _number("ExponentialDecay", "lr", lr)
        self.gamma = _number("ExponentialDecay", "gamma", gamma, positive=True)

    def rate(self, t: int) -> float:
        return self.lr * self.gamma ** t


class StepDecay(Schedule):
    """``lr * gamma ** (t // step_size)``: multiply by ``gamma`` every ``step_size`` steps.

    >>> StepDecay(1.0, step_size=10, gamma=0.1)(25)
    0.010000000000000002
    """

    _fields = ("lr", "step_size", "gamma")

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1):
        self.lr = _number("StepDecay", "lr", lr)
        self.step_size = _count("StepDecay", "step_size", step_size)
        self.gamma = _number("StepDecay", "gamma", gamma, positive=True)

    def rate(self, t: int) -> float:
        return self.lr * self.gamma ** (t // self.step_size)


class CosineDecay(Schedule):
    """From ``lr`` at t = 0 down to ``min_lr`` at t = ``total_steps`` along half a cosine, then
    ``min_lr``: ``min_lr + (lr - min_lr) * (1 + cos(pi * t / total_steps)) / 2``.

    >>> CosineDecay(1.0, total_steps=100, min_lr=0.0)(50)
    0.5
    """

    _fields = ("lr", "total_steps", "min_lr")

    def __init__(self, lr: float, total_steps: int, min_lr: float = 0.0):
        self.lr = _number("CosineDecay", "lr", lr)
        self.total_steps = _count("CosineDecay", "total_steps", total_steps)
        self.min_lr = _number("CosineDecay", "min_lr", min_lr)

    def rate(self, t: int) -> float:
        if t >= self.total_steps:
            return self.min_lr
        return self.min_lr + (self.lr - self.min_lr) * 0.5 * (
            1.0 + math.cos(math.pi * t / self.total_steps))


__all__ = ["CosineDecay", "ExponentialDecay", "InverseTimeDecay", "Schedule", "StepDecay"]
