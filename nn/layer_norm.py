"""LayerNorm: normalisation over each example's last axes."""

from __future__ import annotations

import numpy as np

import autograd_core as ag
from autograd_core.errors import ShapeError

from .module import Module, Parameter, check_floating


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
