"""Tensor, Function and reverse-mode backward.

A ``Tensor`` wraps an array (NumPy or CuPy). Every op is a ``Function``: its
``forward`` works on arrays, its ``backward`` on Tensors, so the gradient is
itself a graph when ``create_graph=True`` and can be differentiated again
(gradient penalties, gradgradcheck).

One tensor's trip::

    y = f(x)            Function.__call__: f.forward(x.data) -> y.data; y.creator = f;
                        f.needs_input_grad = which inputs require grad (fixed from now on)
    y.backward()        _backprop: topological order of the graph (iterative,
                        no recursion), then each f.backward(gy, needs) in reverse order,
                        its gradients checked against its inputs (count, shapes),
                        gradients of shared inputs *added*, leaves' .grad set.

Tensor's operators (+, *, @, ...) and methods (sum, reshape, ...) are Functions of
``ops`` and ``shapes``, which import this module; ``ops`` attaches them to Tensor
when it is imported (``minigan`` always imports it). So this file imports no op.
A speed trick of ``tricks`` may stand in for a forward, or for a first-order backward (``tricks.forward``,
``tricks.backward``); the ops themselves are written only as the maths says.

See docs/architecture.md and docs/autodiff.md.
"""
import contextlib
import weakref

import numpy as np

from . import backend, tricks

_grad_enabled = True


@contextlib.contextmanager
def _set_grad_enabled(mode):
    global _grad_enabled
    old, _grad_enabled = _grad_enabled, mode
    try:
        yield
    finally:
        _grad_enabled = old


def no_grad():
    """Context manager (or decorator) in which ops record no graph."""
    return _set_grad_enabled(False)


def enable_grad():
    """Context manager that turns graph recording back on."""
    return _set_grad_enabled(True)


def is_grad_enabled():
    """Whether ops record the graph right now."""
    return _grad_enabled


def _check_kind(dtype, what):
    """A tensor holds floats, integers or booleans. Complex numbers, text, dates and Python objects are refused
    (as PyTorch refuses text, objects and dates) rather than cast: a cast would drop the imaginary part, parse
    the text or count the days, and no op here means any of that."""
    if np.dtype(dtype).kind not in "fbiu":
        raise TypeError(f"tensor: {what} has dtype {np.dtype(dtype)}; minigan tensors hold floating-point numbers, "
                        "integers or booleans (complex numbers, text, dates and objects are refused, not cast)")


def _as_array(data, dtype, device):
    """An array on ``device`` from Python data, an array, or a Tensor."""
    if isinstance(data, Tensor):
        data = data.data
    xp = backend.get_array_module(data)
    if dtype is not None:
        _check_kind(dtype, "the dtype asked for")
    if hasattr(data, "dtype"):                  # arrays and NumPy scalars keep float / bool / int dtypes
        _check_kind(data.dtype, f"the {type(data).__name__} given")
        dtype = data.dtype if dtype is None else dtype
    else:                                       # Python numbers and lists become float32
        _check_kind(np.asarray(data).dtype, f"the {type(data).__name__} given")
        dtype = np.float32 if dtype is None else dtype
    arr = xp.asarray(data, dtype=dtype)
    if device is not None and backend.device_of(arr) != backend.check_device(device):
        arr = backend.to_device(arr, device)
    elif device is None and xp is np and not isinstance(data, (np.ndarray, np.generic)) and \
            backend.default_device() != "cpu":        # Python data goes to the default device; host arrays
        arr = backend.to_device(arr, backend.default_device())     # and NumPy scalars stay on the host
    return arr


def _constant(x, like):
    """A non-Tensor operand of an op as a Tensor: an array keeps its own device (a mismatch is then the
    one "different devices" error), Python data goes to ``like``'s device in ``like``'s dtype."""
    if hasattr(x, "shape") and not isinstance(x, np.generic):
        return Tensor(x, dtype=like.dtype)
    _check_kind(np.asarray(x).dtype, f"an operand ({type(x).__name__})")
    xp = backend.get_array_module(like.data)
    if isinstance(x, (int, float, bool, np.generic)):
        return Tensor(xp.full((), x, dtype=like.dtype))      # a fill on the device, not a host-to-device copy
    return Tensor(xp.asarray(x, dtype=like.dtype))


def raise_mixed_devices(op, dev, other):
    """The one error for operands on two devices."""
    raise ValueError(f"{op}: tensors on different devices ({dev} and {other}); move them with .to('{dev}') first")


def same_device(op, *arrays):
    """Raise the "different devices" error unless every array (or Tensor) is on one device."""
    devs = [backend.device_of(a.data if isinstance(a, Tensor) else a) for a in arrays
            if isinstance(a, Tensor) or (hasattr(a, "shape") and not isinstance(a, np.generic))]
    for d in devs[1:]:
        if d != devs[0]:
            raise_mixed_devices(op, devs[0], d)


def _check_can_require_grad(dtype):
    """Only floating-point tensors can require gradients (as PyTorch): an integer gradient would be truncated."""
    if np.dtype(dtype).kind not in "fc":
        raise RuntimeError(f"only tensors of floating point dtype can require gradients, got dtype {dtype}")


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    Args:
        data: array, Tensor, or nested Python numbers.
        requires_grad: record ops on this tensor so ``backward`` reaches it.
        dtype: e.g. ``np.float64``; default float32 (arrays keep their dtype).
        device: 'cpu' or 'cuda'; default the array's own device, else $MINIGAN_DEVICE.
    """
    __array_priority__ = 1000          # numpy scalars defer to Tensor's operators
    __hash__ = object.__hash__         # == is element-wise, identity hashes

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        self.data = _as_array(data, dtype, device)
        if requires_grad:
            _check_can_require_grad(self.data.dtype)
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.creator = None            # the Function that made this tensor (None: a leaf)

    # ----------------------------------------------------------- properties
    shape = property(lambda self: self.data.shape, doc="Shape tuple.")
    ndim = property(lambda self: self.data.ndim, doc="Number of dimensions.")
    dtype = property(lambda self: self.data.dtype, doc="Array dtype.")
    size = property(lambda self: self.data.size, doc="Number of elements.")
    device = property(lambda self: backend.device_of(self.data), doc="'cpu' or 'cuda'.")
    is_leaf = property(lambda self: self.creator is None, doc="Made by the user, not by an op.")

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(", threshold=50, edgeitems=2)
        extra = []
        if self.dtype != np.float32:
            extra.append(f"dtype={self.dtype}")
        if self.device != "cpu":
            extra.append(f"device='{self.device}'")
        if self.creator is not None:
            extra.append(f"grad_fn={type(self.creator).__name__}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extra) + ")"

    # ------------------------------------------------------------- moving
    def numpy(self):
        """A NumPy array of the data (copied from the GPU when needed)."""
        return backend.as_numpy(self.data)

    def item(self):
        """The single value as a Python number."""
        return self.numpy().item()

    def tolist(self):
        """The data as nested Python lists."""
        return self.numpy().tolist()

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def cpu(self):
        """``to('cpu')``."""
        return self.to("cpu")

    def double(self):
        """``to(dtype=float64)``."""
        return self.to(dtype=np.float64)

    def requires_grad_(self, flag=True):
        """Set ``requires_grad`` in place; returns self."""
        if flag:
            _check_can_require_grad(self.dtype)
        self.requires_grad = bool(flag)
        return self

    # ------------------------------------------------------------ backward
    def backward(self, grad=None, create_graph=False):
        """Add d(self)/d(leaf) to every leaf's ``.grad``.

        Args:
            grad: the gradient flowing in; may be left out only for a one-element tensor.
            create_graph: record the backward pass, for higher derivatives.
        """
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward: grad can be left out only for a scalar output, but this tensor "
                    f"has shape {self.shape}; pass grad= of that shape (or call .sum() first)")
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no grad_fn: nothing it "
                               "was computed from requires grad (or it was computed under no_grad())")
        for t, g in _backprop([self], [grad], create_graph).values():
            if t.is_leaf and t.requires_grad:
                if g.dtype != t.dtype:                   # a gradient has the dtype of its leaf (as PyTorch)
                    g = g.to(dtype=t.dtype) if create_graph else Tensor(g.data.astype(t.dtype))
                t.grad = g if t.grad is None else t.grad + g

    # comparisons: plain boolean tensors, outside the graph
    def _cmp(self, o, f):
        o = o.data if isinstance(o, Tensor) else o
        same_device("comparison", self.data, o)
        return Tensor(f(self.data, o))
    def __lt__(self, o): return self._cmp(o, lambda a, b: a < b)
    def __le__(self, o): return self._cmp(o, lambda a, b: a <= b)
    def __gt__(self, o): return self._cmp(o, lambda a, b: a > b)
    def __ge__(self, o): return self._cmp(o, lambda a, b: a >= b)
    def __eq__(self, o): return self._cmp(o, lambda a, b: a == b)
    def __ne__(self, o): return self._cmp(o, lambda a, b: a != b)

    def __bool__(self):
        if self.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.item())

    def __float__(self): return float(self.item())
    def __int__(self): return int(self.item())


class Function:
    """One op in the graph: ``forward`` on arrays, ``backward`` on Tensors.

    The contract of a subclass:

    - ``forward(*arrays)`` returns the output array.
    - ``backward(gy, needs)`` returns one gradient Tensor (or None) per input, each of exactly its
      input's shape; the engine checks both (``_check_gradients``) and names the op if not. ``needs[i]`` says
      whether input i needs one: it is ``needs_input_grad[i]``, set once when the op is called
      (the input requires grad), narrowed by ``minigan.grad`` to the inputs on a path to what was
      asked for. A backward may skip the work for an input that does not need it.
    - ``self.inputs`` (the input Tensors) and ``self.output`` (the output, held weakly) are there
      for backward, which builds its own differentiable graph from them.
    """
    inputs = ()
    needs_input_grad = ()

    def __call__(self, *inputs):
        tensors = []
        for x in inputs:
            if not isinstance(x, Tensor):
                x = _constant(x, next(t for t in inputs if isinstance(t, Tensor)))
            tensors.append(x)
        same_device(self.name, *tensors)
        record = _grad_enabled and any(t.requires_grad for t in tensors)
        if record:
            self.inputs = tensors
            self.needs_input_grad = tuple(t.requires_grad for t in tensors)
        arrays = [t.data for t in tensors]
        y = tricks.forward(self, arrays)             # a speed trick may stand in (tricks.py)
        out = Tensor(self.forward(*arrays) if y is NotImplemented else y)
        if record:
            out.requires_grad, out.creator = True, self
            self._output = weakref.ref(out)
        return out

    @property
    def name(self):
        """The op's lowercase name, for error messages."""
        return type(self).__name__.lower()

    @property
    def output(self):
        """The output Tensor (alive as long as anything downstream uses it)."""
        return self._output()

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, gy, needs):
        """Return one gradient Tensor (or None) per input; ``needs[i]``: input i needs one."""
        raise NotImplementedError


def _topological_order(roots):
    """Functions reachable from ``roots``, each after every function that uses its output."""
    order, seen = [], set()
    stack = [(t.creator, False) for t in roots if t.creator is not None]
    while stack:                        # iterative DFS: deep graphs need no recursion
        f, done = stack.pop()
        if done:
            order.append(f)
            continue
        if id(f) in seen:
            continue
        seen.add(id(f))
        stack.append((f, True))
        for x in f.inputs:
            if x.creator is not None and id(x.creator) not in seen:
                stack.append((x.creator, False))
    order.reverse()                     # outputs first
    return order


def _backprop(outputs, grad_outputs, create_graph, targets=None):
    """Propagate gradients from ``outputs``; return {id(tensor): (tensor, gradient)}.

    With ``targets`` (a set of tensor ids), only paths that lead to one of them are followed.
    """
    grads = {}                           # id(tensor) -> [tensor, gradient Tensor]
    for y, g in zip(outputs, grad_outputs):
        if g is None:
            g = Tensor(backend.get_array_module(y.data).ones_like(y.data))
        elif not isinstance(g, Tensor):
            g = Tensor(g, dtype=y.dtype)
        if g.shape != y.shape:
            raise ValueError(f"backward: grad has shape {g.shape} but the output has shape {y.shape}")
        _accumulate(grads, y, g)
    order = _topological_order(outputs)
    leads = None
    if targets is not None:              # keep only functions on a path to a target
        leads = set()
        for f in reversed(order):        # inputs first
            if any(id(x) in targets or id(x.creator) in leads for x in f.inputs):
                leads.add(id(f))
        order = [f for f in order if id(f) in leads]
    with _set_grad_enabled(create_graph):
        for f in order:
            y = f._output()
            entry = grads.pop(id(y), None) if y is not None else None
            if entry is None:
                continue
            if targets is not None and id(y) in targets:
                grads[id(y)] = entry     # a requested non-leaf keeps its gradient
            needs = f.needs_input_grad if leads is None else tuple(
                need and (id(x) in targets or id(x.creator) in leads) for x, need in zip(f.inputs, f.needs_input_grad))
            gy = entry[1]
            gxs = NotImplemented if create_graph else tricks.backward(f, gy.data, needs)   # a first-order speed
            if gxs is NotImplemented:                                                        # trick (tricks.py)
                gxs = f.backward(gy, needs)
                if not isinstance(gxs, tuple):
                    gxs = (gxs,)
            else:
                gxs = tuple(g if g is None else Tensor(g) for g in gxs)
            _check_gradients(f, gxs)
            for x, gx, need in zip(f.inputs, gxs, needs):
                if gx is not None and need:
                    _accumulate(grads, x, gx)
    return grads


def _check_gradients(f, gxs):
    """The backward contract, checked at the op (as Chainer's FunctionNode does): one gradient per input, each
    None or a Tensor of exactly its input's shape. A wrong one would otherwise be dropped by ``zip`` or broadcast
    on until an optimizer met it, far from the op that made it."""
    op = type(f).__name__
    if len(gxs) != len(f.inputs):
        raise RuntimeError(f"{op}.backward returned {len(gxs)} gradient(s) for its {len(f.inputs)} input(s); "
                           "it must return one per input (None for an input that needs none)")
    for i, (x, gx) in enumerate(zip(f.inputs, gxs)):
        if gx is None:
            continue
        if not isinstance(gx, Tensor):
            raise RuntimeError(f"{op}.backward: the gradient of input {i} is a {type(gx).__name__}, not a Tensor "
                               "(or None)")
        if gx.shape != x.shape:
            raise RuntimeError(f"{op}.backward: the gradient of input {i} has shape {gx.shape}, but input {i} "
                               f"has shape {x.shape}")


def _accumulate(grads, x, g):
    entry = grads.get(id(x))
    if entry is None:
        grads[id(x)] = [x, g]
    else:
        entry[1] = entry[1] + g          # a shared input: add, never overwrite


def grad(outputs, inputs, grad_outputs=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, as ``torch.autograd.grad``.

    Args:
        outputs: a Tensor or a sequence of them.
        inputs: a Tensor or a sequence of them.
        grad_outputs: weights for each output, one per output (None: ones, for scalar outputs).
        create_graph: record the backward pass, so the result can be differentiated again.
        allow_unused: return None for an input the outputs do not depend on (else raise).
    Returns:
        a tuple of gradient Tensors, one per input. ``.grad`` of leaves is not touched.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    else:
        grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):               # zip would drop the extra ones without a word
        raise RuntimeError(f"grad: {len(outputs)} output(s) but {len(grad_outputs)} grad_outputs; give one per "
                           "output (None for a scalar output)")
    for i, y in enumerate(outputs):
        if not isinstance(y, Tensor) or not y.requires_grad:   # as PyTorch: it would add nothing, silently
            raise RuntimeError(f"grad: output {i} does not require grad and has no grad_fn: nothing it was computed "
                               "from requires grad, so it cannot depend on the inputs")
    for y, g in zip(outputs, grad_outputs):
        if g is None and y.size != 1:
            raise RuntimeError(f"grad: grad_outputs can be left out only for scalar outputs; got shape {y.shape}")
    for x in inputs:
        if not x.requires_grad:
            raise RuntimeError(f"grad: an input (shape {x.shape}) does not require grad")
    grads = _backprop(outputs, grad_outputs, create_graph, targets={id(x) for x in inputs})
    result = []
    for i, x in enumerate(inputs):
        g = grads.get(id(x), (None, None))[1]
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} (shape {x.shape}) is not used to compute the outputs; "
                               "pass allow_unused=True to get None for it")
        result.append(g)
    return tuple(result)

