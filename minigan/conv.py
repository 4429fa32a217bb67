"""2-D convolution and transposed convolution: im2col and one matrix product.

Letters used in the shape comments of this file:

    N batch   C input channels   O output channels   H W input height / width
    KH KW kernel size   SH SW stride   PH PW padding   OH OW output height / width

This file is the plain version: ``im2col`` gathers, tap by kernel tap, the window under every
output pixel into a column, and the convolution is one matrix product of the weights with
the columns. ``tricks.conv2d`` and friends compute the same numbers faster (batch-last
columns from one strided view) and stand in for the Functions' forwards while
``tricks.ON["batch_last_conv"]`` is on.

``conv2d`` and ``conv_transpose2d`` are each other's adjoint: the input-gradient of one is
the other, and both get their weight-gradient from ``Conv2dGradW``. So every derivative of
every order is again one of these three ops (docs/autodiff.md, "Convolution").
"""
from .backend import get_array_module
from .tensor import Function, Tensor


def _int_pair(v, name):
    """An int or a pair of ints as a pair of ints (stride, padding, output_padding)."""
    if isinstance(v, Tensor):
        raise TypeError(f"{name} must be an int or a pair of ints, not a Tensor")
    a, b = (v, v) if isinstance(v, int) else tuple(v)
    return int(a), int(b)


def _windows(kernel, stride, out_hw):
    """For each kernel tap (i, j): the slices of the padded input that it meets, one per output pixel."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    for i in range(kh):
        for j in range(kw):
            yield i, j, (slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw))


def im2col(x, kernel, stride, padding, out_hw):
    """(N, C, H, W) -> cols (N, C*KH*KW, OH*OW): cols[n, (c,i,j), (oh,ow)] = x_pad[n, c, oh*SH+i, ow*SW+j]."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    (kh, kw), (ph, pw), (oh, ow) = kernel, padding, out_hw
    x_pad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))                  # (N, C, H+2PH, W+2PW)
    cols = xp.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i, j, window in _windows(kernel, stride, out_hw):
        cols[:, :, i, j] = x_pad[(slice(None), slice(None)) + window]      # (N, C, OH, OW)
    return cols.reshape(n, c * kh * kw, oh * ow)


def col2im(cols, shape, kernel, stride, padding, out_hw):
    """The adjoint of im2col: cols (N, C*KH*KW, OH*OW) added back onto the windows -> (N, C, H, W)."""
    n, c, h, w = shape
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel, stride, padding, out_hw
    cols = cols.reshape(n, c, kh, kw, oh, ow)
    hp, wp = max(h + 2 * ph, (oh - 1) * sh + kh), max(w + 2 * pw, (ow - 1) * sw + kw)
    x_pad = get_array_module(cols).zeros((n, c, hp, wp), dtype=cols.dtype)
    for i, j, window in _windows(kernel, stride, out_hw):
        x_pad[(slice(None), slice(None)) + window] += cols[:, :, i, j]
    return x_pad[:, :, ph:ph + h, pw:pw + w]


def conv2d_plain(x, w, stride, padding):
    """y[n,o,oh,ow] = sum_{c,i,j} w[o,c,i,j] x_pad[n,c,oh*SH+i,ow*SW+j]: x (N, C, H, W), w (O, C, KH, KW)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = (h + 2 * padding[0] - kh) // stride[0] + 1, (wd + 2 * padding[1] - kw) // stride[1] + 1
    cols = im2col(x, (kh, kw), stride, padding, (oh, ow))                   # (N, C*KH*KW, OH*OW)
    return (w.reshape(o, c * kh * kw) @ cols).reshape(n, o, oh, ow)        # (O, CKK) @ -> (N, O, OH*OW)


def conv_transpose2d_plain(y, w, stride, padding, out_hw):
    """The adjoint of conv2d_plain in x: y (N, O, OH, OW) spread back through w (O, C, KH, KW) -> (N, C, H, W)."""
    n, o, oh, ow = y.shape
    _, c, kh, kw = w.shape
    cols = w.reshape(o, c * kh * kw).T @ y.reshape(n, o, oh * ow)          # (N, C*KH*KW, OH*OW)
    return col2im(cols, (n, c) + tuple(out_hw), (kh, kw), stride, padding, (oh, ow))


def conv2d_weight_grad_plain(x, gy, kernel, stride, padding):
    """gw[o,c,i,j] = sum_{n,oh,ow} gy[n,o,oh,ow] x_pad[n,c,oh*SH+i,ow*SW+j]: (O, C, KH, KW)."""
    n, o, oh, ow = gy.shape
    cols = im2col(x, kernel, stride, padding, (oh, ow))                     # (N, C*KH*KW, OH*OW)
    gw = gy.reshape(n, o, oh * ow) @ cols.transpose(0, 2, 1)                # (N, O, C*KH*KW)
    return gw.sum(axis=0).reshape(o, x.shape[1], *kernel)


def _add_bias(y, b):
    if b is not None:
        y += b.reshape(1, -1, 1, 1)                                       # y is the conv's fresh output
    return y


class Conv2d(Function):
    """y = conv2d(x, w) + b; x (N, C, H, W), w (O, C, KH, KW), b (O,) or absent."""

    def __init__(self, stride, padding, has_bias=False):
        self.stride, self.padding, self.has_bias = stride, padding, has_bias

    def forward(self, x, w, b=None):
        return _add_bias(conv2d_plain(x, w, self.stride, self.padding), b)

    def backward(self, gy, needs):
        x, w = self.inputs[:2]
        gx = ConvTranspose2d(self.stride, self.padding, x.shape[2:])(gy, w) if needs[0] else None
        gw = Conv2dGradW(self.stride, self.padding, w.shape[2:])(x, gy) if needs[1] else None
        if not self.has_bias:
            return gx, gw
        return gx, gw, gy.sum(axis=(0, 2, 3)) if needs[2] else None


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) + b; x (N, O, OH, OW), w (O, C, KH, KW) -> y (N, C, H, W)."""

    def __init__(self, stride, padding, out_hw, has_bias=False):
        self.stride, self.padding, self.out_hw, self.has_bias = stride, padding, tuple(out_hw), has_bias

    def forward(self, x, w, b=None):
        return _add_bias(conv_transpose2d_plain(x, w, self.stride, self.padding, self.out_hw), b)

    def backward(self, gy, needs):
        x, w = self.inputs[:2]
        gx = Conv2d(self.stride, self.padding)(gy, w) if needs[0] else None
        gw = Conv2dGradW(self.stride, self.padding, w.shape[2:])(gy, x) if needs[1] else None
        if not self.has_bias:
            return gx, gw
        return gx, gw, gy.sum(axis=(0, 2, 3)) if needs[2] else None


class Conv2dGradW(Function):
    """The weight-gradient of conv2d (and of conv_transpose2d, with the roles swapped).

    Inputs: x (N, C, H, W) and gy (N, O, OH, OW); output (O, C, KH, KW).
    It is linear in each input, so its own gradients are conv_transpose2d and conv2d.
    """

    def __init__(self, stride, padding, kernel):
        self.stride, self.padding, self.kernel = stride, padding, tuple(kernel)

    def forward(self, x, gy):
        return conv2d_weight_grad_plain(x, gy, self.kernel, self.stride, self.padding)

    def backward(self, ggw, needs):
        x, gy = self.inputs
        gx = ConvTranspose2d(self.stride, self.padding, x.shape[2:])(gy, ggw) if needs[0] else None
        ggy = Conv2d(self.stride, self.padding)(x, ggw) if needs[1] else None
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
    (sh, sw), (ph, pw) = _int_pair(stride, "stride"), _int_pair(padding, "padding")
    if sh < 1 or sw < 1 or ph < 0 or pw < 0:
        raise ValueError(f"conv2d: stride must be >= 1 and padding >= 0, got stride={stride}, padding={padding}")
    kh, kw = w.shape[2:]
    h, wd = x.shape[2:]
    if h + 2 * ph < kh or wd + 2 * pw < kw:
        raise ValueError(f"conv2d: kernel {kh}x{kw} is larger than the padded input "
                         f"{h + 2 * ph}x{wd + 2 * pw} (input shape {x.shape}, padding {padding})")
    f = Conv2d((sh, sw), (ph, pw), has_bias=b is not None)
    return f(x, w) if b is None else f(x, w, b)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0):
    """Transposed convolution, PyTorch's ``conv_transpose2d``: x (N, O, H, W), w (O, C, KH, KW).

    Output size: (H - 1) * stride - 2 * padding + KH + output_padding.
    """
    _check("conv_transpose2d", x, w, b, 0)
    (sh, sw), (ph, pw) = _int_pair(stride, "stride"), _int_pair(padding, "padding")
    oph, opw = _int_pair(output_padding, "output_padding")
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
    f = ConvTranspose2d((sh, sw), (ph, pw), (h, wd), has_bias=b is not None)
    return f(x, w) if b is None else f(x, w, b)
