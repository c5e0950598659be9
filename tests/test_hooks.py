"""Gradient hooks: per-tensor clipping with Tensor.register_hook, and module backward hooks
(recording gradient flow, replacing grad_input, removal)."""

import numpy as np
import pytest

import autograd_core as ag
import nn
from autograd_core import Tensor


def test_register_hook_clips_each_tensors_gradient_before_it_flows_on():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    h = x * 10.0                          # dL/dh = 3 h**2 = 300 x**2 before clipping
    handle = h.register_hook(lambda g: ag.clip(g, -50.0, 50.0))
    (h ** 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, [500.0, 500.0, 500.0])  # 10 * clip(300 x**2, 50)
    handle.remove()
    x.grad = None
    (x * 10.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, [10.0, 10.0, 10.0])


def _model():
    return nn.Sequential(nn.Dense(3, 4, rng=0, dtype=np.float64), nn.Tanh(),
                         nn.Dense(4, 2, rng=1, dtype=np.float64))


def test_module_backward_hooks_record_gradient_flow():
    model = _model()
    x = Tensor(np.random.default_rng(0).standard_normal((5, 3)), requires_grad=True)
    seen = []
    handles = [layer.register_full_backward_hook(
        lambda module, grad_input, grad_output: seen.append(
            (module, grad_input[0].data.copy(), grad_output[0].data.copy())))
        for layer in model]
    out = model(x)
    (out ** 2).sum().backward()
    assert [m for m, _, _ in seen] == [model[2], model[1], model[0]]  # in backward order
    # by hand: dL/dout = 2 out; back through Dense(4, 2), Tanh, Dense(3, 4)
    h1 = x.data @ model[0].weight.data + model[0].bias.data
    a1 = np.tanh(h1)
    out_ = a1 @ model[2].weight.data + model[2].bias.data
    g_out = 2 * out_
    g_a1 = g_out @ model[2].weight.data.T
    g_h1 = g_a1 * (1 - a1 ** 2)
    g_x = g_h1 @ model[0].weight.data.T
    expected = [(g_a1, g_out), (g_h1, g_a1), (g_x, g_h1)]
    for (_, grad_input, grad_output), (want_in, want_out) in zip(seen, expected):
        np.testing.assert_allclose(grad_output, want_out, rtol=1e-12)
        np.testing.assert_allclose(grad_input, want_in, rtol=1e-12)
    np.testing.assert_allclose(x.grad.data, g_x, rtol=1e-12)
    for handle in handles:
        handle.remove()
    seen.clear()
    model(x).sum().backward()
    assert seen == []


def test_a_module_backward_hook_may_replace_grad_input():
    layer = nn.Tanh()
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    layer.register_full_backward_hook(lambda m, gi, go: (gi[0] * 0.5,))
    layer(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 0.5 * (1 - np.tanh(x.data) ** 2), rtol=1e-12)


def test_a_first_layer_hook_gets_none_for_an_input_without_gradient():
    layer = nn.Dense(2, 2, rng=0, dtype=np.float64)
    calls = []
    layer.register_full_backward_hook(lambda m, gi, go: calls.append((gi, go[0].shape)))
    layer(np.ones((3, 2))).sum().backward()
    assert calls == [((None,), (3, 2))]


def test_a_backward_hook_returning_the_wrong_number_of_gradients_is_named():
    layer = nn.Tanh()
    layer.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    x = Tensor(np.array([0.5]), requires_grad=True)
    with pytest.raises(ValueError, match="Tanh backward hook <lambda> returned 2 gradient"):
        layer(x).sum().backward()
