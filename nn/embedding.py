"""Embedding: a lookup table of learned vectors, one row per integer id."""

from __future__ import annotations

import numpy as np

import autograd_core as ag
from autograd_core.errors import DTypeError

from . import init as initialisers
from .module import Module, Parameter


class Embedding(Module):
    """Rows of ``weight`` (shape (num_embeddings, embedding_dim)) looked up by integer ids: an
    input of any shape (..., ) gives (..., embedding_dim). As PyTorch's ``nn.Embedding``: the
    weight starts as standard normal values, and backward adds each output row's gradient into
    the row it came from (an id used twice gets both).

    Ids must be integers (a numpy array, a list or an integer Tensor) in [0, num_embeddings):
    anything else raises (DTypeError, IndexError) naming the offending ids, before anything is
    computed.

    >>> Embedding(10, 3, rng=0)(np.array([[1, 2], [4, 1]])).shape
    (2, 2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, rng=None, dtype=np.float32):
        super().__init__()
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Embedding: {name} must be a positive int, got {value!r}")
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        values = initialisers.as_generator(rng).standard_normal(
            (self.num_embeddings, self.embedding_dim))
        self.weight = Parameter(values.astype(dtype))

    def forward(self, ids):
        raw = np.asarray(ids.data if isinstance(ids, ag.Tensor) else ids)
        if raw.dtype.kind not in "iu":
            raise DTypeError(f"Embedding: ids must be integers, got dtype {raw.dtype} (shape "
                             f"{raw.shape}); convert them, e.g. ids.astype('int64')")
        if raw.size and (raw.min() < 0 or raw.max() >= self.num_embeddings):
            bad = np.unique(raw[(raw < 0) | (raw >= self.num_embeddings)])
            raise IndexError(f"Embedding: ids {bad[:5].tolist()} are out of range for "
                             f"num_embeddings={self.num_embeddings}: expected ids in "
                             f"[0, {self.num_embeddings - 1}]")
        return ag.getitem(self.weight, raw)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
