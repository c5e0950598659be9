"""Normalisation layers with PyTorch's names, arguments and state: ``BatchNorm1d`` and
``BatchNorm2d`` (over the batch; their running statistics are buffers, saved with the model and
never trained), and ``LayerNorm`` (over each example's last axes; no running statistics)."""

from __future__ import annotations

import numpy as np

import autograd_core as ag
from autograd_core.compiler import opaque
from autograd_core.errors import ShapeError

from .module import Module, Parameter, check_floating


class _BatchNorm(Module):
    """Normalise each channel over the batch (and spatial) axes, then scale and shift.

    Training mode: the batch's mean and biased variance normalise the input, and the running
    statistics move towards the batch's: ``running = (1 - momentum) * running + momentum *
    batch``, with the unbiased variance (n / (n - 1)) for ``running_var``, as PyTorch;
    ``momentum=None`` makes them cumulative averages over all batches so far. Eval mode: the
    running statistics normalise, and nothing changes. ``y = (x - mean) / sqrt(var + eps) *
    weight + bias``; ``weight`` starts at ones, ``bias`` at zeros (``affine=False``: neither).
    With ``track_running_stats=False`` batch statistics are used in both modes.
    """

    allowed_ndims: tuple = ()
    layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) \
                or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive int, got "
                             f"{num_features!r}")
        if not eps > 0:
            raise ValueError(f"{name}: eps must be positive, got {eps!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name}: momentum must be in [0, 1] or None, got {momentum!r}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(self.num_features, dtype=dtype))
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def forward(self, x):
        name = type(self).__name__
        check_floating(x, name)
        shape = np.shape(x)
        if len(shape) not in self.allowed_ndims or shape[1] != self.num_features:
            raise ShapeError(f"{name}: input of shape {shape} does not fit num_features="
                             f"{self.num_features}: expected {self.layout} with C = "
                             f"{self.num_features}")
        axes = (0,) + tuple(range(2, len(shape)))
        per_channel = (1, self.num_features) + (1,) * (len(shape) - 2)
        if self.training or not self.track_running_stats:
            count = int(np.prod([shape[a] for a in axes]))
            if self.training and count < 2:
                raise ShapeError(f"{name}: input of shape {shape} has {count} value per "
                                 "channel; training mode needs more than one to estimate a "
                                 "variance")
            mean = ag.mean(x, axis=axes, keepdims=True)
            centred = x - mean
            var = ag.mean(centred * centred, axis=axes, keepdims=True)
            if self.training and self.track_running_stats:
                self._update_running(mean, var, count)
        else:
            mean = self.running_mean.data.reshape(per_channel)
            centred = x - mean
            var = self.running_var.data.reshape(per_channel)
        out = centred / ag.sqrt(var + self.eps)
        if self.affine:
            out = out * self.weight.reshape(per_channel) + self.bias.reshape(per_channel)
        return out

    @opaque  # a compiled training step updates the running statistics on every call
    def _update_running(self, mean, var, count: int) -> None:
        """Move the running statistics towards this batch's (in place, outside the graph)."""
        batch_mean = np.asarray(mean.data if isinstance(mean, ag.Tensor) else mean).reshape(-1)
        batch_var = np.asarray(var.data if isinstance(var, ag.Tensor) else var).reshape(-1)
        batch_var = batch_var * (count / (count - 1))  # unbiased, as PyTorch's running_var
        batches = int(self.num_batches_tracked.data) + 1
        m = 1.0 / batches if self.momentum is None else self.momentum
        with ag.no_grad():  # through setitem, which counts the change for saved graphs
            self.num_batches_tracked[...] = batches
            self.running_mean[...] = (1 - m) * self.running_mean.data + m * batch_mean
            self.running_var[...] = (1 - m) * self.running_var.data + m * batch_var

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input over the batch (and length) axes; see
    the base class for training and eval behaviour."""

    allowed_ndims = (2, 3)
    layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input over the batch and spatial axes; see the base
    class for training and eval behaviour.

    >>> bn = BatchNorm2d(3)
    >>> bn(ag.ones(4, 3, 2, 2)).shape
    (4, 3, 2, 2)
    """

    allowed_ndims = (4,)
    layout = "(N, C, H, W)"


class LayerNorm(Module):
    """(x - mean) / sqrt(var + eps) over the last ``len(normalized_shape)`` axes, then
    ``* weight + bias`` (both of shape ``normalized_shape``, starting at ones and zeros) when
    ``elementwise_affine``: PyTorch's ``nn.LayerNorm``, the biased variance (divide by n)
    included. The same in training and evaluation: no running statistics.

    >>> LayerNorm(4, dtype=np.float64)(np.arange(8.0).reshape(2, 4)).data.round(3).tolist()[0]
    [-1.342, -0.447, 0.447, 1.342]
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype=np.float32):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
            else tuple(normalized_shape)
        if not shape or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be a positive int or a tuple of "
                             f"them, got {normalized_shape!r}")
        if not eps > 0:
            raise ValueError(f"LayerNorm: eps must be positive, got {eps!r}")
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.axes = tuple(range(-len(shape), 0))
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))

    def forward(self, x):
        check_floating(x, "LayerNorm")
        shape = np.shape(x)
        k = len(self.normalized_shape)
        if shape[len(shape) - k:] != self.normalized_shape or len(shape) < k:
            raise ShapeError(f"LayerNorm: input of shape {shape} does not end with "
                             f"normalized_shape {self.normalized_shape}: expected shape "
                             f"(..., {', '.join(map(str, self.normalized_shape))})")
        centred = x - ag.mean(x, axis=self.axes, keepdims=True)
        var = ag.mean(centred * centred, axis=self.axes, keepdims=True)
        out = centred / ag.sqrt(var + self.eps)
        if self.elementwise_affine:
            out = out * self.weight + self.bias
        return out

    def extra_repr(self) -> str:
        shape = self.normalized_shape
        return (f"{shape[0] if len(shape) == 1 else shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
