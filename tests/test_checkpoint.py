"""ag.checkpoint: the memory it saves, and gradients equal to those without it."""

import tracemalloc

import numpy as np
import pytest

import autograd_core as ag
import nn
from autograd_core import BackwardError, Tensor, func


def _mlp(depth: int, width: int) -> nn.Sequential:
    """Dense + LeakyReLU layers: each keeps two activations for backward (the Dense its input,
    the LeakyReLU its own). With Tanh, whose saved output is also the next Dense's saved input,
    a plain graph keeps one per layer and checkpointing saves about 2.5x (see the benchmark)."""
    layers = []
    for i in range(depth):
        layers += [nn.Dense(width, width, rng=i), nn.LeakyReLU()]
    return nn.Sequential(*layers)


def _step(model, x, segment: int | None) -> int:
    """One forward and backward pass; returns the peak traced memory (bytes) during it."""
    model.zero_grad()
    tracemalloc.reset_peak()
    start, _ = tracemalloc.get_traced_memory()
    h = x
    if segment is None:
        h = model(h)
    else:
        for first in range(0, len(model), segment):
            h = ag.checkpoint(model[first:first + segment], h)
    (h * h).mean().backward()
    _, peak = tracemalloc.get_traced_memory()
    return peak - start


def test_checkpointing_a_50_layer_mlp_cuts_peak_memory_3x_with_identical_gradients():
    model = _mlp(50, 64)  # 100 modules: Dense, LeakyReLU, ...
    x = Tensor(np.random.default_rng(0).standard_normal((2048, 64)), dtype=np.float32,
               requires_grad=True)
    tracemalloc.start()
    try:
        plain = _step(model, x, None)
        plain_grads = [p.grad.data.copy() for p in model.parameters()] + [x.grad.data.copy()]
        x.grad = None
        checkpointed = _step(model, x, 10)  # segments of 5 layers
        grads = [p.grad.data for p in model.parameters()] + [x.grad.data]
    finally:
        tracemalloc.stop()
    print(f"peak memory: {plain / 2**20:.1f} MiB plain, {checkpointed / 2**20:.1f} MiB "
          f"checkpointed ({plain / checkpointed:.1f}x less)")
    assert plain >= 3 * checkpointed
    assert len(grads) == len(plain_grads) == 101
    for got, expected in zip(grads, plain_grads):
        np.testing.assert_array_equal(got, expected)  # bit for bit


def test_checkpoint_is_right_to_second_order_with_create_graph():
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    y = ag.checkpoint(lambda t: (t ** 3).sum(), x)
    (g,) = ag.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.data, 3 * x.data ** 2)
    (h,) = ag.grad(g.sum(), x)
    np.testing.assert_allclose(h.data, 6 * x.data)


def test_checkpoint_under_forward_mode_and_function_transforms():
    x = np.array([0.5, -1.0, 2.0])
    v = np.array([1.0, 2.0, -1.0])
    _, tangent = func.jvp(lambda t: ag.checkpoint(lambda s: s.sin() * s, t), (x,), (v,))
    np.testing.assert_allclose(tangent.data, (np.cos(x) * x + np.sin(x)) * v)
    hessian = func.hessian(lambda t: ag.checkpoint(lambda s: (s ** 3).sum(), t))(x)
    np.testing.assert_allclose(hessian.data, np.diag(6 * x))


def test_checkpoint_refuses_to_drop_the_gradient_of_a_tensor_fn_closes_over():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    y = ag.checkpoint(lambda t: (t * w).sum(), x)
    with pytest.raises(BackwardError, match="checkpoint: fn uses a tensor of shape \\(2,\\)"):
        y.backward()


def test_checkpoint_notices_a_parameter_changed_before_backward():
    layer = nn.Dense(2, 2, rng=0)
    x = Tensor(np.ones((1, 2)), dtype=np.float32, requires_grad=True)
    y = ag.checkpoint(layer, x).sum()
    layer.weight.data[...] += 1  # what an optimizer step in between would do
    ag.engine.bump_version(layer.weight.data)
    with pytest.raises(BackwardError, match="checkpoint: a parameter of shape \\(2, 2\\) was "
                                            "modified in place"):
        y.backward()


def test_checkpoint_needs_fn_to_return_a_tensor():
    x = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match="checkpoint: fn must return a Tensor, got tuple"):
        ag.checkpoint(lambda t: (t, t), x)
