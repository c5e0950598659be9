"""Every differentiable op. Each function records on Tensors and computes plain numpy on arrays,
which is what lets backward rules be written once for both."""

from .broadcasting import sum_to
from .elementwise import (
    abs,
    add,
    clip,
    clone,
    div,
    exp,
    leaky_relu,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sign,
    sqrt,
    sub,
    tanh,
    where,
)
from .linalg import linear, matmul
from .reductions import logsumexp, max, mean, min, softmax_cross_entropy, sum, var
from .shape import (
    astype,
    broadcast_to,
    concatenate,
    expand_dims,
    getitem,
    reshape,
    scatter_add,
    squeeze,
    stack,
    swapaxes,
    transpose,
    unsqueeze,
)

__all__ = [
    "abs", "add", "astype", "broadcast_to", "clip", "clone", "concatenate", "div", "exp",
    "expand_dims", "getitem", "leaky_relu", "linear", "log", "logsumexp", "matmul", "max",
    "maximum", "mean", "min", "minimum", "mul", "neg", "pow", "relu", "reshape", "scatter_add",
    "sigmoid", "sign", "softmax_cross_entropy", "sqrt", "squeeze", "stack", "sub", "sum",
    "sum_to", "swapaxes", "tanh", "transpose", "unsqueeze", "var", "where",
]
