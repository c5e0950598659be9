"""The examples' datasets: generated ones, the IDX reader, and the packaged real ones."""

import gzip
import struct

import numpy as np
import pytest

from examples import datasets


def write_idx(path, array, type_code=0x08, compress=False):
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    (gzip.open if compress else open)(path, "wb").write(payload)
    return path


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype, code", [(np.uint8, 0x08), (np.int32, 0x0C), (np.float64, 0x0E)])
def test_read_idx_round_trips(tmp_path, compress, dtype, code):
    array = (np.arange(24) % 7).astype(dtype).reshape(2, 3, 4)
    path = write_idx(tmp_path / ("a.gz" if compress else "a"), array, code, compress)
    np.testing.assert_array_equal(datasets.read_idx(path), array)


def test_read_idx_rejects_bad_files(tmp_path):
    good = write_idx(tmp_path / "good", np.zeros((2, 3), dtype=np.uint8))
    raw = good.read_bytes()
    cases = {
        "bad magic number": b"\x01\x00" + raw[2:],
        "unknown IDX data type 0x07": raw[:2] + b"\x07" + raw[3:],
        "truncated header": raw[:6],
        r"declares shape \(2, 3\) \(6 bytes of data\) but the file holds 5": raw[:-1],
    }
    for message, content in cases.items():
        path = tmp_path / "bad"
        path.write_bytes(content)
        with pytest.raises(datasets.IDXFormatError, match=message):
            datasets.read_idx(path)
    (tmp_path / "bad.gz").write_bytes(b"not gzip at all")
    with pytest.raises(datasets.IDXFormatError, match="gzip"):
        datasets.read_idx(tmp_path / "bad.gz")


def test_missing_fashion_mnist_names_the_package(tmp_path):
    with pytest.raises(datasets.DatasetMissing, match="apt-get install dataset-fashion-mnist"):
        datasets.fashion_mnist(tmp_path)


def test_fashion_mnist_from_the_debian_package():
    (x, y), (x_test, y_test) = datasets.fashion_mnist()
    assert x.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() == 1.0
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    assert np.bincount(y_test).tolist() == [1000] * 10
    (small, _), _ = datasets.fashion_mnist(limit=50)
    np.testing.assert_array_equal(small, x[:50])


def test_digits_and_diabetes_from_scikit_learn():
    x, y = datasets.digits()
    assert x.shape == (1797, 64) and x.max() == 1.0 and set(np.unique(y)) == set(range(10))
    x, y = datasets.diabetes()
    assert x.shape == (442, 10) and y.shape == (442,) and x.dtype == np.float32


@pytest.mark.parametrize("make, classes", [(datasets.spiral, 3), (datasets.xor, 2),
                                           (datasets.moons, 2), (datasets.circles, 2)])
def test_generated_datasets_are_seeded_and_labelled(make, classes):
    x, y = make(rng=1)
    assert x.dtype == np.float32 and x.shape == (len(y), 2)
    assert sorted(np.unique(y)) == list(range(classes))
    np.testing.assert_array_equal(make(rng=1)[0], x)
    assert not np.array_equal(make(rng=2)[0], x)


def test_xor_labels_follow_the_corners():
    x, y = datasets.xor(points=400, noise=0.0)
    np.testing.assert_array_equal(y, (x[:, 0] != x[:, 1]).astype(int))


def test_split_is_a_seeded_partition():
    x, y = np.arange(10.0)[:, None], np.arange(10)
    (x_train, y_train), (x_test, y_test) = datasets.split(x, y, test_fraction=0.3, rng=0)
    assert len(x_test) == 3 and sorted(np.r_[y_train, y_test]) == list(range(10))
    np.testing.assert_array_equal(x_train[:, 0], y_train)
