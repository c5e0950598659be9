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
from autograd_core.compiler import opaque
from autograd_core.engine import bump_version
from autograd_core.errors import DTypeError, ShapeError, StateDictError

from .module import Module
from .schedules import Schedule

# ---- checking arguments -------------------------------------------------------------------------

def _parameter_list(params, where: str, differentiable: bool, label: str = "params") -> list:
    """``params`` (a Module or an iterable of Tensors) as a checked list of Tensors."""
    expected = "an iterable of Tensors that require grad (e.g. model.parameters()) or a Module"
    if isinstance(params, Module):
        params = params.parameters()
    elif isinstance(params, Tensor):
        raise TypeError(f"{where}: {label} must be {expected}, got a single Tensor; wrap it in a "
                        f"list: {where}([w], ...)")
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"{where}: {label} must be {expected}, "
                        f"got {type(params).__name__}") from None
    if not params:
        raise ValueError(f"{where}: got an empty parameter list; expected {expected}")
    seen = set()
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{where}: {label}[{i}] is a {type(p).__name__}, expected a Tensor "
                            "that requires grad")
        if not p.requires_grad:
            raise ValueError(f"{where}: {label}[{i}] (shape {p.shape}) does not require grad, so "
                             "it gets no gradient to learn from; create it with "
                             "requires_grad=True (or as an nn.Parameter), or leave it out")
        if not p.is_leaf and not differentiable:
            raise ValueError(f"{where}: {label}[{i}] was computed by {p.grad_fn.name()}, not "
                             "created as a leaf; only leaf tensors can be updated in place")
        if id(p) in seen:
            raise ValueError(f"{where}: {label}[{i}] appears more than once in the parameter "
                             "list; pass each parameter once")
        seen.add(id(p))
    return params


def _group_specs(params, where: str) -> list[dict]:
    """The parameter groups asked for: ``params`` as one group, or the list of group dicts."""
    if isinstance(params, (Module, Tensor)):
        return [{"params": params}]
    try:
        items = list(params)
    except TypeError:
        items = None  # _parameter_list says what is wrong
    if not items or not any(isinstance(item, Mapping) for item in items):
        return [{"params": params if items is None else items}]
    if not all(isinstance(item, Mapping) for item in items):
        raise TypeError(f"{where}: params mixes parameter-group dicts and other values; pass "
                        "either parameters or a list of dicts {'params': [...], 'lr': ...}")
    return [dict(item) for item in items]


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _checked_lr(lr, where: str):
    """The learning rate as the optimizer keeps it: a float, a callable schedule or a Tensor."""
    if isinstance(lr, Tensor):
        _lr_value(lr, 0, where)  # checked like a number (its value may still change later)
        return lr
    if _is_number(lr):
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"{where}: lr must be a finite number >= 0, got {lr!r}")
        return float(lr)
    if callable(lr):
        _lr_value(lr, 0, where)
        return lr
    raise TypeError(f"{where}: lr must be a number, a schedule (t -> lr) or a Tensor, got "
                    f"{type(lr).__name__} {lr!r:.60}")


def _lr_value(lr, step: int, where: str) -> float:
    """The value of a learning rate (a number, a Tensor or a schedule evaluated at ``step``) as a
    float, checked to be finite and >= 0: a NaN, infinite or negative rate would silently ruin
    every parameter."""
    if isinstance(lr, Tensor):
        if lr.size != 1 or lr.dtype.kind != "f":
            raise TypeError(f"{where}: an lr Tensor must hold one floating-point number, got "
                            f"shape {lr.shape} and dtype {lr.dtype}")
        value = float(lr.data.reshape(-1)[0])
        what = "the lr Tensor holds"
    elif callable(lr):
        try:
            value = lr(step)
        except Exception as error:  # a schedule is user code: say which one failed, and where
            kind = TypeError if isinstance(error, TypeError) else ValueError
            raise kind(f"{where}: the lr schedule {lr!r} failed at step {step}: "
                       f"{type(error).__name__}: {error}") from error
        if not _is_number(value):
            raise TypeError(f"{where}: the lr schedule {lr!r} must return a number, but gave "
                            f"{value!r:.60} for step {step}")
        try:
            value = float(value)
        except OverflowError:  # an int too large for a float
            value = math.inf
        what = f"the lr schedule {lr!r} gave, at step {step},"
    elif _is_number(lr):
        value, what = float(lr), "lr is"
    else:
        raise TypeError(f"{where}: lr must be a number, a schedule (t -> lr) or a Tensor, got "
                        f"{type(lr).__name__} {lr!r:.60}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{where}: {what} {value!r}; a learning rate must be a finite number "
                         ">= 0")
    return value


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


def _raise_problems(problems: list, prefix: str, suffix: str = "") -> None:
    if problems:
        kind = TypeError if any(k is TypeError for k, _ in problems) else ValueError
        raise kind(prefix + "; ".join(message for _, message in problems) + suffix)


def _plain(value):
    """A hyperparameter as the optimizer keeps it: bools as they are, numbers as floats."""
    return value if isinstance(value, bool) else float(value)


def _group_prefix(g: int) -> str:
    """The state_dict prefix of parameter group ``g``: none for the first (so that the keys of a
    one-group optimizer are the same as before groups existed)."""
    return f"group.{g}." if g else ""


_ANY = (0.0, None)      # low <= value
_FRACTION = (0.0, 1.0)  # low <= value < high


# ---- the optimizer base class -------------------------------------------------------------------

class Optimizer:
    """Base class: the parameter groups, the step count and the state.

    ``param_groups`` is a list of dicts, as PyTorch's: each has ``'params'`` (a list of Tensors),
    ``'lr'`` and every hyperparameter by name; ``defaults`` holds the constructor's values,
    which a group given as a dict without some of them takes. Change a group's values by
    assigning to its dict (``opt.param_groups[1]['lr'] = 0.01``); ``step()`` checks them.

    A subclass names its per-parameter state Tensors in ``_state_names`` (all start at zero, one
    of each per parameter), its numeric hyperparameters and their ranges in ``_ranges``, and
    writes its update rule once, in ``_rule``.
    """

    _state_names: tuple[str, ...] = ()
    _ranges: dict = {}
    _labels: dict = {}  # how the constructor spells a hyperparameter, for messages

    def __init__(self, params, lr, hyper: dict, differentiable: bool = False):
        where = type(self).__name__
        self.differentiable = bool(differentiable)
        specs = _group_specs(params, where)
        if len(specs) == 1 and set(specs[0]) == {"params"}:  # checked first, as before groups
            _parameter_list(specs[0]["params"], where, self.differentiable)
        lr = _checked_lr(lr, where)
        _raise_problems(self._hyper_problems(hyper), f"{where}: ")
        self.defaults = {"lr": lr, **{name: _plain(value) for name, value in hyper.items()}}
        self._module = params if isinstance(params, Module) else None
        self.param_groups: list[dict] = []
        self.state: list[dict] = []  # one dict per parameter, in the order of ``params``
        self._checked_values: list[list] = []  # per group: the hyperparameters step() checked
        self.step_count = 0
        groups = [self._checked_group(spec, g, where) for g, spec in enumerate(specs)]
        self._check_distinct([p for group in groups for p in group["params"]], where)
        for group in groups:
            self._append_group(group)

    def add_param_group(self, group: Mapping) -> None:
        """Add a parameter group (a dict with ``'params'`` and, optionally, ``'lr'`` and
        hyperparameters; the others are taken from ``defaults``), as PyTorch's. Its parameters
        must not be in another group already."""
        where = f"{type(self).__name__}.add_param_group"
        if not isinstance(group, Mapping):
            raise TypeError(f"{where}: expected a dict {{'params': [...], 'lr': ...}}, got "
                            f"{type(group).__name__}")
        group = self._checked_group(dict(group), len(self.param_groups), where)
        self._check_distinct(self.params + group["params"], where)
        self._append_group(group)

    def _checked_group(self, spec: dict, g: int, where: str) -> dict:
        """A group dict with every value checked and the defaults filled in."""
        label = f"param_groups[{g}]"
        if "params" not in spec:
            raise ValueError(f"{where}: {label} has no 'params' entry")
        params = spec.pop("params")
        if isinstance(params, Tensor):
            params = [params]  # {'params': w} means one parameter, as in PyTorch
        params = _parameter_list(params, where, self.differentiable, f"{label}['params']")
        options = self._spelled(spec, f"{where}: {label}")
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise TypeError(f"{where}: {label} has unknown options {unknown}; a group may set "
                            f"{sorted(self._spellings())}")
        lr = _checked_lr(options.pop("lr"), f"{where}: {label}") if "lr" in options \
            else self.defaults["lr"]
        hyper = {name: options.get(name, value) for name, value in self.defaults.items()
                 if name != "lr"}
        _raise_problems(self._hyper_problems(hyper), f"{where}: {label}: ")
        return {"params": params, "lr": lr,
                **{name: _plain(value) for name, value in hyper.items()}}

    def _spellings(self) -> set:
        """The keys a group dict may have (as the constructor spells them)."""
        return {"params"} | set(self.defaults)

    def _spelled(self, options: dict, where: str) -> dict:
        """A group's options under the names ``defaults`` uses (Adam splits ``betas``)."""
        return options

    def _check_distinct(self, params: list, where: str) -> None:
        seen = set()
        for p in params:
            if id(p) in seen:
                raise ValueError(f"{where}: a parameter of shape {p.shape} is in more than one "
                                 "parameter group; each parameter may be in one only")
            seen.add(id(p))

    def _append_group(self, group: dict) -> None:
        self.param_groups.append(group)
        self.state.extend(self._initial_state(p) for p in group["params"])

    def _initial_state(self, p: Tensor) -> dict:
        # Zeros that take no memory (one element, read-only, broadcast to the parameter's
        # shape): every rule makes new arrays for its state, so memory is taken at the first
        # update that uses a state, and never for one the settings leave unused (SGD's momentum
        # buffer at momentum 0; PyTorch makes it lazily for the same reason).
        zero = np.zeros((), dtype=p.dtype)
        return {name: Tensor._from_op(np.broadcast_to(zero, p.shape), None)
                for name in self._state_names}

    def _hyper_problems(self, hyper: Mapping, prefix: str = "") -> list:
        """(exception type, message) for each bad hyperparameter; named as the constructor
        spells them, or as ``prefix + name`` when a prefix (``'hyper.'``) is given."""
        problems = []
        for name, (low, high) in self._ranges.items():
            label = prefix + name if prefix else self._labels.get(name, name)
            problem = _hyper_problem(label, hyper[name], low, high)
            if problem:
                problems.append(problem)
        return problems

    @property
    def params(self) -> list:
        """Every parameter, group after group (a new list: add parameters with
        ``add_param_group``)."""
        return [p for group in self.param_groups for p in group["params"]]

    @property
    def hyper(self) -> dict:
        """The first group's hyperparameters by name (a copy; change them in
        ``param_groups``)."""
        group = self.param_groups[0]
        return {name: group[name] for name in self.defaults if name != "lr"}

    # ---- learning rate ---------------------------------------------------------------------------
    @property
    def lr(self):
        """The first group's learning rate as given: a float, a schedule (t -> lr) or a Tensor.
        Assigning one sets it for every group."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value) -> None:
        value = _checked_lr(value, type(self).__name__)
        self.defaults["lr"] = value
        for group in self.param_groups:
            group["lr"] = value

    @property
    def current_lr(self) -> float:
        """The learning rate the next step uses (the first group's), as a float (for progress
        display)."""
        return _lr_value(self.param_groups[0]["lr"], self.step_count, type(self).__name__)

    # ---- stepping --------------------------------------------------------------------------------
    @opaque  # compiled functions run it again on every call (see ag.compile)
    def zero_grad(self) -> None:
        """Forget the parameters' gradients (set them to None)."""
        for p in self.params:
            p.grad = None

    @opaque  # its step count and schedule change every call: a replay runs it again
    def step(self) -> None:
        """Update every parameter that has a gradient, then count the step.

        Everything the step reads is checked first (each group's learning rate, schedule value
        and hyperparameters; each gradient's type, shape and dtype), and every new value is
        computed before the first is written: a step that raises leaves the parameters, the
        state and the step count as they were.
        """
        plan = self._plan(f"{type(self).__name__}.step")
        if self.differentiable:
            self._step_in_graph(plan)
        else:
            self._step_in_place(plan)
        self.step_count += 1

    def _plan(self, where: str) -> list:
        """[(group, lr, [(index, position in group, parameter, state), ...]), ...] for the
        parameters that have a gradient, after checking all that the step reads."""
        plan, index = [], 0
        for g, group in enumerate(self.param_groups):
            here = f"{where}: param_groups[{g}]" if len(self.param_groups) > 1 else where
            lr = _lr_value(group["lr"], self.step_count, here)
            values = [group[name] for name in self._ranges]
            checked = self._checked_values[g] if g < len(self._checked_values) else None
            if checked is None or any(a is not b for a, b in zip(values, checked)):
                # checked again only when a value was replaced (the checks cost more than a
                # small model's update)
                _raise_problems(self._hyper_problems(group), f"{here}: ",
                                ". Nothing was changed.")
                self._checked_values[g:g + 1] = [values]
            if self.differentiable and isinstance(group["lr"], Tensor):
                lr = group["lr"]  # kept in the graph: hypergradients flow into it
            todo = []
            for j, p in enumerate(group["params"]):
                state = self.state[index]
                grad = p.grad
                if grad is not None:
                    data = p.data
                    if not (isinstance(grad, Tensor) and grad.data.shape == data.shape
                            and grad.data.dtype == data.dtype
                            and all(v.data.shape == data.shape for v in state.values()
                                    if isinstance(v, Tensor))):
                        self._check_grad(p, state, index, where)  # raises, saying what is wrong
                    todo.append((index, j, p, state))
                index += 1
            plan.append((group, lr, todo))
        return plan

    def _check_grad(self, p: Tensor, state: dict, index: int, where: str) -> None:
        grad = p.grad
        problem = None
        if not isinstance(grad, Tensor):
            problem = f"its .grad is a {type(grad).__name__}, not a Tensor"
        elif grad.shape != p.shape:
            problem = f"its .grad has shape {grad.shape}"
        elif grad.dtype != p.dtype:
            problem = f"its .grad has dtype {grad.dtype}"
        else:
            for name, value in state.items():
                if isinstance(value, Tensor) and value.shape != p.shape:
                    problem = (f"its optimizer state {name!r} has shape {value.shape} (was the "
                               "parameter's .data replaced by an array of another shape?)")
                    break
        if problem is None:
            return
        kind = ShapeError if "shape" in problem else DTypeError
        raise kind(f"{where}: {self._describe(index, p)}: {problem}; expected a Tensor of shape "
                   f"{p.shape} and dtype {p.dtype} (or None to skip it). Nothing was changed.")

    def _describe(self, index: int, p: Tensor) -> str:
        """'parameter 1 ('layer.bias', shape (3,), float32)' for messages."""
        name = None
        if self._module is not None:
            name = next((n for n, q in self._module.named_parameters() if q is p), None)
        name = name or p.name
        return (f"parameter {index}" + (f" ({name!r})" if name else "")
                + f" of shape {p.shape} and dtype {p.dtype}")

    def _step_in_place(self, plan: list) -> None:
        # The rule runs on raw arrays: a Tensor op costs microseconds of wrapping, which over
        # every parameter of every step is a visible share of a small model's step. All new
        # values are computed before any is written, so that an error changes nothing.
        updates = []
        with no_grad():
            for group, lr, todo in plan:
                for _, _, p, state in todo:
                    raw = {name: value.data if isinstance(value, Tensor) else value
                           for name, value in state.items()}
                    updates.append((p, state, raw, self._rule(p.data, p.grad.data, raw, lr,
                                                              group)))
            for p, state, raw, delta in updates:
                for name, value in raw.items():
                    if isinstance(state[name], Tensor):
                        state[name].data = value  # the optimizer's own Tensors: nobody else
                    else:                         # holds them
                        state[name] = value
                p -= delta

    def _fast_replay(self):
        """For ``ag.compile``: a function doing what ``step()`` does now, with the same floats,
        minus the per-call checks, or None when there is none for this optimizer. It checks on
        every call that the settings it was made for still hold (and every gradient is a Tensor
        of its parameter's shape and dtype), and calls ``step()`` otherwise."""
        return None

    def _step_in_graph(self, plan: list) -> None:
        updates = []
        with enable_grad():
            for group, lr, todo in plan:
                for _, j, p, state in todo:
                    p_lr = lr.astype(p.dtype) if isinstance(lr, Tensor) and lr.dtype != p.dtype \
                        else lr  # a float64 lr must not turn float32 parameters into float64
                    new_state = dict(state)
                    new = p - self._rule(p, p.grad, new_state, p_lr, group)
                    new.name = p.name
                    updates.append((group, j, p, state, new_state, new))
        moved = {}
        for group, j, p, state, new_state, new in updates:
            new.retain_grad()
            state.update(new_state)
            moved[id(p)] = group["params"][j] = new
        if self._module is not None and moved:
            for module, name, old in list(self._module._parameter_slots()):
                if id(old) in moved:
                    module._rebind_parameter(name, moved[id(old)])

    def _rule(self, p, g, state: dict, lr, h: Mapping):
        """What to subtract from ``p``, given its gradient ``g``: arrays, or Tensors in
        differentiable mode; ``h`` is the parameter's group (its hyperparameters by name).
        Stores the new state values in ``state`` (never changing the old ones in place)."""
        raise NotImplementedError

    # ---- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """A flat dict of str -> numpy array (a copy) or Python number/str, e.g.
        ``{'type': 'SGD', 'num_params': 2, 'step_count': 10, 'hyper.lr': 0.1,
        'hyper.momentum': 0.9, ..., 'state.0.momentum': array(...), ...}``.

        A schedule's numbers are stored as ``schedule.<name>``; a Tensor lr as its value. With
        more than one parameter group there are also ``num_groups`` and
        ``group.<g>.num_params``, and group ``g`` > 0 has its values under ``group.<g>.hyper.``
        and ``group.<g>.schedule.``.
        """
        state = {"type": type(self).__name__, "num_params": len(self.params)}
        if len(self.param_groups) > 1:
            state["num_groups"] = len(self.param_groups)
            state.update((f"group.{g}.num_params", len(group["params"]))
                         for g, group in enumerate(self.param_groups))
        state["step_count"] = self.step_count
        for g, group in enumerate(self.param_groups):
            prefix, lr = _group_prefix(g), group["lr"]
            if isinstance(lr, Schedule):
                state.update((f"{prefix}schedule.{name}", value)
                             for name, value in lr.state_dict().items())
            elif isinstance(lr, Tensor):
                state[f"{prefix}hyper.lr"] = float(lr.item())
            elif not callable(lr):
                state[f"{prefix}hyper.lr"] = lr
            state.update((f"{prefix}hyper.{name}", group[name])
                         for name in self.defaults if name != "lr")
        for i, buffers in enumerate(self.state):
            for name, value in buffers.items():
                key = f"state.{i}.{name}"
                state[key] = value.data.copy() if isinstance(value, Tensor) else value
        return state

    def load_state_dict(self, state: Mapping) -> None:
        """Take the step count, hyperparameters, schedule numbers and state from ``state`` (as
        made by ``state_dict()``, possibly saved and loaded again).

        Everything is checked first: missing or unexpected keys, the optimizer type, the number
        of parameters (and of groups, and of parameters in each), the shape and dtype of each
        state array, the type and range of each number. Any problem raises a StateDictError
        listing all of them, and the optimizer is left as it was.
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
        # A foreign state (another optimizer, another parameter or group count) is reported
        # first: it explains the key mismatches listed after it.
        identity = [key for key in own if key in ("type", "num_params")
                    or (key.startswith("group.") and key.endswith(".num_params"))]
        problems = [f"{key}: {values[key]!r} in the state dict, {own[key]!r} in this optimizer"
                    for key in identity if key in values and values[key] != own[key]]
        groups = state.get("num_groups", 1)
        if groups != own.get("num_groups", 1):
            problems.append(f"num_groups: {groups!r} in the state dict, "
                            f"{len(self.param_groups)} in this optimizer")
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
        for g, group in enumerate(self.param_groups):
            prefix = _group_prefix(g)
            hyper = {name: values.get(f"{prefix}hyper.{name}", group[name])
                     for name in self.defaults if name != "lr"}
            problems.extend(message for _, message in self._hyper_problems(hyper,
                                                                           f"{prefix}hyper."))
            if f"{prefix}hyper.lr" in values:
                problem = _hyper_problem(f"{prefix}hyper.lr", values[f"{prefix}hyper.lr"], *_ANY)
                if problem:
                    problems.append(problem[1])
            lr = group["lr"]
            if isinstance(lr, Schedule):
                fields = {name: values[f"{prefix}schedule.{name}"] for name in lr._fields
                          if f"{prefix}schedule.{name}" in values}
                try:
                    type(lr)(**{**lr.state_dict(), **fields})
                except (TypeError, ValueError) as error:
                    problems.append(f"{prefix}schedule: {error}")
        return problems

    def _take(self, values: dict) -> None:
        """Write checked values into the optimizer."""
        self.step_count = values["step_count"]
        for g, group in enumerate(self.param_groups):
            prefix = _group_prefix(g)
            for name in self.defaults:
                if name != "lr":
                    group[name] = values[f"{prefix}hyper.{name}"]
            lr = group["lr"]
            if f"{prefix}hyper.lr" in values:
                if isinstance(lr, Tensor):
                    with no_grad():
                        lr[...] = values[f"{prefix}hyper.lr"]
                else:
                    group["lr"] = values[f"{prefix}hyper.lr"]
            if isinstance(lr, Schedule):
                lr.load_state_dict({name: values[f"{prefix}schedule.{name}"]
                                    for name in lr._fields})
        for i, buffers in enumerate(self.state):
            for name, mine in buffers.items():
                value = values[f"state.{i}.{name}"]
                buffers[name] = Tensor(value) if isinstance(mine, Tensor) else value

    def __repr__(self) -> str:
        lr = self.lr if callable(self.lr) else self.current_lr
        hyper = ", ".join(f"{name}={value!r}" for name, value in self.hyper.items())
        groups = f", {len(self.param_groups)} groups" if len(self.param_groups) > 1 else ""
        return (f"{type(self).__name__}({len(self.params)} parameters{groups}, lr={lr!r}, "
                f"{hyper})")


Optimizer.step.fast_replay = lambda optimizer: optimizer._fast_replay()  # (see ag.compile)


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
        super().__init__(params, lr, {"momentum": momentum, "nesterov": nesterov,
                                      "weight_decay": weight_decay}, differentiable)

    def _hyper_problems(self, hyper: dict, prefix: str = "") -> list:
        problems = super()._hyper_problems(hyper, prefix)
        if not isinstance(hyper["nesterov"], bool):
            return problems + [(TypeError, f"{prefix}nesterov must be True or False, got "
                                           f"{hyper['nesterov']!r}")]
        if hyper["nesterov"] and not (_is_number(hyper["momentum"]) and hyper["momentum"] > 0):
            problems.append((ValueError, f"{prefix}nesterov=True needs a {prefix}momentum > 0"))
        return problems

    def _fast_replay(self):
        # Plain SGD with float learning rates: p -= lr * g, as _step_in_place computes it, one
        # parameter at a time (so at most one product is held). Measured in the compiled step
        # against two alternatives: a scratch buffer reused block by block (256 KiB blocks) cost
        # 30-40 us more per step at batch 32, the numpy calls per block costing more than the
        # cache misses they save; one scratch the size of the largest parameter, no faster, is
        # memory held between steps.
        if self.differentiable or type(self) is not SGD:
            return None
        groups = [(group, group["lr"], tuple(group[name] for name in self._ranges))
                  for group in self.param_groups]
        if any(type(lr) is not float or any(values) for _, lr, values in groups):
            return None
        # The learning rate as a numpy scalar of the parameter's dtype: the same product as
        # the Python float gives (numpy casts a Python float to the array's dtype), and the
        # multiply measured 15-30 us faster per step on the MLP's 784x256 float32 weight.
        pairs = [(p, p.data.dtype.type(lr)) for group, lr, _ in groups
                 for p in group["params"]]
        names = tuple(self._ranges)
        slow = SGD.step.__wrapped__
        multiply, subtract = np.multiply, np.subtract

        def replay():
            for group, lr, values in groups:
                if group["lr"] is not lr or tuple(group[n] for n in names) != values:
                    return slow(self)
            todo = []
            for p, typed_lr in pairs:
                grad = p._grad
                if grad is None:
                    continue
                data = p.data
                if type(grad) is not Tensor or grad.data.shape != data.shape or \
                        grad.data.dtype != data.dtype or not data.flags.writeable or \
                        type(typed_lr) is not data.dtype.type:
                    return slow(self)
                todo.append((data, grad.data, typed_lr))
            for data, grad, lr in todo:
                subtract(data, multiply(lr, grad), out=data, casting="same_kind")
                bump_version(data)
            self.step_count += 1

        return replay

    def _rule(self, p, g, state, lr, h):
        momentum, weight_decay = h["momentum"], h["weight_decay"]
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            buf = state["momentum"] = momentum * state["momentum"] + g
            g = g + momentum * buf if h["nesterov"] else buf
        return lr * g


def _betas(betas, where: str) -> tuple:
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
        raise TypeError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
    return tuple(betas)


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
        beta1, beta2 = _betas(betas, type(self).__name__)
        super().__init__(params, lr, {"beta1": beta1, "beta2": beta2, "eps": eps,
                                      "weight_decay": weight_decay}, differentiable)

    @property
    def betas(self) -> tuple:
        """The first group's (beta1, beta2)."""
        return self.param_groups[0]["beta1"], self.param_groups[0]["beta2"]

    def _spellings(self) -> set:
        return (super()._spellings() - {"beta1", "beta2"}) | {"betas"}

    def _spelled(self, options: dict, where: str) -> dict:
        if "betas" in options:
            options = dict(options)
            options["beta1"], options["beta2"] = _betas(options.pop("betas"), where)
        elif {"beta1", "beta2"} & set(options):
            raise TypeError(f"{where}: give a group's betas as 'betas': (beta1, beta2)")
        return options

    def _initial_state(self, p):
        state = super()._initial_state(p)
        state["step"] = 0  # per parameter: one skipped while its grad was None is not counted
        return state

    def _rule(self, p, g, state, lr, h):
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

    The default ``rho=0.9`` is the seed tutorials' (and Keras's); PyTorch's ``alpha`` defaults
    to 0.99: pass ``rho=0.99`` to match it.

    >>> opt = RMSProp(model.parameters(), lr=1e-2, rho=0.9)
    """

    _state_names = ("v", "momentum")
    _ranges = {"rho": _FRACTION, "eps": _ANY, "momentum": _ANY, "weight_decay": _ANY}

    def __init__(self, params, lr=1e-2, rho: float = 0.9, eps: float = 1e-8,
                 momentum: float = 0.0, weight_decay: float = 0.0,
                 differentiable: bool = False):
        super().__init__(params, lr, {"rho": rho, "eps": eps, "momentum": momentum,
                                      "weight_decay": weight_decay}, differentiable)

    def _rule(self, p, g, state, lr, h):
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

    def _rule(self, p, g, state, lr, h):
        if h["weight_decay"]:
            g = g + h["weight_decay"] * p
        sum_sq = state["sum_sq"] = state["sum_sq"] + g * g
        return lr * g / (ag.sqrt(sum_sq) + h["eps"])


# ---- gradient clipping --------------------------------------------------------------------------

# Parameters stepped by an nn.distributed.ShardedOptimizer: id -> (weak reference to the
# parameter, weak reference to that optimizer); weak, so that neither outlives its owner and a
# reused id is told apart. After dp.finish() their summed gradient exists only as shards spread
# over the ranks and their .grad is None, so clipping them here would silently clip nothing.
_sharded: dict = {}


def _sharded_away(p) -> bool:
    """Whether ``p``'s gradient is held in shards by a ShardedOptimizer just now."""
    entry = _sharded.get(id(p))
    if entry is None or entry[0]() is not p:
        return False
    owner = entry[1]()
    return owner is not None and owner._reduced


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
            if not isinstance(p.grad, Tensor) or p.grad.shape != p.shape:
                got = (f"shape {p.grad.shape}" if isinstance(p.grad, Tensor)
                       else f"a {type(p.grad).__name__}")
                raise TypeError(f"{where}: params[{i}] (shape {p.shape}) has a .grad that is "
                                f"{got}; expected a Tensor of shape {p.shape}. Nothing was "
                                "changed.")
            grads.append(p.grad)
        elif _sharded and _sharded_away(p):
            raise RuntimeError(f"{where}: params[{i}] (shape {p.shape}) has no .grad: "
                               "nn.distributed.ShardedOptimizer keeps its summed gradient in "
                               "shards across the ranks after dp.finish(); clip it with the "
                               "ShardedOptimizer's clip_grad_norm_(max_norm), on every rank. "
                               "Nothing was changed.")
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
    The norm is summed in float64 whatever the gradients' dtype (float16 squares overflow past
    256), so it is finite wherever the true norm is; each gradient keeps its dtype.

    >>> nn.mse_loss(model(x), y).backward()
    >>> total = clip_grad_norm_(model.parameters(), max_norm=1.0)
    """
    max_norm = _limit(max_norm, "clip_grad_norm_", "max_norm")
    grads = _grads_of(params, "clip_grad_norm_")
    with no_grad():
        total = math.sqrt(sum(float(np.square(g.data, dtype=np.float64).sum()) for g in grads))
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
