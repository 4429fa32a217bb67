"""Weight initialisations, in place on ``t.data`` (PyTorch's ``torch.nn.init`` names and formulas).

Random values are drawn on the CPU from ``minigan.backend.rng('cpu')`` (so
``minigan.manual_seed`` makes them reproducible, and a model gets the same
weights on either device) and then copied to the tensor's device and dtype.
"""
import math

import numpy as np

from .. import backend


def _fill(t, values):
    """Copy a NumPy array (or scalar) into ``t.data`` on its device and dtype; returns t."""
    values = np.asarray(values, dtype=t.dtype)
    t.data[...] = backend.to_device(values, t.device)
    return t


def calculate_gain(nonlinearity, param=None):
    """The gain PyTorch recommends for ``nonlinearity`` (leaky_relu: sqrt(2 / (1 + slope^2)))."""
    if nonlinearity in ("linear", "conv2d", "conv_transpose2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def fan_in_and_fan_out(t):
    """(fan_in, fan_out) as PyTorch: dim 1 and dim 0 times the receptive field (kh * kw).

    For a ConvTranspose2d weight (in, out, kh, kw) this makes fan_in = out * kh * kw, as PyTorch.
    """
    if t.ndim < 2:
        raise ValueError(f"fan_in_and_fan_out: needs a tensor of at least 2 dims, got shape {t.shape}")
    receptive = int(np.prod(t.shape[2:])) if t.ndim > 2 else 1
    return t.shape[1] * receptive, t.shape[0] * receptive


def uniform_(t, a=0.0, b=1.0):
    """Fill with U(a, b)."""
    return _fill(t, backend.rng("cpu").uniform(a, b, size=t.shape))


def normal_(t, mean=0.0, std=1.0):
    """Fill with N(mean, std^2) (DCGAN's recipe: mean 0, std 0.02)."""
    return _fill(t, backend.rng("cpu").normal(mean, std, size=t.shape))


def constant_(t, val):
    """Fill with ``val``."""
    t.data[...] = val
    return t


def zeros_(t):
    """Fill with 0."""
    return constant_(t, 0)


def ones_(t):
    """Fill with 1."""
    return constant_(t, 1)


def kaiming_uniform_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """Fill with U(-bound, bound), bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).

    With a = sqrt(5) (PyTorch's default for Linear and Conv weights) bound = 1 / sqrt(fan_in).
    """
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming_uniform_: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(t)
    fan = fan_in if mode == "fan_in" else fan_out
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan) if fan else 0.0
    return uniform_(t, -bound, bound)


def kaiming_normal_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """Fill with N(0, std^2), std = gain / sqrt(fan)."""
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming_normal_: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(t)
    fan = fan_in if mode == "fan_in" else fan_out
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0)


def xavier_uniform_(t, gain=1.0):
    """Fill with U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio)."""
    fan_in, fan_out = fan_in_and_fan_out(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)


def xavier_normal_(t, gain=1.0):
    """Fill with N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


__all__ = ["calculate_gain", "constant_", "fan_in_and_fan_out", "kaiming_normal_", "kaiming_uniform_",
           "normal_", "ones_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_"]
