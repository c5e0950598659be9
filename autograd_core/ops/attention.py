"""Scaled dot-product attention, composed from matmul, softmax and where (so its first and
second derivatives come from theirs)."""

from __future__ import annotations

import math

import numpy as np

from ..engine import Variable
from ..errors import DTypeError, ShapeError
from ..registry import composite
from .elementwise import where
from .linalg import matmul
from .reductions import softmax
from .shape import swapaxes

_CAUSAL: dict = {}  # (L, S) -> the lower-triangular keep mask, shared (it is never written)


def causal_mask(length: int, source_length: int | None = None) -> np.ndarray:
    """The boolean (L, S) mask of causal attention: query i may attend to keys 0..i (True =
    keep), PyTorch's ``is_causal`` (aligned at the top left when L != S). Read-only."""
    key = (int(length), int(length if source_length is None else source_length))
    mask = _CAUSAL.get(key)
    if mask is None:
        mask = np.tril(np.ones(key, dtype=bool))
        mask.flags.writeable = False
        _CAUSAL[key] = mask
    return mask


def _raw(value):
    return value.data if isinstance(value, Variable) else np.asarray(value)


@composite()
def scaled_dot_product_attention(q, k, v, mask=None, causal: bool = False, scale=None):
    """softmax(q @ k^T * scale + mask) @ v over the last axis, for q of shape (..., L, E), k
    (..., S, E) and v (..., S, Ev) (leading axes broadcast: batch, heads); the result has shape
    (..., L, Ev). ``scale`` defaults to 1 / sqrt(E).

    ``mask`` broadcasts to (..., L, S): a boolean mask keeps the positions where it is True
    (PyTorch's ``attn_mask`` convention for bools: True takes part), a float mask is added to
    the scores (-inf removes a position). ``causal=True`` lets query i see keys 0..i only
    (:func:`causal_mask`), combined with ``mask`` when both are given.

    A query row with every key masked out has no distribution to average with: its output is
    0 and no gradient flows through it (PyTorch's math kernel gives nan there); no nan reaches
    the other rows or the gradients. (A float mask of -inf over a whole row gives nan, as
    softmax of an all -inf row does.)
    """
    q_shape, k_shape, v_shape = np.shape(q), np.shape(k), np.shape(v)
    if len(q_shape) < 2 or len(k_shape) < 2 or len(v_shape) < 2:
        raise ShapeError(f"scaled_dot_product_attention: q, k and v need shapes (..., L, E), "
                         f"(..., S, E) and (..., S, Ev); got {q_shape}, {k_shape}, {v_shape}")
    if q_shape[-1] != k_shape[-1]:
        raise ShapeError(f"scaled_dot_product_attention: q of shape {q_shape} and k of shape "
                         f"{k_shape} must have the same last axis (E): {q_shape[-1]} != "
                         f"{k_shape[-1]}")
    if k_shape[-2] != v_shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: k of shape {k_shape} and v of shape "
                         f"{v_shape} must have as many positions (S): {k_shape[-2]} != "
                         f"{v_shape[-2]}")
    try:
        batch = np.broadcast_shapes(q_shape[:-2], k_shape[:-2], v_shape[:-2])
    except ValueError:
        raise ShapeError(f"scaled_dot_product_attention: the leading (batch, head) axes of q "
                         f"{q_shape}, k {k_shape} and v {v_shape} do not broadcast") from None
    length, source = q_shape[-2], k_shape[-2]
    keep = None
    additive = None
    if mask is not None:
        raw = _raw(mask)
        try:
            np.broadcast_shapes(raw.shape, batch + (length, source))
        except ValueError:
            raise ShapeError(f"scaled_dot_product_attention: mask of shape {raw.shape} does not "
                             f"broadcast to the scores' shape {batch + (length, source)}") \
                from None
        if raw.dtype == np.bool_:
            keep = raw
        elif raw.dtype.kind == "f":
            additive = mask
        else:
            raise DTypeError(f"scaled_dot_product_attention: mask must be bool (True = keep) or "
                             f"float (added to the scores), got dtype {raw.dtype}")
    if causal:
        tri = causal_mask(length, source)
        keep = tri if keep is None else keep & tri
    if scale is None:
        scale = 1.0 / math.sqrt(q_shape[-1]) if q_shape[-1] else 1.0
    scores = matmul(q, swapaxes(k, -1, -2)) * scale
    if additive is not None:
        scores = scores + additive
    empty_rows = None
    if keep is not None:
        scores = where(keep, scores, -np.inf)
        has_key = keep.any(axis=-1, keepdims=True)
        if not has_key.all():
            # a row without keys: softmax of zeros there (no nan), then its weights zeroed
            empty_rows = ~has_key
            scores = where(empty_rows, 0.0, scores)
    weights = softmax(scores, axis=-1)
    if empty_rows is not None:
        weights = where(empty_rows, 0.0, weights)
    return matmul(weights, v)
