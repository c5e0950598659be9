"""save/load: round trips, atomic writes, refusing bad files, checkpoints that resume exactly."""

import io
import json
import os
import pickle
import struct
import zipfile
import zlib
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_core as ag
import nn
from autograd_core.errors import CheckpointError, DTypeError, StateDictError
from nn import serialization


def two_layer(seed=0, hidden=8):
    return nn.Sequential(nn.Dense(2, hidden, rng=seed), nn.ReLU(),
                         nn.Dense(hidden, 3, rng=seed + 1))


def spiral(points_per_class, seed=0):
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.0, 1.0, points_per_class), 3)
    labels = np.repeat(np.arange(3), points_per_class)
    angle = 4 * labels + np.tile(np.linspace(0, 4, points_per_class), 3) \
        + 0.1 * rng.standard_normal(3 * points_per_class)
    x = np.c_[radius * np.sin(2.5 * angle), radius * np.cos(2.5 * angle)]
    return x.astype(np.float32), labels


def model_file(tmp_path, seed=0):
    model = two_layer(seed=seed, hidden=8)
    return model, nn.save(model, tmp_path / "model.nn")


def craft(path, header, data=b""):
    """A file in the save format with any header (to test what load refuses)."""
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<8sQI", b"AGNNSAVE", len(raw), zlib.crc32(raw)) + raw + data)
    return path


def entry(name="w", dtype="<f4", shape=(2,), offset=0, nbytes=8, crc=0):
    return {"name": name, "dtype": dtype, "shape": list(shape), "offset": offset,
            "nbytes": nbytes, "crc32": crc}


def header(*entries):
    return {"format": "autograd-nn", "version": 1, "entries": list(entries)}


dtypes = st.sampled_from(["bool", "int8", "uint16", "int32", "int64", "float16", "float32",
                          "float64", "complex64", ">f4", ">i8"])
arrays = dtypes.flatmap(lambda d: hnp.arrays(np.dtype(d), hnp.array_shapes(min_dims=0,
                                                                           max_dims=3,
                                                                           min_side=0,
                                                                           max_side=4)))


@given(values=st.lists(arrays, max_size=5))
def test_arrays_round_trip_with_names_order_shapes_dtypes_and_values(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("round") / "state.nn"
    state = OrderedDict((f"layer{i}.w", value) for i, value in enumerate(reversed(values)))
    nn.save(state, path)
    loaded = nn.load(path)
    assert isinstance(loaded, OrderedDict) and list(loaded) == list(state)
    for name, value in state.items():
        got = loaded[name]
        assert got.shape == value.shape and got.dtype == value.dtype.newbyteorder("=")
        np.testing.assert_array_equal(got, value)
        assert got.flags.writeable and got.dtype.isnative


def test_python_numbers_come_back_as_python_numbers(tmp_path):
    state = {"step": 7, "lr": 0.1, "nesterov": True, "name": "adam", "none": None,
             "nan": float("nan"), "inf": float("-inf"), "beta": np.float32(0.9),
             "count": np.int64(3), "flag": np.array(True)}
    loaded = nn.load(nn.save(state, str(tmp_path / "opt.nn")))
    for name in ("step", "lr", "nesterov", "name", "none", "inf"):
        assert type(loaded[name]) is type(state[name]) and loaded[name] == state[name]
    assert np.isnan(loaded["nan"]) and type(loaded["nan"]) is float
    assert type(loaded["beta"]) is np.float32 and loaded["beta"] == np.float32(0.9)
    assert type(loaded["count"]) is np.int64 and loaded["flag"].shape == ()


def test_saved_model_predicts_identically_after_loading(tmp_path):
    x, _ = spiral(10)
    model, path = model_file(tmp_path)
    assert path == tmp_path / "model.nn"
    for target in (path, str(path)):
        fresh = two_layer(seed=5, hidden=8)
        assert not np.array_equal(nn.predict(fresh, x), nn.predict(model, x))
        state = nn.load(target, fresh)
        assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
        np.testing.assert_array_equal(nn.predict(fresh, x), nn.predict(model, x))
    other = two_layer(seed=9, hidden=8)
    other.load_state_dict(nn.load(path))
    np.testing.assert_array_equal(nn.predict(other, x), nn.predict(model, x))


def test_tensors_in_a_state_dict_are_saved_as_arrays(tmp_path):
    loaded = nn.load(nn.save({"t": ag.Tensor([1.0, 2.0]), "p": nn.Parameter(np.ones(2))},
                             tmp_path / "t.nn"))
    assert loaded["t"].dtype == np.float32 and loaded["p"].dtype == np.float64


def test_an_interrupted_save_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    model, path = model_file(tmp_path)
    before = path.read_bytes()
    calls = []

    def write_half_then_fail(file, array):
        calls.append(array.nbytes)
        if len(calls) == 3:
            file.write(array.tobytes()[: array.nbytes // 2])
            raise OSError("disk full (simulated)")
        file.write(array.tobytes())

    monkeypatch.setattr(serialization, "_write_array", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        nn.save(two_layer(seed=3, hidden=8), path)
    assert len(calls) == 3
    assert os.listdir(tmp_path) == ["model.nn"] and path.read_bytes() == before
    for name, value in nn.load(path).items():
        np.testing.assert_array_equal(value, model.state_dict()[name])

    with pytest.raises(OSError, match="disk full"):  # a first save fails: nothing is left
        calls.clear()
        nn.save(model, tmp_path / "new.nn")
    assert os.listdir(tmp_path) == ["model.nn"]


def test_a_save_that_fails_before_replacing_keeps_the_old_file(tmp_path, monkeypatch):
    _, path = model_file(tmp_path)
    before = path.read_bytes()

    def no_sync(fd):
        raise OSError("fsync failed (simulated)")

    monkeypatch.setattr(os, "fsync", no_sync)
    with pytest.raises(OSError, match="fsync failed"):
        nn.save({"other": np.zeros(3)}, path)
    assert os.listdir(tmp_path) == ["model.nn"] and path.read_bytes() == before


def test_load_into_a_mismatched_model_names_every_problem_and_changes_nothing(tmp_path):
    _, path = model_file(tmp_path)
    wrong = nn.Sequential(nn.Dense(2, 4, rng=0), nn.ReLU(), nn.Dense(4, 3, rng=1),
                          nn.Dense(3, 3, rng=2))
    before = wrong.state_dict()
    with pytest.raises(StateDictError, match=r"missing keys: \['3.weight', '3.bias'\]") as error:
        nn.load(path, wrong)
    assert "0.weight: shape (2, 8) in the state dict, (2, 4) in the model" in str(error.value)
    for name, value in wrong.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    smaller = nn.Sequential(nn.Dense(2, 8, rng=0))
    with pytest.raises(StateDictError, match=r"unexpected keys: \['2.weight', '2.bias'\]"):
        nn.load(path, smaller)
    nn.load(path, smaller, strict=False)
    np.testing.assert_array_equal(smaller[0].weight.data, nn.load(path)["0.weight"])


@pytest.mark.parametrize("contents, problem", [
    (b"", "marker"),
    (b"hello world, not a checkpoint at all", "marker"),
    (b"AGNNSAVE" + struct.pack("<QI", 10**9, 0), "header claims"),
    (b"AGNNSAVE" + struct.pack("<QI", 4, 0) + b"{}{}", "checksum"),
])
def test_files_that_are_not_ours_raise_checkpoint_errors(tmp_path, contents, problem):
    path = tmp_path / "bad.nn"
    path.write_bytes(contents)
    with pytest.raises(CheckpointError, match=problem):
        nn.load(path)


def test_other_formats_are_refused_without_running_anything(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    pickle_path = tmp_path / "model.pkl"
    pickle_path.write_bytes(pickle.dumps({"w": Boom()}))
    npz_path = tmp_path / "model.npz"
    np.savez(npz_path, w=np.ones(3))
    zip_path = tmp_path / "model.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("w.npy", b"junk")
    npy = io.BytesIO()
    np.save(npy, np.ones(3))
    npy_path = tmp_path / "model.npy"
    npy_path.write_bytes(npy.getvalue())
    for path in (pickle_path, npz_path, zip_path, npy_path):
        with pytest.raises(CheckpointError, match="not a readable nn save file"):
            nn.load(path)
    assert not (tmp_path / "pwned").exists()


def test_every_truncation_and_every_flipped_byte_is_detected(tmp_path):
    _, path = model_file(tmp_path)
    raw = path.read_bytes()
    broken = tmp_path / "broken.nn"
    for cut in range(0, len(raw), 7):
        broken.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError):
            nn.load(broken)
    broken.write_bytes(raw + b"\0")
    with pytest.raises(CheckpointError, match="unexpected bytes after the last array"):
        nn.load(broken)
    corrupted = bytearray(raw)
    for position in range(0, len(raw), 3):
        corrupted[position] ^= 0x10
        broken.write_bytes(bytes(corrupted))
        with pytest.raises(CheckpointError):
            nn.load(broken)
        corrupted[position] ^= 0x10


def test_object_arrays_are_refused_on_save_and_on_load(tmp_path):
    with pytest.raises(DTypeError, match="'w' has dtype object"):
        nn.save({"w": np.array([1, "a"], dtype=object)}, tmp_path / "o.nn")
    assert os.listdir(tmp_path) == []
    path = craft(tmp_path / "o.nn", header(entry(dtype="|O", nbytes=16)), b"\0" * 16)
    with pytest.raises(CheckpointError, match="object arrays are refused"):
        nn.load(path)
    craft(path, header(entry(dtype=[["a", "<f4"]])), b"\0" * 8)
    with pytest.raises(CheckpointError, match="dtype"):
        nn.load(path)


def test_declared_sizes_are_checked_before_anything_is_allocated(tmp_path):
    path = tmp_path / "huge.nn"
    craft(path, header(entry(dtype="<f8", shape=(10**12,), nbytes=8 * 10**12)), b"\0" * 8)
    with pytest.raises(CheckpointError, match="truncated"):
        nn.load(path)
    craft(path, header(entry(shape=(0, 2**70), nbytes=0)))
    with pytest.raises(CheckpointError, match="shape"):
        nn.load(path)
    craft(path, header(entry(shape=(3,), nbytes=8)), b"\0" * 8)
    with pytest.raises(CheckpointError, match="do not hold shape"):
        nn.load(path)
    craft(path, header(entry(shape=(-2,), nbytes=8)), b"\0" * 8)
    with pytest.raises(CheckpointError, match="invalid shape"):
        nn.load(path)
    craft(path, dict(header(entry()), version=99), b"\0" * 8)
    with pytest.raises(CheckpointError, match="version 99"):
        nn.load(path)
    craft(path, {"format": "something else"})
    with pytest.raises(CheckpointError, match="does not name the format"):
        nn.load(path)
    craft(path, header(entry(name="a", nbytes=0, shape=(0,)), entry(name="a", nbytes=0,
                                                                     shape=(0,))))
    with pytest.raises(CheckpointError, match="appears twice"):
        nn.load(path)


def test_missing_files_and_unsavable_values_give_clear_errors(tmp_path):
    missing = tmp_path / "nowhere" / "model.nn"
    with pytest.raises(FileNotFoundError, match="no such file: .*nowhere/model.nn"):
        nn.load(missing)
    with pytest.raises(FileNotFoundError, match="folder .*nowhere.* does not exist"):
        nn.save({"w": np.ones(2)}, missing)
    with pytest.raises(TypeError, match="'w' is a list"):
        nn.save({"w": [1.0, 2.0]}, tmp_path / "list.nn")
    with pytest.raises(TypeError, match="keys must be strings"):
        nn.save({1: np.ones(2)}, tmp_path / "key.nn")
    with pytest.raises(TypeError, match="expected a Module, an optimizer or a state dict"):
        nn.save(np.ones(3), tmp_path / "array.nn")
    assert os.listdir(tmp_path) == []


def test_checkpoints_hold_model_optimizer_epoch_and_extras(tmp_path):
    x, y = spiral(10)
    model = two_layer(hidden=8)
    optimizer = nn.Adam(model.parameters(), lr=0.01)
    nn.fit(model, nn.cross_entropy, optimizer, (x, y), epochs=2, batch_size=8, rng=0)
    path = nn.save_checkpoint(tmp_path / "ckpt.nn", model, optimizer, epoch=2,
                              best=0.5, note="spiral")
    fresh = two_layer(seed=4, hidden=8)
    fresh_optimizer = nn.Adam(fresh.parameters(), lr=0.5)
    parts = nn.load_checkpoint(path, model=fresh, optimizer=fresh_optimizer)
    assert parts["epoch"] == 2 and parts["extra"] == {"best": 0.5, "note": "spiral"}
    assert list(parts["model"]) == list(model.state_dict())
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[name], value)
    saved, restored = optimizer.state_dict(), fresh_optimizer.state_dict()
    assert list(saved) == list(restored)
    for name, value in saved.items():
        np.testing.assert_array_equal(restored[name], value)
        assert type(restored[name]) is type(value)
    with pytest.raises(StateDictError, match="looks like a checkpoint"):
        nn.load(path, two_layer(hidden=8))


def test_a_checkpoint_that_does_not_fit_leaves_model_and_optimizer_alone(tmp_path):
    model = two_layer(hidden=8)
    path = nn.save_checkpoint(tmp_path / "model_only.nn", model, epoch=1)
    other = two_layer(seed=3, hidden=8)
    before = other.state_dict()
    with pytest.raises(StateDictError, match="holds no optimizer state"):
        nn.load_checkpoint(path, model=other, optimizer=nn.Adam(other.parameters()))

    path = nn.save_checkpoint(path, model, nn.Adam(model.parameters()), epoch=1)
    sgd = nn.SGD(other.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(StateDictError, match="SGD.load_state_dict: .*'Adam' in the state dict"):
        nn.load_checkpoint(path, model=other, optimizer=sgd)  # the model fits, the optimizer not
    for name, value in other.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    nn.save({"w": np.ones(2)}, tmp_path / "plain.nn")
    with pytest.raises(CheckpointError, match="not from save_checkpoint"):
        nn.load_checkpoint(tmp_path / "plain.nn", model=other)


OPTIMIZERS = {
    "adam": lambda params: nn.Adam(params, lr=0.01),
    "sgd+schedule": lambda params: nn.SGD(params, lr=nn.InverseTimeDecay(0.5, decay=0.05),
                                          momentum=0.9, nesterov=True),
}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_training_resumed_from_a_checkpoint_matches_an_unbroken_run(tmp_path, optimizer):
    x, y = spiral(20)

    def setup():
        model = two_layer(hidden=16)
        return model, OPTIMIZERS[optimizer](model.parameters())

    def train(model, optimizer, epochs, initial_epoch=0):
        nn.fit(model, nn.cross_entropy, optimizer, (x, y), epochs=epochs, batch_size=16,
               rng=7, initial_epoch=initial_epoch)

    straight, straight_optimizer = setup()
    train(straight, straight_optimizer, 5)

    first, first_optimizer = setup()
    train(first, first_optimizer, 2)
    path = nn.save_checkpoint(tmp_path / "epoch2.nn", first, first_optimizer, epoch=2)
    resumed, resumed_optimizer = setup()
    epoch = nn.load_checkpoint(path, model=resumed, optimizer=resumed_optimizer)["epoch"]
    train(resumed, resumed_optimizer, 5, initial_epoch=epoch)

    for name, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], value)
    assert any(not np.array_equal(value, first.state_dict()[name])
               for name, value in straight.state_dict().items())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8)
entry_fields = st.fixed_dictionaries({}, optional={
    "name": st.text(max_size=3) | json_values, "dtype": st.sampled_from(["<f4", "|b1", "|O"])
    | json_values, "shape": st.lists(st.integers(-1, 3), max_size=3) | json_values,
    "offset": st.integers(0, 16) | json_values, "nbytes": st.integers(0, 16) | json_values,
    "crc32": st.integers(0, 2**32) | json_values, "python": st.sampled_from(["int", "str"])
    | json_values, "value": json_values, "scalar": json_values})


@given(entries=st.lists(entry_fields | json_values, max_size=3), data=st.binary(max_size=24))
def test_arbitrary_headers_load_or_raise_a_checkpoint_error(tmp_path_factory, entries, data):
    path = craft(tmp_path_factory.mktemp("fuzz") / "f.nn", header(*entries), data)
    try:
        state = nn.load(path)
    except CheckpointError as error:
        assert "not a readable nn save file" in str(error)
    else:
        assert isinstance(state, OrderedDict) and len(state) <= len(entries)


# ---- fuzzing real checkpoints -------------------------------------------------------------------
# A real checkpoint (model + Adam state + epoch) is mutated: cut short, bytes flipped, or its
# header rewritten with a valid checksum (so that the checksum cannot hide what load does with
# absurd declarations). Loading must raise only the library's errors, within a small memory
# budget, run no code, and leave the model and optimizer exactly as they were when it fails.

class _Boom:
    """Unpickling this runs a shell command that leaves a file behind: proof of execution."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


def _checkpoint_bytes(tmp_path, kind: str) -> bytes:
    """A checkpoint (model, Adam state, epoch) or a model's state dict, as saved."""
    model = two_layer(seed=0, hidden=8)
    optimizer = nn.Adam(model.parameters(), lr=0.01)
    x, y = spiral(4)
    nn.fit(model, nn.cross_entropy, optimizer, (x, y), epochs=1, batch_size=4, rng=0)
    if kind == "state":
        return nn.save(model, tmp_path / "good.nn").read_bytes()
    return nn.save_checkpoint(tmp_path / "good.nn", model, optimizer, epoch=1).read_bytes()


def _split_file(raw: bytes) -> tuple[dict, bytes]:
    _, length, _ = struct.unpack("<8sQI", raw[:20])
    return json.loads(raw[20:20 + length]), raw[20 + length:]


def _join_file(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<8sQI", b"AGNNSAVE", len(text), zlib.crc32(text)) + text + data


HUGE = st.sampled_from([2**31, 2**40, 2**62, 2**64 + 1, 10**30])
header_changes = st.one_of(
    st.tuples(st.just("shape"), st.lists(st.integers(0, 4) | HUGE, min_size=1, max_size=4)),
    st.tuples(st.just("shape"), st.lists(st.just(0), min_size=40, max_size=80)),  # > 32 dims
    st.tuples(st.just("nbytes"), st.integers(0, 64) | HUGE),
    st.tuples(st.just("offset"), st.integers(-8, 64) | HUGE),
    st.tuples(st.just("dtype"), st.sampled_from(["|O", "<U4", "|V8", "<M8[s]", "<f2", "<i8",
                                                  "O", "object", "<c16"])),
    st.tuples(st.just("crc32"), st.integers(-1, 2**33)),
    st.tuples(st.just("python"), st.sampled_from(["int", "float", "str", "list", "eval"])),
    st.tuples(st.just("value"), st.none() | st.integers() | st.text(max_size=4)),
    st.tuples(st.just("name"), st.sampled_from(["model.0.weight", "model.0.bias", "epoch", "",
                                                "model.9.weight", "optimizer.state.0.z"])),
    st.tuples(st.just("delete"), st.sampled_from(["shape", "dtype", "nbytes", "offset", "crc32",
                                                  "name"])),
)
mutations = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                  st.integers(1, 255)), min_size=1, max_size=4)),
    st.tuples(st.just("header"), st.integers(0, 10**6), header_changes),
    st.tuples(st.just("pickle"), st.integers(0, 10**6)),
    # A well-formed file whose arrays do not fit: the model (or the optimizer, after the model
    # was loaded: it must be put back) refuses it.
    st.tuples(st.just("reshape"), st.integers(0, 10**6)),
    st.tuples(st.just("preamble"), st.sampled_from([b"AGNNSAVF", b"PK\x03\x04AGNN",
                                                    b"\x93NUMPY\x01\x00"])),
    st.tuples(st.just("version"), st.sampled_from([0, 2, "1", None, 1.5])),
)


def _mutate(raw: bytes, mutation, marker) -> bytes:
    kind = mutation[0]
    if kind == "truncate":
        return raw[:int(mutation[1] * len(raw))]
    if kind == "flip":
        flipped = bytearray(raw)
        for where, mask in mutation[1]:
            flipped[int(where * len(raw))] ^= mask
        return bytes(flipped)
    if kind == "preamble":
        return mutation[1] + raw[len(mutation[1]):]
    header, data = _split_file(raw)
    if kind == "version":
        header["version"] = mutation[1]
        return _join_file(header, data)
    entries = header["entries"]
    target = entries[mutation[1] % len(entries)]
    if kind == "reshape":
        arrays = [e for e in entries if "shape" in e and len(e["shape"]) > 0]
        target = arrays[mutation[1] % len(arrays)]
        target["shape"] = [int(np.prod(target["shape"])), 1]
        return _join_file(header, data)
    if kind == "pickle":  # an object array whose bytes are a pickle that would run a command
        payload = pickle.dumps(np.array([_Boom(marker)], dtype=object))
        target.update(dtype="|O", shape=[1], nbytes=len(payload), crc32=zlib.crc32(payload))
        target.pop("python", None)
        target.pop("value", None)
        return _join_file(header, data + payload)
    field, value = mutation[2]
    if field == "delete":
        target.pop(value, None)
    else:
        target[field] = value
    return _join_file(header, data)


@given(kind=st.sampled_from(["checkpoint", "state"]), mutation=mutations)
@example(kind="checkpoint", mutation=("reshape", 4))  # Adam's first state array: model put back
@example(kind="checkpoint", mutation=("pickle", 0))
@example(kind="state", mutation=("header", 1, ("shape", [2**40, 2**40])))
@example(kind="state", mutation=("header", 0, ("dtype", "|O")))
def test_mutated_checkpoints_raise_our_errors_run_nothing_and_change_nothing(
        tmp_path_factory, kind, mutation):
    import tracemalloc

    folder = tmp_path_factory.mktemp("mutated")
    marker = folder / "executed"
    path = folder / "mutated.nn"
    path.write_bytes(_mutate(_checkpoint_bytes(folder, kind), mutation, marker))
    model = two_layer(seed=5, hidden=8)
    optimizer = nn.Adam(model.parameters(), lr=0.5)
    before = {**{f"m.{k}": v for k, v in model.state_dict().items()},
              **{f"o.{k}": np.copy(v) for k, v in optimizer.state_dict().items()}}
    tracemalloc.start()
    try:
        if kind == "state":
            nn.load(path, model)
        else:
            nn.load_checkpoint(path, model=model, optimizer=optimizer)
    except (CheckpointError, StateDictError):
        after = {**{f"m.{k}": v for k, v in model.state_dict().items()},
                 **{f"o.{k}": np.copy(v) for k, v in optimizer.state_dict().items()}}
        assert list(after) == list(before)
        for name, value in before.items():
            np.testing.assert_array_equal(after[name], value, err_msg=name)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 2 * 2**20, f"loading a {path.stat().st_size}-byte file used {peak} bytes"
    assert not marker.exists()


@given(cut=st.floats(0, 1, exclude_max=True))
def test_a_checkpoint_save_failing_at_any_byte_leaves_the_previous_one(tmp_path_factory, cut):
    folder = tmp_path_factory.mktemp("interrupted")
    model = two_layer(seed=0, hidden=8)
    optimizer = nn.SGD(model.parameters(), lr=0.1, momentum=0.9)
    path = nn.save_checkpoint(folder / "ckpt.nn", model, optimizer, epoch=3)
    before = path.read_bytes()
    write = serialization._write

    def write_until_the_disk_is_full(file, header, arrays):
        total = len(header) + 20 + sum(a.nbytes for a in arrays)
        budget = [int(cut * total)]

        class Full:
            def write(self, data):
                data = memoryview(data).cast("B")
                if len(data) > budget[0]:
                    file.write(data[:budget[0]])
                    raise OSError("No space left on device (simulated)")
                budget[0] -= len(data)
                return file.write(data)

        write(Full(), header, arrays)

    changed = two_layer(seed=9, hidden=8)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(serialization, "_write", write_until_the_disk_is_full)
        with pytest.raises(OSError, match="No space left"):
            nn.save_checkpoint(path, changed, nn.SGD(changed.parameters(), lr=0.1,
                                                     momentum=0.9), epoch=4)
    assert os.listdir(folder) == ["ckpt.nn"] and path.read_bytes() == before
    restored = two_layer(seed=7, hidden=8)
    assert nn.load_checkpoint(path, model=restored)["epoch"] == 3
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(restored.state_dict()[name], value)
