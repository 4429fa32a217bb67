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
the same types) and which were empty dicts. The file is written atomically: to a
temporary file in the same directory, flushed and fsync'ed, then moved over
``path`` with ``os.replace``, so a crash never leaves a half-written checkpoint.
``load`` reads with ``allow_pickle=False`` and turns any read error into a
``CheckpointError`` that names the file. Format details: docs/layers.md.
"""
import json
import os
import struct
import tempfile
import zipfile
import zlib

import numpy as np

from . import backend
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
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                for name, arr in arrays.items():
                    with zf.open(name + ".npy", "w", force_zip64=True) as entry:
                        np.lib.format.write_array(entry, arr, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:                        # make the rename itself durable (not possible on every OS)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load(path):
    """Read a checkpoint written by ``save``: the nested dict, with NumPy arrays for the arrays.

    Numbers and strings that were Python values come back as Python values, JSON
    values as what ``json.loads`` gives (tuples become lists). Raises
    ``CheckpointError`` naming the file when it is truncated or corrupt.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no checkpoint at {path!r}")
    try:
        npz = np.load(path, allow_pickle=False)
        if not hasattr(npz, "files"):
            raise CheckpointError(f"load: {path!r} holds a single .npy array, not a checkpoint (.npz)")
        with npz:
            flat = {name: npz[name] for name in npz.files}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError, UnicodeDecodeError, NotImplementedError,
            RuntimeError, zlib.error, struct.error) as e:
        raise CheckpointError(f"load: cannot read checkpoint {path!r} (truncated or corrupt?): "
                              f"{type(e).__name__}: {e}") from e
    meta = {"python": [], "json": [], "empty": []}
    if META in flat:
        try:
            meta.update(json.loads(str(flat.pop(META))))
        except ValueError as e:
            raise CheckpointError(f"load: the metadata of checkpoint {path!r} is corrupt: {e}") from e
        if meta.get("format", FORMAT) > FORMAT:
            raise CheckpointError(f"load: checkpoint {path!r} has format {meta['format']}, "
                                  f"newer than this minigan reads ({FORMAT})")
    python, as_json, empty = set(meta["python"]), set(meta["json"]), set(meta["empty"])
    out = {}
    for name, arr in flat.items():
        if name in empty:
            value = {}
        elif name in python:
            value = arr.item()
        elif name in as_json:
            value = json.loads(str(arr))
        else:
            value = arr
        node, parts = out, name.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise CheckpointError(f"load: checkpoint {path!r} has both a value and a dict at {part!r}")
        node[parts[-1]] = value
    return out


__all__ = ["CheckpointError", "load", "save"]
