"""Batching: every example once per pass, paired rows, seeded orders, train/val splits."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_core as ag
import nn
from autograd_core.errors import ShapeError
from nn.data import num_batches


def paired(n):
    """x rows carry their index twice; y is 10 * index, so pairing can be checked per row."""
    x = np.repeat(np.arange(n, dtype=np.float32)[:, None], 2, axis=1)
    return x, 10 * np.arange(n)


@given(n=st.integers(0, 60), batch_size=st.integers(1, 20), shuffle=st.booleans(),
       drop_last=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_every_example_once_per_pass_in_paired_batches(n, batch_size, shuffle, drop_last, seed):
    x, y = paired(n)
    chunks = list(nn.batches(x, y, batch_size=batch_size, shuffle=shuffle, rng=seed,
                             drop_last=drop_last))
    assert len(chunks) == num_batches(n, batch_size, drop_last)
    sizes = [len(xb) for xb, _ in chunks]
    assert all(size == batch_size for size in sizes[:-1])
    if drop_last:
        assert all(size == batch_size for size in sizes)
    seen = np.concatenate([yb for _, yb in chunks]) // 10 if chunks else np.array([], int)
    kept = n - n % batch_size if drop_last else n
    assert len(seen) == len(np.unique(seen)) == kept  # each example at most once, none lost
    if not drop_last:
        assert sorted(seen.tolist()) == list(range(n))
    if not shuffle:
        assert seen.tolist() == list(range(kept))
    for xb, yb in chunks:  # x and y went through the same permutation
        assert xb.shape[1:] == (2,) and xb.dtype == np.float32
        np.testing.assert_array_equal(xb[:, 0] * 10, yb)


@given(n=st.integers(2, 50), batch_size=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_a_seed_repeats_the_order(n, batch_size, seed):
    x, y = paired(n)

    def order(rng):
        return np.concatenate([yb for _, yb in nn.batches(x, y, batch_size=batch_size,
                                                          shuffle=True, rng=rng)])

    np.testing.assert_array_equal(order(seed), order(seed))
    np.testing.assert_array_equal(order(np.random.default_rng(seed)),
                                  order(np.random.default_rng(seed)))


def test_shuffling_changes_order_and_a_generator_advances():
    x, y = paired(50)
    generator = np.random.default_rng(0)
    first, second = ([yb for _, yb in nn.batches(x, y, batch_size=50, shuffle=True,
                                                  rng=generator)][0] for _ in range(2))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, np.arange(50) * 10)
    seeded = [next(nn.batches(y, batch_size=50, shuffle=True, rng=seed)) for seed in (1, 2)]
    assert not np.array_equal(*seeded)


def test_one_array_gives_arrays_and_unshuffled_batches_are_views():
    x = np.arange(12.0).reshape(6, 2)
    chunks = list(nn.batches(x, batch_size=4))
    assert [type(c) for c in chunks] == [np.ndarray, np.ndarray]
    assert [c.shape for c in chunks] == [(4, 2), (2, 2)]
    assert all(np.shares_memory(c, x) for c in chunks)


def test_tensors_and_lists_are_accepted():
    x = ag.Tensor(np.ones((5, 3), dtype=np.float32))
    chunks = list(nn.batches(x, [0, 1, 2, 3, 4], batch_size=2))
    assert [(xb.shape, yb.tolist()) for xb, yb in chunks] == [((2, 3), [0, 1]), ((2, 3), [2, 3]),
                                                               ((1, 3), [4])]


def test_batches_reports_bad_arguments_clearly():
    with pytest.raises(ShapeError, match="array 0 has 5, array 1 has 4"):
        nn.batches(np.zeros((5, 2)), np.zeros(4), batch_size=2)
    for bad in (0, -1, 2.5, True, None):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            nn.batches(np.zeros(5), batch_size=bad)
    with pytest.raises(TypeError, match="at least one array"):
        nn.batches(batch_size=2)
    with pytest.raises(ShapeError, match="array 1 is 0-d"):
        nn.batches(np.zeros(3), np.float32(1.0), batch_size=2)
    with pytest.raises(TypeError, match="seed"):
        nn.batches(np.zeros(3), batch_size=2, shuffle=True, rng="zero")


def test_data_loader_is_reiterable_with_a_length():
    x, y = paired(10)
    loader = nn.DataLoader(x, y, batch_size=4, shuffle=True, rng=0)
    assert len(loader) == 3 and loader.num_examples == 10
    passes = [np.concatenate([yb for _, yb in loader]) for _ in range(3)]
    assert all(sorted(p.tolist()) == list(range(0, 100, 10)) for p in passes)
    assert not np.array_equal(passes[0], passes[1])  # a new order each pass
    again = nn.DataLoader(x, y, batch_size=4, shuffle=True, rng=0)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in again]), passes[0])
    assert len(nn.DataLoader(x, y, batch_size=4, drop_last=True)) == 2
    assert "batch_size=4" in repr(loader)


@given(n=st.integers(2, 80), fraction=st.floats(0.01, 0.99), seed=st.integers(0, 1000))
def test_train_val_split_partitions_paired_rows(n, fraction, seed):
    x, y = paired(n)
    n_val = int(round(fraction * n))
    if not 1 <= n_val <= n - 1:
        with pytest.raises(ValueError, match="both need at least one"):
            nn.train_val_split(x, y, val_fraction=fraction, rng=seed)
        return
    (x_train, y_train), (x_val, y_val) = nn.train_val_split(x, y, val_fraction=fraction,
                                                            rng=seed)
    assert len(y_val) == n_val and len(y_train) == n - n_val
    assert sorted(np.concatenate([y_train, y_val]).tolist()) == list(range(0, 10 * n, 10))
    np.testing.assert_array_equal(x_train[:, 0] * 10, y_train)
    np.testing.assert_array_equal(x_val[:, 0] * 10, y_val)
    again = nn.train_val_split(x, y, val_fraction=fraction, rng=seed)
    np.testing.assert_array_equal(again[1][1], y_val)


def test_train_val_split_without_shuffle_keeps_the_last_rows_for_validation():
    train, val = nn.train_val_split(np.arange(10), val_fraction=0.3, shuffle=False)
    assert train[0].tolist() == list(range(7)) and val[0].tolist() == [7, 8, 9]
    for bad in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="val_fraction must be between 0 and 1"):
            nn.train_val_split(np.arange(10), val_fraction=bad)
    with pytest.raises(ShapeError, match="array 0 has 3, array 1 has 2"):
        nn.train_val_split(np.arange(3), np.arange(2), val_fraction=0.5)
