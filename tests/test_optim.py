"""Optimizers and gradient clipping: update rules against numpy transcriptions of PyTorch's
documented algorithms, state dicts, differentiable mode (hypergradients against central
differences), dtypes and error messages."""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import autograd_core as ag
import nn
from autograd_core.errors import StateDictError
from nn.optim import SGD, Adagrad, Adam, AdamW, RMSProp, clip_grad_norm_, clip_grad_value_

# ---- a small least-squares problem, float64 -----------------------------------------------------


def regression(seed=0, dtype=np.float64):
    """X (8, 3), Y (8, 2) and initial weights w (3, 2), b (2,)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(8, 3)).astype(dtype)
    y = rng.normal(size=(8, 2)).astype(dtype)
    w = rng.normal(size=(3, 2)).astype(dtype)
    b = rng.normal(size=2).astype(dtype)
    return x, y, [w, b]


def loss_of(x, y, params):
    w, b = params
    r = ag.matmul(x, w) + b - y
    return (r * r).mean()


def numpy_grads(x, y, params):
    """d/dw, d/db of mean((x @ w + b - y) ** 2), by hand."""
    w, b = params
    r = x @ w + b - y
    scale = 2.0 / r.size
    return [scale * x.T @ r, scale * r.sum(axis=0)]


def train(opt, x, y, steps, create_graph=False):
    """Run ``steps`` steps; the parameters' values after each (read from opt.params)."""
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss_of(x, y, opt.params).backward(create_graph=create_graph)
        opt.step()
        history.append([p.data.copy() for p in opt.params])
    return history


# ---- numpy transcriptions of PyTorch's documented algorithms -----------------------------------
# Each takes a parameter p, its gradient g, its state s (a dict, empty at first) and the step
# number t (from 1), and returns the new p.

def ref_sgd(p, g, s, t, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        s["b"] = g.copy() if t == 1 else momentum * s["b"] + g  # dampening 0
        g = g + momentum * s["b"] if nesterov else s["b"]
    return p - lr * g


def ref_adam(p, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    beta1, beta2 = betas
    if decoupled:
        p = p - lr * weight_decay * p
    elif weight_decay:
        g = g + weight_decay * p
    s["m"] = beta1 * s.get("m", 0.0) + (1 - beta1) * g
    s["v"] = beta2 * s.get("v", 0.0) + (1 - beta2) * g ** 2
    m_hat = s["m"] / (1 - beta1 ** t)
    v_hat = s["v"] / (1 - beta2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def ref_adamw(p, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    return ref_adam(p, g, s, t, lr, betas, eps, weight_decay, decoupled=True)


def ref_rmsprop(p, g, s, t, lr, rho=0.9, eps=1e-8, momentum=0.0, weight_decay=0.0):
    if weight_decay:
        g = g + weight_decay * p
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g ** 2
    step = g / (np.sqrt(s["v"]) + eps)
    if momentum:
        s["b"] = momentum * s.get("b", 0.0) + step
        step = s["b"]
    return p - lr * step


def ref_adagrad(p, g, s, t, lr, eps=1e-10, weight_decay=0.0):
    if weight_decay:
        g = g + weight_decay * p
    s["sum"] = s.get("sum", 0.0) + g ** 2
    return p - lr * g / (np.sqrt(s["sum"]) + eps)


def reference_run(reference, x, y, start, steps, **hyper):
    params = [p.copy() for p in start]
    states = [{} for _ in params]
    history = []
    for t in range(1, steps + 1):
        grads = numpy_grads(x, y, params)
        params = [reference(p, g, s, t, **hyper) for p, g, s in zip(params, grads, states)]
        history.append(params)
    return history


def assert_same_runs(ours, reference):
    for step, (got, want) in enumerate(zip(ours, reference)):
        for p_got, p_want in zip(got, want):
            np.testing.assert_allclose(p_got, p_want, rtol=1e-6, atol=1e-9,
                                       err_msg=f"after step {step + 1}")


lrs = st.floats(1e-4, 0.1)
fractions = st.floats(0.0, 0.95)
decays = st.one_of(st.just(0.0), st.floats(1e-4, 0.1))
epsilons = st.sampled_from([1e-10, 1e-8, 1e-3])

CASES = {
    "SGD": (SGD, ref_sgd, st.fixed_dictionaries(
        {"lr": lrs, "momentum": st.one_of(st.just(0.0), fractions), "nesterov": st.booleans(),
         "weight_decay": decays})),
    "Adam": (Adam, ref_adam, st.fixed_dictionaries(
        {"lr": lrs, "betas": st.tuples(fractions, st.floats(0.5, 0.999)), "eps": epsilons,
         "weight_decay": decays})),
    "AdamW": (AdamW, ref_adamw, st.fixed_dictionaries(
        {"lr": lrs, "betas": st.tuples(fractions, st.floats(0.5, 0.999)), "eps": epsilons,
         "weight_decay": decays})),
    "RMSProp": (RMSProp, ref_rmsprop, st.fixed_dictionaries(
        {"lr": st.floats(1e-4, 0.02), "rho": fractions, "eps": epsilons,
         "momentum": st.one_of(st.just(0.0), st.floats(0.0, 0.9)), "weight_decay": decays})),
    "Adagrad": (Adagrad, ref_adagrad, st.fixed_dictionaries(
        {"lr": st.floats(1e-3, 0.5), "eps": epsilons, "weight_decay": decays})),
}


@pytest.mark.parametrize("name", list(CASES))
@given(data=st.data())
def test_first_20_steps_match_the_published_update_rule(name, data):
    make, reference, hypers = CASES[name]
    hyper = data.draw(hypers, label="hyperparameters")
    assume(not hyper.get("nesterov") or hyper["momentum"] > 0)
    seed = data.draw(st.integers(0, 2**16), label="seed")
    x, y, start = regression(seed)
    opt = make([ag.Tensor(p, requires_grad=True) for p in start], **hyper)
    assert_same_runs(train(opt, x, y, 20), reference_run(reference, x, y, start, 20, **hyper))


DIFFERENTIABLE_CASES = [
    (SGD, ref_sgd, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (Adam, ref_adam, {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.01}),
    (AdamW, ref_adamw, {"lr": 0.05, "weight_decay": 0.1}),
    (RMSProp, ref_rmsprop, {"lr": 0.01, "momentum": 0.5, "weight_decay": 0.01}),
    (Adagrad, ref_adagrad, {"lr": 0.1, "weight_decay": 0.01}),
]


@pytest.mark.parametrize("make, reference, hyper", DIFFERENTIABLE_CASES,
                         ids=lambda case: getattr(case, "__name__", ""))
def test_the_differentiable_step_computes_the_same_values(make, reference, hyper):
    x, y, start = regression(1)
    opt = make([ag.Tensor(p, requires_grad=True) for p in start], differentiable=True, **hyper)
    assert_same_runs(train(opt, x, y, 8, create_graph=True),
                     reference_run(reference, x, y, start, 8, **hyper))


# ---- differentiable mode: hypergradients against central differences ---------------------------

def tiny_net(seed=0):
    return nn.Sequential(nn.Dense(3, 4, rng=seed, dtype=np.float64), nn.Tanh(),
                         nn.Dense(4, 2, rng=seed + 1, dtype=np.float64))


def net_loss(model, x, y):
    return nn.mse_loss(model(ag.Tensor(x)), y)


def unrolled_loss(make, hyper, lr, starts, x, y, steps):
    """The loss after ``steps`` ordinary (in-place) steps from the weights ``starts``."""
    model = tiny_net()
    model.load_state_dict(starts)
    opt = make(model, lr=lr, **hyper)
    for _ in range(steps):
        opt.zero_grad()
        net_loss(model, x, y).backward()
        opt.step()
    with ag.no_grad():
        return net_loss(model, x, y).item()


def central_differences(f, value, h=1e-6):
    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        up, down = value.copy(), value.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (f(up) - f(down)) / (2 * h)
    return grad


@pytest.mark.parametrize("make, hyper", [
    (SGD, {"momentum": 0.9}),
    (SGD, {"momentum": 0.5, "nesterov": True, "weight_decay": 0.1}),
    (Adam, {"betas": (0.8, 0.9)}),
], ids=["SGD-momentum", "SGD-nesterov", "Adam"])
def test_hypergradients_match_central_differences(make, hyper):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    lr0, steps = 0.1, 3
    model = tiny_net()
    starts = model.state_dict()
    initial = dict(model.named_parameters())
    lr = ag.Tensor(lr0, dtype=np.float64, requires_grad=True)
    opt = make(model, lr=lr, differentiable=True, **hyper)
    for _ in range(steps):
        opt.zero_grad()
        net_loss(model, x, y).backward(create_graph=True)
        opt.step()
    names = list(initial)
    final = net_loss(model, x, y)
    grads = ag.grad(final, [lr] + [initial[name] for name in names])

    np.testing.assert_allclose(final.item(), unrolled_loss(make, hyper, lr0, starts, x, y, steps),
                               rtol=1e-12)
    d_lr = central_differences(
        lambda v: unrolled_loss(make, hyper, float(v), starts, x, y, steps), np.array(lr0))
    np.testing.assert_allclose(grads[0].data, d_lr, rtol=1e-5, atol=1e-8)
    for name, grad in zip(names, grads[1:]):
        def f(value, name=name):
            return unrolled_loss(make, hyper, lr0, {**starts, name: value}, x, y, steps)
        np.testing.assert_allclose(grad.data, central_differences(f, starts[name]),
                                   rtol=1e-5, atol=1e-8, err_msg=name)


def test_differentiable_steps_rebind_every_module_slot_and_keep_the_originals_as_leaves():
    first, second = nn.Dense(2, 2, rng=0, dtype=np.float64), nn.Dense(2, 2, rng=1,
                                                                       dtype=np.float64)
    second.weight = first.weight  # tied: one Parameter in two slots
    model = nn.Sequential(first, nn.Tanh(), second)
    original = first.weight
    opt = SGD(model, lr=0.1, differentiable=True)
    x = ag.Tensor(np.ones((3, 2)))
    model(x).sum().backward(create_graph=True)
    opt.step()
    assert first.weight is second.weight is model._modules["0"]._parameters["weight"]
    assert first.weight is not original and not first.weight.is_leaf
    assert original.is_leaf and original.requires_grad
    assert list(model.parameters()) == opt.params
    assert first.weight.name == original.name
    np.testing.assert_allclose(first.weight.data, original.data - 0.1 * original.grad.data)
    opt.zero_grad()
    model(x).sum().backward(create_graph=True)
    assert first.weight.grad is not None  # retained on the non-leaf for the next step
    opt.step()
    (d_w0,) = ag.grad(model(x).sum(), [original])
    assert d_w0.shape == original.shape and np.all(np.isfinite(d_w0.data))


def test_differentiable_mode_with_plain_tensors_updates_opt_params():
    w = ag.Tensor([1.0, -2.0], dtype=np.float64, requires_grad=True)
    lr = ag.Tensor(0.25, dtype=np.float64, requires_grad=True)
    opt = SGD([w], lr=lr, differentiable=True)
    (opt.params[0] ** 2).sum().backward(create_graph=True)
    opt.step()
    assert opt.params[0] is not w and opt.params[0].requires_grad
    np.testing.assert_allclose(opt.params[0].data, [0.5, -1.0])  # w - lr * 2w
    d_lr, d_w = ag.grad((opt.params[0] ** 2).sum(), [lr, w])
    # loss = sum((1 - 2 lr)^2 w^2): d/dlr = -4 (1 - 2 lr) sum(w^2), d/dw = 2 (1 - 2 lr)^2 w
    np.testing.assert_allclose(d_lr.data, -4 * 0.5 * 5.0)
    np.testing.assert_allclose(d_w.data, 2 * 0.25 * np.array([1.0, -2.0]))


# ---- dtypes -------------------------------------------------------------------------------------

ALL = [SGD, Adam, AdamW, RMSProp, Adagrad]
# numpy float64 hyperparameters too: they must not promote float32 updates to float64
BUSY = {SGD: {"momentum": np.float64(0.9), "nesterov": True, "weight_decay": np.float64(0.1)},
        Adam: {"betas": (np.float64(0.9), np.float64(0.99)), "weight_decay": np.float64(0.1)},
        AdamW: {"eps": np.float64(1e-8)}, RMSProp: {"momentum": 0.9, "weight_decay": 0.1},
        Adagrad: {"weight_decay": np.float64(0.1)}}


@pytest.mark.parametrize("make", ALL, ids=lambda make: make.__name__)
@pytest.mark.parametrize("lr", ["number", "schedule", "tensor64"])
@pytest.mark.parametrize("differentiable", [False, True], ids=["in-place", "differentiable"])
def test_float32_parameters_and_state_stay_float32(make, lr, differentiable):
    x, y, start = regression(2, dtype=np.float32)
    params = [ag.Tensor(p, requires_grad=True) for p in start]
    hyper = dict(BUSY[make])
    hyper["lr"] = {"number": np.float64(0.01), "schedule": nn.ExponentialDecay(0.01, 0.9),
                   "tensor64": ag.Tensor(0.01, dtype=np.float64)}[lr]
    opt = make(params, differentiable=differentiable, **hyper)
    train(opt, x, y, 3, create_graph=differentiable)
    for p, state in zip(opt.params, opt.state):
        assert p.dtype == np.float32  # (in differentiable mode p is new and has no grad yet)
        assert p.grad is None if differentiable else p.grad.dtype == np.float32
        for value in state.values():
            assert not isinstance(value, ag.Tensor) or value.dtype == np.float32
    assert all(value.dtype == np.float32 for value in opt.state_dict().values()
               if isinstance(value, np.ndarray))


def test_a_float64_lr_tensor_keeps_float32_parameters_float32_in_differentiable_mode():
    x, y, start = regression(3, dtype=np.float32)
    lr = ag.Tensor(0.01, dtype=np.float64, requires_grad=True)
    opt = Adam([ag.Tensor(p, requires_grad=True) for p in start], lr=lr, differentiable=True)
    train(opt, x, y, 2, create_graph=True)
    assert [p.dtype for p in opt.params] == [np.float32, np.float32]
    (d_lr,) = ag.grad(loss_of(x, y, opt.params), [lr])
    assert np.isfinite(d_lr.item())


# ---- stepping details ---------------------------------------------------------------------------

def test_parameters_without_a_gradient_are_skipped_and_keep_their_adam_step_count():
    used = ag.Tensor([1.0, 2.0], requires_grad=True)
    unused = ag.Tensor([3.0], requires_grad=True)
    opt = Adam([used, unused], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (used * used).sum().backward()
        opt.step()
    assert unused.data.tolist() == [3.0] and unused.grad is None
    assert opt.state[1]["step"] == 0 and opt.state[0]["step"] == 3 and opt.step_count == 3
    np.testing.assert_array_equal(opt.state[1]["m"].data, [0.0])


def test_zero_grad_forgets_gradients_and_a_module_is_accepted_as_params():
    model = tiny_net()
    opt = SGD(model, lr=0.1)
    assert opt.params == list(model.parameters())
    net_loss(model, np.ones((2, 3)), np.zeros((2, 2))).backward()
    assert all(p.grad is not None for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_the_learning_rate_can_be_changed_between_steps():
    w = ag.Tensor([1.0], dtype=np.float64, requires_grad=True)
    opt = SGD([w], lr=0.1)
    w.grad = ag.Tensor([1.0], dtype=np.float64)
    opt.step()
    opt.lr = 0.5
    opt.step()
    np.testing.assert_allclose(w.data, [1.0 - 0.1 - 0.5])
    assert opt.current_lr == 0.5 and "lr=0.5" in repr(opt)
    with pytest.raises(ValueError, match="SGD: lr must be a finite number >= 0, got -1"):
        opt.lr = -1


def test_training_with_each_optimizer_lowers_the_loss():
    x, y, start = regression(4, dtype=np.float32)
    for make in ALL:
        opt = make([ag.Tensor(p, requires_grad=True) for p in start], lr=0.05)
        before = loss_of(x, y, opt.params).item()
        train(opt, x, y, 30)
        assert loss_of(x, y, opt.params).item() < 0.8 * before, make.__name__


# ---- state dicts --------------------------------------------------------------------------------

def test_the_state_dict_is_flat_with_plain_values():
    w = ag.Tensor(np.ones((2, 3)), requires_grad=True)
    b = ag.Tensor(np.zeros(3), requires_grad=True)
    state = SGD([w, b], lr=0.1, momentum=0.9).state_dict()
    assert list(state) == ["type", "num_params", "step_count", "hyper.lr", "hyper.momentum",
                           "hyper.nesterov", "hyper.weight_decay", "state.0.momentum",
                           "state.1.momentum"]
    assert state["type"] == "SGD" and state["num_params"] == 2 and state["step_count"] == 0
    assert type(state["hyper.lr"]) is float and state["hyper.nesterov"] is False
    assert state["state.0.momentum"].shape == (2, 3)
    assert type(state["state.1.momentum"]) is np.ndarray
    adam = Adam([w], lr=nn.StepDecay(0.1, step_size=5)).state_dict()
    assert adam["schedule.lr"] == 0.1 and adam["schedule.step_size"] == 5
    assert "hyper.lr" not in adam and adam["state.0.step"] == 0
    assert {"hyper.beta1", "hyper.beta2", "state.0.m", "state.0.v"} <= set(adam)


RESUME_CASES = [
    (SGD, {"lr": nn.InverseTimeDecay(0.1, decay=0.05), "momentum": 0.9, "nesterov": True}),
    (Adam, {"lr": nn.StepDecay(0.05, step_size=3, gamma=0.5), "weight_decay": 0.01}),
    (AdamW, {"lr": 0.05}),
    (RMSProp, {"lr": 0.01, "momentum": 0.5}),
    (Adagrad, {"lr": nn.CosineDecay(0.2, total_steps=8)}),
]


@pytest.mark.parametrize("make, hyper", RESUME_CASES, ids=lambda case: getattr(case, "__name__",
                                                                               ""))
@pytest.mark.parametrize("through", ["dict", "nn.save", "npz"])
def test_training_resumes_exactly_after_a_state_dict_round_trip(make, hyper, through, tmp_path):
    x, y, start = regression(6)
    steps, first = 10, 4
    straight = make([ag.Tensor(p, requires_grad=True) for p in start], **hyper)
    expected = train(straight, x, y, steps)[-1]

    opt = make([ag.Tensor(p, requires_grad=True) for p in start], **hyper)
    train(opt, x, y, first)
    state = opt.state_dict()
    if through == "nn.save":
        state = nn.load(nn.save(opt, tmp_path / "opt.nn"))
    elif through == "npz":  # numbers come back as 0-d arrays
        np.savez(tmp_path / "opt.npz", **state)
        with np.load(tmp_path / "opt.npz") as file:
            state = dict(file)
    fresh_hyper = {**hyper, "lr": 0.5} if isinstance(hyper["lr"], float) else hyper
    fresh = make([ag.Tensor(p.data.copy(), requires_grad=True) for p in opt.params],
                 **fresh_hyper)
    fresh.load_state_dict(state)
    assert fresh.step_count == first and fresh.current_lr == opt.current_lr
    resumed = train(fresh, x, y, steps - first)[-1]
    for got, want in zip(resumed, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_loading_restores_hyperparameters_and_schedule_numbers():
    w = ag.Tensor([1.0], requires_grad=True)
    source = Adam([w], lr=nn.InverseTimeDecay(0.3, decay=0.5), betas=(0.5, 0.6), eps=1e-4)
    source.step_count = 2
    target = Adam([ag.Tensor([0.0], requires_grad=True)], lr=nn.InverseTimeDecay(1.0, decay=0.0))
    target.load_state_dict(source.state_dict())
    assert target.betas == (0.5, 0.6) and target.hyper["eps"] == 1e-4
    assert (target.lr.lr, target.lr.decay) == (0.3, 0.5)
    assert target.current_lr == pytest.approx(0.3 / 2)
    lr = ag.Tensor(0.0, dtype=np.float64, requires_grad=True)
    with_tensor = SGD([ag.Tensor([0.0], requires_grad=True)], lr=lr)
    with_tensor.load_state_dict(SGD([ag.Tensor([0.0], requires_grad=True)], lr=0.25)
                                .state_dict())
    assert with_tensor.lr is lr and lr.item() == 0.25


def test_a_state_dict_that_does_not_fit_is_refused_whole():
    w = ag.Tensor(np.ones((2, 3)), requires_grad=True)
    b = ag.Tensor(np.zeros(3), requires_grad=True)
    opt = Adam([w, b], lr=0.1)
    w.grad, b.grad = ag.Tensor(np.ones((2, 3))), ag.Tensor(np.ones(3))  # float64, as w and b
    opt.step()
    before = opt.state_dict()

    wrong = dict(before)
    wrong["state.0.m"] = np.zeros((3, 2))
    wrong["hyper.beta1"] = 1.5
    wrong["step_count"] = -1
    wrong["state.1.step"] = "three"
    wrong["extra"] = 1
    del wrong["state.1.v"]
    with pytest.raises(StateDictError) as error:
        opt.load_state_dict(wrong)
    message = str(error.value)
    for part in ["Adam.load_state_dict", "missing keys: ['state.1.v']",
                 "unexpected keys: ['extra']",
                 "state.0.m: shape (3, 2) in the state dict, (2, 3) expected",
                 "hyper.beta1 must be in [0, 1), got 1.5",
                 "step_count: expected an int >= 0, got int -1",
                 "state.1.step: expected an int >= 0, got str 'three'",
                 "The optimizer was not changed"]:
        assert part in message
    after = opt.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value)


def test_a_state_dict_for_other_parameters_or_another_optimizer_is_refused():
    params = [ag.Tensor(np.ones(2), requires_grad=True) for _ in range(3)]
    three = SGD(params, lr=0.1, momentum=0.9).state_dict()
    with pytest.raises(StateDictError, match=r"num_params: 3 in the state dict, 2 in this "
                                             r"optimizer.*unexpected keys: \['state.2.momentum'"):
        SGD(params[:2], lr=0.1, momentum=0.9).load_state_dict(three)
    with pytest.raises(StateDictError, match="type: 'SGD' in the state dict, 'Adam' in this"):
        Adam(params, lr=0.1).load_state_dict({**Adam(params).state_dict(), "type": "SGD"})
    with pytest.raises(StateDictError, match=r"missing keys: \['hyper.lr'\].*unexpected keys: "
                                             r"\['schedule.lr', 'schedule.decay'\]"):
        SGD(params, lr=0.1).load_state_dict(
            SGD(params, lr=nn.InverseTimeDecay(0.1, 0.1)).state_dict())
    with pytest.raises(StateDictError, match="schedule: InverseTimeDecay: decay must be"):
        scheduled = SGD(params, lr=nn.InverseTimeDecay(0.1, 0.1))
        scheduled.load_state_dict({**scheduled.state_dict(), "schedule.decay": -1.0})
    with pytest.raises(StateDictError, match="state.0.momentum: dtype complex128 cannot become"):
        sgd = SGD(params, lr=0.1)
        sgd.load_state_dict({**sgd.state_dict(), "state.0.momentum": np.ones(2) * 1j})
    with pytest.raises(StateDictError, match="hyper.nesterov=True needs a hyper.momentum > 0"):
        sgd = SGD(params, lr=0.1, momentum=0.9, nesterov=True)
        sgd.load_state_dict({**sgd.state_dict(), "hyper.momentum": 0.0})
    with pytest.raises(TypeError, match="expected a dict"):
        SGD(params, lr=0.1).load_state_dict([1, 2])


# ---- constructor errors -------------------------------------------------------------------------

def test_bad_parameter_lists_are_refused_with_clear_messages():
    w = ag.Tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="SGD: got an empty parameter list; expected an "
                                         "iterable of Tensors"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match=r"Adam: params\[1\] appears more than once"):
        Adam([w, w])
    with pytest.raises(ValueError, match=r"RMSProp: params\[0\] \(shape \(2,\)\) does not "
                                         "require grad"):
        RMSProp([ag.Tensor([1.0, 2.0])])
    with pytest.raises(TypeError, match=r"Adagrad: params must be .* got a single Tensor; wrap "
                                        r"it in a list: Adagrad\(\[w\], ...\)"):
        Adagrad(w)
    with pytest.raises(TypeError, match=r"AdamW: params\[0\] is a ndarray, expected a Tensor"):
        AdamW([np.ones(2)])
    with pytest.raises(TypeError, match="SGD: params must be .* got int"):
        SGD(3, lr=0.1)
    with pytest.raises(ValueError, match=r"params\[0\] was computed by Mul, not created as a "
                                         "leaf"):
        SGD([w * 2], lr=0.1)


@pytest.mark.parametrize("make, kwargs, error, message", [
    (SGD, {"lr": -0.1}, ValueError, "SGD: lr must be a finite number >= 0, got -0.1"),
    (SGD, {"lr": float("nan")}, ValueError, "SGD: lr must be a finite number >= 0, got nan"),
    (SGD, {"lr": "0.1"}, TypeError, "SGD: lr must be a number, a schedule"),
    (SGD, {"lr": ag.ones(2)}, TypeError, r"an lr Tensor must hold one floating-point number"),
    (SGD, {"lr": lambda t: None}, TypeError, "must return a number, but gave None for step 0"),
    (SGD, {"lr": 0.1, "momentum": -0.5}, ValueError,
     "SGD: momentum must be a finite number >= 0, got -0.5"),
    (SGD, {"lr": 0.1, "nesterov": True}, ValueError, "SGD: nesterov=True needs a momentum > 0"),
    (SGD, {"lr": 0.1, "nesterov": 1}, TypeError, "SGD: nesterov must be True or False"),
    (Adam, {"betas": (0.9, 1.0)}, ValueError, r"Adam: betas\[1\] must be in \[0, 1\), got 1.0"),
    (AdamW, {"betas": (-0.1, 0.9), "eps": -1.0}, ValueError,
     r"AdamW: betas\[0\] must be in \[0, 1\), got -0.1; eps must be a finite number >= 0"),
    (Adam, {"betas": 0.9}, TypeError, r"Adam: betas must be a pair \(beta1, beta2\), got 0.9"),
    (Adam, {"weight_decay": "no"}, TypeError, "Adam: weight_decay must be a number, got str"),
    (RMSProp, {"rho": 1.2}, ValueError, r"RMSProp: rho must be in \[0, 1\), got 1.2"),
    (Adagrad, {"eps": -1e-10}, ValueError, "Adagrad: eps must be a finite number >= 0"),
])
def test_bad_hyperparameters_are_refused_with_clear_messages(make, kwargs, error, message):
    with pytest.raises(error, match=message):
        make([ag.Tensor([1.0], requires_grad=True)], **kwargs)


# ---- gradient clipping --------------------------------------------------------------------------

def with_grads(*grads):
    params = []
    for grad in grads:
        p = ag.Tensor(np.zeros(np.shape(grad)), requires_grad=True)
        p.grad = None if grad is None else ag.Tensor(np.array(grad, dtype=np.float64))
        params.append(p)
    return params


def test_clip_grad_norm_scales_all_gradients_together_and_returns_the_norm_before():
    a, b, c = with_grads([3.0, 0.0], [[4.0]], None)
    total = clip_grad_norm_([a, b, c], max_norm=1.0)
    assert total == pytest.approx(5.0) and isinstance(total, float)
    np.testing.assert_allclose(a.grad.data, [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(b.grad.data, [[0.8]], rtol=1e-5)
    assert c.grad is None
    a, b = with_grads([3.0, 0.0], [[4.0]])
    assert clip_grad_norm_([a, b], max_norm=10.0) == pytest.approx(5.0)
    np.testing.assert_array_equal(a.grad.data, [3.0, 0.0])  # under the limit: untouched


@given(st.lists(st.floats(-100, 100), min_size=1, max_size=6), st.floats(0.01, 50))
def test_clip_grad_norm_never_leaves_a_norm_above_the_limit(values, max_norm):
    (p,) = with_grads(values)
    total = clip_grad_norm_(p, max_norm)
    assert total == pytest.approx(float(np.linalg.norm(values)), rel=1e-9, abs=1e-12)
    assert np.linalg.norm(p.grad.data) <= max_norm * (1 + 1e-9)
    if total + 1e-6 <= max_norm:  # PyTorch's 1e-6 guard against a zero norm
        np.testing.assert_array_equal(p.grad.data, values)


def test_clip_grad_value_clips_each_element_in_place():
    model = nn.Dense(2, 3, rng=0)
    model(ag.ones(4, 2) * 10).sum().backward()
    grad = model.weight.grad
    clip_grad_value_(model, 0.5)
    assert model.weight.grad is grad and grad.dtype == np.float32
    np.testing.assert_array_equal(grad.data, np.full((2, 3), 0.5, dtype=np.float32))
    np.testing.assert_array_equal(model.bias.grad.data, [0.5, 0.5, 0.5])
    (p,) = with_grads([-2.0, 0.1, 3.0])
    clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad.data, [-1.0, 0.1, 1.0])


def test_clipping_refuses_negative_limits():
    p = with_grads([1.0])
    with pytest.raises(ValueError, match="clip_grad_norm_: max_norm must be a finite number >= "
                                         "0, got -1"):
        clip_grad_norm_(p, -1)
    with pytest.raises(ValueError, match="clip_grad_value_: clip_value must be a finite number"):
        clip_grad_value_(p, -0.5)
    with pytest.raises(TypeError, match=r"clip_grad_norm_: params\[0\] is a str"):
        clip_grad_norm_(["w"], 1.0)
    assert math.isclose(clip_grad_norm_(p, 0.0), 1.0)


@pytest.mark.parametrize("make", [lambda ps: nn.SGD(ps, lr=0.1),
                                  lambda ps: nn.Adam(ps, lr=0.1)])
def test_state_takes_memory_only_when_an_update_uses_it(make):
    import tracemalloc

    p = nn.Parameter(np.ones((512, 512), dtype=np.float32))  # 1 MiB
    tracemalloc.start()
    try:
        optimizer = make([p])
        made = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert made < 64 * 1024, made  # SGD's momentum buffer at momentum 0 is never filled
    state = optimizer.state_dict()  # still whole zeros of the parameter's shape when saved
    for key, value in state.items():
        if key.startswith("state.") and isinstance(value, np.ndarray):
            assert value.shape == p.shape and value.dtype == p.dtype and not value.any()
    p.grad = ag.Tensor(np.full(p.shape, 2.0, dtype=np.float32))
    optimizer.step()
    buffers = optimizer.state[0]
    if isinstance(optimizer, nn.Adam):  # the first update wrote real arrays: (1 - beta) * g...
        np.testing.assert_allclose(buffers["m"].data, np.full(p.shape, 0.1 * 2.0), rtol=1e-6)
        np.testing.assert_allclose(buffers["v"].data, np.full(p.shape, 0.001 * 4.0), rtol=1e-6)
    else:  # ...and momentum 0 never uses its buffer
        assert buffers["momentum"].data.nbytes == p.data.nbytes
        assert not buffers["momentum"].data.flags.writeable and not buffers["momentum"].data.any()
