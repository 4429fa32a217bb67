"""The arithmetic and element-wise ops: Functions and their thin wrappers (reductions, reshapes,
indexing and joins are in ``shapes``, re-exported here).

Each Function's ``forward`` works on arrays (``xp`` is numpy or cupy), its
``backward`` on Tensors with the ops of this file, so every gradient can be
differentiated again. Binary ops broadcast; their gradients are reduced back to
each input's shape by the one helper ``sum_to``. Derivations: docs/autodiff.md.
"""
import numpy as np

from .backend import get_array_module
from .tensor import Function, Tensor, _constant, is_grad_enabled, same_device


def _shape_error(op, a, b):
    return ValueError(f"{op}: shapes {tuple(a)} and {tuple(b)} cannot be broadcast together")


def _broadcast_shape(op, a, b):
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        raise _shape_error(op, a, b) from None


def _tensor(x, like):
    """``x`` as a Tensor of ``like``'s dtype and device (Python numbers become constants)."""
    if isinstance(x, Tensor):
        return x
    return _constant(x, like)


def _pair(a, b):
    if not isinstance(a, Tensor):
        a = _tensor(a, b)
    if not isinstance(b, Tensor):
        b = _tensor(b, a)
    return a, b


# ------------------------------------------------------------------ broadcasting
class SumTo(Function):
    """Sum a broadcast gradient back down to ``shape``."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(self.shape)
                                           if s == 1 and x.shape[i + lead] != 1)
        y = x.sum(axis=axes, keepdims=True) if axes else x
        return y.reshape(self.shape) if lead or axes else y

    def backward(self, gy):
        return broadcast_to(gy, self.inputs[0].shape)


class BroadcastTo(Function):
    """Repeat ``x`` along size-1 (or missing leading) dims."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        xp = get_array_module(x)
        try:
            return xp.broadcast_to(x, self.shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {self.shape}") from None

    def backward(self, gy):
        return sum_to(gy, self.inputs[0].shape)


def sum_to(x, shape):
    """Sum ``x`` down to ``shape`` (the adjoint of broadcasting)."""
    return x if x.shape == tuple(shape) else SumTo(shape)(x)


def broadcast_to(x, shape):
    """Broadcast ``x`` to ``shape``."""
    return x if x.shape == tuple(shape) else BroadcastTo(shape)(x)


# ------------------------------------------------------------------ arithmetic
class _Binary(Function):
    """Checks shapes once; backward reduces each gradient with ``sum_to``."""

    def __call__(self, a, b):
        a, b = _pair(a, b)
        if a.shape != b.shape:
            _broadcast_shape(self.name, a.shape, b.shape)
        return super().__call__(a, b)

    def _reduce(self, ga, gb):
        a, b = self.inputs
        need_a, need_b = self.needs_input_grad or (True, True)
        return (sum_to(ga(), a.shape) if need_a else None,
                sum_to(gb(), b.shape) if need_b else None)


class Add(_Binary):
    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return self._reduce(lambda: gy, lambda: gy)


class Sub(_Binary):
    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        return self._reduce(lambda: gy, lambda: -gy)


class Mul(_Binary):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        return self._reduce(lambda: gy * b, lambda: gy * a)


class Div(_Binary):
    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        return self._reduce(lambda: gy / b, lambda: -gy * a / (b * b))


class PowTensor(_Binary):
    """a ** b with both tensors: d/da = b a^(b-1), d/db = a^b log a."""

    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.inputs
        return self._reduce(lambda: gy * b * a ** (b - 1), lambda: gy * self.output * log(a))


class Pow(Function):
    """x ** c for a constant c: d/dx = c x^(c-1)."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** x.dtype.type(self.c)

    def backward(self, gy):
        x = self.inputs[0]
        return gy * self.c * x ** (self.c - 1)


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class MatMul(Function):
    """a @ b for >= 2-D operands with broadcast batch dims."""

    def forward(self, a, b):
        if a.ndim >= 2 and b.ndim >= 2 and a.shape[-1] == 1 == b.shape[-2]:
            return a * b                # (.., m, 1) @ (.., 1, n) is an outer product; BLAS is 15x slower at K = 1
        return a @ b

    def backward(self, gy):
        a, b = self.inputs
        need_a, need_b = self.needs_input_grad or (True, True)
        ga = sum_to(matmul(gy, b.transpose(-1, -2)), a.shape) if need_a else None
        gb = sum_to(matmul(a.transpose(-1, -2), gy), b.shape) if need_b else None
        return ga, gb


# A Python (or NumPy) number in an op stays a number: it is kept on the Function, not made into an
# array, so on the GPU it is a kernel argument rather than a host-to-device copy and an allocation.
_NUMBERS = (int, float, np.number)


class AddScalar(Function):
    """x + c for a number c (x - c is x + (-c), the same IEEE result)."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x + x.dtype.type(self.c)

    def backward(self, gy):
        return gy


class MulScalar(Function):
    """x * c for a number c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x * x.dtype.type(self.c)

    def backward(self, gy):
        return MulScalar(self.c)(gy)


class DivScalar(Function):
    """x / c for a number c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x / x.dtype.type(self.c)

    def backward(self, gy):
        return DivScalar(self.c)(gy)


class RSubScalar(Function):
    """c - x for a number c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x.dtype.type(self.c) - x

    def backward(self, gy):
        return -gy


class RDivScalar(Function):
    """c / x for a number c: d/dx = -c / x^2."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x.dtype.type(self.c) / x

    def backward(self, gy):
        x = self.inputs[0]
        return div(MulScalar(-self.c)(gy), x * x)


def add(a, b):
    """a + b (broadcasting)."""
    if isinstance(b, _NUMBERS) and isinstance(a, Tensor):
        return AddScalar(b)(a)
    if isinstance(a, _NUMBERS) and isinstance(b, Tensor):
        return AddScalar(a)(b)
    return Add()(a, b)


def sub(a, b):
    """a - b (broadcasting)."""
    if isinstance(b, _NUMBERS) and isinstance(a, Tensor):
        return AddScalar(-b)(a)
    if isinstance(a, _NUMBERS) and isinstance(b, Tensor):
        return RSubScalar(a)(b)
    return Sub()(a, b)


def mul(a, b):
    """a * b (broadcasting)."""
    if isinstance(b, _NUMBERS) and isinstance(a, Tensor):
        return MulScalar(b)(a)
    if isinstance(a, _NUMBERS) and isinstance(b, Tensor):
        return MulScalar(a)(b)
    return Mul()(a, b)


def div(a, b):
    """a / b (broadcasting)."""
    if isinstance(b, _NUMBERS) and isinstance(a, Tensor):
        return DivScalar(b)(a)
    if isinstance(a, _NUMBERS) and isinstance(b, Tensor):
        return RDivScalar(a)(b)
    return Div()(a, b)


def neg(x):
    """-x."""
    return Neg()(x)


def pow(a, b):
    """a ** b; a constant exponent uses the cheaper ``Pow``."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        return Pow(b)(a)
    return PowTensor()(a, b)


def matmul(a, b):
    """Matrix product with NumPy's rules (1-D operands are promoted, then squeezed)."""
    a, b = _pair(a, b)
    sa, sb = a.shape, b.shape            # the caller's shapes, for error messages
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must be at least 1-D, got shapes {sa} and {sb}")
    squeeze = []
    if a.ndim == 1:
        a, squeeze = a.reshape(1, -1), squeeze + [-2]
    if b.ndim == 1:
        b, squeeze = b.reshape(-1, 1), squeeze + [-1]
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: shapes {sa} and {sb} do not match "
                         f"(inner dims {a.shape[-1]} != {b.shape[-2]})")
    if a.shape[:-2] != b.shape[:-2]:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch dims of shapes {sa} and {sb} cannot be broadcast") from None
    y = MatMul()(a, b)
    if squeeze:
        y = y.reshape(tuple(s for i, s in enumerate(y.shape) if i - y.ndim not in squeeze))
    return y


# ------------------------------------------------------------------ element-wise math
class Exp(Function):
    def forward(self, x):
        return get_array_module(x).exp(x)

    def backward(self, gy):
        return gy * self.output


class Log(Function):
    def forward(self, x):
        return get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Sqrt(Function):
    def forward(self, x):
        return get_array_module(x).sqrt(x)

    def backward(self, gy):
        return gy / (2 * self.output)


class Abs(Function):
    def forward(self, x):
        return get_array_module(x).abs(x)

    def backward(self, gy):
        x = self.inputs[0].data
        return gy * Tensor(get_array_module(x).sign(x))


class Tanh(Function):
    def forward(self, x):
        return get_array_module(x).tanh(x)

    def backward(self, gy):
        y = self.output
        return gy * (1 - y * y)


class Sigmoid(Function):
    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(-xp.abs(x))                   # <= 1: no overflow; no cancellation in either tail
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def backward(self, gy):
        y = self.output
        return gy * y * (1 - y)


class LeakyReLU(Function):
    """max(x, 0) + slope * min(x, 0); slope 0 is ReLU. Gradient 1 for x > 0, slope otherwise."""

    def __init__(self, slope):
        self.slope = slope

    def forward(self, x):
        xp = get_array_module(x)
        if self.slope == 0:
            return xp.maximum(x, 0)
        if 0 < self.slope < 1:                                 # max(x, s x): two passes
            return xp.maximum(x, x * x.dtype.type(self.slope))
        return xp.where(x > 0, x, x * x.dtype.type(self.slope))

    def backward(self, gy):
        x = self.inputs[0].data
        mask = (x > 0).astype(x.dtype)                         # 1 where x > 0, else 0
        if self.slope:
            mask *= x.dtype.type(1 - self.slope)               # 1 where x > 0, else slope
            mask += x.dtype.type(self.slope)
        if not is_grad_enabled():                              # first order: plain array work
            mask *= gy.data
            return Tensor(mask)
        return gy * Tensor(mask)                               # mask is a constant: d mask / dx = 0


class Softplus(Function):
    """log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|); d/dx = sigmoid(x)."""

    def forward(self, x):
        xp = get_array_module(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy):
        return gy * sigmoid(self.inputs[0])


class Clamp(Function):
    """Clip to [lo, hi]; gradient 1 inside (ends included), 0 outside."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        xp = get_array_module(x)
        return xp.clip(x, self.lo, self.hi)

    def backward(self, gy):
        x = self.inputs[0].data
        inside = get_array_module(x).ones(x.shape, dtype=bool)
        if self.lo is not None:
            inside &= x >= self.lo
        if self.hi is not None:
            inside &= x <= self.hi
        return gy * Tensor(inside.astype(x.dtype))


class Where(Function):
    """cond ? a : b with a constant boolean ``cond``."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        return get_array_module(a).where(self.cond, a, b)

    def backward(self, gy):
        a, b = self.inputs
        zero = Tensor(get_array_module(gy.data).zeros((), dtype=gy.dtype))
        c = Tensor(self.cond)
        return sum_to(where(c, gy, zero), a.shape), sum_to(where(c, zero, gy), b.shape)


def exp(x):
    """e^x."""
    return Exp()(x)


def log(x):
    """Natural log."""
    return Log()(x)


def sqrt(x):
    """Square root."""
    return Sqrt()(x)


def abs(x):
    """|x| (gradient sign(x), 0 at 0)."""
    return Abs()(x)


def tanh(x):
    """Hyperbolic tangent."""
    return Tanh()(x)


def sigmoid(x):
    """1 / (1 + e^-x)."""
    return Sigmoid()(x)


def relu(x):
    """max(x, 0)."""
    return LeakyReLU(0.0)(x)


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, negative_slope * x otherwise."""
    return LeakyReLU(negative_slope)(x)


def softplus(x):
    """log(1 + e^x), stable for large |x|."""
    return Softplus()(x)


def log_sigmoid(x):
    """log sigmoid(x) = -softplus(-x), stable for large |x|."""
    return -softplus(-x)


def clamp(x, min=None, max=None):
    """Clip ``x`` to [min, max] (either may be None)."""
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    return Clamp(min, max)(x)


def where(cond, a, b):
    """Element-wise ``a`` where ``cond`` is true, else ``b`` (cond is not differentiated)."""
    a, b = _pair(a, b)
    c = cond.data if isinstance(cond, Tensor) else cond
    shape = _broadcast_shape("where", a.shape, b.shape)
    _broadcast_shape("where", np.shape(c) if not hasattr(c, "shape") else c.shape, shape)
    same_device("where", c, a.data, b.data)
    return Where(get_array_module(a.data).asarray(c, dtype=bool))(a, b)


def maximum(a, b):
    """Element-wise max; where a == b the gradient is split evenly, as PyTorch (no host sync: the ties
    are not looked for, the half-and-half average is always formed)."""
    a, b = _pair(a, b)
    same_device("maximum", a.data, b.data)
    _broadcast_shape("maximum", a.shape, b.shape)
    avg = (a + b) * 0.5
    return where(a.data == b.data, avg, where(a.data > b.data, a, b))


def minimum(a, b):
    """Element-wise min."""
    a, b = _pair(a, b)
    _broadcast_shape("minimum", a.shape, b.shape)
    return -maximum(-a, -b)


# the reductions and shape ops live in ``shapes``; re-exported so ``ops`` is the one op namespace
from .shapes import (Cast, Concat, GetItem, GetItemGrad, Max, Permute, Reshape, Sum, ToDevice,  # noqa: E402,F401
                     cat, flatten, getitem, max, mean, min, permute, reshape, stack, sum, var)
