"""The losses and their helpers under ``ag.compile``: a compiled step gives exactly the eager
step's losses and parameters (the compile tests' contract), for the losses a user writes."""

from __future__ import annotations

import numpy as np

import autograd_core as ag
import nn
from nn.functional import log_softmax


def _train(compiled: bool, loss_fn, targets):
    model = nn.Dense(4, 3, rng=0)
    optimizer = nn.Adam(model, lr=0.1)

    def step(x, target):
        optimizer.zero_grad()
        loss = loss_fn(model(x), target)
        loss.backward()
        optimizer.step()
        return loss

    if compiled:
        step = ag.compile(step)
    rng = np.random.default_rng(0)
    losses = [step(ag.Tensor(rng.random((5, 4))), target).data.item() for target in targets]
    return losses, model.weight.data.copy(), model.bias.data.copy()


def _assert_same(eager, compiled):
    assert eager[0] == compiled[0]
    for a, b in zip(eager[1:], compiled[1:]):
        np.testing.assert_array_equal(a, b)


def test_soft_target_cross_entropy_and_log_softmax_compile_to_the_eager_step():
    # log_softmax shifts by the row maximum: taken by a recorded op, not numpy on the data
    rng = np.random.default_rng(1)
    targets = [ag.Tensor(rng.dirichlet(np.ones(3), 5)) for _ in range(5)]
    _assert_same(_train(False, nn.cross_entropy, targets),
                 _train(True, nn.cross_entropy, targets))
    squared = lambda out, t: ((log_softmax(out) - t) ** 2).sum()  # noqa: E731
    _assert_same(_train(False, squared, targets), _train(True, squared, targets))
