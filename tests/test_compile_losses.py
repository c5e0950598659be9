"""The losses and their helpers under ``ag.compile``: a compiled step gives exactly the eager
step's losses and parameters (the compile tests' contract), for the losses a user writes."""

from __future__ import annotations

import numpy as np
import pytest

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


def _label_batches():
    rng = np.random.default_rng(2)
    first = np.array([0, 1, 2, 0, 1])
    # the two tracing calls see the same labels: a replay must still read each call's own
    return [first, first.copy()] + [rng.integers(0, 3, 5) for _ in range(4)]


def test_nll_loss_compiles_and_the_replay_reads_each_calls_labels():
    nll = lambda out, labels: nn.nll_loss(log_softmax(out), labels)  # noqa: E731
    _assert_same(_train(False, nll, _label_batches()), _train(True, nll, _label_batches()))


def test_nll_loss_replay_refuses_out_of_range_labels_and_leaves_the_model_untouched():
    model = nn.Dense(4, 3, rng=0)
    optimizer = nn.SGD(model, lr=0.1)

    @ag.compile
    def step(x, labels):
        optimizer.zero_grad()
        loss = nn.nll_loss(log_softmax(model(x)), labels)
        loss.backward()
        optimizer.step()
        return loss

    x = ag.Tensor(np.ones((5, 4)))
    for _ in range(3):  # trace, trace, replay
        step(x, np.array([0, 1, 2, 0, 1]))
    weight = model.weight.data.copy()
    for bad, shown in (([0, 1, 2, 0, -1], r"\[-1\]"), ([0, 1, 3, 0, 1], r"\[3\]")):
        with pytest.raises(ValueError, match=r"nll_loss: labels must be in \[0, 2\] for 3 "
                                             r"classes, got " + shown):
            step(x, np.array(bad))
    np.testing.assert_array_equal(model.weight.data, weight)


def test_an_index_tuple_holding_an_argument_is_followed_by_the_replay():
    x = ag.Tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)

    @ag.compile
    def picked(t, columns):
        out = t[np.arange(4), columns]
        out.sum().backward()
        return out

    for columns in ([0, 1, 2, 0], [0, 1, 2, 0], [2, 2, 1, 0], [1, 0, 0, 2]):
        x.grad = None
        columns = np.array(columns)
        out = picked(x, columns)
        np.testing.assert_array_equal(out.data, x.data[np.arange(4), columns])
        expected = np.zeros((4, 3))
        expected[np.arange(4), columns] = 1.0
        np.testing.assert_array_equal(x.grad.data, expected)


def test_an_argument_only_numpy_reads_is_refused_rather_than_frozen():
    # np.eye(3)[labels] runs outside the recorded ops: a replay would keep the first call's
    # one-hot rows for every later batch, and equal labels in both tracing calls hide it
    model = nn.Dense(4, 3, rng=0)

    @ag.compile
    def score(x, labels):
        return (model(x) * np.eye(3)[labels]).sum()

    with pytest.raises(ag.compiler.TraceError, match=r"the array argument of shape \(5,\) and "
                                                     r"dtype int64 .* is read by no recorded op"):
        score(ag.Tensor(np.ones((5, 4))), np.array([0, 1, 2, 0, 1]))
