"""Optimizers (SGD, Adam, AdamW, RMSProp, Adagrad) and gradient clipping.

Every optimizer is used as in PyTorch::

    opt = Adam(model.parameters(), lr=1e-3)     # or Adam(model, ...)
    for xb, yb in batches(x, y, batch_size=32):
        opt.zero_grad()
        mse_loss(model(xb), yb).backward()
        opt.step()

The update rules are PyTorch's documented algorithms, each written once, with operators and
``autograd_core`` functions, as the engine's backward rules are: by default a step runs that rule
on the raw arrays under ``no_grad()`` (no wrapper per operation) and subtracts its result from
each parameter in place (an in-place Tensor op, which bumps the parameter's version counter), and
in differentiable mode the same rule runs on Tensors and is recorded. dtypes are kept: float32
parameters stay float32. Parameters whose ``.grad`` is None are skipped. ``lr`` may be a number,
a schedule (any callable ``t -> lr``, e.g. :class:`nn.schedules.InverseTimeDecay`, evaluated at
the step count on every step) or a Tensor.

``state_dict()`` is a flat dict of str -> numpy array or Python number (``'step_count'``,
``'hyper.lr'``, ``'state.0.m'``, ...) that ``nn.save`` can write; ``load_state_dict`` checks every
entry before it changes anything.

**Differentiable mode** (``differentiable=True``) keeps the update in the graph, so that a loss
computed after one or more steps can be differentiated with respect to the learning rate (a
Tensor with ``requires_grad=True``) or the initial weights: hypergradients. The gradients must
come from ``loss.backward(create_graph=True)``, so that each ``p.grad`` carries its own graph.
Each step then computes every parameter's new value out of place, with grad enabled, as a new
non-leaf Tensor; calls ``retain_grad()`` on it, so that the next ``backward(create_graph=True)``
fills its ``.grad``; and puts it in the old parameter's place: in ``opt.params``, and, when the
optimizer was given a Module, in every module slot that held the old parameter (so the model's
next forward uses it). The original Parameters stay leaves::

    lr = Tensor(0.1, dtype=np.float64, requires_grad=True)
    w0 = model[0].weight                 # a parameter before the steps
    opt = SGD(model, lr=lr, momentum=0.9, differentiable=True)
    for _ in range(3):
        opt.zero_grad()
        mse_loss(model(x), y).backward(create_graph=True)
        opt.step()
    d_lr, d_w0 = ag.grad(mse_loss(model(x), y), [lr, w0])

Given plain tensors instead of a Module, read the current values from ``opt.params``. As in
PyTorch, Adam, RMSProp and Adagrad give NaN hypergradients for a weight whose gradient is
exactly 0 at a step (sqrt has no derivative at 0).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

import autograd_core as ag
from autograd_core import Tensor, enable_grad, no_grad
from autograd_core.errors import StateDictError

from .module import Module
from .schedules import Schedule

# ---- checking arguments -------------------------------------------------------------------------

def _parameter_list(params, where: str, differentiable: bool) -> list:
    """``params`` (a Module or an iterable of Tensors) as a checked list of Tensors."""
    expected = "an iterable of Tensors that require grad (e.g. model.parameters()) or a Module"
    if isinstance(params, Module):
        params = params.parameters()
    elif isinstance(params, Tensor):
        raise TypeError(f"{where}: params must be {expected}, got a single Tensor; wrap it in a "
                        f"list: {where}([w], ...)")
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"{where}: params must be {expected}, "
                        f"got {type(params).__name__}") from None
    if not params:
        raise ValueError(f"{where}: got an empty parameter list; expected {expected}")
    seen = set()
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{where}: params[{i}] is a {type(p).__name__}, expected a Tensor "
                            "that requires grad")
        if not p.requires_grad:
            raise ValueError(f"{where}: params[{i}] (shape {p.shape}) does not require grad, so "
                             "it gets no gradient to learn from; create it with "
                             "requires_grad=True (or as an nn.Parameter), or leave it out")
        if not p.is_leaf and not differentiable:
            raise ValueError(f"{where}: params[{i}] was computed by {p.grad_fn.name()}, not "
                             "created as a leaf; only leaf tensors can be updated in place")
        if id(p) in seen:
            raise ValueError(f"{where}: params[{i}] appears more than once in the parameter "
                             "list; pass each parameter once")
        seen.add(id(p))
    return params


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _checked_lr(lr, where: str):
    """The learning rate as the optimizer keeps it: a float, a callable schedule or a Tensor."""
    if isinstance(lr, Tensor):
        if lr.size != 1 or lr.dtype.kind != "f":
            raise TypeError(f"{where}: an lr Tensor must hold one floating-point number, got "
                            f"shape {lr.shape} and dtype {lr.dtype}")
        return lr
    if _is_number(lr):
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"{where}: lr must be a finite number >= 0, got {lr!r}")
        return float(lr)
    if callable(lr):
        first = lr(0)
        if not _is_number(first):
            raise TypeError(f"{where}: the lr schedule {lr!r} must return a number, but gave "
                            f"{first!r} for step 0")
        return lr
    raise TypeError(f"{where}: lr must be a number, a schedule (t -> lr) or a Tensor, got "
                    f"{type(lr).__name__} {lr!r:.60}")


def _hyper_problem(name: str, value, low: float, high: float | None) -> tuple | None:
    """(exception type, message) when ``value`` is not a number in [low, high) (high None:
    no upper limit), else None."""
    if not _is_number(value):
        return TypeError, f"{name} must be a number, got {type(value).__name__} {value!r}"
    if high is None and not (math.isfinite(value) and value >= low):
        return ValueError, f"{name} must be a finite number >= {low:g}, got {value!r}"
    if high is not None and not low <= value < high:
        return ValueError, f"{name} must be in [{low:g}, {high:g}), got {value!r}"
    return None


_ANY = (0.0, None)      # low <= value
_FRACTION = (0.0, 1.0)  # low <= value < high


# ---- the optimizer base class -------------------------------------------------------------------

class Optimizer:
    """Base class: the parameters, the learning rate, the step count and the state.

    A subclass names its per-parameter state Tensors in ``_state_names`` (all start at zero, one
    of each per parameter), its numeric hyperparameters and their ranges in ``_ranges`` (they
    live in ``self.hyper``, by name), and writes its update rule once, in ``_rule``.
    """

    _state_names: tuple[str, ...] = ()
    _ranges: dict = {}
    _labels: dict = {}  # how the constructor spells a hyperparameter, for messages

    def __init__(self, params, lr, hyper: dict, differentiable: bool = False):
        where = type(self).__name__
        self.params = _parameter_list(params, where, differentiable)
        self._module = params if isinstance(params, Module) else None
        self.differentiable = bool(differentiable)
        self.lr = lr
        problems = self._hyper_problems(hyper)
        if problems:
            kind = TypeError if any(k is TypeError for k, _ in problems) else ValueError
            raise kind(f"{where}: " + "; ".join(message for _, message in problems))
        self.hyper = {name: value if isinstance(value, bool) else float(value)
                      for name, value in hyper.items()}
        self.step_count = 0
        self.state = [self._initial_state(p) for p in self.params]

    def _initial_state(self, p: Tensor) -> dict:
        return {name: ag.zeros_like(p) for name in self._state_names}

    def _hyper_problems(self, hyper: dict, prefix: str = "") -> list:
        """(exception type, message) for each bad hyperparameter; named as the constructor
        spells them, or as ``prefix + name`` when a prefix (``'hyper.'``) is given."""
        problems = []
        for name, (low, high) in self._ranges.items():
            label = prefix + name if prefix else self._labels.get(name, name)
            problem = _hyper_problem(label, hyper[name], low, high)
            if problem:
                problems.append(problem)
        return problems

    # ---- learning rate ---------------------------------------------------------------------------
    @property
    def lr(self):
        """The learning rate as given: a float, a schedule (t -> lr) or a Tensor."""
        return self._lr

    @lr.setter
    def lr(self, value) -> None:
        self._lr = _checked_lr(value, type(self).__name__)

    @property
    def current_lr(self) -> float:
        """The learning rate the next step uses, as a float (for progress display)."""
        lr = self._lr
        if isinstance(lr, Tensor):
            return float(lr.item())
        if callable(lr):
            return float(lr(self.step_count))
        return lr

    # ---- stepping --------------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Forget the parameters' gradients (set them to None)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, then count the step."""
        if self.differentiable:
            self._step_in_graph()
        else:
            lr = self.current_lr
            with no_grad():
                for p, state in zip(self.params, self.state):
                    if p.grad is not None:
                        self._step_in_place(p, state, lr)
        self.step_count += 1

    def _step_in_place(self, p: Tensor, state: dict, lr: float) -> None:
        # The rule runs on raw arrays: a Tensor op costs microseconds of wrapping, which over
        # every parameter of every step is a visible share of a small model's step.
        raw = {name: value.data if isinstance(value, Tensor) else value
               for name, value in state.items()}
        delta = self._rule(p.data, p.grad.data, raw, lr)
        for name, value in raw.items():
            if isinstance(state[name], Tensor):
                state[name].data = value  # the optimizer's own Tensors: nobody else holds them
            else:
                state[name] = value
        p -= delta

    def _step_in_graph(self) -> None:
        lr = self._lr if isinstance(self._lr, Tensor) else self.current_lr
        moved = {}
        with enable_grad():
            for i, (p, state) in enumerate(zip(self.params, self.state)):
                if p.grad is None:
                    continue
                p_lr = lr.astype(p.dtype) if isinstance(lr, Tensor) and lr.dtype != p.dtype \
                    else lr  # a float64 lr must not turn float32 parameters into float64
                new = p - self._rule(p, p.grad, state, p_lr)
                new.name = p.name
                new.retain_grad()
                moved[id(p)] = self.params[i] = new
        if self._module is not None and moved:
            for module, name, old in list(self._module._parameter_slots()):
                if id(old) in moved:
                    module._rebind_parameter(name, moved[id(old)])

    def _rule(self, p, g, state: dict, lr):
        """What to subtract from ``p``, given its gradient ``g``: arrays, or Tensors in
        differentiable mode. Stores the new state values in ``state`` (never changing the old
        ones in place)."""
        raise NotImplementedError

    # ---- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """A flat dict of str -> numpy array (a copy) or Python number/str, e.g.
        ``{'type': 'SGD', 'num_params': 2, 'step_count': 10, 'hyper.lr': 0.1,
        'hyper.momentum': 0.9, ..., 'state.0.momentum': array(...), ...}``.

        A schedule's numbers are stored as ``schedule.<name>``; a Tensor lr as its value.
        """
        state = {"type": type(self).__name__, "num_params": len(self.params),
                 "step_count": self.step_count}
        lr = self._lr
        if isinstance(lr, Schedule):
            state.update((f"schedule.{name}", value) for name, value in lr.state_dict().items())
        elif isinstance(lr, Tensor):
            state["hyper.lr"] = float(lr.item())
        elif not callable(lr):
            state["hyper.lr"] = lr
        state.update((f"hyper.{name}", value) for name, value in self.hyper.items())
        for i, buffers in enumerate(self.state):
            for name, value in buffers.items():
                key = f"state.{i}.{name}"
                state[key] = value.data.copy() if isinstance(value, Tensor) else value
        return state

    def load_state_dict(self, state: Mapping) -> None:
        """Take the step count, hyperparameters, schedule numbers and state from ``state`` (as
        made by ``state_dict()``, possibly saved and loaded again).

        Everything is checked first: missing or unexpected keys, the optimizer type, the number
        of parameters, the shape and dtype of each state array, the type and range of each
        number. Any problem raises a StateDictError listing all of them, and the optimizer is
        left as it was.
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, Mapping):
            raise TypeError(f"{where}: expected a dict (from state_dict()), "
                            f"got {type(state).__name__}")
        own = self.state_dict()
        values, value_problems = {}, []
        for key, mine in own.items():
            if key in state:
                value, problem = _fit(key, state[key], mine)
                if problem:
                    value_problems.append(problem)
                else:
                    values[key] = value
        # A foreign state (another optimizer, another parameter count) is reported first: it
        # explains the key mismatches listed after it.
        problems = [f"{key}: {values[key]!r} in the state dict, {own[key]!r} in this optimizer"
                    for key in ("type", "num_params") if key in values and values[key] != own[key]]
        missing = [key for key in own if key not in state]
        unexpected = [key for key in state if key not in own]
        if missing:
            problems.append(f"missing keys: {_some(missing)}")
        if unexpected:
            problems.append(f"unexpected keys: {_some(unexpected)}")
        problems += value_problems + self._range_problems(values)
        if problems:
            raise StateDictError(f"{where}: " + "; ".join(problems)
                                 + ". The optimizer was not changed.")
        self._take(values)

    def _range_problems(self, values: dict) -> list:
        """Hyperparameters, lr and schedule numbers that are numbers but out of range."""
        problems = []
        hyper = {name: values.get(f"hyper.{name}", value) for name, value in self.hyper.items()}
        problems.extend(message for _, message in self._hyper_problems(hyper, "hyper."))
        if "hyper.lr" in values:
            problem = _hyper_problem("hyper.lr", values["hyper.lr"], *_ANY)
            if problem:
                problems.append(problem[1])
        if isinstance(self._lr, Schedule):
            fields = {name: values[f"schedule.{name}"] for name in self._lr._fields
                      if f"schedule.{name}" in values}
            try:
                type(self._lr)(**{**self._lr.state_dict(), **fields})
            except (TypeError, ValueError) as error:
                problems.append(f"schedule: {error}")
        return problems

    def _take(self, values: dict) -> None:
        """Write checked values into the optimizer."""
        self.step_count = values["step_count"]
        for name in self.hyper:
            self.hyper[name] = values[f"hyper.{name}"]
        if "hyper.lr" in values:
            if isinstance(self._lr, Tensor):
                with no_grad():
                    self._lr[...] = values["hyper.lr"]
            else:
                self._lr = values["hyper.lr"]
        if isinstance(self._lr, Schedule):
            self._lr.load_state_dict({name: values[f"schedule.{name}"]
                                      for name in self._lr._fields})
        for i, buffers in enumerate(self.state):
            for name, mine in buffers.items():
                value = values[f"state.{i}.{name}"]
                buffers[name] = Tensor(value) if isinstance(mine, Tensor) else value

    def __repr__(self) -> str:
        lr = self._lr if callable(self._lr) else self.current_lr
        hyper = ", ".join(f"{name}={value!r}" for name, value in self.hyper.items())
        return f"{type(self).__name__}({len(self.params)} parameters, lr={lr!r}, {hyper})"


def _some(keys: list, limit: int = 10) -> str:
    shown = ", ".join(repr(key) for key in keys[:limit])
    return f"[{shown}]" + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _fit(key: str, value, mine) -> tuple:
    """(value converted to the kind of ``mine``, None) or (None, what is wrong)."""
    if isinstance(mine, np.ndarray):
        array = value.data if isinstance(value, Tensor) else np.asarray(value)
        if array.shape != mine.shape:
            return None, f"{key}: shape {array.shape} in the state dict, {mine.shape} expected"
        if array.dtype.kind not in "biuf" or not np.can_cast(array.dtype, mine.dtype,
                                                             casting="same_kind"):
            return None, f"{key}: dtype {array.dtype} cannot become {mine.dtype}"
        return np.asarray(array, dtype=mine.dtype), None
    if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0:
        value = value.item()  # a number that went through an .npz file comes back 0-d
    if isinstance(mine, bool):
        ok = isinstance(value, bool)
    elif isinstance(mine, int):
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0
        value = int(value) if ok else value
    elif isinstance(mine, float):
        ok = _is_number(value)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(mine))
    if not ok:
        expected = "an int >= 0" if type(mine) is int else f"a {type(mine).__name__}"
        return None, f"{key}: expected {expected}, got {type(value).__name__} {value!r:.60}"
    return value, None


# ---- the optimizers -----------------------------------------------------------------------------

class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum and L2 weight decay.

    Per step, for each parameter ``p`` with gradient ``g`` (PyTorch's algorithm, dampening 0)::

        g = g + weight_decay * p
        b = momentum * b + g                         (b starts at 0)
        g = g + momentum * b   if nesterov else   b
        p = p - lr * g

    >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    """

    _state_names = ("momentum",)
    _ranges = {"momentum": _ANY, "weight_decay": _ANY}

    def __init__(self, params, lr, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, differentiable: bool = False):
        if not isinstance(nesterov, bool):
            raise TypeError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        super().__init__(params, lr, {"momentum": momentum, "nesterov": nesterov,
                                      "weight_decay": weight_decay}, differentiable)

    def _hyper_problems(self, hyper: dict, prefix: str = "") -> list:
        problems = super()._hyper_problems(hyper, prefix)
        if hyper["nesterov"] and not (_is_number(hyper["momentum"]) and hyper["momentum"] > 0):
            problems.append((ValueError, f"{prefix}nesterov=True needs a {prefix}momentum > 0"))
        return problems

    def _rule(self, p, g, state, lr):
        momentum, weight_decay = self.hyper["momentum"], self.hyper["weight_decay"]
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            buf = state["momentum"] = momentum * state["momentum"] + g
            g = g + momentum * buf if self.hyper["nesterov"] else buf
        return lr * g


class Adam(Optimizer):
    """Adam: steps scaled by running averages of the gradient (m) and of its square (v), with
    bias correction; ``weight_decay`` adds ``weight_decay * p`` to the gradient (L2).

    Per step ``t`` (counted per parameter, from 1), as PyTorch's algorithm::

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        p = p - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

    >>> opt = Adam(model.parameters(), lr=1e-3)
    """

    _state_names = ("m", "v")
    _ranges = {"beta1": _FRACTION, "beta2": _FRACTION, "eps": _ANY, "weight_decay": _ANY}
    _labels = {"beta1": "betas[0]", "beta2": "betas[1]"}
    _decoupled = False  # AdamW: weight decay applied to the weights, not added to the gradient

    def __init__(self, params, lr=1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, differentiable: bool = False):
        where = type(self).__name__
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise TypeError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
        super().__init__(params, lr, {"beta1": betas[0], "beta2": betas[1], "eps": eps,
                                      "weight_decay": weight_decay}, differentiable)

    @property
    def betas(self) -> tuple:
        return self.hyper["beta1"], self.hyper["beta2"]

    def _initial_state(self, p):
        state = super()._initial_state(p)
        state["step"] = 0  # per parameter: one skipped while its grad was None is not counted
        return state

    def _rule(self, p, g, state, lr):
        h = self.hyper
        beta1, beta2, weight_decay = h["beta1"], h["beta2"], h["weight_decay"]
        if weight_decay and not self._decoupled:
            g = g + weight_decay * p
        t = state["step"] = state["step"] + 1
        m = state["m"] = beta1 * state["m"] + (1.0 - beta1) * g
        v = state["v"] = beta2 * state["v"] + (1.0 - beta2) * (g * g)
        denom = ag.sqrt(v) / math.sqrt(1.0 - beta2 ** t) + h["eps"]
        step = (lr / (1.0 - beta1 ** t)) * m / denom
        if weight_decay and self._decoupled:  # AdamW: p * (1 - lr * weight_decay) - step
            step = step + (lr * weight_decay) * p
        return step


class AdamW(Adam):
    """Adam with decoupled weight decay: the weights shrink by ``lr * weight_decay * p`` each
    step (before the Adam update) instead of the decay being added to the gradient.

    >>> opt = AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, differentiable: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, differentiable)


class RMSProp(Optimizer):
    """RMSProp: steps divided by the root of a running average of squared gradients.

    Per step, as PyTorch's algorithm (with ``rho`` for its ``alpha``)::

        g = g + weight_decay * p
        v = rho * v + (1 - rho) * g**2
        s = g / (sqrt(v) + eps)
        b = momentum * b + s;  s = b                 (when momentum > 0)
        p = p - lr * s

    >>> opt = RMSProp(model.parameters(), lr=1e-2, rho=0.9)
    """

    _state_names = ("v", "momentum")
    _ranges = {"rho": _FRACTION, "eps": _ANY, "momentum": _ANY, "weight_decay": _ANY}

    def __init__(self, params, lr=1e-2, rho: float = 0.9, eps: float = 1e-8,
                 momentum: float = 0.0, weight_decay: float = 0.0,
                 differentiable: bool = False):
        super().__init__(params, lr, {"rho": rho, "eps": eps, "momentum": momentum,
                                      "weight_decay": weight_decay}, differentiable)

    def _rule(self, p, g, state, lr):
        h = self.hyper
        rho, momentum, weight_decay = h["rho"], h["momentum"], h["weight_decay"]
        if weight_decay:
            g = g + weight_decay * p
        v = state["v"] = rho * state["v"] + (1.0 - rho) * (g * g)
        step = g / (ag.sqrt(v) + h["eps"])
        if momentum:
            step = state["momentum"] = momentum * state["momentum"] + step
        return lr * step


class Adagrad(Optimizer):
    """Adagrad: steps divided by the root of the sum of all squared gradients so far.

    Per step, as PyTorch's algorithm (without its lr_decay: use a schedule)::

        g = g + weight_decay * p
        s = s + g**2
        p = p - lr * g / (sqrt(s) + eps)

    >>> opt = Adagrad(model.parameters(), lr=1e-2)
    """

    _state_names = ("sum_sq",)
    _ranges = {"eps": _ANY, "weight_decay": _ANY}

    def __init__(self, params, lr=1e-2, eps: float = 1e-10, weight_decay: float = 0.0,
                 differentiable: bool = False):
        super().__init__(params, lr, {"eps": eps, "weight_decay": weight_decay}, differentiable)

    def _rule(self, p, g, state, lr):
        if self.hyper["weight_decay"]:
            g = g + self.hyper["weight_decay"] * p
        sum_sq = state["sum_sq"] = state["sum_sq"] + g * g
        return lr * g / (ag.sqrt(sum_sq) + self.hyper["eps"])


# ---- gradient clipping --------------------------------------------------------------------------

def _grads_of(params, where: str) -> list:
    """The gradients (not None) of a Module's parameters, one Tensor or an iterable of them."""
    if isinstance(params, Module):
        params = list(params.parameters())
    elif isinstance(params, Tensor):
        params = [params]
    grads = []
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{where}: params[{i}] is a {type(p).__name__}, expected a Tensor")
        if p.grad is not None:
            grads.append(p.grad)
    return grads


def _limit(value, where: str, name: str) -> float:
    problem = _hyper_problem(name, value, *_ANY)
    if problem:
        raise problem[0](f"{where}: {problem[1]}")
    return float(value)


def clip_grad_norm_(params, max_norm: float) -> float:
    """Scale all gradients by one factor so that their global L2 norm (over every element of
    every ``.grad``) is at most ``max_norm``; returns the norm before clipping, as PyTorch.

    The gradients are changed in place, unrecorded; parameters without a gradient are skipped.

    >>> nn.mse_loss(model(x), y).backward()
    >>> total = clip_grad_norm_(model.parameters(), max_norm=1.0)
    """
    max_norm = _limit(max_norm, "clip_grad_norm_", "max_norm")
    grads = _grads_of(params, "clip_grad_norm_")
    with no_grad():
        total = math.sqrt(sum(float((g * g).sum()) for g in grads))
        scale = max_norm / (total + 1e-6)  # PyTorch's guard against dividing by a zero norm
        if scale < 1.0:
            for g in grads:
                g *= scale
    return total


def clip_grad_value_(params, clip_value: float) -> None:
    """Clip every gradient element to [-clip_value, clip_value], in place.

    >>> nn.mse_loss(model(x), y).backward()
    >>> clip_grad_value_(model.parameters(), 0.5)
    """
    clip_value = _limit(clip_value, "clip_grad_value_", "clip_value")
    with no_grad():
        for g in _grads_of(params, "clip_grad_value_"):
            g[...] = ag.clip(g, -clip_value, clip_value)


__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSProp", "clip_grad_norm_",
           "clip_grad_value_"]
