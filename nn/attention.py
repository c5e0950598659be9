"""Multi-head attention, and the small causal transformer built from it."""

from __future__ import annotations

import numpy as np

import autograd_core as ag
from autograd_core.errors import ShapeError

from . import init as initialisers
from .embedding import Embedding
from .layers import GELU, Dense, Residual
from .module import Module, Parameter, Sequential, check_floating
from .normalization import LayerNorm


class MultiHeadAttention(Module):
    """Multi-head scaled dot-product attention (Vaswani et al.), as PyTorch's
    ``nn.MultiheadAttention`` with ``batch_first=True``: inputs of shape (N, L, embed_dim) or
    (L, embed_dim), ``num_heads`` heads of ``embed_dim // num_heads`` features each.

    Parameters, named as PyTorch's: ``in_proj_weight`` (embed_dim, 3 * embed_dim), the query,
    key and value projections side by side (the transpose of PyTorch's, as Dense weights are),
    ``in_proj_bias`` (3 * embed_dim,), and ``out_proj``, a Dense layer embed_dim -> embed_dim;
    weights Xavier-uniform, biases zero (``bias=False``: none).

    ``forward(query, key=None, value=None, mask=None)``: self-attention when key and value are
    left out. ``mask`` (broadcasting to (N, num_heads, L, S)) is a *keep* mask as in
    ``scaled_dot_product_attention``: True = may attend. PyTorch's ``nn.MultiheadAttention``
    takes the opposite convention under the name ``attn_mask``, which is why this argument has
    another name. ``causal=True`` (here or in the constructor) lets position t attend to
    positions <= t only. Returns the output alone (no attention weights).
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True, causal: bool = False,
                 rng=None, dtype=np.float32):
        super().__init__()
        for name, value in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"MultiHeadAttention: {name} must be a positive int, got "
                                 f"{value!r}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiHeadAttention: num_heads={num_heads} does not divide "
                             f"embed_dim={embed_dim}: each head gets embed_dim // num_heads "
                             "features, so embed_dim must be a multiple of num_heads")
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads
        self.causal = bool(causal)
        rng = initialisers.as_generator(rng)
        e = self.embed_dim
        self.in_proj_weight = Parameter(np.asarray(
            initialisers.xavier_uniform((e, 3 * e), rng, dtype), dtype=dtype))
        self.in_proj_bias = Parameter(np.zeros(3 * e, dtype=dtype)) if bias else None
        self.out_proj = Dense(e, e, bias=bias, rng=rng, dtype=dtype)

    def _check(self, x, name: str) -> tuple:
        check_floating(x, "MultiHeadAttention")
        shape = np.shape(x)
        if len(shape) not in (2, 3) or shape[-1] != self.embed_dim:
            raise ShapeError(f"MultiHeadAttention: {name} of shape {shape} does not fit "
                             f"embed_dim={self.embed_dim}: expected (N, L, {self.embed_dim}) or "
                             f"(L, {self.embed_dim})")
        return shape

    def _same_dtype(self, x):
        """x in the parameters' dtype (as Dense does): float64 data must not widen the model."""
        dtype = self.in_proj_weight.dtype
        if isinstance(x, ag.Tensor):
            return x if x.dtype == dtype else x.astype(dtype)
        return np.asarray(x, dtype=dtype)

    def _heads(self, x):
        """(..., L, embed_dim) -> (..., num_heads, L, head_dim)."""
        shape = np.shape(x)
        x = ag.reshape(x, shape[:-1] + (self.num_heads, self.head_dim))
        return ag.swapaxes(x, -2, -3)

    def forward(self, query, key=None, value=None, mask=None, causal: bool | None = None):
        q_shape = self._check(query, "query")
        causal = self.causal if causal is None else causal
        if key is None and value is None:  # self-attention: one product for q, k and v
            qkv = ag.linear(self._same_dtype(query), self.in_proj_weight, self.in_proj_bias)
            lead, length = q_shape[:-2], q_shape[-2]
            qkv = ag.reshape(qkv, lead + (length, 3, self.num_heads, self.head_dim))
            n = len(lead)
            order = (n + 1,) + tuple(range(n)) + (n + 2, n, n + 3)  # (3, ..., H, L, D)
            qkv = ag.transpose(qkv, order)
            q, k, v = qkv[0], qkv[1], qkv[2]
        else:
            key = query if key is None else key
            value = key if value is None else value
            k_shape, v_shape = self._check(key, "key"), self._check(value, "value")
            if k_shape[:-1] != v_shape[:-1] or k_shape[:-2] != q_shape[:-2]:
                raise ShapeError(f"MultiHeadAttention: query {q_shape}, key {k_shape} and value "
                                 f"{v_shape} must share the batch axis, and key and value the "
                                 "positions (S)")
            e = self.embed_dim
            w, b = self.in_proj_weight, self.in_proj_bias
            parts = []
            for i, x in enumerate((query, key, value)):
                cols = slice(i * e, (i + 1) * e)
                parts.append(self._heads(ag.linear(self._same_dtype(x), w[:, cols],
                                                   None if b is None else b[cols])))
            q, k, v = parts
        if mask is not None and np.ndim(mask.data if isinstance(mask, ag.Tensor) else mask) \
                == 3:  # (N, L, S): one mask per example, the same for every head
            mask = ag.expand_dims(mask, -3) if isinstance(mask, ag.Tensor) \
                else np.expand_dims(mask, -3)
        out = ag.scaled_dot_product_attention(q, k, v, mask=mask, causal=causal)
        out = ag.swapaxes(out, -2, -3)  # (..., L, H, D)
        out = ag.reshape(out, np.shape(out)[:-2] + (self.embed_dim,))
        return self.out_proj(out)

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"bias={self.in_proj_bias is not None}, causal={self.causal}")


def transformer_block(embed_dim: int, num_heads: int, mlp_ratio: int = 4, causal: bool = True,
                      rng=None, dtype=np.float32, approximate: str = "none") -> Sequential:
    """One pre-norm transformer block as a Sequential of two Residual parts:
    ``x + attention(LayerNorm(x))``, then ``x + mlp(LayerNorm(x))`` with the MLP
    Dense(embed_dim, mlp_ratio * embed_dim), GELU (``approximate``: "none" or "tanh"), Dense
    back (GPT-2's layout)."""
    rng = initialisers.as_generator(rng)
    hidden = mlp_ratio * embed_dim
    return Sequential(
        Residual(Sequential(LayerNorm(embed_dim, dtype=dtype),
                            MultiHeadAttention(embed_dim, num_heads, causal=causal, rng=rng,
                                               dtype=dtype))),
        Residual(Sequential(LayerNorm(embed_dim, dtype=dtype),
                            Dense(embed_dim, hidden, rng=rng, dtype=dtype),
                            GELU(approximate),
                            Dense(hidden, embed_dim, rng=rng, dtype=dtype))),
    )


class TransformerLM(Module):
    """A small causal transformer language model over integer tokens (GPT-style): token and
    position embeddings added, ``num_blocks`` pre-norm blocks (:func:`transformer_block`), a
    final LayerNorm and a Dense head to ``vocab_size`` logits. Input ids (N, T) with
    T <= ``context``; output logits (N, T, vocab_size), where position t has seen tokens
    0..t only. ``approximate`` picks the GELU form ("none": exact, PyTorch's default; "tanh").
    The architecture of the ``transformer_step`` benchmark and the names example.
    """

    def __init__(self, vocab_size: int, context: int, embed_dim: int = 64, num_heads: int = 4,
                 num_blocks: int = 2, mlp_ratio: int = 4, rng=None, dtype=np.float32,
                 approximate: str = "none"):
        super().__init__()
        rng = initialisers.as_generator(rng)
        self.context = int(context)
        self.token = Embedding(vocab_size, embed_dim, rng=rng, dtype=dtype)
        self.position = Embedding(context, embed_dim, rng=rng, dtype=dtype)
        self.blocks = Sequential(*[transformer_block(embed_dim, num_heads, mlp_ratio, True, rng,
                                                     dtype, approximate)
                                   for _ in range(num_blocks)])
        self.norm = LayerNorm(embed_dim, dtype=dtype)
        self.head = Dense(embed_dim, vocab_size, rng=rng, dtype=dtype)

    def forward(self, ids):
        shape = np.shape(ids.data if isinstance(ids, ag.Tensor) else ids)
        if len(shape) not in (1, 2) or not 1 <= shape[-1] <= self.context:
            raise ShapeError(f"TransformerLM: ids of shape {shape}: expected (N, T) or (T,) "
                             f"with 1 <= T <= context={self.context}")
        x = self.token(ids) + self.position(np.arange(shape[-1]))
        return self.head(self.norm(self.blocks(x)))
