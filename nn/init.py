"""Weight initialisers: functions ``(shape, rng, dtype) -> numpy array``.

For a Dense weight of shape (fan_in, fan_out):

- Xavier/Glorot keeps the variance of activations and gradients about equal across layers for
  tanh/sigmoid networks: Var(w) = 2 / (fan_in + fan_out).
- He/Kaiming compensates for ReLU zeroing half its inputs: Var(w) = 2 / fan_in.

``rng`` is a seed (int), a ``numpy.random.Generator`` or None (fresh entropy), so every layer
can be made reproducible::

    w = xavier_uniform((784, 128), rng=0)
"""

from __future__ import annotations

import math

import numpy as np


def as_generator(rng) -> np.random.Generator:
    """A numpy Generator from a seed, a Generator (used as is) or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"expected a seed (int), a numpy.random.Generator or None, "
                    f"got {type(rng).__name__}")


def fans(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: a Dense weight is (in, out); a convolution kernel is
    PyTorch's (out_channels, in_channels / groups, *kernel), whose fan_in is
    ``in_channels / groups * prod(kernel)`` (the inputs one output sums over) and fan_out
    ``out_channels * prod(kernel)``; a bias has fan_in = size."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def zeros(shape, rng=None, dtype=np.float32) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


def normal(shape, rng=None, dtype=np.float32, std: float = 0.01, mean: float = 0.0) -> np.ndarray:
    """Gaussian values; the seed tutorials use ``0.01 * standard normal`` for weights."""
    return (mean + std * as_generator(rng).standard_normal(shape)).astype(dtype)


def uniform(shape, rng=None, dtype=np.float32, low: float = -0.05,
            high: float = 0.05) -> np.ndarray:
    return as_generator(rng).uniform(low, high, size=shape).astype(dtype)


def xavier_uniform(shape, rng=None, dtype=np.float32, gain: float = 1.0) -> np.ndarray:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    limit = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape, rng, dtype, -limit, limit)


def xavier_normal(shape, rng=None, dtype=np.float32, gain: float = 1.0) -> np.ndarray:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    return normal(shape, rng, dtype, std=gain * math.sqrt(2.0 / (fan_in + fan_out)))


def he_uniform(shape, rng=None, dtype=np.float32) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / fan_in) (Kaiming uniform for ReLU)."""
    fan_in, _ = fans(shape)
    limit = math.sqrt(6.0 / fan_in)
    return uniform(shape, rng, dtype, -limit, limit)


def he_normal(shape, rng=None, dtype=np.float32) -> np.ndarray:
    """N(0, 2 / fan_in) (Kaiming normal for ReLU)."""
    fan_in, _ = fans(shape)
    return normal(shape, rng, dtype, std=math.sqrt(2.0 / fan_in))


INITIALISERS = {
    "zeros": zeros, "normal": normal, "uniform": uniform,
    "xavier_uniform": xavier_uniform, "xavier_normal": xavier_normal,
    "glorot_uniform": xavier_uniform, "glorot_normal": xavier_normal,
    "he_uniform": he_uniform, "he_normal": he_normal,
    "kaiming_uniform": he_uniform, "kaiming_normal": he_normal,
}


def get(init) -> callable:
    """An initialiser from its name (``'xavier_uniform'``, ``'he_normal'``, ...) or a callable."""
    if callable(init):
        return init
    try:
        return INITIALISERS[init]
    except (KeyError, TypeError):
        raise ValueError(f"unknown initialiser {init!r}; expected a callable or one of "
                         f"{sorted(INITIALISERS)}") from None
