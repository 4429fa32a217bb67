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

A backward trick runs only in a first-order backward: with ``create_graph=True`` the plain Tensor-op
backward runs, so second derivatives never go through a trick. The arrays a forward trick keeps for its
backward trick (the convolution's columns, batch norm's x_hat and 1/std) live here, in ``SAVED``, not on
the Function. Arrays in, arrays out: nothing here builds a graph.
"""
import os
import weakref

from .backend import as_strided, get_array_module

ON = {"batch_last_conv": True, "keep_conv_columns": True, "fused_batchnorm_backward": True, "same_layout": True,
      "leaky_relu_arithmetic": True, "outer_product_matmul": True,
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


# ---------------------------------------------------------------- batch_last_conv, keep_conv_columns
# Convolution by im2col on a strided view, with the batch as the last (fastest) axis of the
# columns. conv.py's plain version gathers (N, C*KH*KW, OH*OW) columns tap by tap; here one
# strided view picks every window and one reshape copies it, moving runs of N contiguous
# numbers (NumPy is slow on short inner runs such as OW = 7). The outputs are left stored
# batch-last, which the next conv's columns then read without a transpose.

def _pad_batch_last(x, ph, pw):
    """(N, C, H, W) -> (N, C, H + 2PH, W + 2PW) with zeros around, stored as (C, Hp, Wp, N)."""
    n, c, h, w = x.shape
    out = get_array_module(x).zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype).transpose(3, 0, 1, 2)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _columns(x, kh, kw, sh, sw, ph, pw, oh, ow):
    """(N, C, H, W) -> (C*KH*KW, OH*OW*N): cols[(c,i,j), (oh,ow,n)] = x_pad[n, c, oh*SH+i, ow*SW+j]."""
    padded = _pad_batch_last(x, ph, pw)                                   # physically (C, Hp, Wp, N)
    sn, sc, s_h, s_w = padded.strides
    n, c = padded.shape[:2]
    view = as_strided(padded, (c, kh, kw, oh, ow, n), (sc, s_h, s_w, s_h * sh, s_w * sw, sn))
    return view.reshape(c * kh * kw, oh * ow * n)


def _add_columns(cols, shape, kernel, stride, padding, out_hw):
    """The adjoint of _columns: cols (C*KH*KW, OH*OW*N) added back onto (N, C, H, W), stored batch-last.
    A loop over the KH*KW kernel taps, each a strided add of a (C, OH, OW, N) block."""
    n, c, h, wd = shape
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel, stride, padding, out_hw
    cols = cols.reshape(c, kh, kw, oh, ow, n)
    hp, wp = max(h + 2 * ph, (oh - 1) * sh + kh), max(wd + 2 * pw, (ow - 1) * sw + kw)
    out = get_array_module(cols).zeros((c, hp, wp, n), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += cols[:, i, j]
    return out[:, ph:ph + h, pw:pw + wd].transpose(3, 0, 1, 2)            # (N, C, H, W) view


def _batch_last(y):
    """(N, O, H, W) -> (O, H*W*N), a free view when y is stored batch-last (as these convs leave it)."""
    n, o, h, w = y.shape
    return y.transpose(1, 2, 3, 0).reshape(o, h * w * n)


def _add_bias(y, b):
    if b is not None:
        y += b.reshape(1, -1, 1, 1)                                       # y is the conv's fresh output
    return y


def _conv_transpose2d(y, w, stride, padding, out_hw):
    """conv.conv_transpose2d_plain's result: one GEMM to columns, then the taps added back."""
    n, o, oh, ow = y.shape
    _, c, kh, kw = w.shape
    cols = w.reshape(o, c * kh * kw).T @ _batch_last(y)                             # (C*KH*KW, OH*OW*N)
    return _add_columns(cols, (n, c) + tuple(out_hw), (kh, kw), stride, padding, (oh, ow))


def _weight_grad(x, gy, kernel, stride, padding, cols=None):
    """conv.conv2d_weight_grad_plain's result: gw (O, C, KH, KW) = gy's rows times x's columns (``cols``: x's
    columns from the forward, if it kept them; else they are gathered again)."""
    o, c, (oh, ow) = gy.shape[1], x.shape[1], gy.shape[2:]
    if cols is None:
        cols = _columns(x, *kernel, *stride, *padding, oh, ow)
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
    y = (w.reshape(o, c * kh * kw) @ cols).reshape(o, oh, ow, n).transpose(3, 0, 1, 2)   # (N, O, OH, OW) view
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
    return NotImplemented


# ---------------------------------------------------------------- fused_batchnorm_backward
@stands_in_for("minigan.functional.BatchNormTrain", "forward", "fused_batchnorm_backward")
def batchnorm(f, x, w, b):
    """BatchNormTrain's forward, in place, keeping x_hat and 1/std in SAVED (when it records the graph)."""
    xp = get_array_module(x)
    mu = x.mean(axis=f.axes, keepdims=True)
    d = x - mu
    var = (d * d).mean(axis=f.axes, keepdims=True)
    f.mean, f.var = mu, var                                 # for the running statistics, as the plain forward
    inv_std = 1 / xp.sqrt(var + x.dtype.type(f.eps))
    d *= inv_std                                            # d is fresh: x_hat in place
    if f.needs_input_grad:
        SAVED[f] = d, inv_std
    y = d * w.reshape(mu.shape)
    y += b.reshape(mu.shape)
    return y


@stands_in_for("minigan.functional.BatchNormTrain", "backward", "fused_batchnorm_backward")
def batchnorm_backward(f, gy, needs):
    """Batch norm's first-order backward on the forward's x_hat and 1/std, in place on one buffer (4 passes):
    with gw = sum(gy x_hat), gb = sum(gy) and n values per channel,
    dL/dx = inv_std * w * (gy - gb / n - x_hat * gw / n), BatchNormTrain.backward's formula regrouped."""
    saved = SAVED.pop(f, None)
    if saved is None:
        return NotImplemented
    xhat, inv_std = saved
    w = f.inputs[1].data.reshape(inv_std.shape)
    n = gy.size // w.size
    gw = (gy * xhat).sum(axis=f.axes, keepdims=True)
    gb = gy.sum(axis=f.axes, keepdims=True)
    gx = xhat * (gw * (-1 / n))
    gx += gy
    gx -= gb * (1 / n)
    gx *= inv_std * w
    return (gx if needs[0] else None, gw.reshape(-1) if needs[1] else None, gb.reshape(-1) if needs[2] else None)


# ---------------------------------------------------------------- leaky_relu_arithmetic
@stands_in_for("minigan.ops.LeakyReLU", "forward", "leaky_relu_arithmetic")
def leaky_relu(f, x):
    """max(x, slope x) for 0 <= slope < 1: arithmetic, which NumPy runs much faster than the plain
    ``where(x > 0, x, slope x)``."""
    if not 0 <= f.slope < 1:
        return NotImplemented
    xp = get_array_module(x)
    return xp.maximum(x, x * x.dtype.type(f.slope)) if f.slope else xp.maximum(x, x.dtype.type(0))  # ReLU: 1 pass


@stands_in_for("minigan.ops.LeakyReLU", "backward", "leaky_relu_arithmetic")
def leaky_relu_backward(f, gy, needs):
    """gy * (1 where x > 0, else slope): the factor as (x > 0) (1 - slope) + slope, in place in one buffer,
    then times gy in place."""
    x = f.inputs[0].data
    g = (x > 0).astype(x.dtype)
    g *= x.dtype.type(1 - f.slope)
    g += x.dtype.type(f.slope)
    g *= gy
    return (g,)


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
    out = get_array_module(x).empty_like(x)
    out[...] = g
    return (out,)


# ---------------------------------------------------------------- reuse_freed_memory
def reuse_freed_memory():
    """Ask glibc to keep freed memory for reuse, for the whole process; returns whether it did.

    Every NumPy temporary is a fresh allocation. glibc serves large ones with mmap and unmaps them on free,
    so the next step's array of the same size page-faults on every page again. With mmap off and the heap
    never trimmed below 1 GiB, freed blocks are simply reused. Importing minigan never does this: the
    command-line tools, the demos and the benchmarks call it at start. Its switch is
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


__all__ = ["BACKWARD", "FORWARD", "ON", "SAVED", "backward", "forward", "reuse_freed_memory", "stands_in_for"]
