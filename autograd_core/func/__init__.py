"""Function transforms, named as ``torch.func``/JAX name them: ``vmap`` (this module's part;
the gradient transforms live alongside it)."""

from .vmap import vmap

__all__ = ["vmap"]
