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
for custom ops, and ``gradcheck``/``gradgradcheck`` to test them; ``detect_anomaly`` finds the op
that first produced NaN or inf; ``explain(out)`` shows the backward pass step by step.
"""

from . import func, linalg, ops, registry
from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .checkpoint import checkpoint
from .compiler import compile  # noqa: F401, A004 - ag.compile (not in __all__: a star import must not hide the builtin)
from .custom_op import custom_op
from .engine import Function, Variable, grad
from .errors import (
    AnomalyError,
    AutogradError,
    BackwardError,
    CheckpointError,
    DTypeError,
    GradcheckError,
    ShapeError,
    StateDictError,
)
from .explainer import explain
from .functional import hvp, jacobian
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import gradcheck, gradgradcheck
from .ops import *  # noqa: F403 - every op declared in ops/ (see registry)
from .scalar import Scalar
from .tensor import Tensor, full, ones, ones_like, tensor, zeros, zeros_like

__version__ = "0.1.0"


def __getattr__(name):
    # draw_graph is imported on first use: it pulls in graphviz, which nothing else needs, and an
    # eager import would make `python -m autograd_core.viz` run a module already imported.
    if name == "draw_graph":
        from .viz import draw_graph

        return draw_graph
    raise AttributeError(f"module 'autograd_core' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), "draw_graph"])


__all__ = [
    "AnomalyError", "detect_anomaly", "is_anomaly_enabled", "set_detect_anomaly", "AutogradError",
    "BackwardError", "checkpoint", "CheckpointError", "custom_op", "DTypeError", "Function",
    "GradcheckError", "Scalar",
    "StateDictError", "ShapeError", "Tensor", "Variable", "draw_graph",  # noqa: F405 - __getattr__
    "enable_grad", "explain", "full",
    "grad", "gradcheck", "gradgradcheck", "hvp", "is_grad_enabled", "jacobian", "linalg",
    "no_grad", "ones", "ones_like", "func", "registry", "set_grad_enabled", "tensor", "zeros",
    "zeros_like", *ops.__all__,
]
