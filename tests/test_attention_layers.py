"""Sequence-model layers (issue 12): Embedding, LayerNorm, MultiHeadAttention, GELU/SiLU/Softplus,
Residual, TransformerLM; the errors of their ops (einsum, gather, attention); and how summary(),
draw_graph(cluster_by="module") and draw_network treat them. References are plain numpy."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import autograd_core as ag
import nn
from autograd_core.errors import DTypeError, ShapeError

RNG = np.random.default_rng(12)


def _normal(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def _np_softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_layer_norm(x, axes, weight, bias, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _np_mha(x, w_in, b_in, w_out, b_out, heads, keep=None, kv=None):
    """Multi-head attention by hand, head by head: x (N, L, E); kv (key, value) or None."""
    n, length, e = x.shape
    d = e // heads
    key, value = (x, x) if kv is None else kv
    q = x @ w_in[:, :e] + b_in[:e]
    k = key @ w_in[:, e:2 * e] + b_in[e:2 * e]
    v = value @ w_in[:, 2 * e:] + b_in[2 * e:]
    out = np.zeros((n, length, e))
    for b in range(n):
        for h in range(heads):
            cols = slice(h * d, (h + 1) * d)
            scores = q[b][:, cols] @ k[b][:, cols].T / math.sqrt(d)
            if keep is not None:
                scores = np.where(keep, scores, -np.inf)
            out[b][:, cols] = _np_softmax(scores) @ v[b][:, cols]
    return out @ w_out + b_out


# ---- Embedding ----------------------------------------------------------------------------------

def test_embedding_looks_up_rows_for_ids_of_any_shape_and_scatters_gradients_back():
    emb = nn.Embedding(5, 3, rng=0, dtype=np.float64)
    ids = np.array([[0, 4, 4], [2, 0, 4]])
    out = emb(ids)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.data, emb.weight.data[ids])
    upstream = _normal(2, 3, 3)
    out.backward(upstream)
    expected = np.zeros((5, 3))
    for position, i in np.ndenumerate(ids):
        expected[i] += upstream[position]  # id 4 three times, id 0 twice: gradients add up
    np.testing.assert_allclose(emb.weight.grad.data, expected)
    assert emb(np.int64(3)).shape == (3,)
    assert emb(ag.Tensor(np.array([1, 2]))).shape == (2, 3)  # an integer Tensor works too
    assert ag.gradgradcheck(lambda w: w[ids] * w[ids], [ag.Tensor(emb.weight.data,
                                                                  requires_grad=True)])


@pytest.mark.parametrize("ids, error, pattern", [
    (np.array([0.0, 1.0]), DTypeError, r"Embedding: ids must be integers, got dtype float64"),
    (np.array([1, 5, 7, 5]), IndexError, r"Embedding: ids \[5, 7\] are out of range for "
                                         r"num_embeddings=5: expected ids in \[0, 4\]"),
    (np.array([-1, 2]), IndexError, r"ids \[-1\] are out of range"),
])
def test_embedding_refuses_bad_ids_and_leaves_its_weight_alone(ids, error, pattern):
    emb = nn.Embedding(5, 3, rng=0)
    before = emb.weight.data.copy()
    with pytest.raises(error, match=pattern):
        emb(ids)
    np.testing.assert_array_equal(emb.weight.data, before)
    assert emb.weight.grad is None


# ---- LayerNorm ----------------------------------------------------------------------------------

@pytest.mark.parametrize("normalized_shape", [4, (3, 4)])
def test_layer_norm_matches_numpy_and_its_gradients_check(normalized_shape):
    ln = nn.LayerNorm(normalized_shape, eps=1e-3, dtype=np.float64)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    ln.weight.data[...] = _normal(*shape)
    ln.bias.data[...] = _normal(*shape)
    x = _normal(2, 3, 4)
    axes = tuple(range(-len(shape), 0))
    np.testing.assert_allclose(ln(x).data, _np_layer_norm(x, axes, ln.weight.data, ln.bias.data,
                                                          1e-3), rtol=1e-12, atol=1e-12)
    xt = ag.Tensor(x, requires_grad=True)
    assert ag.gradcheck(lambda t, w, b: ln(t), [xt, ln.weight, ln.bias])
    assert ag.gradgradcheck(lambda t: ln(t), [xt])


def test_layer_norm_without_affine_has_no_parameters_and_normalises():
    ln = nn.LayerNorm(6, elementwise_affine=False)
    assert list(ln.parameters()) == []
    out = ln(ag.Tensor(_normal(4, 6, dtype=np.float32))).data
    np.testing.assert_allclose(out.mean(axis=-1), 0, atol=1e-6)
    np.testing.assert_allclose(out.var(axis=-1), 1, rtol=1e-3)


def test_layer_norm_names_the_shape_it_expected():
    with pytest.raises(ShapeError, match=r"LayerNorm: input of shape \(2, 5\) does not end with "
                                         r"normalized_shape \(4,\): expected shape \(\.\.\., 4\)"):
        nn.LayerNorm(4)(np.zeros((2, 5), dtype=np.float32))


# ---- activations and Residual -------------------------------------------------------------------

def test_gelu_silu_softplus_modules_match_numpy():
    x = np.linspace(-6, 6, 25)
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(nn.GELU()(ag.Tensor(x)).data,
                               0.5 * x * (1 + erf(x / math.sqrt(2))), rtol=1e-14, atol=1e-15)
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(nn.GELU("tanh")(ag.Tensor(x)).data, tanh_form, rtol=1e-14,
                               atol=1e-15)
    np.testing.assert_allclose(nn.SiLU()(ag.Tensor(x)).data, x / (1 + np.exp(-x)), rtol=1e-14)
    np.testing.assert_allclose(nn.Softplus()(ag.Tensor(x)).data, np.log1p(np.exp(x)),
                               rtol=1e-14)
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh'"):
        nn.GELU("fast")


def test_gelu_float32_erf_agrees_with_math_erf():
    x = np.linspace(-5, 5, 1001).astype(np.float32)
    exact = 0.5 * x.astype(np.float64) * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    np.testing.assert_allclose(ag.gelu(x).astype(np.float64), exact, rtol=1e-6, atol=1e-7)


def test_residual_adds_its_input_and_works_inside_sequential():
    inner = nn.Dense(3, 3, rng=0, dtype=np.float64)
    model = nn.Sequential(nn.Residual(inner), nn.Tanh())
    x = _normal(4, 3)
    expected = np.tanh(x + x @ inner.weight.data + inner.bias.data)
    np.testing.assert_allclose(model(x).data, expected, rtol=1e-12)
    assert [name for name, _ in model.named_parameters()] == ["0.module.weight",
                                                              "0.module.bias"]
    xt = ag.Tensor(x, requires_grad=True)
    assert ag.gradcheck(lambda t: model(t), [xt])


def test_residual_names_a_module_that_changes_the_shape():
    with pytest.raises(ShapeError, match=r"Residual: Dense turned an input of shape \(4, 3\) "
                                         r"into \(4, 2\)"):
        nn.Residual(nn.Dense(3, 2))(np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="Residual: expected a Module"):
        nn.Residual(np.tanh)


# ---- MultiHeadAttention -------------------------------------------------------------------------

def _mha(e=8, heads=2, causal=False):
    mha = nn.MultiHeadAttention(e, heads, causal=causal, rng=0, dtype=np.float64)
    mha.in_proj_bias.data[...] = _normal(3 * e)  # non-zero biases, so they are checked too
    mha.out_proj.bias.data[...] = _normal(e)
    return mha


def _mha_reference(mha, x, keep=None, kv=None):
    return _np_mha(x, mha.in_proj_weight.data, mha.in_proj_bias.data, mha.out_proj.weight.data,
                   mha.out_proj.bias.data, mha.num_heads, keep, kv)


def test_multi_head_attention_matches_a_head_by_head_numpy_reference():
    mha = _mha()
    x = _normal(3, 5, 8)
    np.testing.assert_allclose(mha(x).data, _mha_reference(mha, x), rtol=1e-10, atol=1e-12)
    tri = np.tril(np.ones((5, 5), dtype=bool))
    np.testing.assert_allclose(mha(x, causal=True).data, _mha_reference(mha, x, tri),
                               rtol=1e-10, atol=1e-12)
    keep = RNG.random((5, 5)) > 0.4
    keep[:, 0] = True  # every row keeps a key
    np.testing.assert_allclose(mha(x, mask=keep).data, _mha_reference(mha, x, keep),
                               rtol=1e-10, atol=1e-12)
    memory = _normal(3, 4, 8)
    np.testing.assert_allclose(mha(x, memory, memory).data,
                               _mha_reference(mha, x, kv=(memory, memory)), rtol=1e-10,
                               atol=1e-12)
    assert mha(x[0]).shape == (5, 8)  # unbatched (L, E)


def test_multi_head_attention_gradients_check():
    mha = _mha(e=4, heads=2, causal=True)
    x = ag.Tensor(_normal(2, 3, 4), requires_grad=True)
    params = [mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias]
    assert ag.gradcheck(lambda t, *p: mha(t), [x, *params])
    assert ag.gradgradcheck(lambda t: mha(t), [x])


def test_causal_attention_at_position_t_ignores_every_input_after_t():
    mha = _mha(causal=True)
    x = _normal(2, 6, 8)
    out = mha(x).data
    for t in range(5):
        changed = x.copy()
        changed[:, t + 1:] = _normal(2, 5 - t, 8) * 10
        np.testing.assert_allclose(mha(changed).data[:, :t + 1], out[:, :t + 1], rtol=1e-12,
                                   atol=1e-12)
        assert not np.allclose(mha(changed).data[:, t + 1:], out[:, t + 1:])
    # and the gradient of the output at t with respect to later inputs is exactly 0
    xt = ag.Tensor(x, requires_grad=True)
    mha(xt)[:, 2].sum().backward()
    assert np.all(xt.grad.data[:, 3:] == 0) and np.any(xt.grad.data[:, :3] != 0)


def test_transformer_lm_logits_at_t_depend_on_tokens_up_to_t_only():
    lm = nn.TransformerLM(11, 8, embed_dim=16, num_heads=4, num_blocks=2, rng=0)
    ids = RNG.integers(0, 11, (3, 8))
    logits = lm(ids).data
    assert logits.shape == (3, 8, 11) and logits.dtype == np.float32
    later = ids.copy()
    later[:, 5:] = (later[:, 5:] + 1) % 11
    np.testing.assert_array_equal(lm(later).data[:, :5], logits[:, :5])
    assert not np.allclose(lm(later).data[:, 5:], logits[:, 5:])
    with pytest.raises(ShapeError, match=r"TransformerLM: ids of shape \(3, 9\).*context=8"):
        lm(RNG.integers(0, 11, (3, 9)))


def test_multi_head_attention_refuses_bad_sizes_and_shapes():
    with pytest.raises(ValueError, match=r"num_heads=3 does not divide embed_dim=8"):
        nn.MultiHeadAttention(8, 3)
    mha = _mha()
    before = {name: p.data.copy() for name, p in mha.named_parameters()}
    x = _normal(2, 5, 6)
    x_before = x.copy()
    with pytest.raises(ShapeError, match=r"MultiHeadAttention: query of shape \(2, 5, 6\) does "
                                         r"not fit embed_dim=8"):
        mha(x)
    np.testing.assert_array_equal(x, x_before)
    for name, p in mha.named_parameters():
        np.testing.assert_array_equal(p.data, before[name])
        assert p.grad is None


# ---- errors of the ops --------------------------------------------------------------------------

def test_attention_names_mismatched_shapes_and_leaves_inputs_alone():
    q, k, v = (ag.Tensor(_normal(2, 3, 4), requires_grad=True) for _ in range(3))
    data = [t.data.copy() for t in (q, k, v)]
    with pytest.raises(ShapeError, match=r"q of shape \(2, 3, 4\) and k of shape \(2, 3, 5\) "
                                         r"must have the same last axis"):
        ag.scaled_dot_product_attention(q, ag.Tensor(_normal(2, 3, 5)), v)
    with pytest.raises(ShapeError, match=r"k of shape \(2, 3, 4\) and v of shape \(2, 2, 4\) "
                                         r"must have as many positions"):
        ag.scaled_dot_product_attention(q, k, ag.Tensor(_normal(2, 2, 4)))
    with pytest.raises(ShapeError, match=r"mask of shape \(4, 4\) does not broadcast to the "
                                         r"scores' shape \(2, 3, 3\)"):
        ag.scaled_dot_product_attention(q, k, v, mask=np.ones((4, 4), dtype=bool))
    with pytest.raises(DTypeError, match="mask must be bool"):
        ag.scaled_dot_product_attention(q, k, v, mask=np.ones((3, 3), dtype=np.int64))
    for t, before in zip((q, k, v), data):
        np.testing.assert_array_equal(t.data, before)
        assert t.grad is None


def test_attention_rows_without_any_key_give_zeros_and_no_nan_gradients():
    q, k, v = (ag.Tensor(_normal(3, 2), requires_grad=True) for _ in range(3))
    keep = np.array([[True, False, True], [False, False, False], [True, True, False]])
    out = ag.scaled_dot_product_attention(q, k, v, mask=keep)
    np.testing.assert_array_equal(out.data[1], 0.0)
    scores = q.data @ k.data.T / math.sqrt(2)
    for row in (0, 2):
        weights = _np_softmax(scores[row][keep[row]])
        np.testing.assert_allclose(out.data[row], weights @ v.data[keep[row]], rtol=1e-12)
    out.sum().backward()
    assert all(np.isfinite(t.grad.data).all() for t in (q, k, v))
    np.testing.assert_array_equal(q.grad.data[1], 0.0)


@pytest.mark.parametrize("subscripts, shapes, pattern", [
    ("ij,jk->ik", [(2, 3), (4, 5)], r"einsum: letter 'j' stands for axes of different sizes "
                                    r"\(3 and 4\) in 'ij,jk->ik' with operand shapes "
                                    r"\[\(2, 3\), \(4, 5\)\]"),
    ("ij", [(2, 3, 4)], r"einsum: operand subscripts 'ij' name 2 axes but the operand has shape "
                        r"\(2, 3, 4\)"),
    ("ij,jk", [(2, 3)], r"einsum: subscripts 'ij,jk' name 2 operand\(s\) but 1 were given"),
    ("...i,...i", [(2, 3), (3, 3)], r"einsum: the '\.\.\.' axes of the operands do not "
                                    r"broadcast"),
])
def test_einsum_names_the_subscripts_and_shapes_that_do_not_fit(subscripts, shapes, pattern):
    with pytest.raises(ShapeError, match=pattern):
        ag.einsum(subscripts, *(ag.Tensor(np.ones(s), requires_grad=True) for s in shapes))


def test_einsum_refuses_malformed_subscripts():
    x = ag.Tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(ValueError, match=r"einsum: output letter 'k' of 'ij->k' is not in any"):
        ag.einsum("ij->k", x)
    with pytest.raises(ValueError, match=r"einsum: output subscripts 'ii' repeat 'i'"):
        ag.einsum("ij->ii", x)
    with pytest.raises(ValueError, match="may hold only letters"):
        ag.einsum("i1", x)
    np.testing.assert_allclose(np.einsum("ii", x).data, 2.0)  # numpy's function runs ours


def test_gather_and_take_along_axis_name_bad_indices():
    x = ag.Tensor(_normal(2, 3), requires_grad=True)
    with pytest.raises(DTypeError, match=r"gather: indices must be integers, got dtype float64"):
        ag.gather(x, 1, np.array([[0.0]]))
    with pytest.raises(IndexError, match=r"gather: index 3 is out of range for axis 1 of size 3 "
                                         r"\(tensor shape \(2, 3\)\); expected indices in "
                                         r"\[0, 2\]"):
        ag.gather(x, 1, np.array([[0, 3]]))
    with pytest.raises(IndexError, match=r"gather: index -1 is out of range"):
        ag.gather(x, 1, np.array([[-1]]))
    with pytest.raises(ShapeError, match=r"gather: index of shape \(3, 1\) is longer than the "
                                         r"tensor of shape \(2, 3\) on axis 0"):
        ag.gather(x, 1, np.zeros((3, 1), dtype=np.int64))
    with pytest.raises(IndexError, match=r"take_along_axis: index -4 is out of range for axis 1 "
                                         r"of size 3"):
        ag.take_along_axis(x, np.array([[-4]]), axis=1)
    with pytest.raises(ShapeError, match=r"take_along_axis: indices of shape \(2,\) must have as "
                                         r"many dims"):
        ag.take_along_axis(x, np.array([0, 1]), axis=1)
    assert x.grad is None


def test_gather_gradient_adds_up_at_repeated_indices():
    x = ag.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    out = ag.gather(x, 1, np.array([[2, 2, 0], [1, 1, 1]]))
    np.testing.assert_array_equal(out.data, [[2, 2, 0], [4, 4, 4]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[1, 0, 2], [0, 3, 0]])


def test_cumsum_gradient_is_the_reversed_running_sum():
    x = ag.Tensor(np.arange(4.0), requires_grad=True)
    ag.cumsum(x).backward(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(x.grad.data, [10.0, 9.0, 7.0, 4.0])


# ---- summary and pictures -----------------------------------------------------------------------

def _small_lm():
    return nn.TransformerLM(10, 4, embed_dim=8, num_heads=2, num_blocks=1, rng=0)


def test_summary_shows_the_sequence_layers_with_their_shapes():
    table = _small_lm().summary(input_shape=(2, 4), dtype=np.int64)
    for row in ("token                         Embedding           (2, 4, 8)     80",
                "MultiHeadAttention  (2, 4, 8)     216",
                "LayerNorm           (2, 4, 8)     16",
                "GELU                (2, 4, 32)    0"):
        assert row in table, table


def test_draw_graph_boxes_each_sequence_layer_by_module():
    lm = _small_lm()
    with nn.record_modules(lm):
        out = lm(np.array([[1, 2, 3]]))
    source = ag.draw_graph(out.sum(), params=lm.named_parameters(), cluster_by="module",
                           max_nodes=None).source
    for label in ("token (Embedding)", "blocks.0.0 (Residual)", "blocks.0.0.module.0 (LayerNorm)",
                  "blocks.0.0.module.1 (MultiHeadAttention)", "blocks.0.1.module.2 (GELU)"):
        assert f'label="{label}"' in source, label


def test_draw_network_says_which_layers_it_cannot_draw():
    with pytest.raises(ValueError, match=r"draw_network: draws chains of Dense layers and "
                                         r"activations only.*Embedding \(token\).*Residual "
                                         r"\(blocks\.0\.0\).*MultiHeadAttention"):
        nn.draw_network(_small_lm())
    with pytest.raises(ValueError, match=r"Residual \(0\)"):
        nn.draw_network(nn.Sequential(nn.Residual(nn.Dense(2, 2)), nn.Dense(2, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new activations are drawn as activations
        source = nn.draw_network(nn.Sequential(nn.Dense(2, 3), nn.GELU(), nn.Dense(3, 2),
                                               nn.SiLU(), nn.Dense(2, 1), nn.Softplus())).source
    assert "gelu" in source and "silu" in source and "softplus" in source


# ---- the transformer benchmark's model ----------------------------------------------------------

def test_transformer_benchmark_runs_the_specified_model_and_is_registered():
    from benchmarks import transformer
    from benchmarks.workloads import WORKLOADS

    assert WORKLOADS["transformer_step"] is transformer.transformer_step
    lm = transformer.model()
    kinds = [type(m).__name__ for _, m in lm.named_modules()]
    assert kinds.count("MultiHeadAttention") == 2 and kinds.count("GELU") == 2
    assert kinds.count("LayerNorm") == 5  # two per block and the final one
    attention = lm.blocks[0][0].module[1]
    assert (attention.embed_dim, attention.num_heads, attention.causal) == (64, 4, True)
    ids, targets = transformer.data()
    assert ids.shape == targets.shape == (32, 16) and ids.max() < 30
    np.testing.assert_array_equal(ids[:, 1:], targets[:, :-1])  # next-token targets
    step = transformer.OursStep(lm, lr=1e-2)
    first = step(ids, targets)
    assert abs(first - math.log(30)) < 1.5  # about uniform at the start
    for _ in range(4):
        last = step(ids, targets)
    assert last < first
