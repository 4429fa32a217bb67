"""The speed tricks, in one place: fast versions of plain code that lives beside the maths.

Each trick is a function named for what it does, used by one op while ``ON[name]`` is True (the
default). Switching one off runs the plain version, which is what tests/test_kernels.py compares each
trick against and how benchmarks/kernels.py measures what it buys. What each buys on the trainer's
DCGAN-28 step (2 threads, batch 64 / 256: how much slower the step is without it; docs/performance.md):

    batch_last_conv            +107% / +194%   convolution on batch-last columns from one strided view
    keep_conv_columns            +3% /  +12%   Conv2d hands its forward's columns to its weight gradient
    fused_batchnorm_backward     +8% /  +13%   batch norm's first-order backward on the forward's arrays
    same_layout                  +9% /  +16%   a reshape's gradient laid out as its input
    leaky_relu_arithmetic       +27% /  +36%   max(x, s x) and an in-place backward factor, not where()
    outer_product_matmul         +2% /   +4%   a product of inner size 1 as a broadcast product
    reuse_freed_memory           -5% /  +38%   glibc keeps freed blocks for the next step

Arrays in, arrays out: nothing here builds a graph.
"""

from .backend import as_strided, get_array_module

ON = {"batch_last_conv": True, "keep_conv_columns": True, "fused_batchnorm_backward": True, "same_layout": True,
      "leaky_relu_arithmetic": True, "outer_product_matmul": True}


# ---------------------------------------------------------------- batch_last_conv
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


def conv2d(x, w, stride, padding):
    """conv.conv2d_plain's result, by one GEMM on batch-last columns; the output is stored batch-last.
    Returns (y, the columns), so that ``keep_conv_columns`` can hand them to the weight gradient."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    cols = _columns(x, kh, kw, sh, sw, ph, pw, oh, ow)
    y = w.reshape(o, c * kh * kw) @ cols                                            # (O, OH*OW*N)
    return y.reshape(o, oh, ow, n).transpose(3, 0, 1, 2), cols                      # (N, O, OH, OW) view


def conv_transpose2d(y, w, stride, padding, out_hw):
    """conv.conv_transpose2d_plain's result: one GEMM to columns, then the taps added back."""
    n, o, oh, ow = y.shape
    _, c, kh, kw = w.shape
    cols = w.reshape(o, c * kh * kw).T @ _batch_last(y)                             # (C*KH*KW, OH*OW*N)
    return _add_columns(cols, (n, c) + tuple(out_hw), (kh, kw), stride, padding, (oh, ow))


def conv2d_weight_grad(x, gy, kernel, stride, padding, cols=None):
    """conv.conv2d_weight_grad_plain's result: gw (O, C, KH, KW) = gy's rows times x's columns (``cols``: x's
    columns from the forward, kept by ``keep_conv_columns``; else they are gathered again)."""
    o, c, (oh, ow) = gy.shape[1], x.shape[1], gy.shape[2:]
    if cols is None:
        cols = _columns(x, *kernel, *stride, *padding, oh, ow)
    return (_batch_last(gy) @ cols.T).reshape(o, c, *kernel)


# keep_conv_columns: Conv2d keeps the columns of its forward (one copy of x's windows per conv layer, alive
# until the backward) and hands them to the Conv2dGradW of its backward, which would gather them again.


# ---------------------------------------------------------------- outer_product_matmul
def matmul(a, b):
    """a @ b; with an inner size of 1, (.., M, 1) @ (.., 1, N) is an outer product, computed as the broadcast
    a * b (bit for bit the same values), which NumPy runs many times faster than its matmul at K = 1
    (D's last Linear: its input gradient is (64, 1) @ (1, 6272))."""
    if a.ndim >= 2 and b.ndim >= 2 and a.shape[-1] == 1 == b.shape[-2]:
        return a * b
    return a @ b


# ---------------------------------------------------------------- fused_batchnorm_backward
def batchnorm_backward(gy, xhat, inv_std, w, axes):
    """Batch norm's first-order backward on arrays, in place on one buffer (4 passes), from the
    forward's x_hat and 1/std: with gw = sum(gy x_hat), gb = sum(gy) and n values per channel,
    dL/dx = inv_std * w * (gy - gb / n - x_hat * gw / n), functional.BatchNormTrain's formula regrouped.
    Returns (gx, gw, gb) with gw and gb of shape (C,)."""
    n = gy.size // w.size
    gw = (gy * xhat).sum(axis=axes, keepdims=True)
    gb = gy.sum(axis=axes, keepdims=True)
    gx = xhat * (gw * (-1 / n))
    gx += gy
    gx -= gb * (1 / n)
    gx *= inv_std * w
    return gx, gw.reshape(-1), gb.reshape(-1)


# ---------------------------------------------------------------- leaky_relu_arithmetic
def leaky_relu(x, slope):
    """ops.LeakyReLU's forward for 0 <= slope < 1 as max(x, slope x): arithmetic, which NumPy runs much
    faster than the plain ``where(x > 0, x, slope x)``."""
    xp = get_array_module(x)
    return xp.maximum(x, x * x.dtype.type(slope)) if slope else xp.maximum(x, x.dtype.type(0))   # ReLU: one pass


def leaky_relu_backward(gy, x, slope):
    """gy * (1 where x > 0, else slope), first order: the factor as (x > 0) (1 - slope) + slope, in place in
    one buffer, then times gy in place."""
    g = (x > 0).astype(x.dtype)
    g *= x.dtype.type(1 - slope)
    g += x.dtype.type(slope)
    g *= gy
    return g


# ---------------------------------------------------------------- same_layout
def same_layout(g, like):
    """``g`` (an array) laid out in memory as ``like`` is (e.g. a conv's batch-last output), so the
    element-wise backward ops before a reshape see one layout; mixed layouts make NumPy walk one
    operand with large strides. Returns g itself when the layouts already agree."""
    if g.strides == like.strides:
        return g
    out = get_array_module(like).empty_like(like)
    out[...] = g
    return out


# ---------------------------------------------------------------- malloc
def reuse_freed_memory():
    """Ask glibc to keep freed memory for reuse (called by the command-line tools and benchmarks).

    Every NumPy temporary is a fresh allocation. glibc serves large ones with mmap and unmaps
    them on free, so the next step's array of the same size page-faults on every page again.
    With mmap off and the heap never trimmed below 1 GiB, freed blocks are simply reused. A
    no-op where the C library is not glibc.
    """
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-4, 0)             # M_MMAP_MAX: serve every block from the heap
        libc.mallopt(-1, 1 << 30)       # M_TRIM_THRESHOLD: keep up to 1 GiB of free heap
    except (OSError, AttributeError):
        pass


__all__ = ["ON", "batchnorm_backward", "conv2d", "conv2d_weight_grad", "conv_transpose2d", "leaky_relu",
           "leaky_relu_backward", "matmul", "reuse_freed_memory", "same_layout"]
