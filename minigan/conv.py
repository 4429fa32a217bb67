"""2-D convolution and transposed convolution, by im2col on strided views and one GEMM.

Letters used in the shape comments of this file (and only defined here):

    N batch   C input channels   O output channels   H W input height / width
    KH KW kernel size   SH SW stride   PH PW padding   OH OW output height / width

``conv2d`` and ``conv_transpose2d`` are each other's adjoint: the input-gradient
of one is the other, and both get their weight-gradient from ``Conv2dGradW``.
So every derivative of every order is again one of these three ops
(docs/autodiff.md, "Convolution").
"""
from .backend import as_strided, get_array_module
from .profiler import section
from .tensor import Function, Tensor, is_grad_enabled


def _pair(v, name):
    if isinstance(v, Tensor):
        raise TypeError(f"{name} must be an int or a pair of ints, not a Tensor")
    a, b = (v, v) if isinstance(v, int) else tuple(v)
    return int(a), int(b)


def _pad(x, ph, pw):
    """(N, C, H, W) -> (N, C, H + 2PH, W + 2PW) with zeros around, stored batch-last (C, H, W, N)."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    out = xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype).transpose(3, 0, 1, 2)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _im2col(x, kh, kw, sh, sw, ph, pw, oh, ow):
    """(N, C, H, W) -> cols (C*KH*KW, OH*OW*N), cols[(c,i,j), (oh,ow,n)] = x_pad[n, c, oh*SH+i, ow*SW+j].

    A strided view of the padded input picks every window without a copy; the
    reshape to two dims is the one copy. Rows in (C, KH, KW) order match the
    weight's (O, C, KH, KW) layout. Columns are batch-last, (OH, OW, N): the
    padded copy is stored batch-last too, so the copy moves runs of N
    contiguous numbers (numpy is slow on short inner runs such as OW = 7).
    """
    xp_ = _pad(x, ph, pw)                                                   # physically (C, Hp, Wp, N)
    sn, sc, s_h, s_w = xp_.strides
    n, c = xp_.shape[:2]
    view = as_strided(xp_, (c, kh, kw, oh, ow, n), (sc, s_h, s_w, s_h * sh, s_w * sw, sn))
    with section("im2col"):
        return view.reshape(c * kh * kw, oh * ow * n)                       # (C*KH*KW, OH*OW*N)


def _col2im(cols, n, c, kh, kw, sh, sw, ph, pw, oh, ow, h, wd):
    """The adjoint of _im2col: add each column back onto the window it came from.

    cols (C*KH*KW, OH*OW*N) -> (N, C, H, W), stored batch-last. The sum runs over
    the KH*KW kernel taps (16 for DCGAN), each a strided add of a (C, OH, OW, N)
    block whose inner runs of N numbers are contiguous; never over pixels.
    """
    xp = get_array_module(cols)
    cols = cols.reshape(c, kh, kw, oh, ow, n)                               # (C, KH, KW, OH, OW, N)
    hp, wp = max(h + 2 * ph, (oh - 1) * sh + kh), max(wd + 2 * pw, (ow - 1) * sw + kw)
    with section("col2im"):
        out = xp.zeros((c, hp, wp, n), dtype=cols.dtype)                    # padded, (C, Hp, Wp, N)
        for i in range(kh):
            for j in range(kw):
                out[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += cols[:, i, j]
    return out[:, ph:ph + h, pw:pw + wd].transpose(3, 0, 1, 2)              # (N, C, H, W) view


def _batch_last(y):
    """(N, O, H, W) -> (O, H*W*N), a free view when y is stored batch-last (as our convs leave it)."""
    n, o, h, w = y.shape
    return y.transpose(1, 2, 3, 0).reshape(o, h * w * n)


def _conv_forward(x, w, sh, sw, ph, pw):
    """y[n,o,oh,ow] = sum_{c,i,j} w[o,c,i,j] x_pad[n,c,oh*SH+i,ow*SW+j]: one GEMM. Returns y and the columns."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    cols = _im2col(x, kh, kw, sh, sw, ph, pw, oh, ow)
    with section("GEMM"):
        y = w.reshape(o, c * kh * kw) @ cols                                # (O, OH*OW*N)
    return y.reshape(o, oh, ow, n).transpose(3, 0, 1, 2), cols                  # (N, O, OH, OW) view


def _conv_transpose_forward(y, w, sh, sw, ph, pw, out_hw):
    """The adjoint of _conv_forward: spread each y[n,o,oh,ow] w[o] back over its window (col2im)."""
    n, o, oh, ow = y.shape
    _, c, kh, kw = w.shape
    y2 = _batch_last(y)
    with section("GEMM"):
        cols = w.reshape(o, c * kh * kw).T @ y2                             # (C*KH*KW, OH*OW*N)
    return _col2im(cols, n, c, kh, kw, sh, sw, ph, pw, oh, ow, *out_hw)


def _conv_weight_grad(x, gy, kh, kw, sh, sw, ph, pw, cols=None):
    """gw[o,c,i,j] = sum_{n,oh,ow} gy[n,o,oh,ow] x_pad[n,c,oh*SH+i,ow*SW+j]: one GEMM.

    ``cols`` is x's im2col when the caller still has it (conv2d's forward keeps it).
    """
    o, c = gy.shape[1], x.shape[1]
    oh, ow = gy.shape[2:]
    gy2 = _batch_last(gy)
    if cols is None:
        cols = _im2col(x, kh, kw, sh, sw, ph, pw, oh, ow)
    with section("GEMM"):
        gw = gy2 @ cols.T                                                   # (O, C*KH*KW)
    return gw.reshape(o, c, kh, kw)


class Conv2d(Function):
    """y = conv2d(x, w) + b; x (N, C, H, W), w (O, C, KH, KW), b (O,).

    The forward keeps x's im2col columns for the weight-gradient GEMM of the
    backward (a memory-for-time trade: one copy of x's windows per conv layer
    stays alive until the backward), and drops them once used.
    """

    def __init__(self, stride, padding):
        self.stride, self.padding, self.cols = stride, padding, None

    def forward(self, x, w, b=None):
        y, cols = _conv_forward(x, w, *self.stride, *self.padding)
        if is_grad_enabled():
            self.cols = cols
        if b is not None:
            y += b.reshape(1, -1, 1, 1)                                      # y is fresh: in place
        return y

    def backward(self, gy):
        x, w = self.inputs[:2]
        need = self.needs_input_grad or [True] * len(self.inputs)
        cols, self.cols = self.cols, None
        gx = ConvTranspose2d(self.stride, self.padding, x.shape[2:])(gy, w) if need[0] else None
        gw = Conv2dGradW(self.stride, self.padding, w.shape[2:], cols)(x, gy) if need[1] else None
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, (gy.sum(axis=(0, 2, 3)) if need[2] else None)


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) + b; x (N, O, OH, OW), w (O, C, KH, KW) -> y (N, C, H, W)."""

    def __init__(self, stride, padding, out_hw):
        self.stride, self.padding, self.out_hw = stride, padding, tuple(out_hw)

    def forward(self, x, w, b=None):
        y = _conv_transpose_forward(x, w, *self.stride, *self.padding, self.out_hw)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)                                      # y is fresh: in place
        return y

    def backward(self, gy):
        x, w = self.inputs[:2]
        need = self.needs_input_grad or [True] * len(self.inputs)
        gx = Conv2d(self.stride, self.padding)(gy, w) if need[0] else None
        gw = Conv2dGradW(self.stride, self.padding, w.shape[2:])(gy, x) if need[1] else None
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, (gy.sum(axis=(0, 2, 3)) if need[2] else None)


class Conv2dGradW(Function):
    """The weight-gradient of conv2d (and of conv_transpose2d, with the roles swapped).

    Inputs: x (N, C, H, W) and gy (N, O, OH, OW); output (O, C, KH, KW).
    It is linear in each input, so its own gradients are conv_transpose2d and conv2d.
    """

    def __init__(self, stride, padding, kernel, cols=None):
        self.stride, self.padding, self.kernel, self.cols = stride, padding, tuple(kernel), cols

    def forward(self, x, gy):
        cols, self.cols = self.cols, None
        return _conv_weight_grad(x, gy, *self.kernel, *self.stride, *self.padding, cols)

    def backward(self, ggw):
        x, gy = self.inputs
        need = self.needs_input_grad or (True, True)
        gx = ConvTranspose2d(self.stride, self.padding, x.shape[2:])(gy, ggw) if need[0] else None
        ggy = Conv2d(self.stride, self.padding)(x, ggw) if need[1] else None
        return gx, ggy


def _check(op, x, w, b, w_in_dim):
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {x.shape}")
    if w.ndim != 4:
        layout = "(out, in, kh, kw)" if w_in_dim == 1 else "(in, out, kh, kw)"
        raise ValueError(f"{op}: weight must be 4-D {layout}, got shape {w.shape}")
    if x.shape[1] != w.shape[w_in_dim]:
        raise ValueError(f"{op}: input has {x.shape[1]} channels but weight of shape {w.shape} "
                         f"expects {w.shape[w_in_dim]} (input shape {x.shape})")
    out_ch = w.shape[1 - w_in_dim]
    if b is not None and b.shape != (out_ch,):
        raise ValueError(f"{op}: bias must have shape ({out_ch},), got {b.shape}")


def conv2d(x, w, b=None, stride=1, padding=0):
    """2-D cross-correlation, PyTorch's ``conv2d``: x (N, C, H, W), w (O, C, KH, KW), b (O,)."""
    _check("conv2d", x, w, b, 1)
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding")
    if sh < 1 or sw < 1 or ph < 0 or pw < 0:
        raise ValueError(f"conv2d: stride must be >= 1 and padding >= 0, got stride={stride}, padding={padding}")
    kh, kw = w.shape[2:]
    h, wd = x.shape[2:]
    if h + 2 * ph < kh or wd + 2 * pw < kw:
        raise ValueError(f"conv2d: kernel {kh}x{kw} is larger than the padded input "
                         f"{h + 2 * ph}x{wd + 2 * pw} (input shape {x.shape}, padding {padding})")
    f = Conv2d((sh, sw), (ph, pw))
    return f(x, w) if b is None else f(x, w, b)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0):
    """Transposed convolution, PyTorch's ``conv_transpose2d``: x (N, O, H, W), w (O, C, KH, KW).

    Output size: (H - 1) * stride - 2 * padding + KH + output_padding.
    """
    _check("conv_transpose2d", x, w, b, 0)
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding")
    oph, opw = _pair(output_padding, "output_padding")
    if sh < 1 or sw < 1 or ph < 0 or pw < 0:
        raise ValueError(f"conv_transpose2d: stride must be >= 1 and padding >= 0, "
                         f"got stride={stride}, padding={padding}")
    if not (0 <= oph < sh and 0 <= opw < sw):
        raise ValueError(f"conv_transpose2d: output_padding {output_padding} must be >= 0 and "
                         f"smaller than stride {stride}")
    kh, kw = w.shape[2:]
    h = (x.shape[2] - 1) * sh - 2 * ph + kh + oph
    wd = (x.shape[3] - 1) * sw - 2 * pw + kw + opw
    if h < 1 or wd < 1:
        raise ValueError(f"conv_transpose2d: output would be {h}x{wd} for input {x.shape}, "
                         f"weight {w.shape}, stride {stride}, padding {padding}")
    f = ConvTranspose2d((sh, sw), (ph, pw), (h, wd))
    return f(x, w) if b is None else f(x, w, b)
