"""A strict stand-in for CuPy, for running minigan's test suite without a GPU.

Put ``tests/strict_cupy`` first on ``PYTHONPATH`` and ``import cupy`` gives this module. It follows
CuPy's documented behaviour where minigan could get it wrong:

* a device array is ``cupy.ndarray``, which is *not* a ``numpy.ndarray``; it wraps one (``_a``);
* ``numpy.asarray(device_array)`` (``__array__``) raises CuPy's ``TypeError``; NumPy ufuncs refuse it;
* a NumPy array (of any number of dims) as an operand of an op or a function raises
  ``TypeError: Unsupported type <class 'numpy.ndarray'>``; Python and NumPy scalars are fine;
* reductions return 0-d device arrays, never NumPy scalars;
* integer-array indices out of range wrap around (CuPy does not check them; NumPy raises);
* only the functions, array methods and ``cupy.random.Generator`` methods that CuPy has exist here
  (a subset: those minigan may call, each checked against CuPy's namespace).

It is stricter than CuPy in one way: NumPy ufuncs called on a device array (``np.exp(a)``) raise here,
where CuPy's ``__array_ufunc__`` would run them on the GPU; minigan always calls ``xp.exp``.

Every transfer is counted by the call site that asked for it (the first frame outside this stand-in,
NumPy and minigan/backend.py, whose helpers only pass requests on): ``h2d`` (``cupy.asarray`` / ``cupy.array`` of
host data, host index arrays), ``d2h`` (``.get()``, ``cupy.asnumpy``, ``.tolist()``, ``repr``) and ``sync``
(``.item()``, ``float()``, ``int()``, ``bool()``, ``synchronize()``: the host waits for the device). See
``counters`` below.

It also counts **kernel launches**: every CuPy function, method or operator that would launch a CUDA kernel
counts one (element-wise operators and functions, reductions, matrix products, copies such as ``astype``,
``copy``, a ``reshape`` that cannot be a view, ``setitem``, fills such as ``zeros``, advanced indexing, random
draws, ``add.at``, concatenations). Views (``transpose``, a ``reshape`` or ``ravel`` that is a view, basic
indexing, ``as_strided``, ``broadcast_to``), ``empty`` and host/device transfers launch none. A call counts
one even where CuPy launches two or three kernels for it (``var``, some reductions), so the count is a lower
bound on kernels and an exact count of launching calls. ``cupy.fuse`` is emulated: the decorated function
runs op by op on the wrapped arrays and counts one launch; inside it, only element-wise operations are
allowed, and reading a value on the host raises, as in a real fused kernel. See ``kernel_launches``.

What it cannot catch: CUDA kernel compilation and launch failures, which dtypes CuPy's kernels support
(it runs NumPy's), differences in floating-point results between cuBLAS/CUDA and NumPy, memory limits and
pool behaviour, streams and asynchrony, and timing of any kind. A suite that passes here still has to
be run once on a real GPU.
"""
import builtins
import collections
import operator
import sys

import numpy as _np

__version__ = "13.0.0-strict-stand-in"
_STRICT = True            # lets a test tell the stand-in from the real CuPy

# ------------------------------------------------------------------ counters
_HERE = __file__.rsplit("/", 2)[0]          # .../strict_cupy
_NUMPY = _np.__file__.rsplit("/", 1)[0]
counters = collections.Counter()            # (kind, "file:line") -> count


HELPERS = ("minigan/backend.py",)            # frames in these files are passed over: the count goes to their caller


def _site():
    f = sys._getframe(2)
    while f is not None and (f.f_code.co_filename.startswith(_HERE) or f.f_code.co_filename.startswith(_NUMPY)
                             or f.f_code.co_filename.endswith(HELPERS)):
        f = f.f_back
    if f is None:
        return "?"
    name = f.f_code.co_filename
    i = name.rfind("/minigan/")
    if i < 0:
        i = name.rfind("/tests/")
    return f"{name[i + 1:] if i >= 0 else name}:{f.f_lineno}"


def _count(kind):
    if _fusing[0]:
        raise TypeError(f"cupy.fuse: a fused function cannot read values on the host ({kind})")
    counters[(kind, _site())] += 1


def reset_counters():
    """Forget every count so far (transfers, syncs and kernel launches)."""
    counters.clear()
    _launches[0] = 0
    if _launch_sites is not None:
        _launch_sites.clear()


# ------------------------------------------------------------------ kernel launches
_launches = [0]               # launching calls since the last reset_counters()
_launch_sites = None          # a Counter by call site while record_launch_sites(True) is on (it costs time)
_fusing = [0]                 # > 0 inside a fused function: its ops are one launch, counted at the call


def _launch(elementwise=True):
    """Count one kernel launch; inside a fused function only element-wise work is allowed and nothing counts."""
    if _fusing[0]:
        if not elementwise:
            raise TypeError("cupy.fuse: only element-wise operations can be fused here (no reductions, "
                            "reshapes, matrix products, indexing or new arrays)")
        return
    _launches[0] += 1
    if _launch_sites is not None:
        _launch_sites[_site()] += 1


def kernel_launches():
    """The number of calls that launched a kernel since the last ``reset_counters()``."""
    return _launches[0]


def record_launch_sites(on=True):
    """Also count launches by call site (``launch_sites()``); off by default, since it walks the stack each time."""
    global _launch_sites
    _launch_sites = collections.Counter() if on else None


def launch_sites():
    """{"file:line": launches} recorded since ``record_launch_sites(True)`` / the last reset (a copy)."""
    return dict(_launch_sites or {})


def fuse(*args, **kwargs):
    """``cupy.fuse``: the decorated function becomes one element-wise kernel. Here it runs op by op on the
    wrapped arrays (so in-place updates of its arguments happen as in CuPy) and counts one launch."""
    def decorate(f):
        def fused(*a):
            for x in a:
                if isinstance(x, _np.ndarray):
                    _refuse(x)
            _launch()
            _fusing[0] += 1
            try:
                return f(*a)
            finally:
                _fusing[0] -= 1
        fused.__name__, fused.__doc__, fused.__wrapped__ = f.__name__, f.__doc__, f
        return fused
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return decorate(args[0])
    return decorate


def snapshot():
    """{kind: {site: count}} for kinds 'h2d', 'd2h', 'sync' (a copy)."""
    out = {"h2d": {}, "d2h": {}, "sync": {}}
    for (kind, site), n in counters.items():
        out[kind][site] = n
    return out


# ------------------------------------------------------------------ the array
_MSG = ("Implicit conversion to a NumPy array is not allowed. "
        "Please use `.get()` to construct a NumPy array explicitly.")
_SCALARS = (bool, int, float, complex, _np.generic)


def _wrap(a):
    out = ndarray.__new__(ndarray)
    out._a = a
    return out


def _out(r):
    """A NumPy result as what CuPy returns: arrays and NumPy scalars become device arrays."""
    if isinstance(r, _np.ndarray):
        return _wrap(r)
    if isinstance(r, _np.generic):
        return _wrap(_np.asarray(r))
    if isinstance(r, tuple):
        return tuple(_out(x) for x in r)
    if isinstance(r, list):
        return [_out(x) for x in r]
    return r


def _refuse(x):
    raise TypeError(f"Unsupported type {type(x)}")


def _arg(x):
    """An argument of a CuPy function: device arrays unwrapped, host arrays refused."""
    t = type(x)
    if t is ndarray:
        return x._a
    if t is _np.ndarray:
        _refuse(x)
    if t is list or t is tuple:
        return t(_arg(v) for v in x)
    return x


def _operand(x):
    t = type(x)
    if t is ndarray:
        return x._a
    if isinstance(x, _SCALARS):
        return x
    if isinstance(x, _np.ndarray):
        _refuse(x)
    if getattr(x, "__array_priority__", 0) > ndarray.__array_priority__:
        return NotImplemented               # e.g. a minigan Tensor: let its reflected operator run
    _refuse(x)


def _wrap_index(a, index):
    """CuPy's advanced indexing: integer arrays wrap around instead of raising (take's 'wrap' mode)."""
    items = index if type(index) is tuple else (index,)
    if not builtins.any(type(s) in (ndarray, _np.ndarray, list) for s in items):
        return index                        # basic indexing: as NumPy (out-of-range ints raise)
    out, dim = [], 0
    n_real = builtins.sum(1 for s in items if s is not None and s is not Ellipsis)
    for s in items:
        if s is Ellipsis:
            dim += a.ndim - n_real + 1
            out.append(s)
            continue
        if s is None:
            out.append(s)
            continue
        if type(s) is ndarray:
            s = s._a
        elif isinstance(s, (_np.ndarray, list)):
            _count("h2d")                   # CuPy copies a host index array to the device
            s = _np.asarray(s)
        if isinstance(s, _np.ndarray) and s.dtype.kind in "iu" and dim < a.ndim and a.shape[dim]:
            s = s % a.shape[dim]
        out.append(s)
        dim += s.ndim if isinstance(s, _np.ndarray) and s.dtype == bool else 1
    return tuple(out) if type(index) is tuple else out[0]


def _binary(f):
    def op(self, other):
        o = _operand(other)
        if o is NotImplemented:
            return o
        _launch()
        return _out(f(self._a, o))
    return op


def _rbinary(f):
    def op(self, other):
        o = _operand(other)
        if o is NotImplemented:
            return o
        _launch()
        return _out(f(o, self._a))
    return op


def _inplace(f):
    def op(self, other):
        o = _operand(other)
        if o is NotImplemented:
            return o
        _launch()
        self._a = f(self._a, o)
        return self
    return op


def _reduction(name):
    """A reduction method: the result is always a device array (0-d for a full reduction)."""
    def method(self, axis=None, dtype=None, out=None, keepdims=False):
        _launch(elementwise=False)
        kw = {} if dtype is None or name in ("max", "min", "all", "any") else {"dtype": dtype}
        return _wrap(_np.asarray(getattr(self._a, name)(axis=axis, keepdims=keepdims, **kw)))
    method.__name__ = name
    return method


class ndarray:
    """A device array: wraps a NumPy array, but is not one."""

    __slots__ = ("_a",)
    __array_priority__ = 100
    __array_ufunc__ = None                  # NumPy ufuncs on a device array: TypeError
    __array_function__ = None
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        self._a = _np.empty(shape, dtype=dtype, order=order)

    def __array__(self, *args, **kwargs):
        raise TypeError(_MSG)

    # properties
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: _wrap(self._a.T))
    base = property(lambda self: None)
    device = property(lambda self: cuda.Device(0))

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    def __repr__(self):
        _count("d2h")
        return repr(self._a)

    __str__ = __repr__

    def __format__(self, spec):
        _count("d2h")
        return format(self._a, spec) if self._a.ndim == 0 else format(str(self._a), spec)

    # transfers and host reads
    def get(self, stream=None, order="C", out=None, blocking=True):
        _count("d2h")
        return self._a.copy()

    def tolist(self):
        _count("d2h")
        return self._a.tolist()

    def item(self, *args):
        _count("sync")
        return self._a.item(*args)

    def __float__(self):
        _count("sync")
        return float(self._a)

    def __int__(self):
        _count("sync")
        return int(self._a)

    def __index__(self):
        _count("sync")
        return operator.index(self._a)

    def __bool__(self):
        _count("sync")
        return bool(self._a)

    def __complex__(self):
        _count("sync")
        return complex(self._a)

    # indexing
    def __getitem__(self, index):
        wrapped = _wrap_index(self._a, index)
        if wrapped is not index or (type(index) is tuple and builtins.any(type(s) is ndarray for s in index)):
            _launch(elementwise=False)      # advanced indexing gathers in a kernel; basic indexing is a view
        return _out(self._a[wrapped])

    def __setitem__(self, index, value):
        v = _operand(value)
        if v is NotImplemented:
            _refuse(value)
        _launch(elementwise=False)
        self._a[_wrap_index(self._a, index)] = v

    # operators
    __add__, __radd__, __iadd__ = _binary(operator.add), _rbinary(operator.add), _inplace(operator.iadd)
    __sub__, __rsub__, __isub__ = _binary(operator.sub), _rbinary(operator.sub), _inplace(operator.isub)
    __mul__, __rmul__, __imul__ = _binary(operator.mul), _rbinary(operator.mul), _inplace(operator.imul)
    __truediv__, __rtruediv__, __itruediv__ = (_binary(operator.truediv), _rbinary(operator.truediv),
                                               _inplace(operator.itruediv))
    __floordiv__, __rfloordiv__ = _binary(operator.floordiv), _rbinary(operator.floordiv)
    __mod__, __rmod__ = _binary(operator.mod), _rbinary(operator.mod)
    __pow__, __rpow__, __ipow__ = _binary(operator.pow), _rbinary(operator.pow), _inplace(operator.ipow)
    __matmul__, __rmatmul__ = _binary(operator.matmul), _rbinary(operator.matmul)
    __and__, __rand__, __iand__ = _binary(operator.and_), _rbinary(operator.and_), _inplace(operator.iand)
    __or__, __ror__, __ior__ = _binary(operator.or_), _rbinary(operator.or_), _inplace(operator.ior)
    __xor__, __rxor__ = _binary(operator.xor), _rbinary(operator.xor)
    __lt__, __le__ = _binary(operator.lt), _binary(operator.le)
    __gt__, __ge__ = _binary(operator.gt), _binary(operator.ge)
    __eq__, __ne__ = _binary(operator.eq), _binary(operator.ne)

    def __neg__(self):
        _launch()
        return _wrap(-self._a)

    def __pos__(self):
        _launch()
        return _wrap(+self._a)

    def __abs__(self):
        _launch()
        return _wrap(builtins.abs(self._a))

    def __invert__(self):
        _launch()
        return _wrap(~self._a)

    # methods (those of cupy.ndarray that minigan may use)
    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if copy or _np.dtype(dtype) != self._a.dtype:
            _launch()
        return _wrap(self._a.astype(dtype, order=order, copy=copy))

    def copy(self, order="C"):
        _launch(elementwise=False)
        return _wrap(self._a.copy(order=order))

    def view(self, dtype=None):
        return _wrap(self._a.view() if dtype is None else self._a.view(dtype))

    def reshape(self, *shape, order="C"):
        return _viewed(self._a, self._a.reshape(*shape, order=order))

    def transpose(self, *axes):
        return _wrap(self._a.transpose(*axes))

    def swapaxes(self, a, b):
        return _wrap(self._a.swapaxes(a, b))

    def ravel(self, order="C"):
        return _viewed(self._a, self._a.ravel(order))

    def flatten(self, order="C"):
        _launch(elementwise=False)
        return _wrap(self._a.flatten(order))

    def squeeze(self, axis=None):
        return _wrap(self._a.squeeze(axis))

    def fill(self, value):
        _launch(elementwise=False)
        self._a.fill(_operand(value))

    def dot(self, b, out=None):
        _launch(elementwise=False)
        return _out(self._a.dot(_arg(b)))

    def clip(self, min=None, max=None, out=None):
        _launch()
        if out is None:
            return _out(_np.clip(self._a, _arg(min), _arg(max)))
        _np.clip(self._a, _arg(min), _arg(max), out=out._a)
        return out

    sum, prod, mean, max, min, all, any = (_reduction(n) for n in ("sum", "prod", "mean", "max", "min", "all", "any"))

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        _launch(elementwise=False)
        return _out(_np.asarray(self._a.var(axis=axis, ddof=ddof, keepdims=keepdims)))

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        _launch(elementwise=False)
        return _out(_np.asarray(self._a.std(axis=axis, ddof=ddof, keepdims=keepdims)))

    def argmax(self, axis=None, out=None, dtype=None, keepdims=False):
        _launch(elementwise=False)
        return _out(_np.asarray(self._a.argmax(axis=axis, keepdims=keepdims)))

    def argmin(self, axis=None, out=None, dtype=None, keepdims=False):
        _launch(elementwise=False)
        return _out(_np.asarray(self._a.argmin(axis=axis, keepdims=keepdims)))

    def cumsum(self, axis=None, dtype=None, out=None):
        _launch(elementwise=False)
        return _wrap(self._a.cumsum(axis=axis, dtype=dtype))

    def nonzero(self):
        _count("sync")                      # the output size must be read back
        _launch(elementwise=False)
        return _out(self._a.nonzero())

    def set(self, arr, stream=None):
        if type(arr) is not _np.ndarray:
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        _count("h2d")
        self._a[...] = arr

    def __dlpack__(self, *args, **kwargs):
        raise TypeError("the strict CuPy stand-in has no DLPack")


# ------------------------------------------------------------------ creation and transfers
def asarray(a, dtype=None, order=None, blocking=False):
    """A device array from a device array (no copy when dtype fits) or host data (an H2D copy)."""
    if type(a) is ndarray:
        if dtype is None or _np.dtype(dtype) == a.dtype:
            return a
        _launch()
        return _wrap(a._a.astype(dtype))
    if isinstance(a, (list, tuple)) and builtins.any(type(v) is ndarray for v in a):
        raise TypeError("Unsupported type: a list of device arrays; use cupy.stack")
    _count("h2d")
    return _wrap(_np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, blocking=False):
    if type(obj) is ndarray:
        _launch()
        out = obj._a.astype(dtype if dtype is not None else obj.dtype, copy=copy)
        return _wrap(out if ndmin <= out.ndim else out.reshape((1,) * (ndmin - out.ndim) + out.shape))
    _count("h2d")
    return _wrap(_np.array(obj, dtype=dtype, order=order, ndmin=ndmin, copy=True))


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if type(a) is ndarray:
        _count("d2h")
        return a._a.copy()
    return _np.asarray(a)


def ascontiguousarray(a, dtype=None):
    a = _arg(a)
    return _viewed(a, _np.ascontiguousarray(a, dtype=dtype))


def _viewed(a, r):
    """``r``, made from ``a``, as a device array; one launch when it is a copy rather than a view."""
    if not _np.may_share_memory(a, r):
        _launch(elementwise=False)
    return _wrap(r)


def get_array_module(*args):
    return sys.modules[__name__] if builtins.any(type(a) is ndarray for a in args) else _np


# Functions that never launch a kernel (views and empty arrays), and the element-wise ones (ufuncs) that a
# fused function may call.
_NO_LAUNCH = set("empty empty_like broadcast_to broadcast_arrays expand_dims moveaxis squeeze swapaxes transpose "
                 "atleast_1d atleast_2d split".split())
_MAYBE_VIEW = {"reshape", "ravel"}
_UFUNCS = set("""abs absolute add arccos arcsin arctan arctan2 ceil clip copysign cos cosh divide equal exp exp2 expm1
floor floor_divide greater greater_equal isfinite isinf isnan less less_equal log log10 log1p log2 logaddexp
logical_and logical_not logical_or maximum minimum mod multiply negative not_equal power reciprocal remainder rint
sign sin sinh sqrt square subtract tan tanh true_divide where""".split())


def _fn(name, npf=None):
    f = npf or getattr(_np, name)

    def wrapper(*args, **kwargs):
        if name not in _NO_LAUNCH and name not in _MAYBE_VIEW:
            _launch(elementwise=name in _UFUNCS)
        out = kwargs.get("out")
        if out is not None:
            if type(out) is not ndarray:
                _refuse(out)
            kwargs["out"] = out._a
        args = [_arg(a) for a in args]
        for k, v in kwargs.items():
            if k != "out":
                kwargs[k] = _arg(v)
        r = f(*args, **kwargs)
        if name in _MAYBE_VIEW:
            return _viewed(args[0], r)
        return out if out is not None else _out(r)
    wrapper.__name__ = name
    return wrapper


# Functions CuPy has (cupy's top-level namespace); each runs NumPy's on the wrapped arrays.
_FUNCTIONS = """
abs absolute add all allclose amax amin any arange arccos arcsin arctan arctan2 argmax argmin argsort around
array_equal atleast_1d atleast_2d bincount broadcast_arrays broadcast_to ceil clip concatenate copysign cos
cosh count_nonzero cumsum diag diff divide dot einsum empty empty_like equal exp exp2 expand_dims expm1 eye
flip floor floor_divide full full_like greater greater_equal hstack identity isclose isfinite isinf isnan kron
less less_equal linspace log log10 log1p log2 logaddexp logical_and logical_not logical_or matmul maximum mean
minimum mod moveaxis multiply nan_to_num negative nonzero not_equal ones ones_like outer pad power prod
ravel reciprocal remainder repeat reshape rint round sign sin sinh sort split sqrt square squeeze stack std
subtract sum swapaxes take tan tanh tensordot tile transpose tril triu true_divide unique var vstack where
zeros zeros_like
""".split()
for _name in _FUNCTIONS:
    globals()[_name] = _fn(_name)


def _add_at(a, slices, value):
    """``cupy.add.at``: a[slices] += value with repeated indices accumulated; out-of-range integer indices
    wrap, as CuPy's."""
    if type(a) is not ndarray:
        _refuse(a)
    v = _operand(value)
    if v is NotImplemented:
        _refuse(value)
    _launch(elementwise=False)
    _np.add.at(a._a, _wrap_index(a._a, slices), v)


globals()["add"].at = _add_at               # cupy.add.at: the one ufunc method minigan uses
float16, float32, float64, int8, int16, int32, int64, uint8, bool_, complex64, complex128 = (
    _np.float16, _np.float32, _np.float64, _np.int8, _np.int16, _np.int32, _np.int64, _np.uint8, _np.bool_,
    _np.complex64, _np.complex128)
dtype, newaxis, pi, e, inf, nan = _np.dtype, None, _np.pi, _np.e, _np.inf, _np.nan
result_type, can_cast, finfo, iinfo = _np.result_type, _np.can_cast, _np.finfo, _np.iinfo


class _Namespace:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def _as_strided(x, shape=None, strides=None):
    if type(x) is not ndarray:
        _refuse(x)
    return _wrap(_np.lib.stride_tricks.as_strided(x._a, shape, strides))


lib = _Namespace(stride_tricks=_Namespace(as_strided=_as_strided))


# ------------------------------------------------------------------ cuda (one fake device)
class _Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if not 0 <= self.id < _N_DEVICES:
            raise _CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    def synchronize(self):
        _count("sync")

    def use(self):
        global _CURRENT
        _CURRENT = self.id

    def __enter__(self):
        global _CURRENT
        self._prev, _CURRENT = _CURRENT, self.id
        return self

    def __exit__(self, *exc):
        global _CURRENT
        _CURRENT = self._prev

    def __eq__(self, other):
        return isinstance(other, _Device) and other.id == self.id

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class _CUDARuntimeError(RuntimeError):
    pass


_N_DEVICES, _CURRENT = 1, 0


class _Stream:
    def synchronize(self):
        _count("sync")


def _get_device_count():
    return _N_DEVICES


cuda = _Namespace(
    Device=_Device, Stream=_Namespace(null=_Stream()),
    runtime=_Namespace(getDeviceCount=_get_device_count, CUDARuntimeError=_CUDARuntimeError,
                       runtimeGetVersion=lambda: 12080, driverGetVersion=lambda: 12080),
    get_device_id=lambda: _CURRENT)


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_POOL = _MemoryPool()


def get_default_memory_pool():
    return _POOL


def get_default_pinned_memory_pool():
    return _POOL


from . import random  # noqa: E402,F401
