"""Convolution and pooling layers, with PyTorch's names, arguments and parameter layout, so that
a model ports line by line: ``Conv1d``, ``Conv2d``, ``MaxPool2d``, ``AvgPool2d``."""

from __future__ import annotations

import numpy as np

import autograd_core as ag

from . import init as initialisers
from .module import Module, Parameter, check_floating


def _pair(value, n: int, what: str, layer: str) -> tuple:
    items = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    if len(items) != n or any(isinstance(v, bool) or not isinstance(v, (int, np.integer))
                              for v in items):
        raise TypeError(f"{layer}: {what} must be an int or {n} ints, got {value!r}")
    return tuple(int(v) for v in items)


class _ConvNd(Module):
    nd = 0
    function = None

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, init="he_uniform", rng=None,
                 dtype=np.float32):
        super().__init__()
        layer = type(self).__name__
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("groups", groups)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{layer}: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), \
            int(groups)
        self.kernel_size = _pair(kernel_size, self.nd, "kernel_size", layer)
        if min(self.kernel_size) < 1:
            raise ValueError(f"{layer}: kernel_size must be positive, got {kernel_size!r}")
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.init_name = init if isinstance(init, str) else getattr(init, "__name__", "custom")
        # PyTorch's layout: (out_channels, in_channels / groups, *kernel); nn.init.fans reads
        # fan_in = in_channels / groups * prod(kernel) from it
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        values = initialisers.get(init)(shape, initialisers.as_generator(rng), dtype)
        self.weight = Parameter(np.asarray(values, dtype=dtype))
        self.bias = Parameter(np.zeros(self.out_channels, dtype=dtype)) if bias else None

    def forward(self, x):
        check_floating(x, type(self).__name__)
        dtype = self.weight.dtype  # computes in its parameters' dtype, as Dense
        if isinstance(x, ag.Tensor):
            if x.dtype != dtype:
                x = x.astype(dtype)
        elif np.asarray(x).dtype != dtype:
            x = np.asarray(x, dtype=dtype)
        return type(self).function(x, self.weight, self.bias, stride=self.stride,
                                   padding=self.padding, dilation=self.dilation,
                                   groups=self.groups)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != 0:
            text += f", padding={self.padding}"
        if self.dilation != 1:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + f", bias={self.bias is not None}"


class Conv1d(_ConvNd):
    """1-D convolution layer over (N, in_channels, L), as PyTorch's: ``weight`` of shape
    (out_channels, in_channels / groups, kernel_size), ``bias`` (out_channels,) or None.

    ``init`` names the weight initialiser (default ``'he_uniform'``, for ReLU networks; see
    :mod:`nn.init`, whose fans read the kernel's layout) or is a callable; biases start at
    zero. Floating input of another dtype is cast to the parameters' dtype, as in Dense.
    """

    nd = 1
    function = staticmethod(ag.conv1d)


class Conv2d(_ConvNd):
    """2-D convolution layer over (N, in_channels, H, W), as PyTorch's: ``weight`` of shape
    (out_channels, in_channels / groups, kH, kW), ``bias`` (out_channels,) or None;
    ``kernel_size``, ``stride``, ``padding``, ``dilation`` are ints or pairs.

    ``init`` names the weight initialiser (default ``'he_uniform'``, for ReLU networks; see
    :mod:`nn.init`, whose fans read the kernel's layout: fan_in = in_channels / groups * kH *
    kW) or is a callable; biases start at zero.

    >>> Conv2d(1, 8, 3, padding=1, rng=0)(ag.zeros(2, 1, 28, 28)).shape
    (2, 8, 28, 28)
    """

    nd = 2
    function = staticmethod(ag.conv2d)


class _Pool2d(Module):
    function = None

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return type(self).function(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Maximum over windows of (N, C, H, W) (``ag.max_pool2d``): ``stride`` defaults to
    ``kernel_size``, padding is -inf; the gradient goes to the first maximum of each window."""

    function = staticmethod(ag.max_pool2d)


class AvgPool2d(_Pool2d):
    """Mean over windows of (N, C, H, W) (``ag.avg_pool2d``): ``stride`` defaults to
    ``kernel_size``; zero padding counts in the mean (PyTorch's ``count_include_pad=True``)."""

    function = staticmethod(ag.avg_pool2d)
