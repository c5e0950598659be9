"""Batches of numpy arrays: ``batches``, ``DataLoader``, ``train_val_split``.

Arrays are indexed along their first axis (one example per row). Shuffling draws one permutation
per pass and applies it to every array, so inputs and labels stay paired::

    for xb, yb in batches(x, y, batch_size=32, shuffle=True, rng=0):
        ...

A seed gives the same order on every run; a ``numpy.random.Generator`` is drawn from (a new
order per call, reproducible when the Generator was seeded).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from autograd_core import Tensor
from autograd_core.errors import ShapeError

from .init import as_generator


def as_arrays(arrays, where: str) -> list[np.ndarray]:
    """The arrays (Tensors and sequences become numpy arrays, without copying numpy ones),
    checked to hold the same number of examples along their first axis."""
    if not arrays:
        raise TypeError(f"{where}: expected at least one array")
    arrays = [a.data if isinstance(a, Tensor) else np.asarray(a) for a in arrays]
    for i, array in enumerate(arrays):
        if array.ndim == 0:
            raise ShapeError(f"{where}: array {i} is 0-d; expected one example per row along "
                             "the first axis")
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        described = ", ".join(f"array {i} has {n}" for i, n in enumerate(lengths))
        raise ShapeError(f"{where}: the arrays must hold the same number of examples (rows), "
                         f"but {described}")
    return arrays


def check_batch_size(batch_size, where: str) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"{where}: batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def num_batches(num_examples: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches one pass over ``num_examples`` gives."""
    full, rest = divmod(num_examples, batch_size)
    return full if drop_last or rest == 0 else full + 1


def batches(*arrays, batch_size: int = 32, shuffle: bool = False, rng=None,
            drop_last: bool = False) -> Iterator:
    """One pass over the examples in batches of ``batch_size`` rows.

    Yields one array per batch when given one array, else a tuple with a batch of each (in
    the order given). Every example appears exactly once per pass; the last batch is smaller
    unless ``drop_last``. Without shuffling, batches are views of the inputs (no copy).

    >>> x, y = np.arange(10.0).reshape(5, 2), np.arange(5)
    >>> [yb.tolist() for _, yb in batches(x, y, batch_size=2)]
    [[0, 1], [2, 3], [4]]
    """
    arrays = as_arrays(arrays, "batches")
    batch_size = check_batch_size(batch_size, "batches")
    n = len(arrays[0])
    # Drawn at once (not when the first batch is asked for), so a Generator advances as soon as
    # the pass is created, and bad arguments fail here rather than in the middle of a loop.
    order = as_generator(rng).permutation(n) if shuffle else None
    return _iterate(arrays, n, batch_size, order, drop_last)


def _iterate(arrays, n, batch_size, order, drop_last) -> Iterator:
    single = len(arrays) == 1
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            chunk = [a[start:start + batch_size] for a in arrays]
        else:
            index = order[start:start + batch_size]
            chunk = [a[index] for a in arrays]
        yield chunk[0] if single else tuple(chunk)


class DataLoader:
    """Batches over arrays that can be iterated again and again (one pass per ``for``), with
    ``len()`` giving the number of batches per pass. Each shuffled pass takes a new order from
    the loader's own Generator, so a seeded loader repeats the same sequence of orders.

    >>> loader = DataLoader(np.zeros((10, 3)), np.arange(10), batch_size=4, shuffle=True, rng=0)
    >>> len(loader), [len(yb) for _, yb in loader]
    (3, [4, 4, 2])
    """

    def __init__(self, *arrays, batch_size: int = 32, shuffle: bool = False, rng=None,
                 drop_last: bool = False):
        self.arrays = as_arrays(arrays, "DataLoader")
        self.batch_size = check_batch_size(batch_size, "DataLoader")
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.rng = as_generator(rng)

    def __iter__(self) -> Iterator:
        return batches(*self.arrays, batch_size=self.batch_size, shuffle=self.shuffle,
                       rng=self.rng, drop_last=self.drop_last)

    def __len__(self) -> int:
        return num_batches(len(self.arrays[0]), self.batch_size, self.drop_last)

    @property
    def num_examples(self) -> int:
        return len(self.arrays[0])

    def __repr__(self) -> str:
        shapes = ", ".join(str(a.shape) for a in self.arrays)
        return (f"DataLoader({shapes}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last})")


def train_val_split(*arrays, val_fraction: float = 0.2, rng=None, shuffle: bool = True):
    """Split arrays into a training and a validation part, with the same rows for every array.

    Returns ``(train, val)``, each a tuple with one array per input, ready for
    ``fit(model, loss, optimizer, train, val_data=val)``. The validation part holds
    ``round(val_fraction * N)`` examples (at least one, and at least one is left to train on),
    chosen at random (the last rows when ``shuffle=False``); both parts keep the original order
    of their rows.

    >>> train, val = train_val_split(np.zeros((10, 2)), np.arange(10), val_fraction=0.3, rng=0)
    >>> train[0].shape, val[1].shape
    ((7, 2), (3,))
    """
    arrays = as_arrays(arrays, "train_val_split")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"train_val_split: val_fraction must be between 0 and 1 (exclusive), "
                         f"got {val_fraction!r}")
    n = len(arrays[0])
    n_val = int(round(val_fraction * n))
    if not 1 <= n_val <= n - 1:
        raise ValueError(f"train_val_split: val_fraction={val_fraction} of {n} examples leaves "
                         f"{n_val} for validation and {n - n_val} for training; both need at "
                         "least one")
    order = as_generator(rng).permutation(n) if shuffle else np.arange(n)
    train_index, val_index = np.sort(order[:n - n_val]), np.sort(order[n - n_val:])
    return (tuple(a[train_index] for a in arrays), tuple(a[val_index] for a in arrays))


__all__ = ["DataLoader", "batches", "num_batches", "train_val_split"]
