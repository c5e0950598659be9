"""Saving and loading state dicts and checkpoints in a format that never runs code on load.

A file is a fixed preamble, a JSON header and raw array bytes (the layout of safetensors)::

    b"AGNNSAVE"  8 bytes: this format's marker
    uint64 LE    length of the header in bytes
    uint32 LE    CRC-32 of the header
    header       UTF-8 JSON: {"format": "autograd-nn", "version": 1, "entries": [...]}
    data         the arrays' bytes, little-endian, C order, one after the other

Each entry names one value: an array (``dtype``, ``shape``, ``offset``, ``nbytes``, ``crc32``)
or a Python number/string/bool/None (``value``), so an optimizer's step count comes back as an
int, not as an array. Loading reads nothing but numbers and JSON: only plain numeric and bool
dtypes are accepted (object arrays are refused), every size is checked against the file's size
before anything is allocated, and checksums (of the header and of each array) catch corrupted
bytes. Any defect raises
:class:`CheckpointError`.

Saving is atomic: the bytes go to a temporary file in the same folder, are flushed and
fsync'ed, and only then replace the target with ``os.replace``, so an interrupted save leaves
the previous file as it was.
"""

from __future__ import annotations

import json
import os
import secrets
import struct
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from autograd_core import Tensor
from autograd_core.errors import CheckpointError, DTypeError, StateDictError

MAGIC = b"AGNNSAVE"
FORMAT = "autograd-nn"
VERSION = 1
MAX_HEADER_BYTES = 100 * 2**20
_PREAMBLE = struct.Struct("<8sQI")  # marker, header length, header CRC-32
# Numeric dtypes a file may hold, little-endian as written ('<f4', '|b1', ...).
_DTYPES = {np.dtype(name).newbyteorder("<").str: np.dtype(name).newbyteorder("<")
           for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                        "uint64", "float16", "float32", "float64", "complex64", "complex128")}
_PYTHON_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "none": type(None)}
_ENTRY_KEYS = {"name", "dtype", "shape", "offset", "nbytes", "crc32", "scalar"}


# ---- saving -------------------------------------------------------------------------------------

def _state_of(obj) -> Mapping:
    if isinstance(obj, Mapping):
        return obj
    if callable(getattr(obj, "state_dict", None)):  # a Module or an optimizer
        return obj.state_dict()
    raise TypeError(f"save: expected a Module, an optimizer or a state dict (a mapping of "
                    f"names to arrays and numbers), got {type(obj).__name__}")


def _python_kind(value) -> str | None:
    for kind, cls in _PYTHON_TYPES.items():
        if type(value) is cls:  # exact types: a numpy scalar is stored as an array
            return kind
    return None


def _to_array(name: str, value) -> tuple[np.ndarray, bool]:
    """The value as a little-endian C-ordered array, and whether it was a numpy scalar."""
    array = value.data if isinstance(value, Tensor) else value
    if not isinstance(array, (np.ndarray, np.generic)):
        raise TypeError(f"save: {name!r} is a {type(value).__name__}; a state dict holds "
                        "numpy arrays, Tensors, and Python numbers, strings, bools or None")
    le_dtype = array.dtype.newbyteorder("<")
    if le_dtype.str not in _DTYPES:
        raise DTypeError(f"save: {name!r} has dtype {array.dtype}; only bool, integer, float "
                         "and complex arrays can be saved (object arrays never are)")
    return np.asarray(array, dtype=le_dtype, order="C"), isinstance(array, np.generic)


def _layout(state: Mapping) -> tuple[bytes, list[np.ndarray]]:
    """The header bytes and the arrays to write after it, in order."""
    entries, arrays, offset = [], [], 0
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(f"save: state dict keys must be strings, got {name!r}")
        kind = _python_kind(value)
        if kind is not None:
            if kind == "float" and not np.isfinite(value):
                value = repr(value)  # JSON has no nan/inf: stored as text, restored by float()
            entries.append({"name": name, "python": kind, "value": value})
            continue
        array, scalar = _to_array(name, value)
        entry = {"name": name, "dtype": array.dtype.str, "shape": list(array.shape),
                 "offset": offset, "nbytes": array.nbytes,
                 "crc32": zlib.crc32(_bytes_of(array))}
        if scalar:
            entry["scalar"] = True
        entries.append(entry)
        arrays.append(array)
        offset += array.nbytes
    header = {"format": FORMAT, "version": VERSION, "entries": entries}
    return json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8"), arrays


def _bytes_of(array: np.ndarray) -> np.ndarray:
    """The array's memory as a flat uint8 array (no copy; the array is C-contiguous)."""
    return array.reshape(-1).view(np.uint8)


def _write_array(file, array: np.ndarray) -> None:
    file.write(_bytes_of(array))


def _write(file, header: bytes, arrays: list[np.ndarray]) -> None:
    file.write(_PREAMBLE.pack(MAGIC, len(header), zlib.crc32(header)) + header)
    for array in arrays:
        _write_array(file, array)


def _open_temporary(path: Path):
    """A new file next to ``path`` (same file system, so os.replace is atomic), created with the
    usual permissions (0o666 less the umask, as open() gives)."""
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(
                os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        return temporary, os.fdopen(fd, "wb")


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(obj, path) -> Path:
    """Write a state dict (or a Module's / optimizer's ``state_dict()``) to ``path``, atomically.

    Values may be numpy arrays, Tensors, numpy scalars and Python ints, floats, bools, strings
    or None. Returns the path as a ``Path``.

    >>> save(model, "model.nn")
    PosixPath('model.nn')
    >>> model.load_state_dict(load("model.nn"))
    """
    header, arrays = _layout(_state_of(obj))
    return write_atomically(path, lambda file: _write(file, header, arrays), "save")


def write_atomically(path, write, where: str) -> Path:
    """Call ``write(file)`` on a new binary file next to ``path``, then put it in ``path``'s
    place with one ``os.replace``: readers see the old file or the whole new one, and an error
    (in ``write`` too) leaves no partial file behind. ``where`` names the caller in errors.
    Returns the path as a ``Path``."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{where}: cannot write {str(path)!r}: the folder "
                                f"{str(path.parent)!r} does not exist")
    temporary, file = _open_temporary(path)
    try:
        with file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


# ---- loading ------------------------------------------------------------------------------------

def _bad(path: Path, problem: str) -> CheckpointError:
    return CheckpointError(f"load: {str(path)!r} is not a readable nn save file: {problem}")


def _read_header(file, path: Path, file_size: int) -> dict:
    preamble = file.read(_PREAMBLE.size)
    if len(preamble) < _PREAMBLE.size or preamble[:len(MAGIC)] != MAGIC:
        raise _bad(path, "it does not start with the format's marker (not saved by nn.save, "
                         "or truncated)")
    _, length, crc = _PREAMBLE.unpack(preamble)
    if length > min(MAX_HEADER_BYTES, file_size - _PREAMBLE.size):
        raise _bad(path, f"the header claims {length} bytes but the file has {file_size} "
                         "(truncated?)")
    raw = file.read(length)
    if zlib.crc32(raw) != crc:
        raise _bad(path, "its header fails its checksum (corrupted bytes)")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise _bad(path, f"its header is not valid JSON ({error})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _bad(path, f"its header does not name the format {FORMAT!r}")
    if header.get("version") != VERSION:
        raise _bad(path, f"format version {header.get('version')!r}; this version of nn reads "
                         f"version {VERSION}")
    if not isinstance(header.get("entries"), list):
        raise _bad(path, "its header has no list of entries")
    return header


def _is_count(value) -> bool:
    return type(value) is int and value >= 0


def _check_array_entry(entry: dict, path: Path, expected_offset: int, data_size: int) -> None:
    name = entry["name"]
    if set(entry) - _ENTRY_KEYS:
        raise _bad(path, f"entry {name!r} has unknown fields {sorted(set(entry) - _ENTRY_KEYS)}")
    dtype = _DTYPES.get(entry.get("dtype")) if isinstance(entry.get("dtype"), str) else None
    if dtype is None:
        raise _bad(path, f"entry {name!r} has dtype {entry.get('dtype')!r}; only plain numeric "
                         "and bool arrays are read (object arrays are refused)")
    shape, nbytes = entry.get("shape"), entry.get("nbytes")
    if not isinstance(shape, list) or not all(_is_count(n) for n in shape):
        raise _bad(path, f"entry {name!r} has an invalid shape {shape!r}")
    if not _is_count(nbytes) or nbytes != int(np.prod(shape, dtype=object)) * dtype.itemsize:
        raise _bad(path, f"entry {name!r}: {nbytes!r} bytes do not hold shape {shape} of "
                         f"{dtype}")
    if entry.get("offset") != expected_offset or expected_offset + nbytes > data_size:
        raise _bad(path, f"entry {name!r} lies at bytes {entry.get('offset')!r}..+{nbytes} "
                         f"but the data section has {data_size} bytes (truncated?)")
    if not _is_count(entry.get("crc32")):
        raise _bad(path, f"entry {name!r} has no checksum")


def _read_array(file, entry: dict, path: Path):
    dtype = _DTYPES[entry["dtype"]]
    try:  # the size was checked against the file's; the shape may still be absurd, (0, 2**70)
        array = np.empty(entry["shape"], dtype=dtype)
    except (ValueError, OverflowError, MemoryError) as error:
        raise _bad(path, f"entry {entry['name']!r} has shape {entry['shape']}: {error}") from None
    view = _bytes_of(array)
    if file.readinto(view) != entry["nbytes"]:
        raise _bad(path, f"entry {entry['name']!r} is cut short (truncated file)")
    if zlib.crc32(view) != entry["crc32"]:
        raise _bad(path, f"entry {entry['name']!r} fails its checksum (corrupted bytes)")
    array = array.astype(dtype.newbyteorder("="), copy=False)  # native order for arithmetic
    return array[()] if entry.get("scalar") else array


def _python_value(entry: dict, path: Path):
    kind, value = entry.get("python"), entry.get("value")
    if kind == "float" and isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    if kind == "float" and type(value) is int:
        return float(value)  # JSON may spell 1.0 as 1 (not ours, but harmless)
    if not isinstance(kind, str) or kind not in _PYTHON_TYPES \
            or type(value) is not _PYTHON_TYPES[kind]:
        raise _bad(path, f"entry {entry.get('name')!r} holds {value!r}, not a {kind!r}")
    return value


def load_state(path) -> OrderedDict:
    """Read a file written by :func:`save` into an OrderedDict (name -> array or number)."""
    path = Path(path)
    try:
        file = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file: {str(path)!r}") from None
    with file:
        file_size = os.fstat(file.fileno()).st_size
        header = _read_header(file, path, file_size)
        data_size = file_size - file.tell()
        state, offset = OrderedDict(), 0
        for entry in header["entries"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise _bad(path, f"an entry of its header is malformed: {entry!r:.80}")
            if entry["name"] in state:
                raise _bad(path, f"the name {entry['name']!r} appears twice")
            if "python" in entry:
                state[entry["name"]] = _python_value(entry, path)
                continue
            _check_array_entry(entry, path, offset, data_size)
            state[entry["name"]] = _read_array(file, entry, path)
            offset += entry["nbytes"]
        if offset != data_size:
            raise _bad(path, f"{data_size - offset} unexpected bytes after the last array")
    return state


def _check_same_dtypes(model, state: Mapping, where: str) -> None:
    """Refuse a file whose arrays differ in dtype from the model's parameters: a file is the
    model as it was saved, and casting (float32 into a float16 model, say) would silently
    change the values. Convert on purpose: ``model.load_state_dict`` casts within a kind."""
    if not callable(getattr(model, "named_parameters", None)):
        return
    named = list(model.named_parameters())
    if callable(getattr(model, "named_buffers", None)):  # running statistics and the like
        named += list(model.named_buffers())
    problems = [f"{name}: {np.asarray(state[name]).dtype} in the file, {param.dtype} in the "
                "model" for name, param in named
                if name in state and np.asarray(state[name]).dtype != param.dtype]
    if problems:
        raise StateDictError(f"{where} into {type(model).__name__}: dtypes differ: "
                             + "; ".join(problems) + ". The model was not changed (to convert "
                             "on purpose, pass the loaded state to model.load_state_dict).")


def load(path, model=None, strict: bool = True) -> OrderedDict:
    """Read a state dict saved by :func:`save`; with ``model``, also load it into the model.

    Returns an OrderedDict of name -> numpy array (or Python number). Loading into a model
    checks everything first: missing or unexpected names (when ``strict``), wrong shapes and
    dtypes other than the model's (no silent casting) raise a StateDictError listing them, and
    the model is left unchanged. A file that is not
    ours, truncated or corrupted raises a CheckpointError; a missing one a FileNotFoundError.
    """
    state = load_state(path)
    if model is not None:
        try:
            _check_same_dtypes(model, state, f"load {str(path)!r}")
            model.load_state_dict(state, strict=strict)
        except StateDictError as error:
            if any(name.startswith("model.") for name in state):
                raise StateDictError(f"{error} ({str(path)!r} looks like a checkpoint: read it "
                                     "with load_checkpoint(path, model=...))") from None
            raise
    return state


# ---- checkpoints: model + optimizer + epoch -----------------------------------------------------

def save_checkpoint(path, model, optimizer=None, epoch: int | None = None, **extra) -> Path:
    """Save a model's and (optionally) an optimizer's state, and the epoch, in one file.

    Keys are prefixed ``model.`` and ``optimizer.``; ``epoch`` and ``extra`` values (numbers,
    strings or arrays) are stored as ``epoch`` and ``extra.<name>``. Resume with
    :func:`load_checkpoint` and ``fit(..., initial_epoch=epoch)``.
    """
    state = OrderedDict((f"model.{name}", value) for name, value in model.state_dict().items())
    if optimizer is not None:
        state.update((f"optimizer.{name}", value)
                     for name, value in optimizer.state_dict().items())
    if epoch is not None:
        state["epoch"] = int(epoch)
    state.update((f"extra.{name}", value) for name, value in extra.items())
    return save(state, path)


def _split(state: Mapping, prefix: str) -> OrderedDict:
    return OrderedDict((name[len(prefix):], value) for name, value in state.items()
                       if name.startswith(prefix))


def load_checkpoint(path, model=None, optimizer=None, strict: bool = True) -> dict:
    """Read a file written by :func:`save_checkpoint`, loading the states into ``model`` and
    ``optimizer`` when given. Both are checked before either changes (the model's arrays must
    have its dtypes, as in :func:`load`): if the optimizer's state does not fit, the model is
    put back as it was.

    Returns ``{'model': state, 'optimizer': state, 'epoch': int or None, 'extra': {...}}``.
    """
    return load_checkpoint_state(load_state(path), path, model, optimizer, strict)


def load_checkpoint_state(state: Mapping, path, model=None, optimizer=None,
                          strict: bool = True) -> dict:
    """:func:`load_checkpoint` for a state already read from ``path`` (``load_state``), as
    nn.distributed's ranks get it from rank 0."""
    known = ("model.", "optimizer.", "extra.")
    strays = [name for name in state if name != "epoch" and not name.startswith(known)]
    if strays:
        raise CheckpointError(f"load_checkpoint: {str(path)!r} holds keys that are not from "
                              f"save_checkpoint: {strays[:5]} (a plain state dict? use load())")
    parts = {"model": _split(state, "model."), "optimizer": _split(state, "optimizer."),
             "epoch": state.get("epoch"), "extra": dict(_split(state, "extra."))}
    if optimizer is not None and not parts["optimizer"]:
        raise StateDictError(f"load_checkpoint: {str(path)!r} holds no optimizer state, but an "
                             "optimizer was given to load it into")
    if model is not None:
        _check_same_dtypes(model, parts["model"], f"load_checkpoint {str(path)!r}")
        before = model.state_dict()
        model.load_state_dict(parts["model"], strict=strict)
        if optimizer is not None:
            try:
                optimizer.load_state_dict(parts["optimizer"])
            except BaseException:
                model.load_state_dict(before)
                raise
    elif optimizer is not None:
        optimizer.load_state_dict(parts["optimizer"])
    return parts


__all__ = ["load", "load_checkpoint", "load_state", "save", "save_checkpoint"]
