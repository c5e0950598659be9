"""Function transforms, as ``torch.func`` and JAX name them: ``grad``, ``value_and_grad``,
``vjp``, ``jvp`` (forward mode), ``jacrev``, ``jacfwd``, ``hessian``, ``hvp``, and ``vmap``
(batching, vmap.py and batching.py).

>>> import autograd_core as ag
>>> from autograd_core import func
>>> f = lambda x: (x ** 3).sum()
>>> func.grad(f)(ag.Tensor([1.0, 2.0])).numpy().tolist()
[3.0, 12.0]
>>> func.hessian(f)(ag.Tensor([1.0, 2.0])).numpy().tolist()
[[6.0, 0.0], [0.0, 12.0]]
"""

from .forward_mode import derived_ops
from .transforms import grad, hessian, hvp, jacfwd, jacrev, jvp, value_and_grad, vjp
from .vmap import vmap

__all__ = ["derived_ops", "grad", "hessian", "hvp", "jacfwd", "jacrev", "jvp", "value_and_grad",
           "vjp", "vmap"]
