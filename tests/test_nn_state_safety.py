"""Issue 10 (state left half-changed, hooks, PyTorch habits): forward hooks' return values, an
optimizer step that refuses bad input before changing anything, parameter slots that refuse a
plain Tensor, parameter groups, Sequential append/slicing, summary counts, nn.load dtypes,
float16 clipping, layers keeping their dtype, draw_network naming what it cannot draw."""

import math
import warnings

import numpy as np
import pytest

import autograd_core as ag
import nn
from autograd_core import no_grad
from autograd_core.errors import DTypeError, ShapeError, StateDictError

# ---- item 10: forward hooks ----------------------------------------------------------------------


def test_a_forward_hook_return_value_replaces_the_output():
    layer = nn.Dense(2, 3, rng=0)
    x = np.array([[1.0, 2.0]], dtype=np.float32)
    plain = x @ layer.weight.data + layer.bias.data
    layer.register_forward_hook(lambda m, args, out: out * 2.0)
    seen = []
    layer.register_forward_hook(lambda m, args, out: seen.append(out.data.copy()))  # None: kept
    out = layer(ag.Tensor(x))
    np.testing.assert_allclose(out.data, 2.0 * plain, rtol=1e-6)
    np.testing.assert_allclose(seen[0], 2.0 * plain, rtol=1e-6)  # the next hook sees it too


def test_a_forward_pre_hook_return_value_replaces_the_inputs():
    layer = nn.Dense(2, 1, rng=0)
    w, b = layer.weight.data, layer.bias.data
    handle = layer.register_forward_pre_hook(lambda m, args: (args[0] * 3.0,))
    out = layer(ag.Tensor([[1.0, 1.0]], dtype="float32"))
    np.testing.assert_allclose(out.data, [[3.0 * w.sum() + b[0]]], rtol=1e-6)
    handle.remove()
    # a value that is not a tuple becomes the only input, as in PyTorch
    layer.register_forward_pre_hook(lambda m, args: ag.zeros(1, 2))
    np.testing.assert_allclose(layer(ag.ones(1, 2)).data, [[b[0]]])


def test_summary_and_record_modules_hooks_do_not_change_outputs():
    model = nn.Sequential(nn.Dense(2, 3, rng=0), nn.Tanh(), nn.Dense(3, 1, rng=1))
    x = ag.Tensor(np.ones((4, 2), dtype=np.float32))
    expected = model(x).data.copy()
    with nn.record_modules(model):
        np.testing.assert_array_equal(model(x).data, expected)


# ---- item 11: a failing step changes nothing -----------------------------------------------------

OPTIMIZERS = [
    lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: nn.Adam(ps, lr=0.1, weight_decay=0.01),
    lambda ps: nn.AdamW(ps, lr=0.1),
    lambda ps: nn.RMSProp(ps, lr=0.1, momentum=0.5),
    lambda ps: nn.Adagrad(ps, lr=0.1),
]


def _snapshot(opt):
    params = [(p.data.copy(), p.dtype, p._version) for p in opt.params]
    state = [{name: (v.data.copy() if isinstance(v, ag.Tensor) else v) for name, v in s.items()}
             for s in opt.state]
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    return params, state, groups, opt.step_count


def _assert_same(before, after):
    (p0, s0, g0, n0), (p1, s1, g1, n1) = before, after
    assert n0 == n1 and g0 == g1
    for (a, da, va), (b, db, vb) in zip(p0, p1):
        assert da == db and va == vb
        np.testing.assert_array_equal(a, b)
    for x, y in zip(s0, s1):
        assert x.keys() == y.keys()
        for name in x:
            np.testing.assert_array_equal(x[name], y[name])


def _model_and_opt(make):
    w = ag.Tensor(np.array([1.0, -2.0], dtype=np.float32), requires_grad=True)
    b = ag.Tensor(np.array([0.5, 0.25, -1.0], dtype=np.float32), requires_grad=True)
    opt = make([w, b])
    w.grad, b.grad = ag.Tensor(np.array([0.3, -0.1], np.float32)), ag.Tensor(np.ones(3, np.float32))
    opt.step()  # buffers are not zero any more
    w.grad = ag.Tensor(np.array([0.2, 0.4], np.float32))
    b.grad = ag.Tensor(np.array([0.1, 0.2, 0.3], np.float32))
    return w, b, opt


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_a_wrong_shaped_grad_on_the_second_parameter_changes_nothing(make):
    w, b, opt = _model_and_opt(make)
    b.grad.data = np.ones(5, dtype=np.float32)  # through .data: no setter sees it
    before = _snapshot(opt)
    with pytest.raises(ShapeError, match=r"parameter 1 of shape \(3,\).*\.grad has shape \(5,\)"
                                         r".*Nothing was changed"):
        opt.step()
    _assert_same(before, _snapshot(opt))


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_a_wrong_dtype_or_non_tensor_grad_changes_nothing(make):
    w, b, opt = _model_and_opt(make)
    b.grad.data = np.ones(3, dtype=np.float64)
    before = _snapshot(opt)
    with pytest.raises(DTypeError, match=r"parameter 1 .*\.grad has dtype float64; expected a "
                                         r"Tensor of shape \(3,\) and dtype float32"):
        opt.step()
    _assert_same(before, _snapshot(opt))
    # The .grad setter turns an array into a Tensor (and refuses a wrong shape); one put in
    # the slot behind it, as code that bypasses the setter might, is refused by step() itself.
    b.grad = np.ones(3, dtype=np.float32)
    assert isinstance(b.grad, ag.Tensor)
    b._grad = np.ones(3, dtype=np.float32)
    with pytest.raises(TypeError, match=r"parameter 1 .*\.grad is a ndarray, not a Tensor"):
        opt.step()
    _assert_same(before, _snapshot(opt))


def test_the_error_names_the_parameter_of_a_module():
    model = nn.Sequential(nn.Dense(2, 3, rng=0))
    opt = nn.SGD(model, lr=0.1)
    model(ag.ones(1, 2)).sum().backward()
    model[0].bias.grad.data = np.ones((2, 2), dtype=np.float32)
    with pytest.raises(ShapeError, match=r"parameter 1 \('0.bias'\) of shape \(3,\)"):
        opt.step()


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_a_bad_lr_tensor_is_refused_at_construction_and_at_step(bad):
    w = ag.Tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="the lr Tensor holds .*finite number >= 0"):
        nn.SGD([w], lr=ag.Tensor(bad))
    lr = ag.Tensor(0.1)
    opt = nn.SGD([w], lr=lr, momentum=0.9)
    w.grad = ag.Tensor([1.0])
    lr.data = np.array(bad)  # changed after construction
    before = _snapshot(opt)
    with pytest.raises(ValueError, match="finite number >= 0"):
        opt.step()
    _assert_same(before, _snapshot(opt))


@pytest.mark.parametrize("schedule, match", [
    (lambda t: 1e308 * (1 + 10 * t), "gave, at step 1, inf"),        # overflows to inf
    (lambda t: 10 ** (400 * t), "gave, at step 1, inf"),             # int too large for a float
    (lambda t: math.exp(1000 * t), "failed at step 1: OverflowError"),
    (lambda t: 0.1 if t == 0 else math.nan, "gave, at step 1, nan"),
    (lambda t: 0.1 - t, "gave, at step 1, -0.9"),
])
def test_a_schedule_value_that_is_not_finite_stops_the_step_before_any_change(schedule, match):
    for make in OPTIMIZERS:
        w, b, opt = _model_and_opt(make)
        opt.lr = schedule
        before = _snapshot(opt)
        with pytest.raises(ValueError, match=match):
            opt.step()
        _assert_same(before, _snapshot(opt))


def test_an_exponential_decay_that_overflows_raises_a_clear_error_in_step():
    w = ag.Tensor([1.0], requires_grad=True)
    opt = nn.SGD([w], lr=nn.ExponentialDecay(1.0, 10.0))
    opt.step_count = 400  # 10 ** 400 overflows
    w.grad = ag.Tensor([1.0])
    with pytest.raises((ValueError, OverflowError), match="ExponentialDecay"):
        opt.step()
    assert w.data[0] == 1.0 and opt.step_count == 400


def test_a_hyperparameter_broken_after_construction_is_refused_before_any_change():
    w, b, opt = _model_and_opt(OPTIMIZERS[0])
    opt.param_groups[0]["momentum"] = -0.5
    before = _snapshot(opt)
    with pytest.raises(ValueError, match="SGD.step: momentum must be a finite number >= 0"):
        opt.step()
    _assert_same(before, _snapshot(opt))


def test_clip_grad_norm_of_float16_gradients_is_finite_and_scales_correctly():
    w = ag.Tensor(np.zeros(2, dtype=np.float16), requires_grad=True)
    w.grad = ag.Tensor(np.array([300.0, 400.0], dtype=np.float16))
    total = nn.clip_grad_norm_([w], max_norm=1.0)
    assert total == 500.0  # sqrt(300**2 + 400**2); float16 squares overflow at 65504
    assert w.grad.dtype == np.float16
    np.testing.assert_allclose(w.grad.data.astype(np.float64), [0.6, 0.8], rtol=1e-3)


# ---- item 12: parameter and submodule slots ------------------------------------------------------

def test_assigning_a_plain_tensor_to_a_parameter_is_refused_and_keeps_it_registered():
    layer = nn.Dense(2, 3, rng=0)
    before = layer.weight.data.copy()
    with pytest.raises(TypeError, match=r"cannot assign a Tensor to the parameter 'weight'.*"
                                        r"\.data"):
        with no_grad():
            layer.weight = layer.weight * 0.5
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert isinstance(layer.weight, nn.Parameter)
    np.testing.assert_array_equal(layer.weight.data, before)
    assert "weight" in layer.state_dict()
    with pytest.raises(TypeError, match="cannot assign a ndarray"):
        layer.bias = np.zeros(3)
    # what the message suggests works
    with no_grad():
        layer.weight[...] = layer.weight * 0.5
    np.testing.assert_allclose(layer.weight.data, before * 0.5)
    layer.weight = nn.Parameter(np.ones((2, 3), dtype=np.float32))
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    layer.bias = None  # removing on purpose is allowed
    assert [name for name, _ in layer.named_parameters()] == ["weight"]


def test_assigning_a_non_module_to_a_submodule_is_refused():
    model = nn.Sequential(nn.Dense(2, 2, rng=0))
    with pytest.raises(TypeError, match="cannot assign a function to the submodule '0'"):
        setattr(model, "0", lambda x: x)
    assert len(list(model.parameters())) == 2


# ---- PyTorch habits: parameter groups, Sequential ------------------------------------------------

def test_parameter_groups_use_their_own_lr_and_hyperparameters():
    w = ag.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = ag.Tensor(np.array([3.0]), requires_grad=True)
    opt = nn.SGD([{"params": [w], "lr": 0.5}, {"params": [b], "momentum": 0.9}], lr=0.1)
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["lr"] == 0.1
    assert opt.param_groups[0]["momentum"] == 0.0 and opt.params == [w, b]
    for _ in range(2):
        w.grad, b.grad = ag.Tensor(np.array([1.0, -1.0])), ag.Tensor(np.array([2.0]))
        opt.step()
    np.testing.assert_allclose(w.data, [1.0 - 2 * 0.5, 2.0 + 2 * 0.5])
    # b: buf 2, then 0.9 * 2 + 2 = 3.8; b = 3 - 0.1 * 2 - 0.1 * 3.8
    np.testing.assert_allclose(b.data, [3.0 - 0.2 - 0.38])
    opt.param_groups[0]["lr"] = 0.0
    w.grad, b.grad = ag.Tensor(np.array([1.0, 1.0])), None
    opt.step()
    np.testing.assert_allclose(w.data, [0.0, 3.0])


def test_adam_groups_take_betas_and_refuse_unknown_options_or_shared_parameters():
    w = ag.Tensor([1.0], requires_grad=True)
    b = ag.Tensor([2.0], requires_grad=True)
    opt = nn.Adam([{"params": [w], "betas": (0.5, 0.6)}, {"params": b}], lr=0.1)
    assert (opt.param_groups[0]["beta1"], opt.param_groups[0]["beta2"]) == (0.5, 0.6)
    assert opt.param_groups[1]["beta1"] == 0.9
    with pytest.raises(TypeError, match=r"param_groups\[0\] has unknown options \['momentum'\]"):
        nn.Adam([{"params": [w], "momentum": 0.9}])
    with pytest.raises(ValueError, match="more than one parameter group"):
        nn.Adam([{"params": [w]}, {"params": [w, b]}])
    with pytest.raises(ValueError, match=r"param_groups\[1\]: betas\[0\] must be in \[0, 1\)"):
        nn.Adam([{"params": [w]}, {"params": [b], "betas": (1.5, 0.9)}])
    opt2 = nn.SGD([w], lr=0.1)
    opt2.add_param_group({"params": [b], "lr": 0.01})
    assert opt2.params == [w, b] and len(opt2.state) == 2


def test_parameter_groups_state_dict_round_trip_and_mismatch():
    def make():
        w = ag.Tensor(np.array([1.0, 2.0]), requires_grad=True)
        b = ag.Tensor(np.array([3.0]), requires_grad=True)
        return nn.Adam([{"params": [w], "lr": 0.5}, {"params": [b], "betas": (0.8, 0.99)}],
                       lr=0.1), w, b

    opt, w, b = make()
    w.grad, b.grad = ag.Tensor(np.array([1.0, -1.0])), ag.Tensor(np.array([2.0]))
    opt.step()
    state = opt.state_dict()
    assert state["num_groups"] == 2 and state["group.1.num_params"] == 1
    assert state["hyper.lr"] == 0.5 and state["group.1.hyper.lr"] == 0.1
    assert state["group.1.hyper.beta1"] == 0.8
    fresh, w2, b2 = make()
    fresh.param_groups[0]["lr"] = 0.25
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["lr"] == 0.5 and fresh.step_count == 1
    np.testing.assert_array_equal(fresh.state[1]["m"].data, opt.state[1]["m"].data)
    single = nn.Adam([ag.Tensor(np.array([1.0, 2.0]), requires_grad=True),
                      ag.Tensor(np.array([3.0]), requires_grad=True)])
    with pytest.raises(StateDictError, match="num_groups: 2 in the state dict, 1 in this"):
        single.load_state_dict(state)


def test_sequential_append_and_slices():
    first, second, third = nn.Dense(2, 3, rng=0), nn.Tanh(), nn.Dense(3, 1, rng=1)
    model = nn.Sequential(first, second)
    assert model.append(third) is model and len(model) == 3 and list(model)[2] is third
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                              "2.bias"]
    head = model[0:2]
    assert isinstance(head, nn.Sequential) and list(head) == [first, second]
    x = np.ones((2, 2), dtype=np.float32)
    np.testing.assert_allclose(head(ag.Tensor(x)).data,
                               np.tanh(x @ first.weight.data + first.bias.data), rtol=1e-6)
    assert isinstance(model[-1], nn.Dense) and list(model[::-1])[0] is third
    with pytest.raises(TypeError, match="Sequential.append: expected a Module"):
        model.append(np.tanh)


# ---- friction: summary, load dtypes, layer dtypes, draw_network ----------------------------------

class WithOwnParameter(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Dense(2, 4, rng=0)
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.out = nn.Dense(4, 3, rng=1)

    def forward(self, x):
        return self.out(nn.functional.relu(self.hidden(x))) * self.scale


@pytest.mark.parametrize("input_shape", [None, (5, 2)])
def test_summary_rows_add_up_to_the_total(input_shape):
    model = nn.Sequential(WithOwnParameter(), nn.Identity())
    lines = model.summary(input_shape).splitlines()
    counts = {line.split()[0]: int(line.split()[-1].replace(",", "")) for line in lines[2:-1]}
    assert counts == {"0": 3, "0.hidden": 12, "0.out": 15, "1": 0}
    assert sum(counts.values()) == 30 and lines[-1] == "total parameters: 30 (trainable: 30)"


def test_summary_counts_a_shared_layer_once():
    layer = nn.Dense(3, 3, rng=0)
    lines = nn.Sequential(layer, nn.ReLU(), layer).summary((1, 3)).splitlines()
    assert [line.split()[-1] for line in lines[2:-1]] == ["12", "0", "(shared)"]


def test_load_refuses_a_file_of_another_dtype_and_leaves_the_model(tmp_path):
    path = nn.save(nn.Dense(2, 2, rng=0), tmp_path / "f32.nn")
    half = nn.Dense(2, 2, rng=1, dtype=np.float16)
    before = half.state_dict()
    with pytest.raises(StateDictError, match=r"weight: float32 in the file, float16 in the "
                                             r"model.*not changed"):
        nn.load(path, model=half)
    with pytest.raises(StateDictError, match="float32 in the file, float16 in the model"):
        nn.load_checkpoint(nn.save_checkpoint(tmp_path / "c.nn", nn.Dense(2, 2)), model=half)
    for name, value in half.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
        assert value.dtype == np.float16


def test_dense_keeps_its_dtype_for_float64_input():
    layer = nn.Dense(3, 2, rng=0)
    x64 = np.linspace(-1, 1, 12).reshape(4, 3)
    x = ag.Tensor(x64, requires_grad=True)
    out = layer(x)
    assert out.dtype == np.float32
    expected = x64.astype(np.float32) @ layer.weight.data + layer.bias.data
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)
    out.sum().backward()
    assert layer.weight.grad.dtype == np.float32 and x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.data, np.tile(layer.weight.data.sum(axis=1), (4, 1)),
                               rtol=1e-6)
    assert layer(x64).dtype == np.float32


def test_draw_network_warns_about_wiring_and_parameters_it_cannot_draw():
    with pytest.warns(UserWarning, match=r"\(model\) \(WithOwnParameter\) is decided by its own "
                                         r"forward\(\).*not drawn: scale \(3,\)"):
        nn.draw_network(WithOwnParameter())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a plain Sequential is drawn exactly: no warning
        nn.draw_network(nn.Sequential(nn.Dense(2, 3), nn.Dropout(0.1), nn.ReLU(),
                                      nn.Dense(3, 1)))


def test_a_failing_differentiable_step_replaces_no_parameter():
    model = nn.Sequential(nn.Dense(2, 2, rng=0), nn.Dense(2, 1, rng=1))
    originals = list(model.parameters())
    opt = nn.SGD(model, lr=ag.Tensor(0.1, requires_grad=True), differentiable=True)
    model(ag.ones(3, 2)).sum().backward(create_graph=True)
    model[1].bias.grad.data = np.ones(4, dtype=np.float32)
    with pytest.raises(ShapeError, match=r"parameter 3 \('1.bias'\)"):
        opt.step()
    assert list(model.parameters()) == originals and opt.params == originals
    assert opt.step_count == 0
