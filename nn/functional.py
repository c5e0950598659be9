"""Activations and helpers as functions of Tensors, composed from autograd_core's ops.

``log_softmax`` subtracts the row maximum before exponentiating, so logits of 1e4 give finite
results and gradients in float32.
"""

from __future__ import annotations

import numpy as np

import autograd_core as ag
from autograd_core import Tensor
from autograd_core.errors import ShapeError
from autograd_core.ops.broadcasting import normalize_axes
from autograd_core.ops.reductions import check_labels

from .init import as_generator

relu = ag.relu
leaky_relu = ag.leaky_relu
tanh = ag.tanh
sigmoid = ag.sigmoid
gelu = ag.gelu
silu = ag.silu
softplus = ag.softplus
softmax = ag.softmax  # one node, numerically stable (autograd_core.ops.reductions.Softmax)
scaled_dot_product_attention = ag.scaled_dot_product_attention


def log_softmax(x, axis: int = -1):
    """log(softmax(x)) along ``axis``, computed stably."""
    # Shifting by the row maximum (a constant: log_softmax does not change under shifts) keeps
    # exp() from overflowing, and keeps the largest entries exact in float32, which
    # x - logsumexp(x) would round at magnitudes like 1e4.
    normalize_axes(axis, np.ndim(x), "log_softmax", np.shape(x))  # a clear error for a bad axis
    with ag.no_grad():  # a recorded op (not numpy on the data), so ag.compile replays it
        peak = ag.max(x, axis=axis, keepdims=True)
    shifted = x - peak
    return shifted - ag.log(ag.exp(shifted).sum(axis=axis, keepdims=True))


def dropout(x, p: float = 0.5, training: bool = True, rng=None):
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by
    1 / (1 - p), so nothing changes at evaluation time (``training=False`` returns x)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    return x * dropout_mask(np.shape(x), x.dtype, p, as_generator(rng))


def dropout_mask(shape: tuple, dtype, p: float, rng: np.random.Generator) -> np.ndarray:
    """Inverted dropout's mask: 0 with probability ``p``, else 1 / (1 - p), in ``dtype``."""
    keep = rng.random(shape) >= p
    scale = np.asarray(1.0 / (1.0 - p), dtype=np.result_type(dtype, np.float32))
    return (keep * scale).astype(dtype)


def one_hot(labels, num_classes: int, dtype=np.float32) -> Tensor:
    """Rows of ``num_classes`` zeros with a one at each label: shape ``labels.shape + (C,)``."""
    labels = check_labels(labels, num_classes, "one_hot")
    return Tensor(np.eye(num_classes, dtype=dtype)[labels])


def flatten(x, start_axis: int = 1):
    """Merge the axes from ``start_axis`` on into one (keeping the batch axis by default)."""
    shape = np.shape(x)
    if start_axis > len(shape):
        raise ShapeError(f"flatten: start_axis {start_axis} but the input has shape {shape}")
    return ag.reshape(x, shape[:start_axis] + (-1,))
