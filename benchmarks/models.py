"""The benchmark model, a 784-256-128-10 ReLU MLP in float32, three times over: with our library
(``nn``), as hand-written numpy (the floor for any numpy engine: the same arithmetic with no
graph and no wrapper objects) and with PyTorch. All three start from the same weights."""

from __future__ import annotations

import numpy as np

import autograd_core as ag
import nn

SIZES = (784, 256, 128, 10)


def initial_weights(seed: int = 0, sizes=SIZES) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight (in, out), bias (out,)) per layer, float32, He-uniform."""
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / fan_in)
        layers.append((rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32),
                       np.zeros(fan_out, dtype=np.float32)))
    return layers


def batch(size: int, seed: int = 1, features: int = SIZES[0], classes: int = SIZES[-1]):
    """A random float32 input batch and int64 labels."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((size, features)).astype(np.float32),
            rng.integers(0, classes, size).astype(np.int64))


# ---- ours ---------------------------------------------------------------------------------------

def ours_model(weights) -> nn.Sequential:
    layers = []
    for i, (w, b) in enumerate(weights):
        dense = nn.Dense(*w.shape)
        with ag.no_grad():
            dense.weight[...] = w
            dense.bias[...] = b
        layers.append(dense)
        if i < len(weights) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class OursStep:
    """One training step with our library, as a user writes it."""

    def __init__(self, weights, optimizer: str = "sgd", lr: float = 0.01):
        self.model = ours_model(weights)
        self.optimizer = (nn.SGD(self.model, lr=lr) if optimizer == "sgd"
                          else nn.Adam(self.model, lr=lr))

    def __call__(self, x, y) -> float:
        self.optimizer.zero_grad()
        loss = nn.cross_entropy(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return loss


# ---- hand-written numpy -------------------------------------------------------------------------

class NumpyStep:
    """The same step with SGD written out in numpy: forward, softmax cross-entropy, backward,
    update. In place wherever a plain numpy program naturally would be."""

    def __init__(self, weights, lr: float = 0.01):
        self.params = [(w.copy(), b.copy()) for w, b in weights]
        self.lr = np.float32(lr)

    def __call__(self, x, y) -> float:
        activations = [x]
        h = x
        last = len(self.params) - 1
        for i, (w, b) in enumerate(self.params):
            h = h @ w
            h += b
            if i < last:
                np.maximum(h, 0, out=h)
                activations.append(h)
        n = len(y)
        rows = np.arange(n)
        h -= h.max(axis=1, keepdims=True)
        exp = np.exp(h)
        total = exp.sum(axis=1, keepdims=True)
        loss = float(np.log(total[:, 0]).mean() - h[rows, y].mean())
        grad = exp
        grad /= total
        grad[rows, y] -= 1
        grad /= np.float32(n)
        for i in range(last, -1, -1):
            w, b = self.params[i]
            below = activations[i]
            grad_w = below.T @ grad
            grad_b = grad.sum(axis=0)
            if i > 0:
                grad = grad @ w.T
                grad *= below > 0
            grad_w *= self.lr
            w -= grad_w
            grad_b *= self.lr
            b -= grad_b
        return loss


# ---- PyTorch ------------------------------------------------------------------------------------

def torch_model(torch, weights):
    layers = []
    for i, (w, b) in enumerate(weights):
        linear = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if i < len(weights) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


class TorchStep:
    def __init__(self, torch, weights, optimizer: str = "sgd", lr: float = 0.01):
        self.torch = torch
        self.model = torch_model(torch, weights)
        params = self.model.parameters()
        self.optimizer = (torch.optim.SGD(params, lr=lr) if optimizer == "sgd"
                          else torch.optim.Adam(params, lr=lr))

    def __call__(self, x, y):
        self.optimizer.zero_grad()
        loss = self.torch.nn.functional.cross_entropy(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return loss
