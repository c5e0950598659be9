"""Layers: Dense, activation modules, Dropout, Flatten, Identity, and the Residual wrapper."""

from __future__ import annotations

import numpy as np

import autograd_core as ag
from autograd_core.compiler import TraceError, opaque, recording
from autograd_core.errors import ShapeError

from . import functional as F
from . import init as initialisers
from .module import Module, Parameter, check_floating


class Dense(Module):
    """A fully connected layer, ``inputs @ weight + bias``, with ``weight`` of shape
    (in_features, out_features) as in the seed tutorials (PyTorch stores its transpose).

    ``init`` names the weight initialiser (``'xavier_uniform'``, ``'he_normal'``, ... see
    :mod:`nn.init`) or is a callable ``(shape, rng, dtype) -> array``; biases start at zero.
    ``rng`` is a seed or a ``numpy.random.Generator``, for reproducible weights.

    The layer computes in its parameters' dtype (``dtype``, float32 by default): floating input
    of another dtype (float64 numpy data, say) is cast to it, so the output is in that dtype too
    and the input's gradient is cast back to the input's dtype.

    >>> layer = Dense(3, 2, rng=0)
    >>> layer(ag.ones(4, 3)).shape
    (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init="xavier_uniform", rng=None, dtype=np.float32):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Dense: {name} must be a positive int, got {value!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.init_name = init if isinstance(init, str) else getattr(init, "__name__", "custom")
        shape = (self.in_features, self.out_features)
        values = initialisers.get(init)(shape, initialisers.as_generator(rng), dtype)
        self.weight = Parameter(np.asarray(values, dtype=dtype))
        self.bias = Parameter(np.zeros(out_features, dtype=dtype)) if bias else None

    def forward(self, x):
        check_floating(x, "Dense")
        shape = np.shape(x)
        if len(shape) == 0 or shape[-1] != self.in_features:
            raise ShapeError(f"Dense: input of shape {shape} does not fit a layer with "
                             f"in_features={self.in_features}: expected shape "
                             f"(..., {self.in_features})")
        # The layer computes in its parameters' dtype: float64 data must not silently turn a
        # float32 model's whole forward and backward into float64. A Tensor is cast by a
        # recorded op, so its gradient comes back in its own dtype.
        dtype = self.weight.dtype
        if isinstance(x, ag.Tensor):
            if x.dtype != dtype:
                x = x.astype(dtype)
        elif np.asarray(x).dtype != dtype:
            x = np.asarray(x, dtype=dtype)
        return ag.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class _Activation(Module):
    """A module wrapping an elementwise function of nn.functional."""

    def forward(self, x):
        return type(self).function(x)


class ReLU(_Activation):
    function = staticmethod(F.relu)


class Tanh(_Activation):
    function = staticmethod(F.tanh)


class Sigmoid(_Activation):
    function = staticmethod(F.sigmoid)


class SiLU(_Activation):
    """x * sigmoid(x), elementwise (PyTorch's ``nn.SiLU``)."""

    function = staticmethod(F.silu)


class Softplus(_Activation):
    """log(1 + exp(x)), elementwise: a smooth relu (PyTorch's ``nn.Softplus()`` with beta=1)."""

    function = staticmethod(F.softplus)


class GELU(Module):
    """x * Phi(x), elementwise (``approximate="none"``, the default, as PyTorch's ``nn.GELU``)
    or its tanh approximation (``approximate="tanh"``)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Residual(Module):
    """A skip connection: ``x + module(x)``, the pattern of residual networks and transformer
    blocks. It is a Module, so it goes inside Sequential like any layer::

        block = Sequential(Residual(Sequential(LayerNorm(64), MultiHeadAttention(64, 4))),
                           Residual(Sequential(LayerNorm(64), Dense(64, 256), GELU(),
                                               Dense(256, 64))))

    ``module`` must give an output of its input's shape (a ShapeError says so otherwise). The
    wrapped module is registered as ``module``, so its parameters are ``module.<name>``.
    """

    def __init__(self, module: Module):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"Residual: expected a Module, got {type(module).__name__}")
        self.module = module

    def forward(self, x):
        out = self.module(x)
        if np.shape(out) != np.shape(x):
            raise ShapeError(f"Residual: {type(self.module).__name__} turned an input of shape "
                             f"{np.shape(x)} into {np.shape(out)}; x + module(x) needs the same "
                             "shape")
        return x + out


class Identity(Module):
    """Returns its input: a placeholder, e.g. the output activation of a regression model."""

    def forward(self, x):
        return x


class LeakyReLU(Module):
    def __init__(self, slope: float = 0.01):
        super().__init__()
        self.slope = slope

    def forward(self, x):
        return F.leaky_relu(x, self.slope)

    def extra_repr(self) -> str:
        return f"slope={self.slope}"


class Softmax(Module):
    """Probabilities along ``axis``. For training, feed logits to ``cross_entropy`` instead: it
    is the stable combination of the two."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return F.softmax(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Dropout(Module):
    """Inverted dropout with probability ``p`` during training; the identity in eval mode.

    Masks come from the layer's own Generator (``rng``: a seed or a Generator), so a seeded
    model drops the same units on every run.
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p
        self.rng = initialisers.as_generator(rng)
        # Under ag.compile only: per input shape and dtype, the Tensor each call's mask is drawn
        # into (one per shape: each traced program reads its own), and the trace that last drew
        # one (a module used twice in one call is refused).
        self._masks = {}
        self._mask_trace = None

    def forward(self, x):
        rec = recording()
        if rec is None or not self.training or self.p == 0.0:
            return F.dropout(x, self.p, training=self.training, rng=self.rng)
        # Inside ag.compile's trace, a mask drawn here would be frozen into the replay. Instead
        # it is drawn by an opaque call, which every replay makes again (same generator, same
        # order, so the same masks as eager), into a Tensor that exists outside the traced ops
        # and that a replay therefore reads at call time.
        if self._mask_trace is rec:
            raise TraceError("compile: a Dropout module ran twice in one compiled call; its "
                             "second mask would overwrite the first one's before backward. Use "
                             "one Dropout module per place in the model")
        self._mask_trace = rec
        key = (np.shape(x), x.dtype)
        self._draw_mask(key)
        return x * self._masks[key]

    @opaque
    def _draw_mask(self, key: tuple) -> None:
        mask = F.dropout_mask(*key, self.p, self.rng)
        held = self._masks.get(key)
        if held is None:
            self._masks[key] = ag.Tensor(mask)
        else:
            held.data[...] = mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Merge every axis after the batch axis: (N, 28, 28) -> (N, 784)."""

    def forward(self, x):
        return F.flatten(x, 1)


__all__ = ["Dense", "Dropout", "Flatten", "GELU", "Identity", "LeakyReLU", "ReLU", "Residual",
           "SiLU", "Sigmoid", "Softmax", "Softplus", "Tanh"]
