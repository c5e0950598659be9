"""The ``cnn_step`` workload: one training step of the ``cnn_fashion_mnist`` example's network
(conv 3x3 16 - BatchNorm2d - ReLU - max pool 2 - conv 3x3 32 - BatchNorm2d - ReLU - max pool 2 -
Dense 128 - ReLU - Dropout 0.25 - Dense 10, cross-entropy, Adam) at batch 128, float32, against the
same network in PyTorch with the same weights, in the same process.

Dropout is in both, so the two draw different masks; the arithmetic is the same. One step is
zero_grad, forward, loss, backward and the optimizer's update.
"""

from __future__ import annotations

import numpy as np

import autograd_core as ag
import nn
from examples.cnn_fashion_mnist import make_model

from .timing import interleaved

BATCH = 128
TARGET = 1.3  # ours / PyTorch


def _batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.random((BATCH, 1, 28, 28), dtype=np.float32),
            rng.integers(0, 10, BATCH))


class OursStep:
    def __init__(self):
        self.model = make_model(0)
        self.optimizer = nn.Adam(self.model.parameters(), lr=1e-3)

    def __call__(self, x, y):
        self.optimizer.zero_grad()
        loss = nn.cross_entropy(self.model(ag.Tensor(x)), y)
        loss.backward()
        self.optimizer.step()
        return loss


def torch_step(torch, ours: nn.Module):
    """The same network in PyTorch, its parameters copied from ``ours`` (same layout)."""
    tnn = torch.nn
    c1, c2 = ours[0].weight.shape[0], ours[4].weight.shape[0]
    model = tnn.Sequential(
        tnn.Conv2d(1, c1, 3, padding=1, bias=False), tnn.BatchNorm2d(c1), tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Conv2d(c1, c2, 3, padding=1, bias=False), tnn.BatchNorm2d(c2), tnn.ReLU(),
        tnn.MaxPool2d(2), tnn.Flatten(),
        tnn.Linear(c2 * 49, ours[9].weight.shape[1]), tnn.ReLU(), tnn.Dropout(0.25),
        tnn.Linear(ours[9].weight.shape[1], 10))
    with torch.no_grad():
        for i in (0, 4):
            model[i].weight.copy_(torch.from_numpy(ours[i].weight.data))
        for i in (1, 5):
            model[i].weight.copy_(torch.from_numpy(ours[i].weight.data))
            model[i].bias.copy_(torch.from_numpy(ours[i].bias.data))
        for i in (9, 12):  # Dense keeps (in, out); Linear (out, in)
            model[i].weight.copy_(torch.from_numpy(ours[i].weight.data.T.copy()))
            model[i].bias.copy_(torch.from_numpy(ours[i].bias.data))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = tnn.functional.cross_entropy

    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step


def cnn_step(s) -> list:
    from .workloads import Row, _compare

    x, y = _batch()
    ours = OursStep()
    contenders = {"ours": lambda: ours(x, y)}
    case = f"batch {BATCH}, conv-bn-relu-pool x2, dense, Adam, float32"
    if s.torch is None:
        s.log("cnn_step: PyTorch is not installed, so there is nothing to compare with")
    else:
        theirs = torch_step(s.torch, ours.model)
        xt, yt = s.torch.from_numpy(x), s.torch.from_numpy(y)
        contenders["torch"] = lambda: theirs(xt, yt)
    times = interleaved(contenders, rounds=s.rounds, warmup=1)
    if "torch" in times:
        return [_compare("cnn_step", case, times, "torch", "PyTorch", TARGET)]
    return [Row("cnn_step", case, "ms", times["ours"].wall * 1e3)]
