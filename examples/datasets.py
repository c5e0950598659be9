"""Datasets for the examples: generated ones (seeded) and real ones from installed packages.

Nothing is downloaded: Fashion-MNIST comes from the Debian package ``dataset-fashion-mnist``
(IDX files, read by the small reader below), the English word list from ``wamerican``, the 8x8
digits and the diabetes regression data from scikit-learn's bundled copies. A missing package
raises DatasetMissing naming what to install.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

FASHION_MNIST_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")


class DatasetMissing(FileNotFoundError):
    """A dataset's package is not installed; the message says which one."""


class IDXFormatError(ValueError):
    """A file is not a valid IDX file (bad magic number, truncated, sizes that don't add up)."""


# ---- generated ----------------------------------------------------------------------------------

def spiral(points_per_class: int = 100, classes: int = 3, noise: float = 0.2, rng=0):
    """The interleaved spiral arms of "Neural Networks from Scratch": (N*K, 2) float32 points
    and int64 labels; arm k turns through 4 radians with Gaussian noise on the angle."""
    rng = np.random.default_rng(rng)
    x = np.zeros((points_per_class * classes, 2), dtype=np.float32)
    y = np.zeros(points_per_class * classes, dtype=np.int64)
    for k in range(classes):
        rows = slice(points_per_class * k, points_per_class * (k + 1))
        radius = np.linspace(0.0, 1.0, points_per_class)
        angle = np.linspace(k * 4, (k + 1) * 4, points_per_class)
        angle = angle + rng.standard_normal(points_per_class) * noise
        x[rows] = np.c_[radius * np.sin(angle * 2.5), radius * np.cos(angle * 2.5)]
        y[rows] = k
    return x, y


def xor(points: int = 200, noise: float = 0.1, rng=0):
    """Points around the four corners of the unit square; label 1 where exactly one
    coordinate is high (the XOR of the two bits)."""
    rng = np.random.default_rng(rng)
    bits = rng.integers(0, 2, size=(points, 2))
    x = (bits + noise * rng.standard_normal((points, 2))).astype(np.float32)
    return x, (bits[:, 0] ^ bits[:, 1]).astype(np.int64)


def moons(points: int = 200, noise: float = 0.1, rng=0):
    """Two interleaving half circles."""
    rng = np.random.default_rng(rng)
    half = points // 2
    t_outer = np.linspace(0, np.pi, points - half)
    t_inner = np.linspace(0, np.pi, half)
    outer = np.c_[np.cos(t_outer), np.sin(t_outer)]
    inner = np.c_[1 - np.cos(t_inner), 0.5 - np.sin(t_inner)]
    x = np.vstack([outer, inner]) + noise * rng.standard_normal((points, 2))
    y = np.r_[np.zeros(points - half), np.ones(half)].astype(np.int64)
    return x.astype(np.float32), y


def circles(points: int = 200, noise: float = 0.05, factor: float = 0.5, rng=0):
    """A small circle inside a large one (label 1 for the inner circle)."""
    rng = np.random.default_rng(rng)
    half = points // 2
    t = rng.uniform(0, 2 * np.pi, points)
    radius = np.where(np.arange(points) < points - half, 1.0, factor)
    x = np.c_[radius * np.cos(t), radius * np.sin(t)] + noise * rng.standard_normal((points, 2))
    y = (np.arange(points) >= points - half).astype(np.int64)
    return x.astype(np.float32), y


# ---- Fashion-MNIST (IDX files) ------------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): magic = two zero bytes, a type code, the number of
    dimensions; then one big-endian uint32 per dimension; then the data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as error:
        raise IDXFormatError(f"{path}: cannot read it as {'gzip' if opener is gzip.open else 'a'}"
                             f" file: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IDXFormatError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_TYPES:
        raise IDXFormatError(f"{path}: unknown IDX data type 0x{type_code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXFormatError(f"{path}: truncated header ({len(raw)} bytes)")
    shape = tuple(int(n) for n in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[type_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise IDXFormatError(f"{path}: header declares shape {shape} ({expected} bytes of data) "
                             f"but the file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def fashion_mnist(directory=None, limit: int | None = None):
    """((x_train, y_train), (x_test, y_test)): images as float32 in [0, 1] of shape (N, 784),
    labels int64. ``limit`` keeps only the first examples of each split (for quick runs)."""
    directory = Path(directory or FASHION_MNIST_DIR)
    splits = []
    for prefix in ("train", "t10k"):
        files = [directory / f"{prefix}-{kind}-ubyte.gz" for kind in ("images-idx3", "labels-idx1")]
        missing = [str(f) for f in files if not f.exists()]
        if missing:
            raise DatasetMissing(
                f"Fashion-MNIST not found ({', '.join(missing)}): install the Debian package "
                "with `apt-get install dataset-fashion-mnist`, or point FASHION_MNIST_DIR at a "
                "folder with the four IDX files")
        images, labels = read_idx(files[0]), read_idx(files[1])
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise IDXFormatError(f"{directory}: {prefix} images {images.shape} and labels "
                                 f"{labels.shape} do not match")
        images, labels = images[:limit], labels[:limit]
        splits.append((images.reshape(len(images), -1).astype(np.float32) / 255.0,
                       labels.astype(np.int64)))
    return tuple(splits)


# ---- an English word list (Debian's wamerican) ------------------------------------------------

WORDS_FILE = Path(os.environ.get("WORDS_FILE", "/usr/share/dict/words"))


def words(path=None, min_length: int = 2) -> list[str]:
    """The lower-case words of Debian's ``wamerican`` list made of the letters a-z only (no
    proper nouns, which are capitalised there, no possessives), without repeats, in file order."""
    path = Path(path or WORDS_FILE)
    if not path.exists():
        raise DatasetMissing(f"no word list at {path}: install the Debian package with "
                             "`apt-get install wamerican`, or point WORDS_FILE at a file with "
                             "one word per line")
    seen, kept = set(), []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        word = line.strip()
        if len(word) >= min_length and word.isascii() and word.isalpha() and word.islower() \
                and word not in seen:
            seen.add(word)
            kept.append(word)
    return kept


# ---- scikit-learn's bundled datasets ------------------------------------------------------------

def _sklearn_datasets():
    try:
        from sklearn import datasets
    except ImportError:
        raise DatasetMissing("this dataset comes bundled with scikit-learn: "
                             "pip install scikit-learn (or pip install -e '.[examples]')") from None
    return datasets


def digits():
    """The 8x8 handwritten digits: (1797, 64) float32 pixel values scaled to [0, 1], labels."""
    data = _sklearn_datasets().load_digits()
    return (data.data / 16.0).astype(np.float32), data.target.astype(np.int64)


def diabetes():
    """The diabetes regression data: (442, 10) standardised features, float32 targets."""
    data = _sklearn_datasets().load_diabetes()
    return data.data.astype(np.float32), data.target.astype(np.float32)


def split(x, y, test_fraction: float = 0.2, rng=0):
    """A seeded shuffle into ((x_train, y_train), (x_test, y_test))."""
    order = np.random.default_rng(rng).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test])
