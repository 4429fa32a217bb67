"""Checkpoints: ``minigan.save(obj, path)`` and ``minigan.load(path)``, one ``.npz`` file, no pickle.

``obj`` is a nested dict (of state_dicts and the like). Its keys are joined
with "/" into flat names ("G/0.weight", "optG/state/3/exp_avg"), and each leaf
is stored as one array in a NumPy ``.npz`` (a zip of ``.npy`` files):

- Tensors and arrays as they are (copied from the GPU when needed);
- Python bool / int / float / str and NumPy scalars as 0-d arrays;
- anything else JSON can write (None, lists, tuples, ints beyond 64 bits such
  as the state of NumPy's PCG64 generator) as a JSON string in a 0-d unicode array.

An empty dict (e.g. an optimizer's state before its first step) is kept as an
empty placeholder array. One more entry, ``__minigan__``, is a JSON string that
records which names were Python scalars, which were JSON (so ``load`` gives back
the same types) and which were empty dicts. The file is written atomically
(``files.write_atomic``: a temporary file in the same directory, flushed and fsync'ed, then moved over
``path`` with ``os.replace``), so a crash never leaves a half-written checkpoint.
``load`` checks each array's header against the size of its entry before reading it, refuses object
arrays (it never unpickles) and turns any read error into a ``CheckpointError`` that names the file.
Format details: docs/layers.md.
"""
import json
import os
import struct
import zipfile
import zlib

import numpy as np

from . import backend, files
from .tensor import Tensor

META = "__minigan__"
FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint file could not be read (truncated, corrupt, or not a minigan checkpoint)."""


def _leaf(value, name, meta):
    """The array to store for one leaf; records Python scalars and JSON values in ``meta``."""
    if isinstance(value, Tensor):
        return backend.as_numpy(value.data)
    if hasattr(value, "__array__") and hasattr(value, "shape") and hasattr(value, "dtype"):
        arr = backend.as_numpy(value)            # numpy / cupy arrays and numpy scalars
        if arr.dtype.hasobject:
            raise TypeError(f"save: {name!r} is an object array, which cannot be stored without pickle")
        return arr
    if isinstance(value, (bool, float, str)) or (isinstance(value, int) and -2 ** 63 <= value < 2 ** 63):
        meta["python"].append(name)
        return np.asarray(value)
    try:
        text = json.dumps(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"save: {name!r} is a {type(value).__name__}, which is neither an array, a number, "
                        f"a string nor JSON-serialisable ({e})") from None
    meta["json"].append(name)
    return np.asarray(text)


def _flatten(obj, prefix, out, meta):
    for key, value in obj.items():
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            raise TypeError(f"save: keys must be strings (or ints), got {key!r} under {prefix or 'the top level'!r}")
        key = str(key)
        if not key or "/" in key:
            raise ValueError(f"save: key {key!r} under {prefix or 'the top level'!r} is empty or contains '/', "
                             "which separates nested keys")
        name = f"{prefix}/{key}" if prefix else key
        if name == META:
            raise ValueError(f"save: the top-level key {META!r} is reserved")
        if isinstance(value, dict) and value:
            _flatten(value, name, out, meta)
        elif isinstance(value, dict):          # an empty dict has no leaves: keep a placeholder
            meta["empty"].append(name)
            out[name] = np.zeros(0)
        else:
            out[name] = _leaf(value, name, meta)


def save(obj, path):
    """Write a nested dict of state_dicts / arrays / Tensors / numbers / strings to ``path`` (.npz) atomically.

    Args:
        obj: a dict, e.g. {"G": G.state_dict(), "optG": opt.state_dict(), "step": 5,
            "rng": minigan.backend.rng_state()}.
        path: the file to write (replaced if it exists).
    """
    if not isinstance(obj, dict):
        raise TypeError(f"save: expected a dict (of state_dicts), got {type(obj).__name__}")
    arrays, meta = {}, {"format": FORMAT, "python": [], "json": [], "empty": []}
    _flatten(obj, "", arrays, meta)
    arrays[META] = np.asarray(json.dumps(meta))

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, arr in arrays.items():
                with zf.open(name + ".npy", "w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, arr, allow_pickle=False)
    files.write_atomic(path, write)


# What a checkpoint's arrays may hold: numbers, booleans and (for strings and JSON) unicode text. Anything
# else (an object array, which only pickle reads; bytes; complex; dates) is not something ``save`` writes.
KINDS = "fiubU"


def _read_entry(zf, info, path):
    """One array of the zip: its .npy header is read and checked against the entry's size before any data
    (a damaged header could claim terabytes); object arrays are refused before NumPy could ask for pickle."""
    name = info.filename
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                                 else np.lib.format.read_array_header_2_0(f))
        if dtype.kind not in KINDS or dtype.hasobject:
            raise CheckpointError(f"checkpoint {path} is not a minigan checkpoint: its array {name!r} has dtype "
                                  f"{dtype} (minigan stores numbers and text only, and never reads pickled "
                                  "objects)")
        need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if need != info.file_size - f.tell():
            raise CheckpointError(f"checkpoint {path} is damaged: the header of {name!r} says shape {shape} "
                                  f"of {dtype} ({need} bytes) but the entry holds {info.file_size - f.tell()}")
        data = bytearray(need)
        view, done = memoryview(data), 0
        while done < need:
            n = f.readinto(view[done:])
            if not n:
                raise CheckpointError(f"checkpoint {path} is damaged: {name!r} ends early")
            done += n
        f.read(1)                                          # the end of the entry: the zip checks its CRC
        return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")


def _what_it_is(path):
    """For a file that is not a zip: what it looks like, for the error message."""
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        return "it is empty"
    if head.startswith(b"\x93NUMPY"):
        return "it holds a single .npy array, not a checkpoint (.npz)"
    if head.startswith(b"PK"):
        return "it is a zip (.npz) file cut short or damaged: the directory at its end is missing"
    return f"it is not a zip (.npz) file; it begins with {head[:12]!r}"


def load(path):
    """Read a checkpoint written by ``save``: the nested dict, with NumPy arrays for the arrays.

    Numbers and strings that were Python values come back as Python values, JSON
    values as what ``json.loads`` gives (tuples become lists). Raises
    ``CheckpointError`` naming the file when it is truncated, corrupt, or not a checkpoint; reads
    no pickle and allocates no array larger than the file says it holds.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no checkpoint at {path!r}")
    try:
        files.regular_file(path)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    try:
        with zipfile.ZipFile(path) as zf:
            flat = {}
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise CheckpointError(f"checkpoint {path} is not a minigan checkpoint: it holds "
                                          f"{info.filename!r}, which is not a .npy array")
                flat[info.filename[:-4]] = _read_entry(zf, info, path)
    except CheckpointError:
        raise
    except zipfile.BadZipFile as e:
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"checkpoint {path} is not a readable checkpoint: {_what_it_is(path)}") from None
        raise CheckpointError(f"checkpoint {path} is damaged (truncated or corrupt): {e}") from e
    except (ValueError, EOFError, OSError, KeyError, UnicodeDecodeError, NotImplementedError, RuntimeError,
            zlib.error, struct.error, MemoryError, OverflowError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path} is damaged (truncated or corrupt): {type(e).__name__}: "
                              f"{e}") from e
    return _unflatten(flat, path)


def _unflatten(flat, path):
    """The nested dict of a checkpoint's flat arrays, with the types ``__minigan__`` records."""
    def damaged(what):
        return CheckpointError(f"checkpoint {path} is damaged: {what}")
    meta = {"python": [], "json": [], "empty": []}
    if META in flat:
        try:
            found = json.loads(str(flat.pop(META)))
        except ValueError as e:
            raise damaged(f"its metadata ({META}) is not JSON: {e}") from None
        if not isinstance(found, dict) or not all(isinstance(found.get(k, []), list) and
                                                  all(isinstance(n, str) for n in found.get(k, []))
                                                  for k in ("python", "json", "empty")):
            raise damaged(f"its metadata ({META}) is not a dict of name lists")
        meta.update(found)
        version = meta.get("format", FORMAT)
        if isinstance(version, bool) or not isinstance(version, int):
            raise damaged(f"its metadata ({META}) has format {version!r}, not a number")
        if version > FORMAT:
            raise CheckpointError(f"load: checkpoint {path!r} has format {version}, "
                                  f"newer than this minigan reads ({FORMAT})")
    python, as_json, empty = set(meta["python"]), set(meta["json"]), set(meta["empty"])
    out = {}
    for name, arr in flat.items():
        if name in empty:
            value = {}
        elif name in python or name in as_json:
            if arr.ndim != 0:
                raise damaged(f"{name!r} should hold one value, it holds an array of shape {arr.shape}")
            try:
                value = json.loads(str(arr)) if name in as_json else arr.item()
            except ValueError as e:
                raise damaged(f"{name!r} should hold JSON text: {e}") from None
        else:
            value = arr
        node, parts = out, name.split("/")
        if not all(parts):
            raise damaged(f"the name {name!r} has an empty part")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise CheckpointError(f"load: checkpoint {path!r} has both a value and a dict at {part!r}")
        if parts[-1] in node:
            raise CheckpointError(f"load: checkpoint {path!r} has both a value and a dict at {parts[-1]!r}")
        node[parts[-1]] = value
    return out


__all__ = ["CheckpointError", "load", "save"]
