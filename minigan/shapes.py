"""Broadcasting, reductions, reshapes, indexing, joins, dtype and device moves: the ops that sum,
move or gather elements (the arithmetic and element-wise math are in ``ops``, which builds on these).

Same pattern as ``ops``: a Function per op (forward on arrays, backward with
Tensor ops) and a lowercase wrapper. The adjoint pairs: SumTo <-> BroadcastTo,
Sum <-> BroadcastTo, Reshape <-> Reshape, Permute <-> its inverse, GetItem <->
GetItemGrad (a scatter-add), Concat <-> slicing. Derivations: docs/autodiff.md.
"""
import builtins

import numpy as np

from . import backend
from .backend import get_array_module
from .tensor import Function, Tensor, raise_mixed_devices


# ------------------------------------------------------------------ broadcasting
class SumTo(Function):
    """Sum a broadcast gradient back down to ``shape``."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):                                   # x: shape broadcast from self.shape
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(self.shape)
                                           if s == 1 and x.shape[i + lead] != 1)
        return x.sum(axis=axes, keepdims=True).reshape(self.shape)

    def backward(self, gy, needs):
        return broadcast_to(gy, self.inputs[0].shape)


def sum_to(x, shape):
    """Sum ``x`` down to ``shape`` (the adjoint of broadcasting)."""
    return x if x.shape == tuple(shape) else SumTo(shape)(x)


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

    def backward(self, gy, needs):
        return sum_to(gy, self.inputs[0].shape)


def broadcast_to(x, shape):
    """Broadcast ``x`` to ``shape``."""
    return x if x.shape == tuple(shape) else BroadcastTo(shape)(x)


# ------------------------------------------------------------------ reductions
def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor of {ndim} dims")
    return tuple(sorted(a % builtins.max(ndim, 1) for a in axes))


def _keep_shape(shape, axes):
    """``shape`` with the reduced ``axes`` kept as size 1."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class Sum(Function):
    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy, needs):
        shape = self.inputs[0].shape
        return broadcast_to(reshape(gy, _keep_shape(shape, self.axes)), shape)


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (None: all)."""
    return Sum(_axes(axis, x.ndim), keepdims)(x)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (None: all); the mean of no values is NaN, as in NumPy and PyTorch."""
    axes = _axes(axis, x.ndim)
    n = int(np.prod([x.shape[a] for a in axes])) if axes else 1
    return Sum(axes, keepdims)(x) * (1.0 / n if n else float("nan"))


class Max(Function):
    """max over axes; the gradient is shared by the tied maxima (as torch.amax)."""

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        return x.max(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy, needs):
        x = self.inputs[0]
        keep = _keep_shape(x.shape, self.axes)
        hit = (x.data == self.output.data.reshape(keep)).astype(x.dtype)    # 1 at each maximum
        hit /= hit.sum(axis=self.axes, keepdims=True)                        # ties share
        return broadcast_to(reshape(gy, keep), x.shape) * Tensor(hit)


def max(x, axis=None, keepdims=False):
    """Max over ``axis`` (None: all)."""
    return Max(_axes(axis, x.ndim), keepdims)(x)


class Min(Max):
    """min over axes: Max's backward (the gradient goes where x equals the output), numpy's min forward."""

    def forward(self, x):
        return x.min(axis=self.axes, keepdims=self.keepdims)


def min(x, axis=None, keepdims=False):
    """Min over ``axis`` (None: all)."""
    return Min(_axes(axis, x.ndim), keepdims)(x)


# ------------------------------------------------------------------ shapes
class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} into {self.shape}") from None

    def backward(self, gy, needs):
        return reshape(gy, self.inputs[0].shape)


def reshape(x, shape):
    """Same data, new shape."""
    shape = tuple(int(s) for s in shape)
    return x if shape == x.shape else Reshape(shape)(x)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim."""
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return reshape(x, x.shape[:s] + (-1,) + x.shape[e + 1:])


class Permute(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy, needs):
        return permute(gy, None if self.axes is None else tuple(np.argsort(self.axes)))


def permute(x, axes):
    """Reorder axes (None: reverse them)."""
    if axes is not None:
        axes = tuple(int(a) % x.ndim for a in axes)
        if sorted(axes) != list(range(x.ndim)):
            raise ValueError(f"permute: {axes} is not an order of the {x.ndim} axes of shape {x.shape}")
    return Permute(axes)(x)


# ------------------------------------------------------------------ indexing and joins
class GetItem(Function):
    """x[index] with basic or integer-array indexing."""

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        return x[self.index]

    def backward(self, gy, needs):
        return GetItemGrad(self.index, self.inputs[0].shape)(gy)


class GetItemGrad(Function):
    """Scatter ``gy`` into zeros of ``shape`` at ``index``; repeated indices add (np.add.at)."""

    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(self.shape, dtype=gy.dtype)
        if _has_array(self.index):
            xp.add.at(gx, self.index, gy)                      # repeated indices add up (CuPy has .at too)
        else:
            gx[self.index] += gy
        return gx

    def backward(self, ggx, needs):
        return GetItem(self.index)(ggx)


def _has_array(index):
    items = index if isinstance(index, tuple) else (index,)
    return any(hasattr(i, "shape") or isinstance(i, list) for i in items)


def getitem(x, index, check=True):
    """x[index]; integer arrays and Tensors as indices gather (backward accumulates).

    Out-of-range integer-array indices raise IndexError on both devices (CuPy alone would wrap them).
    On the GPU that check reads the indices' min and max back (one sync); ``check=False`` skips it for
    indices that are valid by construction.
    """
    xp = get_array_module(x.data)

    def as_index(i):
        if isinstance(i, Tensor):
            i = i.data
        if isinstance(i, list):
            i = xp.asarray(i)
        elif hasattr(i, "shape") and not isinstance(i, np.generic) and backend.device_of(i) != x.device:
            if x.device == "cpu":
                raise_mixed_devices("getitem", "cpu", backend.device_of(i))
            i = xp.asarray(i)                                        # host indices move to x's device (as CuPy)
        return i
    index = tuple(as_index(i) for i in index) if isinstance(index, tuple) else as_index(index)
    if check:
        backend.check_index(index, x.shape)
    try:
        return GetItem(index)(x)
    except IndexError as e:
        raise IndexError(f"getitem: index {index!r} does not fit shape {x.shape}: {e}") from None


class Concat(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        return get_array_module(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, gy, needs):
        out, start = [], 0
        for x in self.inputs:
            index = (slice(None),) * self.axis + (slice(start, start + x.shape[self.axis]),)
            out.append(GetItem(index)(gy))
            start += x.shape[self.axis]
        return tuple(out)


def cat(tensors, dim=0):
    """Join tensors along an existing dim."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    axis = dim % ref.ndim
    for t in tensors[1:]:
        if t.ndim != ref.ndim or t.shape[:axis] + t.shape[axis + 1:] != ref.shape[:axis] + ref.shape[axis + 1:]:
            raise ValueError(f"cat: shapes {ref.shape} and {t.shape} differ outside dim {dim}")
    return Concat(axis)(*tensors)


def stack(tensors, dim=0):
    """Join same-shape tensors along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: all tensors need the same shape, got {tensors[0].shape} and {t.shape}")
    axis = dim % (tensors[0].ndim + 1)
    return cat([reshape(t, t.shape[:axis] + (1,) + t.shape[axis:]) for t in tensors], axis)


# ------------------------------------------------------------------ dtype and device
class Cast(Function):
    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, gy, needs):
        return Cast(self.inputs[0].dtype)(gy)


class ToDevice(Function):
    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.source = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy, needs):
        return ToDevice(self.source)(gy)
