"""The IDX format of LeCun's MNIST files (raw or gzipped): ``parse_idx`` / ``read_idx``, which refuse any
corrupt file with a ``DataError`` naming the file."""
import gzip
import zlib
from pathlib import Path

import numpy as np


class DataError(ValueError):
    """A data file is missing, corrupt, or does not match its expected checksum."""


# IDX type code -> big-endian dtype (LeCun's format description); 0x08 is what MNIST uses.
IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_bytes(path):
    """The bytes of path, gunzipped when its name ends in .gz (corrupt gzip -> DataError)."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; truncation is an EOFError
        raise DataError(f"{path}: not a valid gzip file ({type(e).__name__}: {e})") from None


def parse_idx(raw, source="<bytes>"):
    """Decode the bytes of an IDX file into a native-endian array; ``source`` names it in errors."""
    if len(raw) < 4:
        raise DataError(f"{source}: too short for an IDX header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{source}: bad IDX magic number 0x{raw[:4].hex()} (must start with two zero bytes)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        raise DataError(f"{source}: unknown IDX type code 0x{code:02x}; "
                        f"expected one of {[hex(c) for c in IDX_DTYPES]}")
    if ndim == 0:
        raise DataError(f"{source}: IDX header has 0 dimensions")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataError(f"{source}: truncated IDX header ({len(raw)} bytes, {ndim} dims need {start})")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - start
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise DataError(f"{source}: IDX data {what}: dims {dims} of {dtype.name} need {expected} bytes "
                        f"after the header, found {got}")
    arr = np.frombuffer(raw, dtype=dtype, offset=start).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a writable, native-endian copy


def read_idx(path):
    """Read an IDX file (raw, or gzipped when the name ends in .gz) into a NumPy array.

    Raises DataError naming the file for a bad gzip stream, a bad magic number, an unknown type code, or
    a data length that differs from the product of the dims.
    """
    return parse_idx(_read_bytes(path), source=str(path))
