"""The ``transformer_step`` workload: one training step (zero_grad, forward, loss, backward,
Adam step) of a small causal character transformer, ``nn.TransformerLM`` (2 pre-norm blocks,
4-head attention, LayerNorm, GELU, embed 64, context 16, vocabulary 30), on a batch of 32
sequences, against the same model in PyTorch with the same weights, in the same process."""

from __future__ import annotations

from functools import partial

import numpy as np

import nn

from .timing import interleaved

VOCAB, CONTEXT, EMBED, HEADS, BLOCKS, BATCH = 30, 16, 64, 4, 2, 32
TARGET = 1.2  # ours / PyTorch (issue 12)


def model(seed: int = 0, approximate: str = "none") -> nn.TransformerLM:
    return nn.TransformerLM(VOCAB, CONTEXT, EMBED, HEADS, BLOCKS, rng=seed,
                            approximate=approximate)


def data(batch: int = BATCH, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Random token ids (N, T) and next-token targets (N, T), int64."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, VOCAB, (batch, CONTEXT + 1))
    return ids[:, :-1].copy(), ids[:, 1:].copy()


class OursStep:
    def __init__(self, lm: nn.TransformerLM, lr: float = 1e-3):
        self.model, self.optimizer = lm, nn.Adam(lm, lr=lr)

    def __call__(self, ids, targets) -> float:
        self.optimizer.zero_grad()
        logits = self.model(ids)
        loss = nn.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
        loss.backward()
        self.optimizer.step()
        return float(loss.data)


def torch_model(torch, lm: nn.TransformerLM):
    """The same network in PyTorch, holding ``lm``'s weights (Dense weights transposed)."""
    F = torch.nn.functional

    def linear(dense):
        layer = torch.nn.Linear(dense.in_features, dense.out_features)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(dense.weight.data.T.copy()))
            layer.bias.copy_(torch.from_numpy(dense.bias.data))
        return layer

    def layer_norm(ln):
        layer = torch.nn.LayerNorm(ln.normalized_shape, eps=ln.eps)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(ln.weight.data))
            layer.bias.copy_(torch.from_numpy(ln.bias.data))
        return layer

    def embedding(emb):
        layer = torch.nn.Embedding(emb.num_embeddings, emb.embedding_dim)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(emb.weight.data))
        return layer

    class Block(torch.nn.Module):
        def __init__(self, block):
            super().__init__()
            attention, mlp = block[0].module, block[1].module
            mha = attention[1]
            self.ln1, self.ln2 = layer_norm(attention[0]), layer_norm(mlp[0])
            self.in_proj = torch.nn.Linear(EMBED, 3 * EMBED)
            with torch.no_grad():
                self.in_proj.weight.copy_(torch.from_numpy(mha.in_proj_weight.data.T.copy()))
                self.in_proj.bias.copy_(torch.from_numpy(mha.in_proj_bias.data))
            self.out_proj = linear(mha.out_proj)
            self.fc1, self.fc2 = linear(mlp[1]), linear(mlp[3])
            self.approximate = mlp[2].approximate

        def forward(self, x):
            n, t, e = x.shape
            qkv = self.in_proj(self.ln1(x)).view(n, t, 3, HEADS, e // HEADS)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.out_proj(a.transpose(1, 2).reshape(n, t, e))
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate=self.approximate))

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.token, self.position = embedding(lm.token), embedding(lm.position)
            self.blocks = torch.nn.ModuleList(Block(b) for b in lm.blocks)
            self.norm, self.head = layer_norm(lm.norm), linear(lm.head)

        def forward(self, ids):
            x = self.token(ids) + self.position(torch.arange(ids.shape[1]))
            for block in self.blocks:
                x = block(x)
            return self.head(self.norm(x))

    return LM()


class TorchStep:
    def __init__(self, torch, lm: nn.TransformerLM, lr: float = 1e-3):
        self.torch = torch
        self.model = torch_model(torch, lm)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)

    def __call__(self, ids, targets) -> float:
        self.optimizer.zero_grad()
        logits = self.model(ids)
        loss = self.torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB),
                                                      targets.reshape(-1))
        loss.backward()
        self.optimizer.step()
        return loss.item()


def transformer_step(s) -> list:
    """Two rows: the model as specified (exact GELU, PyTorch's default) and with GELU's tanh
    form, which needs no erf (numpy has none; scipy's costs ~10x PyTorch's)."""
    from .workloads import _compare

    if s.torch is None:
        s.log("transformer_step: PyTorch is not installed; its rows are skipped")
        return []
    ids, targets = data()
    t_ids, t_targets = s.torch.from_numpy(ids), s.torch.from_numpy(targets)
    rows = []
    for approximate in ("none", "tanh"):
        ours = OursStep(model(approximate=approximate))
        theirs = TorchStep(s.torch, model(approximate=approximate))
        # the same first loss from the same weights: the two are one model
        first_ours, first_theirs = ours(ids, targets), theirs(t_ids, t_targets)
        if abs(first_ours - first_theirs) > 1e-4 * max(1.0, abs(first_theirs)):
            raise RuntimeError(f"transformer_step: the models disagree: loss {first_ours} "
                               f"(ours) against {first_theirs} (PyTorch)")
        times = interleaved({"ours": partial(ours, ids, targets),
                             "torch": partial(theirs, t_ids, t_targets)},
                            rounds=s.rounds, warmup=2, inner=2 if s.quick else 10)
        case = f"batch {BATCH}, context {CONTEXT}, GELU {approximate!r}"
        rows.append(_compare("transformer_step", case, times, "torch", "PyTorch",
                             TARGET if approximate == "none" else None))
    return rows


__all__ = ["model", "data", "OursStep", "TorchStep", "torch_model", "transformer_step"]
