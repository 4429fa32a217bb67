"""The layers: PyTorch's names, arguments, parameter names, shapes and default initialisations.

Each layer's forward is one or two calls into ``minigan.functional``; the
equations are in docs/layers.md. Parameters are created on the default device
(``$MINIGAN_DEVICE``) in float32 and initialised from minigan's seeded CPU
generator (``minigan.nn.init``), so ``minigan.manual_seed(s)`` fixes them.
"""
import math

import numpy as np

from .. import backend
from .. import functional as F
from . import init
from .module import Module, Parameter


def _param(*shape):
    """An uninitialised float32 Parameter on the default device."""
    return Parameter(backend.xp_of(None).empty(shape, dtype=np.float32))


def _pair(v, name, layer):
    if isinstance(v, int):
        return (v, v)
    try:
        a, b = v
        return (int(a), int(b))
    except (TypeError, ValueError):
        raise TypeError(f"{layer}: {name} must be an int or a pair of ints, got {v!r}") from None


def _positive(layer, **values):
    for name, v in values.items():
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{layer}: {name} must be a positive int, got {v!r}")


def _reset_affine(weight, bias, fan_in):
    """PyTorch's default: kaiming_uniform(a=sqrt(5)) for the weight, U(+-1/sqrt(fan_in)) for the bias."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(bias, -bound, bound)


class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features) and b (out_features,)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        _positive("Linear", in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = _param(out_features, in_features)
        self.register_parameter("bias", _param(out_features) if bias else None)
        _reset_affine(self.weight, self.bias, in_features)

    def forward(self, x):
        """x (..., in_features) -> (..., out_features)."""
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class _ConvNd(Module):
    """Shared arguments, parameters and repr of Conv2d and ConvTranspose2d."""

    def __init__(self, name, in_channels, out_channels, kernel_size, stride, padding, output_padding, bias,
                 weight_shape):
        super().__init__()
        _positive(name, in_channels=in_channels, out_channels=out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size", name)
        self.stride = _pair(stride, "stride", name)
        self.padding = _pair(padding, "padding", name)
        self.output_padding = _pair(output_padding, "output_padding", name)
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"{name}: kernel_size and stride must be >= 1 and padding >= 0, got kernel_size="
                             f"{kernel_size}, stride={stride}, padding={padding}")
        self.weight = _param(*weight_shape)
        self.register_parameter("bias", _param(out_channels) if bias else None)
        _reset_affine(self.weight, self.bias, init.fan_in_and_fan_out(self.weight)[0])

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D cross-correlation; weight (out_channels, in_channels, kh, kw), bias (out_channels,)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        k = _pair(kernel_size, "kernel_size", "Conv2d")
        super().__init__("Conv2d", in_channels, out_channels, kernel_size, stride, padding, 0, bias,
                         (out_channels, in_channels) + k)

    def forward(self, x):
        """x (N, in_channels, H, W) -> (N, out_channels, OH, OW), OH = (H + 2 padding - kh) // stride + 1."""
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)


class ConvTranspose2d(_ConvNd):
    """Transposed convolution (the adjoint of Conv2d); weight (in_channels, out_channels, kh, kw).

    As PyTorch, the default initialisation takes fan_in from dim 1 of the weight: out_channels * kh * kw.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, bias=True):
        k = _pair(kernel_size, "kernel_size", "ConvTranspose2d")
        super().__init__("ConvTranspose2d", in_channels, out_channels, kernel_size, stride, padding,
                         output_padding, bias, (in_channels, out_channels) + k)

    def forward(self, x):
        """x (N, in_channels, H, W) -> (N, out_channels, (H - 1) stride - 2 padding + kh + output_padding, ...)."""
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding)


class _BatchNorm(Module):
    """Batch normalisation over dim 1; weight/bias (affine) and running_mean/var/num_batches_tracked buffers."""

    _ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        _positive(type(self).__name__, num_features=num_features)
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = init.ones_(_param(num_features))
            self.bias = init.zeros_(_param(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            xp = backend.xp_of(None)
            self.register_buffer("running_mean", xp.zeros(num_features, dtype=np.float32))
            self.register_buffer("running_var", xp.ones(num_features, dtype=np.float32))
            self.register_buffer("num_batches_tracked", xp.zeros((), dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        """running_mean 0, running_var 1, num_batches_tracked 0."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def forward(self, x):
        """Normalise by the batch statistics (training) or the running ones (eval)."""
        if x.ndim not in self._ndims:
            want = " or ".join(f"{n}-D" for n in self._ndims)
            raise ValueError(f"{type(self).__name__}: expected a {want} input, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: input of shape {x.shape} has {x.shape[1]} channels, "
                             f"the layer was made for {self.num_features}")
        if not self.track_running_stats:      # always the batch statistics, nothing to update
            return F.batch_norm(x, None, None, self.weight, self.bias, training=True, eps=self.eps)
        momentum = self.momentum
        if self.training and momentum is None:    # cumulative moving average, as PyTorch
            n = self.num_batches_tracked.data                # 1 / (n + 1) stays on the device: no sync
            momentum = (1.0 / (n + 1)).astype(self.running_mean.dtype)
        y = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                         training=self.training, momentum=momentum, eps=self.eps)
        if self.training:
            self.num_batches_tracked.data[...] += 1
        return y

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """BatchNorm over (N, C) or (N, C, L) inputs, per feature C."""
    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """BatchNorm over (N, C, H, W) inputs, per channel C."""
    _ndims = (4,)


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x):
        """Element-wise max(x, 0)."""
        return F.relu(x)


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        """Element-wise leaky ReLU."""
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x):
        """Element-wise tanh."""
        return F.tanh(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, x):
        """Element-wise logistic sigmoid."""
        return F.sigmoid(x)


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1 / (1 - p); identity in eval."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        """Inverted dropout with a mask from minigan's seeded generator."""
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Flatten(Module):
    """Merge dims start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        """Reshape, merging the dims."""
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``: (N, C*H*W) -> (N, C, H, W) with dim=1, sizes (C, H, W)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)
        if sum(1 for s in self.unflattened_size if s == -1) > 1:
            raise ValueError(f"Unflatten: at most one size may be -1, got {self.unflattened_size}")

    def forward(self, x):
        """Reshape, splitting the dim."""
        d = self.dim % x.ndim
        sizes = self.unflattened_size
        known = int(np.prod([s for s in sizes if s != -1]))
        if (-1 in sizes and x.shape[d] % known) or (-1 not in sizes and known != x.shape[d]):
            raise ValueError(f"Unflatten: dim {self.dim} of input shape {x.shape} has size {x.shape[d]}, "
                             f"which cannot be split into {sizes}")
        return x.reshape(x.shape[:d] + sizes + x.shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Maxout(Module):
    """Maxout unit (Goodfellow et al. 2013), the discriminator unit of the original GAN paper.

    z = x W^T + b with W of shape (out_features * pieces, in_features); unit j
    outputs max_k z[..., j * pieces + k], i.e. rows j*pieces .. j*pieces + pieces - 1
    of W (and entries of b) are the pieces of unit j (z viewed as (..., out, pieces)).
    Initialised as a Linear of the same shape.
    """

    def __init__(self, in_features, out_features, pieces):
        super().__init__()
        _positive("Maxout", in_features=in_features, out_features=out_features, pieces=pieces)
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        self.weight = _param(out_features * pieces, in_features)
        self.bias = _param(out_features * pieces)
        _reset_affine(self.weight, self.bias, in_features)

    def forward(self, x):
        """x (..., in_features) -> (..., out_features)."""
        z = F.linear(x, self.weight, self.bias)                              # (..., out * pieces)
        z = z.reshape(x.shape[:-1] + (self.out_features, self.pieces))       # (..., out, pieces)
        return z.max(axis=-1)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"


__all__ = ["BatchNorm1d", "BatchNorm2d", "Conv2d", "ConvTranspose2d", "Dropout", "Flatten", "LeakyReLU", "Linear",
           "Maxout", "ReLU", "Sigmoid", "Tanh", "Unflatten"]
