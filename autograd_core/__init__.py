"""autograd_core: reverse-mode automatic differentiation for numpy tensors and Python scalars.

>>> import autograd_core as ag
>>> x = ag.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> loss = (x @ x).tanh().sum()
>>> loss.backward()
>>> x.grad.shape
(2, 2)

Public pieces: :class:`Tensor` and :class:`Scalar` (the two front ends of one engine), the ops
(``ag.exp``, ``ag.matmul``, ... which also accept plain numpy arrays), grad modes
(``no_grad``), ``grad``/``jacobian``/``hvp`` for derivatives as functions, :class:`Function`
for custom ops, and ``gradcheck``/``gradgradcheck`` to test them.
"""

from . import registry
from .engine import Function, Variable, grad
from .errors import (
    AutogradError,
    BackwardError,
    CheckpointError,
    DTypeError,
    GradcheckError,
    ShapeError,
    StateDictError,
)
from .functional import hvp, jacobian
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import gradcheck, gradgradcheck
from .ops import (
    abs,
    add,
    astype,
    broadcast_to,
    clip,
    clone,
    concatenate,
    div,
    exp,
    expand_dims,
    leaky_relu,
    linear,
    log,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    neg,
    pow,
    relu,
    reshape,
    sigmoid,
    sign,
    softmax_cross_entropy,
    sqrt,
    squeeze,
    stack,
    sub,
    sum,
    swapaxes,
    tanh,
    transpose,
    unsqueeze,
    var,
    where,
)
from .scalar import Scalar
from .tensor import Tensor, full, ones, ones_like, tensor, zeros, zeros_like
from .viz import draw_graph as draw_graph

__version__ = "0.1.0"

__all__ = [
    "AutogradError", "BackwardError", "CheckpointError", "DTypeError", "Function",
    "GradcheckError", "Scalar", "StateDictError",
    "ShapeError", "Tensor", "Variable", "abs", "add", "astype", "broadcast_to", "clip", "clone",
    "concatenate", "div", "enable_grad", "exp", "expand_dims", "full", "grad", "gradcheck",
    "gradgradcheck", "hvp", "is_grad_enabled", "jacobian", "leaky_relu", "linear", "log",
    "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "mul", "neg", "no_grad",
    "ones", "ones_like", "pow", "registry", "relu", "reshape", "set_grad_enabled", "sigmoid",
    "sign", "softmax_cross_entropy", "sqrt", "squeeze", "stack", "sub", "sum", "swapaxes", "tanh",
    "tensor", "transpose", "unsqueeze", "var", "where", "zeros", "zeros_like",
]
