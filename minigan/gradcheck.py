"""Gradient checks: analytic gradients against central differences, in float64.

``gradcheck(fn, inputs)`` compares, for a fixed random projection v of the
output, d<v, fn(x)>/dx from backward with (f(x + eps) - f(x - eps)) / (2 eps)
element by element. ``gradgradcheck`` does the same for the gradient itself
(built with ``create_graph=True``), which checks second derivatives.
"""
import numpy as np

from . import backend
from .tensor import Tensor, grad


class GradcheckError(AssertionError):
    """Raised when analytic and numeric derivatives disagree."""


def _outputs(fn, inputs):
    out = fn(*inputs)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _projection(outs, seed):
    r = np.random.default_rng(seed)
    return [Tensor(backend.to_device(r.standard_normal(o.shape), o.device), dtype=o.dtype) for o in outs]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0):
    """Check the gradients of ``fn`` at ``inputs`` against central differences.

    Args:
        fn: a function of Tensors returning a Tensor (or a tuple of them).
        inputs: Tensors; those with ``requires_grad`` are checked. Use float64.
        eps, atol, rtol: step and tolerances: |numeric - analytic| <= atol + rtol |numeric|.
    Returns:
        True; raises GradcheckError naming the input, the element and both values otherwise.
    """
    inputs = list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise ValueError(f"gradcheck: input {i} is {inputs[i].dtype}; check in float64")
    outs = _outputs(fn, inputs)
    vs = _projection(outs, seed)

    def scalar():
        return sum(float((o.data * v.data).sum()) for o, v in zip(_outputs(fn, inputs), vs))

    diff = [o for o in outs if o.requires_grad]
    analytic = grad(diff, [inputs[i] for i in checked],
                    grad_outputs=[v for o, v in zip(outs, vs) if o.requires_grad], allow_unused=True) \
        if diff else [None] * len(checked)
    for i, a in zip(checked, analytic):
        x = inputs[i]
        a = np.zeros(x.shape) if a is None else a.numpy()
        if not x.data.flags.c_contiguous:
            x.data = x.data.copy()       # C order, so reshape(-1) below is a view
        flat = x.data.reshape(-1)        # a view of the contiguous array: perturb in place
        num = np.zeros(x.size)
        for k in range(x.size):
            old = float(flat[k])
            flat[k] = old + eps
            fp = scalar()
            flat[k] = old - eps
            fm = scalar()
            flat[k] = old
            num[k] = (fp - fm) / (2 * eps)
        num = num.reshape(x.shape)
        bad = ~(np.abs(num - a) <= atol + rtol * np.abs(num))
        if bad.any():
            where = np.argwhere(bad)[:5]
            rows = "\n".join(f"    at {tuple(int(j) for j in w)}: numeric {num[tuple(w)]:.8g}, "
                             f"analytic {a[tuple(w)]:.8g}" for w in where)
            raise GradcheckError(
                f"gradcheck: gradient of input {i} (shape {x.shape}) is wrong at {int(bad.sum())} of "
                f"{x.size} elements (atol={atol}, rtol={rtol}); first ones:\n{rows}\n"
                f"max |numeric - analytic| = {np.abs(num - a).max():.3g}")
    return True


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0):
    """Check second derivatives: ``gradcheck`` of x -> d<v, fn(x)>/dx built with create_graph=True."""
    inputs = list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    outs = _outputs(fn, inputs)
    vs = [Tensor(v.data, requires_grad=True) for v in _projection(outs, seed + 1)]
    n = len(inputs)

    def first_derivative(*args):
        xs, v = list(args[:n]), list(args[n:])
        ys = _outputs(fn, xs)
        gs = grad(ys, [xs[i] for i in checked], grad_outputs=v, create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_derivative, inputs + vs, eps=eps, atol=atol, rtol=rtol, seed=seed + 2)
