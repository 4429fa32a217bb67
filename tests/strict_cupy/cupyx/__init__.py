"""``cupyx`` of the strict CuPy stand-in: only ``scatter_add`` (CuPy's name for ``np.add.at``)."""
import numpy as _np

import cupy as _cp


def scatter_add(a, slices, value):
    """a[slices] += value with repeated indices accumulated; out-of-range integer indices wrap, as CuPy's."""
    if type(a) is not _cp.ndarray:
        _cp._refuse(a)
    v = _cp._operand(value)
    if v is NotImplemented:
        _cp._refuse(value)
    _np.add.at(a._a, _cp._wrap_index(a._a, slices), v)
