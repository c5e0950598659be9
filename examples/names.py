"""Make up English-looking words: character-level language models on Debian's word list.

    python -m examples.names           # both models, a few minutes
    python -m examples.names --quick   # a smoke run on a slice of the words

The words are the lower-case a-z entries of ``/usr/share/dict/words`` (Debian's ``wamerican``),
shuffled and split 90/10 into training and validation words. Every model predicts each letter
of a word, and then the word's end, from the letters before it; losses are in nats per
character over exactly those predictions, so they compare directly:

- a **bigram** baseline: counts of (previous character, next character) on the training words,
  add-one smoothed;
- (a) a **Bengio-style MLP** (Bengio et al. 2003, as in Karpathy's makemore): the previous 3
  characters embedded (``nn.Embedding``), concatenated, a hidden layer with ``nn.BatchNorm1d``
  and tanh, and the next character's logits;
- (b) a small **causal transformer** (``nn.TransformerLM``: 2 pre-norm blocks of
  ``nn.MultiHeadAttention`` and a GELU MLP, ``nn.LayerNorm``), reading the whole word so far.

Each model then spells 20 words, sampled with a fixed seed.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import autograd_core as ag
import nn
from examples import datasets
from examples.common import Stopwatch, parse_args

END = "."  # the start and end of every word: index 0
ALPHABET = END + "abcdefghijklmnopqrstuvwxyz"
VOCAB = len(ALPHABET)
BLOCK = 3  # the MLP's context: the previous 3 characters


def encode(word: str) -> list[int]:
    return [ALPHABET.index(c) for c in word]


def split_words(words: list[str], seed: int) -> tuple[list[str], list[str]]:
    order = np.random.default_rng(seed).permutation(len(words))
    n_val = len(words) // 10
    return [words[i] for i in order[n_val:]], [words[i] for i in order[:n_val]]


# ---- the bigram baseline ------------------------------------------------------------------------

def bigram_loss(train: list[str], val: list[str]) -> tuple[float, float, np.ndarray]:
    """(train loss, validation loss, probabilities): nats per character of add-one smoothed
    bigram counts over the training words."""
    counts = np.ones((VOCAB, VOCAB))
    for word in train:
        ids = [0, *encode(word), 0]
        np.add.at(counts, (ids[:-1], ids[1:]), 1)
    probs = counts / counts.sum(axis=1, keepdims=True)

    def loss(words):
        pairs = [(a, b) for w in words for a, b in zip([0, *encode(w)], [*encode(w), 0])]
        a, b = np.array(pairs).T
        return float(-np.log(probs[a, b]).mean())

    return loss(train), loss(val), probs


# ---- (a) the MLP: previous BLOCK characters -> next --------------------------------------------

def mlp_examples(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(contexts (N, BLOCK), next characters (N,)): one row per prediction."""
    contexts, targets = [], []
    for word in words:
        context = [0] * BLOCK
        for ch in [*encode(word), 0]:
            contexts.append(context)
            targets.append(ch)
            context = context[1:] + [ch]
    return np.array(contexts, dtype=np.int64), np.array(targets, dtype=np.int64)


def make_mlp(seed: int, embed: int = 16, hidden: int = 256) -> nn.Module:
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Embedding(VOCAB, embed, rng=rng), nn.Flatten(),
        nn.Dense(BLOCK * embed, hidden, bias=False, init="xavier_uniform", rng=rng),
        nn.BatchNorm1d(hidden), nn.Tanh(),
        nn.Dense(hidden, VOCAB, rng=rng),
    )


def train_mlp(train, val, steps: int, seed: int):
    x, y = mlp_examples(train)
    x_val, y_val = mlp_examples(val)
    model = make_mlp(seed)
    optimizer = nn.Adam(model.parameters(), lr=nn.CosineDecay(3e-3, total_steps=steps,
                                                               min_lr=1e-4))
    rng = np.random.default_rng(seed)
    for step in range(steps):
        batch = rng.integers(0, len(x), 256)
        optimizer.zero_grad()
        loss = nn.cross_entropy(model(x[batch]), y[batch])
        loss.backward()
        optimizer.step()
        if step % max(1, steps // 5) == 0:
            print(f"  mlp step {step:5d}/{steps}  batch loss {loss.item():.3f}", flush=True)
    return model, (_mean_loss(model, x, y), _mean_loss(model, x_val, y_val))


def _mean_loss(model, x, y) -> float:
    return float(nn.evaluate(model, nn.cross_entropy, x, y, batch_size=8192)["loss"])


def sample_mlp(model, count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = []
    model.eval()  # batch norm's running statistics, dropout off
    with ag.no_grad():
        for _ in range(count):
            context, word = [0] * BLOCK, ""
            while len(word) < 30:
                logits = model(np.array([context])).data[0]
                ch = _sample(logits, rng)
                if ch == 0:
                    break
                word += ALPHABET[ch]
                context = context[1:] + [ch]
            words.append(word)
    return words


def _sample(logits: np.ndarray, rng) -> int:
    p = np.exp(logits - logits.max())
    return int(rng.choice(VOCAB, p=p / p.sum()))


# ---- (b) the transformer: the whole word so far -> next -----------------------------------------

def padded(words: list[str], length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, targets, mask), each (N, length): "." then the word as input, the word then "."
    as target; the mask is 1 where there is a character to predict and 0 in the padding."""
    ids = np.zeros((len(words), length + 1), dtype=np.int64)
    mask = np.zeros((len(words), length), dtype=np.float32)
    for i, word in enumerate(words):
        ids[i, 1:len(word) + 1] = encode(word)
        mask[i, :len(word) + 1] = 1.0
    return ids[:, :-1], ids[:, 1:], mask


def masked_loss(model, x, y, mask):
    """Mean cross-entropy over the positions the mask keeps (nats per character)."""
    logits = model(x)
    losses = nn.cross_entropy(ag.reshape(logits, (-1, VOCAB)), y.reshape(-1), reduction="none")
    weights = mask.reshape(-1)
    return (losses * weights).sum() / float(weights.sum())


def train_transformer(train, val, steps: int, seed: int, length: int):
    x, y, mask = padded(train, length)
    model = nn.TransformerLM(VOCAB, context=length, embed_dim=64, num_heads=4, num_blocks=2,
                             rng=seed)
    optimizer = nn.AdamW(model.parameters(), lr=nn.CosineDecay(2e-3, total_steps=steps,
                                                                min_lr=1e-4),
                         weight_decay=0.01)
    rng = np.random.default_rng(seed)
    for step in range(steps):
        batch = rng.integers(0, len(x), 32)
        # Only as many positions as the longest word of the batch needs.
        used = int(mask[batch].sum(axis=1).max())
        optimizer.zero_grad()
        loss = masked_loss(model, x[batch, :used], y[batch, :used], mask[batch, :used])
        loss.backward()
        optimizer.step()
        if step % max(1, steps // 5) == 0:
            print(f"  transformer step {step:5d}/{steps}  batch loss {loss.item():.3f}",
                  flush=True)
    x_val, y_val, mask_val = padded(val, length)
    return model, (_transformer_loss(model, x, y, mask), _transformer_loss(model, x_val, y_val,
                                                                            mask_val))


def _transformer_loss(model, x, y, mask, batch: int = 2048) -> float:
    total = 0.0
    model.eval()
    with ag.no_grad():
        for start in range(0, len(x), batch):
            part = slice(start, start + batch)
            total += masked_loss(model, x[part], y[part], mask[part]).item() * mask[part].sum()
    return float(total / mask.sum())


def sample_transformer(model, count: int, seed: int, length: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = []
    model.eval()  # batch norm's running statistics, dropout off
    with ag.no_grad():
        for _ in range(count):
            ids = [0]
            while len(ids) <= length:
                ch = _sample(model(np.array([ids])).data[0, -1], rng)
                if ch == 0:
                    break
                ids.append(ch)
            words.append("".join(ALPHABET[i] for i in ids[1:]))
    return words


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    with Stopwatch() as total:
        words = datasets.words()
        if args.quick:
            words = words[::40]
        train, val = split_words(words, args.seed)
        length = max(map(len, words)) + 1  # every word and its end fit in the context
        print(f"{len(words):,} words ({len(train):,} training, {len(val):,} validation), "
              f"{VOCAB - 1} letters, longest {length - 1}", flush=True)

        bigram_train, bigram_val, _ = bigram_loss(train, val)
        results = {"bigram": {"train_loss": bigram_train, "val_loss": bigram_val}}
        print(f"bigram baseline: train {bigram_train:.3f}  validation {bigram_val:.3f} "
              "nats/char", flush=True)

        print("(a) MLP: Embedding -> Dense -> BatchNorm1d -> tanh -> Dense", flush=True)
        with Stopwatch() as clock:
            mlp, (mlp_train, mlp_val) = train_mlp(train, val, 200 if args.quick else 12000,
                                                  args.seed)
        results["mlp"] = {"train_loss": mlp_train, "val_loss": mlp_val,
                          "seconds": clock.seconds, "samples": sample_mlp(mlp, 20, args.seed)}

        print("(b) transformer: 2 blocks of attention and GELU MLP, LayerNorm", flush=True)
        with Stopwatch() as clock:
            lm, (lm_train, lm_val) = train_transformer(train, val, 100 if args.quick else 4000,
                                                       args.seed, length)
        results["transformer"] = {"train_loss": lm_train, "val_loss": lm_val,
                                  "seconds": clock.seconds,
                                  "samples": sample_transformer(lm, 20, args.seed, length)}
    results["seconds"] = total.seconds

    print(f"\n{'model':12s} {'train':>7s} {'validation':>10s}   (nats per character)")
    for name in ("bigram", "mlp", "transformer"):
        r = results[name]
        print(f"{name:12s} {r['train_loss']:7.3f} {r['val_loss']:10.3f}")
    for name in ("mlp", "transformer"):
        print(f"\n{name} samples ({results[name]['seconds']:.0f} s of training): "
              + " ".join(results[name]["samples"]))
    print(f"\nwall time {results['seconds']:.1f} s")
    return results


if __name__ == "__main__":
    main()
