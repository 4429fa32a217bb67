"""The user-facing ops, with PyTorch's names and signatures (``import minigan.functional as F``).

The element-wise and shape ops live in ``ops``, convolutions in ``conv``; this
module re-exports them and adds the composite ones: linear, batch_norm, dropout
and the losses. Losses are written from logits with softplus / log_sigmoid,
never log(sigmoid(x)), so they stay finite when D saturates.
"""
import numpy as np

from . import backend
from .backend import get_array_module
from .conv import conv2d, conv_transpose2d  # noqa: F401
from .ops import (  # noqa: F401
    abs,
    cat,
    clamp,
    exp,
    leaky_relu,
    log,
    log_sigmoid,
    matmul,
    maximum,
    minimum,
    relu,
    sigmoid,
    softplus,
    sqrt,
    stack,
    tanh,
    where,
)
from .tensor import Function, Tensor


def linear(x, w, b=None):
    """x @ w.T + b, with w of shape (out, in) as PyTorch's."""
    if w.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out, in), got shape {w.shape}")
    if x.shape[-1] != w.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1]} features "
                         f"but weight of shape {w.shape} expects {w.shape[1]}")
    y = matmul(x, w.T)
    return y if b is None else y + b


# ------------------------------------------------------------------ batch norm
class BatchNormTrain(Function):
    """Batch normalisation with batch statistics, y = w * x_hat + b, x_hat = (x - mean) / sqrt(var + eps).

    The forward works on arrays; it keeps the batch mean and variance for the running statistics.
    The backward is the closed form of docs/autodiff.md written with Tensor ops, so it can be
    differentiated again (a gradient penalty through D). In first-order training the trick
    ``tricks.batchnorm_backward`` computes the same formula on x_hat and 1/std kept from the forward.
    """

    def __init__(self, axes, eps):
        self.axes, self.eps = axes, eps

    def forward(self, x, w, b):                             # x (N, C) or (N, C, H, W); w, b (C,)
        xp = get_array_module(x)
        mu = x.mean(axis=self.axes, keepdims=True)          # (1, C[, 1, 1])
        d = x - mu
        var = (d * d).mean(axis=self.axes, keepdims=True)
        self.mean, self.var = mu, var                       # kept for the running statistics
        xhat = d * (1 / xp.sqrt(var + x.dtype.type(self.eps)))
        return xhat * w.reshape(mu.shape) + b.reshape(mu.shape)

    def backward(self, gy, needs):
        x, w, b = self.inputs
        shape = self.mean.shape
        mu = x.mean(self.axes, keepdims=True)               # recomputed from the input Tensor: differentiable
        d = x - mu
        inv_std = ((d * d).mean(self.axes, keepdims=True) + self.eps) ** -0.5
        xhat = d * inv_std
        g = gy * w.reshape(shape)                           # dL/dx_hat
        gx = inv_std * (g - g.mean(self.axes, keepdims=True) - xhat * (g * xhat).mean(self.axes, keepdims=True))
        return (gx if needs[0] else None, (gy * xhat).sum(self.axes) if needs[1] else None,
                gy.sum(self.axes) if needs[2] else None)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """PyTorch's ``batch_norm`` over dim 1 of a (N, C) or (N, C, H, W) input.

    In training the batch statistics normalise, and the running ones (Tensors,
    updated in place) move by ``momentum`` toward the batch mean and the
    *unbiased* batch variance, as PyTorch. In eval the running ones normalise.
    """
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"batch_norm: input must be (N, C), (N, C, L) or (N, C, H, W), got shape {x.shape}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},) for input {x.shape}, got {t.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, c) + (1,) * (x.ndim - 2)
    xp = get_array_module(x.data)
    if weight is None:
        weight = Tensor(xp.ones(c, dtype=x.dtype))
    if bias is None:
        bias = Tensor(xp.zeros(c, dtype=x.dtype))
    if training:
        n = x.size // c
        if n < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel, got input {x.shape}")
        f = BatchNormTrain(axes, eps)
        y = f(x, weight, bias)
        if running_mean is not None:
            m = momentum
            running_mean.data[...] = (1 - m) * running_mean.data + m * f.mean.reshape(c)
        if running_var is not None:
            running_var.data[...] = (1 - momentum) * running_var.data + momentum * f.var.reshape(c) * (n / (n - 1))
        return y
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: eval mode needs running_mean and running_var")
    scale = weight * (running_var.reshape(c) + eps) ** -0.5
    return x * scale.reshape(shape) + (bias - running_mean * scale).reshape(shape)


# ------------------------------------------------------------------ dropout
def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (training only)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    xp = get_array_module(x.data)
    keep = backend.rng(x.device).random(x.shape) >= p
    return x * Tensor(xp.asarray(keep, dtype=x.dtype) * x.dtype.type(1 / (1 - p)))


# ------------------------------------------------------------------ losses
def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _same_shape(op, x, t):
    if x.shape != t.shape:
        raise ValueError(f"{op}: input shape {x.shape} and target shape {t.shape} differ")


def binary_cross_entropy_with_logits(x, target, reduction="mean"):
    """-[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))] = softplus(x) - t x, from logits."""
    if not isinstance(target, Tensor):
        target = Tensor(get_array_module(x.data).asarray(target, dtype=x.dtype))
    _same_shape("binary_cross_entropy_with_logits", x, target)
    return _reduce(softplus(x) - target * x, reduction, "binary_cross_entropy_with_logits")


def mse_loss(x, target, reduction="mean"):
    """Mean (or sum) of (x - target)^2."""
    _same_shape("mse_loss", x, target)
    d = x - target
    return _reduce(d * d, reduction, "mse_loss")


def log_softmax(x, dim=-1):
    """log(softmax(x)) along ``dim``: x - max - log(sum(exp(x - max))), finite for any logits.

    The max is a detached constant: log_softmax(x + c) = log_softmax(x) for any c, so shifting by it
    changes neither the value nor the gradient, dL/dx = g - softmax(x) * sum(g) along ``dim``.
    """
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"log_softmax: dim {dim} is out of range for an input of shape {x.shape}")
    z = x - x.max(axis=dim, keepdims=True).detach()
    return z - log(exp(z).sum(axis=dim, keepdims=True))


def softmax(x, dim=-1):
    """exp(log_softmax(x)): probabilities along ``dim`` that sum to 1."""
    return exp(log_softmax(x, dim))


def cross_entropy(x, target, reduction="mean"):
    """PyTorch's ``cross_entropy`` for logits x (N, C) and class indices ``target`` (N,) in 0..C-1:
    -log softmax(x)[i, target_i], averaged (or summed) over the batch."""
    t = np.asarray(backend.as_numpy(target.data if isinstance(target, Tensor) else target))
    if x.ndim != 2:
        raise ValueError(f"cross_entropy: input must be logits of shape (N, C), got shape {x.shape}")
    if t.shape != (x.shape[0],) or t.dtype.kind not in "iu":
        raise ValueError(f"cross_entropy: target must be {x.shape[0]} integer class indices, "
                         f"got shape {t.shape} of dtype {t.dtype}")
    if t.size and (t.min() < 0 or t.max() >= x.shape[1]):
        raise ValueError(f"cross_entropy: target holds classes outside 0..{x.shape[1] - 1} "
                         f"(min {t.min()}, max {t.max()})")
    onehot = np.zeros(x.shape, dtype=x.dtype)
    onehot[np.arange(x.shape[0]), t] = 1
    loss = -(log_softmax(x, 1) * Tensor(backend.to_device(onehot, x.device))).sum(axis=1)
    return _reduce(loss, reduction, "cross_entropy")


__all__ = ["abs", "batch_norm", "binary_cross_entropy_with_logits", "cat", "clamp", "conv2d", "conv_transpose2d",
           "cross_entropy", "dropout", "exp", "leaky_relu", "linear", "log", "log_sigmoid",
           "log_softmax", "matmul", "maximum", "minimum", "mse_loss", "relu", "sigmoid", "softmax", "softplus", "sqrt",
           "stack", "tanh", "where"]
