"""The arithmetic and element-wise ops, each a Function with its lowercase wrapper right under it; and, at the
end of the file, Tensor's operators and methods (reductions, reshapes, indexing and joins are in ``shapes``,
re-exported here, so ``ops`` is the one op namespace).

Each Function's ``forward`` works on arrays (``xp`` is numpy or cupy), its
``backward`` on Tensors with these ops, so every gradient can be differentiated
again. Binary ops broadcast; their gradients are reduced back to each input's
shape by the one helper ``sum_to``. Derivations: docs/autodiff.md.
"""
import numpy as np

from . import backend
from .backend import get_array_module
from .shapes import (  # noqa: F401
    Cast,
    Concat,
    GetItem,
    GetItemGrad,
    Max,
    Min,
    Permute,
    Reshape,
    Sum,
    ToDevice,
    broadcast_to,
    cat,
    flatten,
    getitem,
    max,
    mean,
    min,
    permute,
    reshape,
    stack,
    sum,
    sum_to,
)
from .tensor import Function, Tensor, _constant, same_device


def _broadcast_shape(op, a, b):
    """The shape ``a`` and ``b`` broadcast to, or an error naming ``op`` and both shapes."""
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        raise ValueError(f"{op}: shapes {tuple(a)} and {tuple(b)} cannot be broadcast together") from None


def _operands(a, b):
    """Both operands of a binary op as Tensors (a number takes the other operand's dtype and device)."""
    if not isinstance(a, Tensor):
        a = _constant(a, b)
    if not isinstance(b, Tensor):
        b = _constant(b, a)
    return a, b


# ------------------------------------------------------------------ arithmetic
class _Binary(Function):
    """An element-wise op of two broadcast operands: shapes are checked once, when it is called, and
    each gradient is summed back to its input's shape (``sum_to``)."""

    def __call__(self, a, b):
        a, b = _operands(a, b)
        if a.shape != b.shape:
            _broadcast_shape(self.name, a.shape, b.shape)
        return super().__call__(a, b)


class Add(_Binary):
    def forward(self, a, b):
        return a + b

    def backward(self, gy, needs):
        a, b = self.inputs
        return sum_to(gy, a.shape) if needs[0] else None, sum_to(gy, b.shape) if needs[1] else None


def add(a, b):
    """a + b (broadcasting; a number becomes a 0-d constant of the other operand's dtype and device)."""
    return Add()(a, b)


class Sub(_Binary):
    def forward(self, a, b):
        return a - b

    def backward(self, gy, needs):
        a, b = self.inputs
        return sum_to(gy, a.shape) if needs[0] else None, sum_to(-gy, b.shape) if needs[1] else None


def sub(a, b):
    """a - b (broadcasting)."""
    return Sub()(a, b)


class Mul(_Binary):
    def forward(self, a, b):
        return a * b

    def backward(self, gy, needs):                         # d(ab)/da = b, d(ab)/db = a
        a, b = self.inputs
        return (sum_to(gy * b, a.shape) if needs[0] else None,
                sum_to(gy * a, b.shape) if needs[1] else None)


def mul(a, b):
    """a * b (broadcasting)."""
    return Mul()(a, b)


class Div(_Binary):
    def forward(self, a, b):
        return a / b

    def backward(self, gy, needs):                         # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        a, b = self.inputs
        return (sum_to(gy / b, a.shape) if needs[0] else None,
                sum_to(-gy * a / (b * b), b.shape) if needs[1] else None)


def div(a, b):
    """a / b (broadcasting)."""
    return Div()(a, b)


class Pow(Function):
    """x ** c for a constant c: d/dx = c x^(c-1)."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** x.dtype.type(self.c)

    def backward(self, gy, needs):
        x = self.inputs[0]
        return gy * self.c * x ** (self.c - 1)


def pow(x, c):
    """x ** c for a number c."""
    if not isinstance(x, Tensor) or isinstance(c, Tensor) or hasattr(c, "shape"):
        raise TypeError(f"pow: the base must be a Tensor and the exponent a number, got {type(x).__name__} "
                        f"** {type(c).__name__}")
    return Pow(c)(x)


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy, needs):
        return -gy


def neg(x):
    """-x."""
    return Neg()(x)


class MatMul(Function):
    """a @ b for >= 2-D operands (.., M, K) @ (.., K, N) -> (.., M, N), batch dims broadcast."""

    def forward(self, a, b):
        return a @ b

    def backward(self, gy, needs):                         # dL/da = gy b^T, dL/db = a^T gy
        a, b = self.inputs
        return (sum_to(matmul(gy, b.transpose(-1, -2)), a.shape) if needs[0] else None,
                sum_to(matmul(a.transpose(-1, -2), gy), b.shape) if needs[1] else None)


def matmul(a, b):
    """Matrix product with NumPy's rules (1-D operands are promoted, then squeezed)."""
    a, b = _operands(a, b)
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

    def backward(self, gy, needs):
        return gy * self.output


def exp(x):
    """e^x."""
    return Exp()(x)


class Log(Function):
    def forward(self, x):
        return get_array_module(x).log(x)

    def backward(self, gy, needs):
        return gy / self.inputs[0]


def log(x):
    """Natural log."""
    return Log()(x)


class Sqrt(Function):
    def forward(self, x):
        return get_array_module(x).sqrt(x)

    def backward(self, gy, needs):
        return gy / (2 * self.output)


def sqrt(x):
    """Square root."""
    return Sqrt()(x)


class Abs(Function):
    def forward(self, x):
        return get_array_module(x).abs(x)

    def backward(self, gy, needs):
        x = self.inputs[0].data
        return gy * Tensor(get_array_module(x).sign(x))


def abs(x):
    """|x| (gradient sign(x), 0 at 0)."""
    return Abs()(x)


class Tanh(Function):
    def forward(self, x):
        return get_array_module(x).tanh(x)

    def backward(self, gy, needs):
        y = self.output
        return gy * (1 - y * y)


def tanh(x):
    """Hyperbolic tangent."""
    return Tanh()(x)


class Sigmoid(Function):
    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(-xp.abs(x))                   # <= 1: no overflow; no cancellation in either tail
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def backward(self, gy, needs):
        y = self.output
        return gy * y * (1 - y)


def sigmoid(x):
    """1 / (1 + e^-x)."""
    return Sigmoid()(x)


class LeakyReLU(Function):
    """x for x > 0, slope * x otherwise; slope 0 is ReLU. Gradient 1 for x > 0, slope otherwise."""

    def __init__(self, slope):
        self.slope = slope

    def forward(self, x):
        return get_array_module(x).where(x > 0, x, x * x.dtype.type(self.slope))

    def backward(self, gy, needs):
        x = self.inputs[0].data
        slope = get_array_module(x).where(x > 0, x.dtype.type(1), x.dtype.type(self.slope))
        return gy * Tensor(slope)                              # a constant: d slope / dx = 0


def relu(x):
    """max(x, 0)."""
    return LeakyReLU(0.0)(x)


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, negative_slope * x otherwise."""
    return LeakyReLU(negative_slope)(x)


class Softplus(Function):
    """log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|); d/dx = sigmoid(x)."""

    def forward(self, x):
        xp = get_array_module(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy, needs):
        return gy * sigmoid(self.inputs[0])


def softplus(x):
    """log(1 + e^x), stable for large |x|."""
    return Softplus()(x)


def log_sigmoid(x):
    """log sigmoid(x) = -softplus(-x), stable for large |x|."""
    return -softplus(-x)


class Clamp(Function):
    """Clip to [lo, hi]; gradient 1 inside (ends included), 0 outside."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        xp = get_array_module(x)
        return xp.clip(x, self.lo, self.hi)

    def backward(self, gy, needs):
        x = self.inputs[0].data
        inside = get_array_module(x).ones(x.shape, dtype=bool)
        if self.lo is not None:
            inside &= x >= self.lo
        if self.hi is not None:
            inside &= x <= self.hi
        return gy * Tensor(inside.astype(x.dtype))


def clamp(x, min=None, max=None):
    """Clip ``x`` to [min, max] (either may be None)."""
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    return Clamp(min, max)(x)


class Where(Function):
    """cond ? a : b with a constant boolean ``cond``."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        return get_array_module(a).where(self.cond, a, b)

    def backward(self, gy, needs):
        a, b = self.inputs
        zero = Tensor(get_array_module(gy.data).zeros((), dtype=gy.dtype))
        c = Tensor(self.cond)
        return (sum_to(where(c, gy, zero), a.shape) if needs[0] else None,
                sum_to(where(c, zero, gy), b.shape) if needs[1] else None)


def where(cond, a, b):
    """Element-wise ``a`` where ``cond`` is true, else ``b`` (cond is not differentiated)."""
    a, b = _operands(a, b)
    c = cond.data if isinstance(cond, Tensor) else cond
    shape = _broadcast_shape("where", a.shape, b.shape)
    _broadcast_shape("where", c.shape if hasattr(c, "shape") else np.shape(c), shape)
    same_device("where", c, a.data, b.data)
    return Where(get_array_module(a.data).asarray(c, dtype=bool))(a, b)


def maximum(a, b):
    """Element-wise max; where a == b the gradient is split evenly, as PyTorch (no host sync: the ties
    are not looked for, the half-and-half average is always formed)."""
    a, b = _operands(a, b)
    same_device("maximum", a.data, b.data)
    _broadcast_shape("maximum", a.shape, b.shape)
    avg = (a + b) * 0.5
    return where(a.data == b.data, avg, where(a.data > b.data, a, b))


def minimum(a, b):
    """Element-wise min."""
    a, b = _operands(a, b)
    _broadcast_shape("minimum", a.shape, b.shape)
    return -maximum(-a, -b)


# ------------------------------------------------------------------ Tensor's operators and methods
def _to(self, device=None, dtype=None):
    """A copy on ``device`` and/or of ``dtype`` (differentiable)."""
    out = self
    if device is not None and backend.check_device(device) != self.device:
        out = ToDevice(device)(out)
    if dtype is not None and np.dtype(dtype) != self.dtype:
        out = Cast(dtype)(out)
    return out


def _transpose(self, dim0=None, dim1=None):
    """No arguments: reverse the axes (``.T``); two dims: swap them, as PyTorch."""
    if dim0 is None:
        return permute(self, None)
    order = list(range(self.ndim))
    i, j = dim0 % self.ndim, dim1 % self.ndim
    order[i], order[j] = order[j], order[i]
    return permute(self, tuple(order))


def _shape_args(shape):
    """f(2, 3) and f((2, 3)) alike."""
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _expand(self, *shape):
    """Broadcast to ``shape`` (-1 keeps a dim)."""
    shape = _shape_args(shape)
    return broadcast_to(self, tuple(s if s != -1 else self.shape[i - len(shape) + self.ndim]
                                    for i, s in enumerate(shape)))


_METHODS = dict(
    __add__=add, __radd__=lambda a, b: add(b, a), __sub__=sub, __rsub__=lambda a, b: sub(b, a),
    __mul__=mul, __rmul__=lambda a, b: mul(b, a), __truediv__=div, __rtruediv__=lambda a, b: div(b, a),
    __pow__=pow, __matmul__=matmul, __rmatmul__=lambda a, b: matmul(b, a),
    __neg__=neg, __pos__=lambda a: a, __abs__=abs, __getitem__=getitem,
    sum=sum, mean=mean, max=max, min=min, flatten=flatten, permute=lambda x, *a: permute(x, _shape_args(a)),
    reshape=lambda x, *shape: reshape(x, _shape_args(shape)), view=lambda x, *shape: reshape(x, _shape_args(shape)),
    transpose=_transpose, T=property(_transpose, doc="Reversed axes."), expand=_expand,
    broadcast_to=lambda x, shape: broadcast_to(x, tuple(shape)),
    exp=exp, log=log, sqrt=sqrt, abs=abs, tanh=tanh, sigmoid=sigmoid, relu=relu, clamp=clamp, to=_to)
for _name, _method in _METHODS.items():
    setattr(Tensor, _name, _method)
