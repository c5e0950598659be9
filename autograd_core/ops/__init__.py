"""Every built-in op, each declared once in one of these modules (see ``registry``): the
elementwise ops, reductions, shape ops and linear algebra. Each public function records on
Tensors and Scalars and computes plain numpy (or plain floats) otherwise, which is what lets
backward rules be written once for every kind of value."""

from .. import registry

# each module declares its ops
from . import (  # noqa: F401
    attention,
    convolution,
    creation,
    decompositions,
    einsum,
    elementwise,
    gather,
    linalg,
    numeric,
    ordering,
    rearrange,
    reductions,
    shape,
    special,
)

unsqueeze = shape.expand_dims  # PyTorch's name
getitem = shape.getitem

globals().update({name: op.function for name, op in registry.OPS.items()})
__all__ = sorted([*registry.OPS, "unsqueeze"])
