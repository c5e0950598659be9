"""No leaks: training keeps memory flat, and graphs are freed after backward, by reference
counting alone when the user adds no cycles, and by the garbage collector when they do.

Measured with counts of live graph nodes and tracemalloc, never with timings.
"""

import gc
import tracemalloc
import weakref

import numpy as np

import autograd_core as ag
import nn
from autograd_core import Function, Tensor


def live_nodes() -> int:
    """Function nodes (graph nodes) alive now: every one is tracked by the garbage collector."""
    return sum(isinstance(obj, Function) for obj in gc.get_objects())


def small_mlp():
    model = nn.Sequential(nn.Dense(2, 16, rng=0), nn.Tanh(), nn.Dense(16, 3, rng=1))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 2)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    return model, nn.Adam(model, lr=1e-3), x, y


def test_5000_training_steps_keep_memory_flat_without_the_garbage_collector():
    model, optimizer, x, y = small_mlp()

    def step():
        optimizer.zero_grad()
        loss = nn.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    gc.collect()
    gc.disable()  # anything a step leaves behind in a cycle would pile up
    try:
        for _ in range(3000):
            step()
        nodes = live_nodes()
        tracemalloc.start()
        for _ in range(100):
            step()
        warmed, _ = tracemalloc.get_traced_memory()
        for _ in range(1900):
            step()
        after, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert live_nodes() == nodes == 0  # each step's graph died with its loss
    finally:
        gc.enable()
    assert after - warmed < 32 * 1024, f"memory grew by {after - warmed} bytes over 1900 steps"


def test_a_graph_kept_by_its_loss_releases_its_saved_arrays_after_backward():
    model, _, x, y = small_mlp()
    loss = nn.cross_entropy(model(x), y)
    nodes, stack = [], [loss.grad_fn]
    while stack:  # every node of the graph, found through the edges
        node = stack.pop()
        if isinstance(node, Function) and node not in nodes:
            nodes.append(node)
            stack.extend(node._next)
    assert any(node._saved for node in nodes)
    loss.backward()
    assert all(node._saved is None for node in nodes)


def test_graphs_in_reference_cycles_through_user_hooks_are_collected():
    model, _, x, y = small_mlp()
    seen = []

    def keep_everything(module, args, out):
        # A hook that ties the output to its own node (and a closure over both): a cycle that
        # reference counting alone cannot free.
        out.grad_fn.output = out
        out.grad_fn.callback = lambda: (out, module)
        seen.append(weakref.ref(out))

    for layer in model:
        layer.register_forward_hook(keep_everything)
    gc.collect()
    baseline = live_nodes()
    for _ in range(3):
        loss = nn.cross_entropy(model(x), y)
        loss.backward()
        seen.append(weakref.ref(loss))
    del loss
    gc.collect()
    assert all(ref() is None for ref in seen)
    assert live_nodes() == baseline


def test_retained_and_create_graph_graphs_are_freed_once_dropped():
    x = Tensor(np.linspace(-1, 1, 5), requires_grad=True)
    gc.collect()
    baseline = live_nodes()
    y = (x.tanh() * x).sum()
    (g,) = ag.grad(y, x, create_graph=True)
    g.sum().backward(retain_graph=True)
    assert live_nodes() > baseline
    del y, g
    assert live_nodes() == baseline  # no cycle: freed without the garbage collector
