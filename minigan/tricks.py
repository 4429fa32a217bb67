"""The speed tricks, in one place: faster stand-ins for the plain forward or backward of a few Functions.

The Functions (ops.py, shapes.py, conv.py, functional.py) are written only as the maths says. A trick here
stands in for one Function's ``forward``, or for its first-order ``backward``: ``Function.__call__`` and
``_backprop`` (tensor.py) ask ``forward(f, arrays)`` / ``backward(f, gy, needs)`` below first, and run the
Function's own method when the answer is ``NotImplemented`` (no trick, its switch off, or a case it does not
cover). Each trick has a switch, ``ON[name]``; switched off, the plain code runs, which is what
tests/test_tricks.py compares each trick against and how benchmarks/tricks.py measures what it buys. What
each buys on the trainer's DCGAN-28 step (2 threads, batch 64 / 256: how much slower the step is without
it; docs/performance.md):

    batch_last_conv            +107% / +194%   convolution on batch-last columns from one strided view
    keep_conv_columns            +3% /  +12%   Conv2d's forward keeps its columns for its weight gradient
    fused_batchnorm_backward     +8% /  +13%   batch norm's first-order backward on the forward's arrays
    same_layout                  +9% /  +16%   a reshape's gradient laid out as its input
    leaky_relu_arithmetic       +27% /  +36%   max(x, s x) and an in-place backward factor, not where()
    outer_product_matmul         +2% /   +4%   a product of inner size 1 as a broadcast product
    reuse_freed_memory           -5% /  +38%   glibc keeps freed blocks for the next step (the whole process)
    split_over_cores             -1% /  +16%   every loop and product on minigan's own threads (split, gemm)

and on the GPU, in kernel launches per DCGAN-28 step (375 with every trick on; counted by the CuPy stand-in,
benchmarks/launches.py; the GPU's time was not measured):

    fused_elementwise            +98     an element-wise formula as one fused kernel (elementwise)
    flat_optimizer               +13     one flat buffer per optimizer, one update for all its parameters
    scatter_col2im              +248     col2im as one scatter-add of every kernel tap

A backward trick runs only in a first-order backward: with ``create_graph=True`` the plain Tensor-op
backward runs, so second derivatives never go through a trick. The arrays a forward trick keeps for its
backward trick (the convolution's columns, batch norm's x_hat and 1/std) live here, in ``SAVED``, not on
the Function. Arrays in, arrays out: nothing here builds a graph.
"""
import os
import queue
import threading
import weakref

import numpy as np

from .backend import as_strided, get_array_module

ON = {"batch_last_conv": True, "keep_conv_columns": True, "fused_batchnorm_backward": True, "same_layout": True,
      "leaky_relu_arithmetic": True, "outer_product_matmul": True, "split_over_cores": True,
      "fused_elementwise": True, "flat_optimizer": True, "scatter_col2im": True,
      "reuse_freed_memory": os.environ.get("MINIGAN_REUSE_FREED_MEMORY", "1") != "0"}

FORWARD, BACKWARD = {}, {}            # (module, Function class name) -> (switch, trick)
SAVED = weakref.WeakKeyDictionary()   # Function -> the arrays its forward trick kept for its backward trick


def stands_in_for(op, method, switch):
    """Register the decorated function as the trick for ``op``'s (e.g. "minigan.ops.MatMul") ``method``:
    ``trick(f, *arrays)`` for "forward", ``trick(f, gy, needs)`` (gy an array; one gradient array or None
    per input) for "backward"."""
    module, _, name = op.rpartition(".")

    def register(trick):
        (FORWARD if method == "forward" else BACKWARD)[module, name] = (switch, trick)
        return trick
    return register


def forward(f, arrays):
    """Function ``f``'s output on ``arrays`` by its trick, or NotImplemented."""
    entry = FORWARD.get((type(f).__module__, type(f).__name__))
    if entry is None or not ON[entry[0]]:
        return NotImplemented
    return entry[1](f, *arrays)


def backward(f, gy, needs):
    """Function ``f``'s first-order input gradients (arrays or None) for the output gradient array ``gy``
    by its trick, or NotImplemented."""
    entry = BACKWARD.get((type(f).__module__, type(f).__name__))
    if entry is None or not ON[entry[0]]:
        return NotImplemented
    return entry[1](f, gy, needs)


# ---------------------------------------------------------------- split_over_cores
# NumPy runs its matrix products on every core (OpenBLAS's threads) but every other loop on one: the im2col
# copy, the col2im adds, batch norm, LeakyReLU, the optimizers' updates. NumPy releases the GIL inside its
# loops, so one array operation cut into one chunk per core (by channel, by batch, or a flat buffer in pieces)
# runs on all of them when each chunk is handed to a thread of a small pool. ``split(n, work)`` calls
# ``work(lo, hi)`` on chunks of range(n): the calling thread does the first, the pool the others, and it
# returns when all are done. Switched off, on the GPU, with one thread, or for an array too small to be
# worth a hand-over (about 15 microseconds), it is ``work(0, n)``: the plain twin.
#
# The pool works once ``set_num_threads`` has been called (the trainer and the commands call it; importing
# minigan changes nothing). The matrix products then go through it too (``gemm``: the product cut into one
# block of rows or columns per thread), with OpenBLAS put on one thread. OpenBLAS's own threads spin-wait for
# the next product for a while after each one: they hold the cores the pool's threads need between two
# products, and beside another job they spin against it (a DCGAN step measured 3x slower that way,
# docs/performance.md). The pool's threads sleep while they wait.

def _threads_from_environment():
    """OPENBLAS_NUM_THREADS, else OMP_NUM_THREADS, else every core this process may run on."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_THREADS = _threads_from_environment()
_OWNED = False                 # whether set_num_threads was called: minigan's pool works only then
_BLAS_THREADS = None           # the OpenBLAS thread count set_num_threads set (None: never set, or not OpenBLAS)
SPLIT_MIN = 1 << 17            # elements: smaller arrays are not split (the hand-over would cost more)


def get_num_threads():
    """The number of threads minigan runs its CPU loops on (set_num_threads; default from the environment)."""
    return _THREADS


def set_num_threads(n=None):
    """Run minigan's CPU work on ``n`` threads of its own pool: its loops and its matrix products, with the
    OpenBLAS that NumPy loaded put on one thread (switch split_over_cores off first, and OpenBLAS gets the
    ``n`` threads instead). The trainer and the commands call it (``--threads``); importing minigan does not,
    so a training loop of your own calls ``minigan.set_num_threads()`` first.

    ``n`` left out keeps the count set before, at first OPENBLAS_NUM_THREADS, else OMP_NUM_THREADS, else every
    core (``get_num_threads``). Two jobs that each use every core compete for them, so one job beside another
    should run with ``set_num_threads(1)`` (the commands' ``--threads 1``)."""
    global _THREADS, _pool, _BLAS_THREADS, _OWNED
    n = _THREADS if n is None else int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
    _THREADS, _OWNED = n, True
    if _pool is not None and len(_pool.queues) != n - 1:
        _pool.close()
        _pool = None
    _BLAS_THREADS = 1 if ON["split_over_cores"] else n
    if not _set_blas_threads(_BLAS_THREADS):
        _BLAS_THREADS = None                          # not OpenBLAS: its products are left to it


def _set_blas_threads(n):
    """Tell the OpenBLAS that NumPy loaded to use ``n`` threads (a no-op where NumPy has another BLAS)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and line.count("/")}
    except OSError:
        return False
    import ctypes
    for path in paths:
        lib = ctypes.CDLL(path)
        for name in ("openblas_set_num_threads", "openblas_set_num_threads64_", "scipy_openblas_set_num_threads64_",
                     "scipy_openblas_set_num_threads"):
            if hasattr(lib, name):
                getattr(lib, name)(ctypes.c_int(n))
                return True
    return False


class _Pool:
    """n - 1 worker threads, each waiting on its own queue for a chunk; finished chunks report on ``done``."""

    def __init__(self, n):
        self.queues = [queue.SimpleQueue() for _ in range(n - 1)]
        self.done = queue.SimpleQueue()
        for q in self.queues:
            threading.Thread(target=self._work, args=(q,), daemon=True, name="minigan-split").start()

    def _work(self, q):
        while True:
            job = q.get()
            if job is None:
                return
            work, lo, hi, out, i = job
            try:
                out[i] = work(lo, hi)
                self.done.put(None)
            except BaseException as err:  # noqa: BLE001  handed to the caller, which raises it
                self.done.put(err)

    def close(self):
        for q in self.queues:
            q.put(None)


_pool = None
_busy = threading.Lock()       # one split at a time; a split inside a chunk, or from another thread, runs inline
os.register_at_fork(after_in_child=lambda: globals().update(_pool=None, _busy=threading.Lock()))


def split(n, work, size=None, xp=np):
    """[work(lo, hi) for each chunk [lo, hi) of range(n)], the chunks run at once on the pool's threads.

    ``size``: the number of array elements the whole operation touches (default n); below SPLIT_MIN, on the
    GPU (``xp``), with one thread, before set_num_threads or with the switch off, it is ``[work(0, n)]``."""
    global _pool
    chunks = min(_THREADS, n)
    if (chunks < 2 or xp is not np or not _OWNED or not ON["split_over_cores"]
            or (n if size is None else size) < SPLIT_MIN or not _busy.acquire(blocking=False)):
        return [work(0, n)]
    try:
        if _pool is None:
            _pool = _Pool(_THREADS)
        bounds = [(n * i // chunks, n * (i + 1) // chunks) for i in range(chunks)]
        out = [None] * chunks
        for i, (q, (lo, hi)) in enumerate(zip(_pool.queues, bounds[1:]), 1):
            q.put((work, lo, hi, out, i))
        errors = []
        try:
            out[0] = work(*bounds[0])
        finally:
            errors = [e for e in (_pool.done.get() for _ in bounds[1:]) if e is not None]
        if errors:
            raise errors[0]
        return out
    finally:
        _busy.release()


# ---------------------------------------------------------------- fused_elementwise
# On the GPU every array operation is one kernel launch, and Python launches them one after the other: a
# formula of six operations is six launches and five temporaries. ``elementwise(formula)`` runs a formula
# written with element-wise operations only (writing its results into its last arguments, in place or with
# ``out=``) as one fused kernel on the GPU (cupy.fuse), and on the CPU split over the cores (``split``, along
# the outermost axis in memory of its first array). Its plain twin, switch off: the formula op by op.

_FUSED = {}


def elementwise(formula):
    """``formula(*arrays_and_scalars)``, run as one kernel on the GPU and over every core on the CPU."""
    def run(*args):
        first = next(a for a in args if hasattr(a, "ndim") and not isinstance(a, np.generic))   # the first array
        xp = get_array_module(first)
        if xp is not np:
            if not ON["fused_elementwise"]:
                return formula(*args)
            if formula not in _FUSED:
                _FUSED[formula] = xp.fuse(formula)
            return _FUSED[formula](*args)
        if first.ndim == 0:
            return formula(*args)
        axis = int(np.argmax([abs(s) for s in first.strides]))            # the outermost axis in memory
        n = first.shape[axis]

        if any(0 < getattr(a, "ndim", 0) < first.ndim for a in args):
            raise ValueError(f"elementwise({formula.__name__}): give every array the ndim of the first "
                             "(reshape a per-channel array to (1, C, 1, 1)), so that it is cut along the same axis")

        def chunk(lo, hi):
            return formula(*[_cut(a, axis, lo, hi) if getattr(a, "ndim", 0) and a.shape[axis] == n else a
                             for a in args])
        split(n, chunk, first.size)
    return run


def gemm(a, b):
    """``a @ b`` for two matrices, on the CPU cut along the longer side of the product into one block per
    thread, each an OpenBLAS product on one thread (once set_num_threads has put OpenBLAS there); the plain twin
    is ``a @ b`` (OpenBLAS's own threads)."""
    if get_array_module(a) is not np or _BLAS_THREADS != 1 or a.ndim != 2 or b.ndim != 2:
        return a @ b
    (m, k), n = a.shape, b.shape[1]
    out = np.empty((m, n), dtype=np.result_type(a, b))
    if m >= n:
        def rows(lo, hi):
            np.matmul(a[lo:hi], b, out=out[lo:hi])
        split(m, rows, m * n * k // 32)              # about the work of SPLIT_MIN elements of a memory-bound loop
    else:
        def columns(lo, hi):
            np.matmul(a, b[:, lo:hi], out=out[:, lo:hi])
        split(n, columns, m * n * k // 32)
    return out


def _cut(a, axis, lo, hi):
    """a[..., lo:hi, ...] along ``axis``."""
    return a[(slice(None),) * axis + (slice(lo, hi),)]


def _join(xp, parts):
    """Per-channel arrays of the chunks, (1, c_i, ...) each, as one (1, C, ...) array."""
    return parts[0] if len(parts) == 1 else xp.concatenate(parts, axis=1)


# ---------------------------------------------------------------- batch_last_conv, keep_conv_columns
# Convolution by im2col on a strided view, with the batch as the last (fastest) axis of the
# columns. conv.py's plain version gathers (N, C*KH*KW, OH*OW) columns tap by tap; here one
# strided view picks every window and one reshape copies it, moving runs of N contiguous
# numbers (NumPy is slow on short inner runs such as OW = 7). The outputs are left stored
# batch-last, which the next conv's columns then read without a transpose.

def _pad_batch_last(x, ph, pw):
    """(N, C, H, W) -> (N, C, H + 2PH, W + 2PW) with zeros around, stored as (C, Hp, Wp, N); by channels."""
    n, c, h, w = x.shape
    xp = get_array_module(x)
    out = xp.empty((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype).transpose(3, 0, 1, 2)

    def channels(lo, hi):
        if ph or pw:
            out[:, lo:hi] = 0
        out[:, lo:hi, ph:ph + h, pw:pw + w] = x[:, lo:hi]
    split(c, channels, out.size, xp)
    return out


def _columns(x, kh, kw, sh, sw, ph, pw, oh, ow):
    """(N, C, H, W) -> (C*KH*KW, OH*OW*N): cols[(c,i,j), (oh,ow,n)] = x_pad[n, c, oh*SH+i, ow*SW+j]."""
    padded = _pad_batch_last(x, ph, pw)                                   # physically (C, Hp, Wp, N)
    sn, sc, s_h, s_w = padded.strides
    n, c = padded.shape[:2]
    xp = get_array_module(x)
    view = as_strided(padded, (c, kh, kw, oh, ow, n), (sc, s_h, s_w, s_h * sh, s_w * sw, sn))
    cols = xp.empty(view.shape, dtype=x.dtype)

    def channels(lo, hi):
        cols[lo:hi] = view[lo:hi]                                         # the copy that im2col is
    split(c, channels, cols.size, xp)
    return cols.reshape(c * kh * kw, oh * ow * n)


def _add_columns(cols, shape, kernel, stride, padding, out_hw):
    """The adjoint of _columns: cols (C*KH*KW, OH*OW*N) added back onto (N, C, H, W), stored batch-last.
    A loop over the KH*KW kernel taps, each a strided add of a (C, OH, OW, N) block; on the GPU (switch
    scatter_col2im) one scatter-add of every tap at once instead of KH*KW launches."""
    n, c, h, wd = shape
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel, stride, padding, out_hw
    cols = cols.reshape(c, kh, kw, oh, ow, n)
    hp, wp = max(h + 2 * ph, (oh - 1) * sh + kh), max(wd + 2 * pw, (ow - 1) * sw + kw)
    xp = get_array_module(cols)
    if xp is not np and ON["scatter_col2im"]:
        out = xp.zeros((c, hp, wp, n), dtype=cols.dtype)
        xp.add.at(out, _scatter_index(xp, out.device.id, c, kernel, stride, out_hw), cols)
        return out[:, ph:ph + h, pw:pw + wd].transpose(3, 0, 1, 2)
    out = xp.empty((c, hp, wp, n), dtype=cols.dtype)

    def channels(lo, hi):
        out[lo:hi] = 0
        for i in range(kh):
            for j in range(kw):
                out[lo:hi, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += cols[lo:hi, i, j]
    split(c, channels, out.size, xp)
    return out[:, ph:ph + h, pw:pw + wd].transpose(3, 0, 1, 2)            # (N, C, H, W) view


_SCATTER = {}


def _scatter_index(xp, device, c, kernel, stride, out_hw):
    """Index arrays (c, y, x) on the device, broadcasting to (C, KH, KW, OH, OW), with which
    out[c, y, x] += cols[c, i, j, oh, ow] adds every tap at once: y = oh*SH + i, x = ow*SW + j. Made once per
    shape, then kept."""
    key = (device, c, kernel, stride, out_hw)
    if key not in _SCATTER:
        (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
        ys = xp.arange(kh).reshape(kh, 1) + sh * xp.arange(oh)                           # (KH, OH)
        xs = xp.arange(kw).reshape(kw, 1) + sw * xp.arange(ow)                           # (KW, OW)
        _SCATTER[key] = (xp.arange(c).reshape(c, 1, 1, 1, 1), ys.reshape(1, kh, 1, oh, 1), xs.reshape(1, 1, kw, 1, ow))
    return _SCATTER[key]


def _batch_last(y):
    """(N, O, H, W) -> (O, H*W*N), a free view when y is stored batch-last (as these convs leave it)."""
    n, o, h, w = y.shape
    return y.transpose(1, 2, 3, 0).reshape(o, h * w * n)


def _add_bias(y, b):
    if b is not None:
        elementwise(_add_to)(y, b.reshape(1, -1, 1, 1))                   # y is the conv's fresh output
    return y


def _add_to(y, b):
    y += b


def _conv_transpose2d(y, w, stride, padding, out_hw):
    """conv.conv_transpose2d_plain's result: one GEMM to columns, then the taps added back."""
    n, o, oh, ow = y.shape
    _, c, kh, kw = w.shape
    cols = gemm(w.reshape(o, c * kh * kw).T, _batch_last(y))                        # (C*KH*KW, OH*OW*N)
    return _add_columns(cols, (n, c) + tuple(out_hw), (kh, kw), stride, padding, (oh, ow))


def _weight_grad(x, gy, kernel, stride, padding, cols=None):
    """conv.conv2d_weight_grad_plain's result: gw (O, C, KH, KW) = gy's rows times x's columns (``cols``: x's
    columns from the forward, if it kept them; else they are gathered again). On the CPU computed as the
    transpose of (x's columns)(gy's rows)^T: OpenBLAS runs that orientation of this product (a long inner size,
    OH*OW*N) faster."""
    o, c, (oh, ow) = gy.shape[1], x.shape[1], gy.shape[2:]
    if cols is None:
        cols = _columns(x, *kernel, *stride, *padding, oh, ow)
    if get_array_module(gy) is np:
        return gemm(cols, _batch_last(gy).T).T.reshape(o, c, *kernel)                 # (C*KH*KW, O) transposed
    return (_batch_last(gy) @ cols.T).reshape(o, c, *kernel)


@stands_in_for("minigan.conv.Conv2d", "forward", "batch_last_conv")
def conv2d(f, x, w, b=None):
    """Conv2d's forward by one GEMM on batch-last columns; the output is stored batch-last. With
    ``keep_conv_columns``, a forward that records the graph for a weight gradient keeps the columns in SAVED
    (one copy of x's windows per conv layer, alive until the backward, which would gather them again)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = f.stride, f.padding
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    cols = _columns(x, kh, kw, sh, sw, ph, pw, oh, ow)
    y = gemm(w.reshape(o, c * kh * kw), cols).reshape(o, oh, ow, n).transpose(3, 0, 1, 2)   # (N, O, OH, OW) view
    if ON["keep_conv_columns"] and f.needs_input_grad[1:2] == (True,):
        SAVED[f] = cols
    return _add_bias(y, b)


@stands_in_for("minigan.conv.Conv2d", "backward", "keep_conv_columns")
def conv2d_backward(f, gy, needs):
    """Conv2d's first-order backward with the columns its forward kept: gx by the transposed convolution,
    gw from the kept columns, gb the sum of gy."""
    cols = SAVED.pop(f, None)
    if cols is None or not ON["batch_last_conv"]:
        return NotImplemented
    x, w = f.inputs[0].data, f.inputs[1].data
    gx = _conv_transpose2d(gy, w, f.stride, f.padding, x.shape[2:]) if needs[0] else None
    gw = _weight_grad(x, gy, w.shape[2:], f.stride, f.padding, cols) if needs[1] else None
    if not f.has_bias:
        return gx, gw
    return gx, gw, gy.sum(axis=(0, 2, 3)) if needs[2] else None


@stands_in_for("minigan.conv.ConvTranspose2d", "forward", "batch_last_conv")
def conv_transpose2d(f, y, w, b=None):
    """ConvTranspose2d's forward: one GEMM to batch-last columns, then the taps added back."""
    return _add_bias(_conv_transpose2d(y, w, f.stride, f.padding, f.out_hw), b)


@stands_in_for("minigan.conv.Conv2dGradW", "forward", "batch_last_conv")
def conv2d_weight_grad(f, x, gy):
    """Conv2dGradW's forward: gy's rows times x's batch-last columns."""
    return _weight_grad(x, gy, f.kernel, f.stride, f.padding)


# ---------------------------------------------------------------- outer_product_matmul
@stands_in_for("minigan.ops.MatMul", "forward", "outer_product_matmul")
def matmul(f, a, b):
    """With an inner size of 1, (.., M, 1) @ (.., 1, N) is an outer product, computed as the broadcast a * b
    (bit for bit the same values), which NumPy runs many times faster than its matmul at K = 1 (D's last
    Linear: its input gradient is (64, 1) @ (1, 6272))."""
    if a.ndim >= 2 and b.ndim >= 2 and a.shape[-1] == 1 == b.shape[-2]:
        return a * b
    if a.ndim == 2 == b.ndim and ON["split_over_cores"]:                 # a product over every core (gemm)
        return gemm(a, b)
    return NotImplemented


# ---------------------------------------------------------------- fused_batchnorm_backward
@stands_in_for("minigan.functional.BatchNormTrain", "forward", "fused_batchnorm_backward")
def batchnorm(f, x, w, b):
    """BatchNormTrain's forward, channels split over the cores, the normalisation and scale one fused kernel on
    the GPU; keeps x_hat and 1/std in SAVED (when it records the graph)."""
    xp = get_array_module(x)
    c = x.shape[1]
    shape = (1, c) + (1,) * (x.ndim - 2)
    w, b = w.reshape(shape), b.reshape(shape)
    xhat, y = xp.empty_like(x), xp.empty_like(x)

    def channels(lo, hi):
        k = (slice(None), slice(lo, hi))
        mu = x[k].mean(axis=f.axes, keepdims=True)
        xp.subtract(x[k], mu, out=xhat[k])                                # x - mean, made x_hat in place below
        var = (xhat[k] * xhat[k]).mean(axis=f.axes, keepdims=True)
        inv_std = 1 / xp.sqrt(var + x.dtype.type(f.eps))
        elementwise(_normalise)(xhat[k], inv_std, w[k], b[k], y[k])
        return mu, var, inv_std
    f.mean, f.var, inv_std = (_join(xp, part) for part in zip(*split(c, channels, x.size, xp)))
    if f.needs_input_grad:                                  # (f.mean, f.var: the running statistics' update)
        SAVED[f] = xhat, inv_std
    return y


def _normalise(xhat, inv_std, w, b, y):
    """x_hat = (x - mean) / std in place (xhat holds x - mean), and y = w x_hat + b."""
    xhat *= inv_std
    get_array_module(xhat).multiply(xhat, w, out=y)
    y += b


@stands_in_for("minigan.functional.BatchNormTrain", "backward", "fused_batchnorm_backward")
def batchnorm_backward(f, gy, needs):
    """Batch norm's first-order backward on the forward's x_hat and 1/std, channels split over the cores and
    one fused kernel on the GPU: with gw = sum(gy x_hat), gb = sum(gy) and n values per channel,
    dL/dx = inv_std * w * (gy - gb / n - x_hat * gw / n), BatchNormTrain.backward's formula regrouped."""
    saved = SAVED.pop(f, None)
    if saved is None:
        return NotImplemented
    xhat, inv_std = saved
    xp = get_array_module(gy)
    c = gy.shape[1]
    w = f.inputs[1].data.reshape(inv_std.shape)
    rn = gy.dtype.type(c / gy.size)                                       # 1 / n
    gx = xp.empty_like(xhat)

    def channels(lo, hi):
        k = (slice(None), slice(lo, hi))
        gw = (gy[k] * xhat[k]).sum(axis=f.axes, keepdims=True)
        gb = gy[k].sum(axis=f.axes, keepdims=True)
        elementwise(_batchnorm_grad)(gy[k], xhat[k], gw, gb, inv_std[k], w[k], rn, gx[k])
        return gw, gb
    gw, gb = (_join(xp, part) for part in zip(*split(c, channels, gy.size, xp)))
    return (gx if needs[0] else None, gw.reshape(-1) if needs[1] else None, gb.reshape(-1) if needs[2] else None)


def _batchnorm_grad(gy, xhat, gw, gb, inv_std, w, rn, gx):
    """gx = (x_hat (-gw / n) + gy - gb / n) (inv_std w), with rn = 1 / n."""
    get_array_module(gy).multiply(xhat, gw * -rn, out=gx)
    gx += gy
    gx -= gb * rn
    gx *= inv_std * w


# ---------------------------------------------------------------- leaky_relu_arithmetic
@stands_in_for("minigan.ops.LeakyReLU", "forward", "leaky_relu_arithmetic")
def leaky_relu(f, x):
    """max(x, slope x) for 0 <= slope < 1: arithmetic, which NumPy runs much faster than the plain
    ``where(x > 0, x, slope x)`` (one fused kernel on the GPU, split over the cores on the CPU)."""
    if not 0 <= f.slope < 1:
        return NotImplemented
    y = get_array_module(x).empty_like(x)
    if f.slope:
        elementwise(_leaky_relu)(x, x.dtype.type(f.slope), y)
    else:
        elementwise(_relu)(x, y)                                          # ReLU: one pass
    return y


def _leaky_relu(x, slope, y):
    get_array_module(x).maximum(x, x * slope, out=y)


def _relu(x, y):
    get_array_module(x).maximum(x, 0, out=y)


@stands_in_for("minigan.ops.LeakyReLU", "backward", "leaky_relu_arithmetic")
def leaky_relu_backward(f, gy, needs):
    """gy * (1 where x > 0, else slope): the factor as (x > 0) (1 - slope) + slope, in place in one buffer,
    then times gy in place (one fused kernel on the GPU, split over the cores on the CPU)."""
    x = f.inputs[0].data
    gx = get_array_module(x).empty_like(x)
    elementwise(_leaky_relu_grad)(x, gy, x.dtype.type(f.slope), gx)
    return (gx,)


def _leaky_relu_grad(x, gy, slope, gx):
    get_array_module(x).multiply(x > 0, 1 - slope, out=gx)
    gx += slope
    gx *= gy


# ---------------------------------------------------------------- same_layout
@stands_in_for("minigan.shapes.Reshape", "backward", "same_layout")
def reshape_backward(f, gy, needs):
    """A reshape's gradient laid out in memory as its input is (e.g. a conv's batch-last output), so the
    element-wise backward ops before the reshape see one layout; mixed layouts make NumPy walk one operand
    with large strides."""
    x = f.inputs[0].data
    g = gy.reshape(x.shape)
    if g.strides == x.strides:
        return (g,)
    xp = get_array_module(x)
    out = xp.empty_like(x)
    axis = int(np.argmax([abs(s) for s in out.strides]))                 # by the outermost axis, over the cores

    def chunk(lo, hi):
        _cut(out, axis, lo, hi)[...] = _cut(g, axis, lo, hi)
    split(out.shape[axis], chunk, out.size, xp)
    return (out,)


# ---------------------------------------------------------------- flat_optimizer
# An optimizer's update is about ten element-wise operations per parameter: on the GPU ten kernel launches per
# parameter (DCGAN-28 has 18 parameters), on the CPU ten short loops each. Here the parameters of one optimizer
# (so, in the trainer, of one model), and each of its state arrays (Adam's two moments, the momentum buffer),
# become views into one flat buffer each, and the gradients are gathered into one more (one concatenation); the
# optimizer's own update, ``Optimizer._update`` (element-wise operations, a fused kernel on the GPU), then runs
# once on the flat buffers. The plain twin, switch off: ``_update`` parameter by parameter.
#
# The buffers are made when the optimizer is built (``flatten``: the parameters' arrays become views into the
# flat one) and checked at every step (a few identity tests): when a parameter's array or a state array was
# replaced since (``Module.to``, ``Optimizer.load_state_dict``, another optimizer over the same parameters),
# they are made again from the arrays as they are now. A step where a parameter has no gradient, or where the
# parameters or their states differ in dtype, device or step count, runs the plain way.

FLAT = weakref.WeakKeyDictionary()   # Optimizer -> its Flat buffers


class Flat:
    """One optimizer's flat buffers: ``params`` (each parameter's array is a view into it), ``grads``, and
    ``state`` ({"step": t, name: flat array}, each parameter's state array a view into it)."""

    def __init__(self, opt):
        arrays = [p.data for p in opt.params]
        states = [opt.state.get(k, {}) for k in opt.keys]
        self.ok = _alike(arrays, states)
        if not self.ok:
            return
        xp = get_array_module(arrays[0])
        names = [n for n, v in states[0].items() if hasattr(v, "shape")]                 # Adam's moments, ...
        numbers = {n: v for n, v in states[0].items() if not hasattr(v, "shape")}          # the step count
        self.shapes = [a.shape for a in arrays]
        self.params = xp.concatenate([a.reshape(-1) for a in arrays])
        self.param_views = self._views(self.params)
        for p, view in zip(opt.params, self.param_views):
            p.data = view
        self.grads = xp.empty_like(self.params)
        self.state = dict(numbers)
        for n in names:
            self.state[n] = xp.concatenate([st[n].reshape(-1) for st in states])
        self.views = {}
        self.share_state(opt, stepped=False)

    def _views(self, flat):
        out, lo = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape, dtype=np.int64))
            out.append(flat[lo:lo + size].reshape(shape))
            lo += size
        return out

    def holds(self, opt):
        """Whether the optimizer's parameters and states are still this Flat's views and numbers."""
        def same(st, n, v, i):
            return st.get(n) is self.views[n][1][i] if hasattr(v, "shape") else n in st and st[n] == v
        return all(p.data is v for p, v in zip(opt.params, self.param_views)) and all(
            len(opt.state.get(k, ())) == len(self.state) and all(same(opt.state[k], n, v, i)
                                                                 for n, v in self.state.items())
            for i, k in enumerate(opt.keys))

    def share_state(self, opt, stepped=True):
        """Give each parameter's state its views of the flat state arrays (new ones made by the update, e.g. at the
        first step) and the numbers (the step count); after a step every parameter has a state dict, as
        Optimizer._step leaves it."""
        for n, v in self.state.items():
            if hasattr(v, "shape") and (n not in self.views or self.views[n][0] is not v):
                self.views[n] = (v, self._views(v))                     # (the flat array, its views)
        for i, k in enumerate(opt.keys if self.state or stepped else ()):
            st = opt.state.setdefault(k, {})
            for n, v in self.state.items():
                st[n] = self.views[n][1][i] if hasattr(v, "shape") else v


def _alike(arrays, states):
    """Whether the parameters' arrays share one dtype and device, and their states hold the same entries: the
    same numbers (step count) and state arrays of the parameter's shape, dtype and device."""
    xp, dtype, first = get_array_module(arrays[0]), arrays[0].dtype, states[0]
    for a, st in zip(arrays, states):
        if get_array_module(a) is not xp or a.dtype != dtype or set(st) != set(first):
            return False
        for n, v in st.items():
            if hasattr(v, "shape"):
                if get_array_module(v) is not xp or v.dtype != dtype or v.shape != a.shape:
                    return False
            elif v != first[n]:
                return False
    return True


def flatten(opt):
    """Put ``opt``'s parameters and state into flat buffers (again, if they were replaced); the Flat, or None
    where they cannot be (switch off; dtypes, devices or states that differ)."""
    if not ON["flat_optimizer"]:
        return None
    flat = FLAT.get(opt)
    if flat is None or not flat.holds(opt):
        flat = Flat(opt)
        if not flat.ok:
            FLAT.pop(opt, None)
            return None
        FLAT[opt] = flat
    return flat


def optimizer_step(opt):
    """``opt``'s step (``Optimizer._step``) as one ``_update`` on flat buffers, or NotImplemented."""
    if not ON["flat_optimizer"] or any(p.grad is None or p.grad.shape != p.shape for p in opt.params):
        return NotImplemented
    flat = flatten(opt)
    if flat is None:
        return NotImplemented
    xp = get_array_module(flat.params)
    xp.concatenate([p.grad.data.reshape(-1) for p in opt.params], out=flat.grads)
    opt._update(flat.params, flat.grads, flat.state)
    flat.share_state(opt)
    return None


# ---------------------------------------------------------------- reuse_freed_memory
def reuse_freed_memory():
    """Ask glibc to keep freed memory for reuse, for the whole process; returns whether it did.

    Every NumPy temporary is a fresh allocation. glibc serves large ones with mmap and unmaps them on free,
    so the next step's array of the same size page-faults on every page again. With mmap off and the heap
    never trimmed below 1 GiB, freed blocks are simply reused. Importing minigan never does this: the
    command-line tools, the demos and the benchmarks call it at start, and so does the trainer
    (``minigan.gan.train.Trainer``), so that training from Python is as fast as ``minigan train``; call
    ``minigan.reuse_freed_memory()`` yourself for a loop of your own. Its switch is
    ``ON["reuse_freed_memory"]``, off when the environment has MINIGAN_REUSE_FREED_MEMORY=0. A no-op where
    the C library is not glibc.
    """
    if not ON["reuse_freed_memory"]:
        return False
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-4, 0)             # M_MMAP_MAX: serve every block from the heap
        libc.mallopt(-1, 1 << 30)       # M_TRIM_THRESHOLD: keep up to 1 GiB of free heap
    except (OSError, AttributeError):
        return False
    return True


__all__ = ["BACKWARD", "FLAT", "FORWARD", "ON", "SAVED", "backward", "elementwise", "forward", "get_num_threads",
           "flatten", "optimizer_step", "reuse_freed_memory", "set_num_threads", "split", "stands_in_for"]
