"""Optimizers: SGD (momentum, Nesterov), Adam and RMSprop, with ``torch.optim``'s update rules and defaults.

The design is PyTorch's without parameter groups: an optimizer holds one
ordered list of parameters and its hyper-parameters as plain attributes, which
may be changed between steps (``opt.lr = 1e-4``, ``opt.momentum = 0.7``).
``step()`` updates each parameter's ``.data`` in place with array operations
(no graph is recorded) and skips parameters whose ``.grad`` is None. The state
of each parameter (Adam's moments, the momentum buffer) is a dict of arrays,
keyed by the parameter's index, or by its name when the optimizer was given
``(name, parameter)`` pairs such as ``model.named_parameters()``.
Update equations: docs/layers.md.

Each update is written once, on arrays, with element-wise operations only (``adam_update``, ``sgd_update``):
``_update`` runs it parameter by parameter, and the speed trick ``tricks.optimizer_step`` runs it once on
flat buffers that hold every parameter and state array of the optimizer (one fused kernel on the GPU).
"""
import math
import numbers

from . import backend, tricks
from .backend import get_array_module
from .ops import where
from .tensor import Tensor
from .tricks import elementwise


class Optimizer:
    """Base class: the parameter list, zero_grad, step (per parameter), state_dict / load_state_dict."""

    hyper = ()          # names of the hyper-parameters (attributes), saved in state_dict()["hyper"]
    state_names = ()    # names of the per-parameter state entries

    def __init__(self, params):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Parameters (or (name, Parameter) pairs), "
                            "not a single Tensor; wrap it in a list")
        if hasattr(params, "named_parameters") and hasattr(params, "state_dict"):
            raise TypeError(f"{name}: params must be an iterable of Parameters, got a {type(params).__name__} "
                            "module; pass model.parameters() (or model.named_parameters())")
        if isinstance(params, (str, bytes, dict)) or not hasattr(params, "__iter__"):
            raise TypeError(f"{name}: params must be an iterable of Parameters (or (name, Parameter) pairs), "
                            f"got {type(params).__name__}")
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list")
        pairs = [isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in params]
        if all(pairs):
            self.keys, self.params = [k for k, _ in params], [p for _, p in params]
            if len(set(self.keys)) != len(self.keys):
                raise ValueError(f"{name}: parameter names are not unique")
        elif any(pairs):
            raise TypeError(f"{name}: give either Parameters or (name, Parameter) pairs, not a mix")
        else:
            self.keys, self.params = list(range(len(params))), params
        for k, p in zip(self.keys, self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {k!r} is a {type(p).__name__}, not a Tensor")
            if not p.is_leaf:
                raise ValueError(f"{name}: parameter {k!r} (shape {p.shape}) is not a leaf tensor")
            if p.dtype.kind not in "fc":
                raise TypeError(f"{name}: parameter {k!r} has dtype {p.dtype}; only floating point tensors "
                                "can be optimized")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(f"{name}: some parameters appear more than once")
        self.state = {}     # key -> {"step": int, name: array, ...}
        self.constraints = []   # callables applied after every step (e.g. MaxNorm)
        tricks.flatten(self)    # the parameters' arrays become views into one flat buffer (tricks.py)

    @staticmethod
    def _check(name, **values):
        for k, v in values.items():
            _check_number(name, k, v)
            if v < 0:
                raise ValueError(f"{name}: invalid {k} {v} (must be >= 0)")

    def zero_grad(self):
        """Set every parameter's ``.grad`` to None."""
        for p in self.params:
            p.grad = None

    def step(self):
        """Update every parameter that has a gradient, in place."""
        if tricks.optimizer_step(self) is NotImplemented:     # one _update on flat buffers (tricks.py)
            self._step()
        for constraint in self.constraints:
            constraint()

    def _step(self):
        for key, p in zip(self.keys, self.params):
            if p.grad is None:
                continue
            g = p.grad.data
            if g.shape != p.shape:
                raise ValueError(f"{type(self).__name__}.step: gradient of parameter {key!r} has shape {g.shape}, "
                                 f"the parameter has shape {p.shape}")
            self._update(p.data, g, self.state.setdefault(key, {}))

    def _update(self, p, g, state):
        """Update the array ``p`` in place from its gradient ``g`` and its state dict (updated too)."""
        raise NotImplementedError

    @staticmethod
    def _buffer(state, name, p):
        """state[name], created as zeros like the parameter's array ``p`` the first time."""
        if name not in state:
            state[name] = get_array_module(p).zeros_like(p)
        return state[name]

    # ------------------------------------------------------------ state dict
    def state_dict(self):
        """{"hyper": {name: value}, "state": {key: {"step": int, name: array}}} (arrays shared, as PyTorch)."""
        return {"hyper": {n: getattr(self, n) for n in self.hyper},
                "state": {k: dict(self.state[k]) for k in self.keys if k in self.state}}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state from ``state_dict()`` (or ``minigan.load``'s copy of it).

        Keys may come back as strings ("0") for an index-keyed optimizer. Arrays
        are copied to each parameter's device and dtype; names and shapes are
        checked before anything changes.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}.load_state_dict: expected a dict with 'hyper' and 'state', "
                            f"got {type(state_dict).__name__}")
        wrong = sorted(map(str, set(state_dict) - {"hyper", "state"}))
        lacking = [k for k in ("hyper", "state") if k not in state_dict]
        if wrong or lacking:
            raise ValueError(f"{name}.load_state_dict: not an optimizer state dict: "
                             + "; ".join(([f"unexpected keys {wrong}"] if wrong else [])
                                         + ([f"missing keys {lacking}"] if lacking else []))
                             + " (expected exactly 'hyper' and 'state')")
        if not isinstance(state_dict["hyper"], dict) or not isinstance(state_dict["state"], dict):
            raise TypeError(f"{name}.load_state_dict: 'hyper' and 'state' must be dicts")
        hyper, state = dict(state_dict["hyper"]), dict(state_dict["state"])
        for n, v in hyper.items():
            if n in ("lr", "eps", "weight_decay", "momentum", "alpha", "dampening"):
                _check_number(f"{name}.load_state_dict", n, _plain(v))
            elif n == "betas":
                _check_betas(_plain(v))
        unknown = sorted(set(hyper) - set(self.hyper))
        if unknown:
            raise ValueError(f"{name}.load_state_dict: unknown hyper-parameters {unknown} "
                             f"(a state dict of another optimizer?); expected {list(self.hyper)}")
        index = {str(k): i for i, k in enumerate(self.keys)}
        new = {}
        for k, entry in state.items():
            if str(k) not in index:
                raise ValueError(f"{name}.load_state_dict: state for parameter {k!r}, which this optimizer "
                                 f"does not have (its keys: {self.keys[:8]}{' ...' if len(self.keys) > 8 else ''})")
            i = index[str(k)]
            p = self.params[i]
            if not isinstance(entry, dict):
                raise TypeError(f"{name}.load_state_dict: state of parameter {k!r} must be a dict, "
                                f"got {type(entry).__name__}")
            restored = {}
            for s, v in entry.items():
                if s not in self.state_names:
                    raise ValueError(f"{name}.load_state_dict: unknown state {s!r} for parameter {k!r}; "
                                     f"expected some of {list(self.state_names)}")
                v = v.data if isinstance(v, Tensor) else v
                if s == "step":                     # a count of steps: a whole number >= 0, nothing else
                    n = backend.as_numpy(v)[()] if getattr(v, "ndim", None) == 0 else v
                    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
                        raise ValueError(f"{name}.load_state_dict: step of parameter {k!r} must be a whole number "
                                         f">= 0, got {v!r}")
                    restored[s] = int(n)
                    continue
                if getattr(getattr(v, "dtype", None), "kind", "O") not in "fiu":
                    raise TypeError(f"{name}.load_state_dict: state {s!r} of parameter {k!r} must be an array of "
                                    f"numbers, got {type(v).__name__} of dtype {getattr(v, 'dtype', None)}")
                if tuple(getattr(v, "shape", ())) != p.shape:
                    raise ValueError(f"{name}.load_state_dict: state {s!r} of parameter {k!r} has shape "
                                     f"{tuple(getattr(v, 'shape', ()))}, the parameter has shape {p.shape}")
                restored[s] = backend.to_device(v, p.device).astype(p.dtype, copy=True)
            new[self.keys[i]] = restored
        for n, v in hyper.items():
            setattr(self, n, _plain(v))
        self.state = new

    def __repr__(self):
        hyper = ", ".join(f"{n}={getattr(self, n)}" for n in self.hyper)
        return f"{type(self).__name__}({len(self.params)} parameters, {hyper})"


def _check_number(name, key, v):
    """A hyper-parameter must be a real, finite number (not a string, a bool, NaN or inf)."""
    if isinstance(v, Tensor):
        v = v.data
    if hasattr(v, "shape") and getattr(v, "ndim", 1) == 0:
        v = backend.as_numpy(v).item()
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name}: {key} must be a number, got {v!r} ({type(v).__name__})")
    if not math.isfinite(v):
        raise ValueError(f"{name}: invalid {key} {v} (must be a finite number)")


def _plain(v):
    """A hyper-parameter back as a Python value: 0-d arrays -> numbers, 1-d arrays / lists -> tuples."""
    if isinstance(v, Tensor):
        v = v.data
    if hasattr(v, "shape"):
        v = backend.as_numpy(v)
        return v.item() if v.ndim == 0 else tuple(v.tolist())
    if isinstance(v, list):
        return tuple(v)
    return v


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum, dampening and L2 weight decay.

    d = g + weight_decay p; b = momentum b + (1 - dampening) d (b = d at the first step);
    d = d + momentum b (Nesterov) or b; p = p - lr d.
    """

    hyper = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
    state_names = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0, dampening=0.0):
        super().__init__(params)
        self._check("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: Nesterov momentum needs momentum > 0 and dampening 0, "
                             f"got momentum={momentum}, dampening={dampening}")
        self.lr, self.momentum, self.nesterov = lr, momentum, nesterov
        self.weight_decay, self.dampening = weight_decay, dampening

    def _update(self, p, g, state):
        one = p.dtype.type                                  # the scalars in the parameters' dtype
        # d = g + weight_decay p
        d = g + self.weight_decay * p if self.weight_decay else g
        if not self.momentum:
            elementwise(sgd_update)(p, d, one(self.lr))
            return
        first = "momentum_buffer" not in state
        b = self._buffer(state, "momentum_buffer", p)
        # b = momentum b + (1 - dampening) d,   and b = d at the first step (b is 0 then: keep 0, add 1)
        keep, add = (0.0, 1.0) if first else (self.momentum, 1 - self.dampening)
        rule = sgd_nesterov_update if self.nesterov else sgd_momentum_update
        elementwise(rule)(p, d, b, one(keep), one(add), one(self.momentum), one(self.lr))


def sgd_update(p, d, lr):
    """p = p - lr d, in place."""
    p -= lr * d


def sgd_momentum_update(p, d, b, keep, add, momentum, lr):
    """b = keep b + add d (keep = momentum, add = 1 - dampening); p = p - lr b; in place, element by element."""
    b *= keep
    b += add * d
    p -= lr * b


def sgd_nesterov_update(p, d, b, keep, add, momentum, lr):
    """b = keep b + add d; p = p - lr (d + momentum b) (Nesterov); in place, element by element."""
    b *= keep
    b += add * d
    p -= lr * (d + momentum * b)


class Adam(Optimizer):
    """Adam (Kingma and Ba) with PyTorch's bias correction and L2 weight decay (added to the gradient).

    m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    """

    hyper = ("lr", "betas", "eps", "weight_decay")
    state_names = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params)
        self._check("Adam", lr=lr, eps=eps, weight_decay=weight_decay)
        betas = _check_betas(betas)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay

    def _update(self, p, g, state):
        b1, b2 = self.betas
        state["step"] = t = state.get("step", 0) + 1
        if self.weight_decay:
            # g = g + weight_decay p
            g = g + self.weight_decay * p
        m, v = self._buffer(state, "exp_avg", p), self._buffer(state, "exp_avg_sq", p)
        one = p.dtype.type                                  # the scalars in the parameters' dtype
        elementwise(adam_update)(p, g, m, v, one(b2), one(1 - b1), one(1 - b2), one(math.sqrt(1 - b2 ** t)),
                                 one(self.eps), one(self.lr / (1 - b1 ** t)))


def adam_update(p, g, m, v, b2, one_b1, one_b2, root, eps, step):
    """Adam's update of p, m and v, in place, element by element; the scalars: b2, one_b1 = 1 - b1,
    one_b2 = 1 - b2, root = sqrt(1 - b2^t), eps, step = lr / (1 - b1^t)."""
    # m = b1 m + (1 - b1) g                                   (as torch's lerp_(g, 1 - b1))
    m += one_b1 * (g - m)
    # v = b2 v + (1 - b2) g^2
    v *= b2
    v += one_b2 * g * g
    # p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    p -= m / (get_array_module(p).sqrt(v) / root + eps) * step


def _check_betas(betas):
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__iter__"):
        raise TypeError(f"Adam: betas must be two numbers in [0, 1), got {betas!r}")
    betas = tuple(betas)
    if len(betas) != 2:
        raise ValueError(f"Adam: betas must be two numbers in [0, 1), got {betas}")
    for i, b in enumerate(betas):
        _check_number("Adam", f"beta{i + 1}", b)
        if not 0 <= b < 1:
            raise ValueError(f"Adam: betas must be two numbers in [0, 1), got {betas}")
    return tuple(float(b) for b in betas)


class RMSprop(Optimizer):
    """RMSprop (Tieleman and Hinton; WGAN's optimizer) as PyTorch's: no bias correction, eps outside the sqrt.

    s = alpha s + (1 - alpha) g^2; p = p - lr g / (sqrt(s) + eps).
    ``momentum`` and ``centered`` behave as in ``torch.optim.RMSprop``.
    """

    hyper = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")
    state_names = ("step", "square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params)
        self._check("RMSprop", lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.weight_decay, self.momentum, self.centered = weight_decay, momentum, centered

    def _update(self, p, g, state):
        xp = get_array_module(p)
        a = self.alpha
        state["step"] = state.get("step", 0) + 1
        if self.weight_decay:
            # g = g + weight_decay p
            g = g + self.weight_decay * p
        s = self._buffer(state, "square_avg", p)
        # s = alpha s + (1 - alpha) g^2
        s *= a
        s += (1 - a) * g * g
        if self.centered:
            ga = self._buffer(state, "grad_avg", p)
            # a_g = alpha a_g + (1 - alpha) g;   r = sqrt(s - a_g^2) + eps
            ga += (1 - a) * (g - ga)
            avg = xp.sqrt(s - ga * ga) + p.dtype.type(self.eps)
        else:
            # r = sqrt(s) + eps
            avg = xp.sqrt(s) + p.dtype.type(self.eps)
        if self.momentum > 0:
            buf = self._buffer(state, "momentum_buffer", p)
            # b = momentum b + g / r;   p = p - lr b
            buf *= self.momentum
            buf += g / avg
            p -= self.lr * buf
        else:
            # p = p - lr g / r
            p -= self.lr * (g / avg)


class MaxNorm:
    """Max-norm constraint: after each step, rescale each weight vector whose L2 norm exceeds ``max_norm``.

    For a weight of shape (out, in) with ``axis=1`` the vectors are the rows, the incoming weights of
    one unit (of one maxout piece): pylearn2's ``max_col_norm``, which stores W as (in, out). A vector
    with norm n > max_norm becomes w * max_norm / n (same direction, norm max_norm); the others are
    left exactly as they are. Attach it to an optimizer: ``opt.constraints.append(MaxNorm(w, 1.9365))``.
    """

    def __init__(self, param, max_norm, axis=1):
        if not max_norm > 0:
            raise ValueError(f"MaxNorm: max_norm must be > 0, got {max_norm}")
        self.param, self.max_norm, self.axis = param, float(max_norm), axis

    def _scale(self, norms, xp):
        return xp.where(norms > self.max_norm, self.max_norm / xp.maximum(norms, 1e-30), 1.0)

    def __call__(self):
        """Apply to the parameter's array, in place."""
        w = self.param.data
        xp = get_array_module(w)
        norms = xp.sqrt((w.astype(xp.float64) ** 2).sum(axis=self.axis, keepdims=True))
        w *= self._scale(norms, xp).astype(w.dtype)

    def apply(self, w):
        """The same map on a Tensor, differentiably (for the unrolled GAN's functional D updates)."""
        norms = ((w * w).sum(axis=self.axis, keepdims=True) + 1e-30).sqrt()
        return where(norms.data > self.max_norm, w * (self.max_norm / norms), w)

    def __repr__(self):
        return f"MaxNorm(shape={self.param.shape}, max_norm={self.max_norm}, axis={self.axis})"


__all__ = ["Adam", "MaxNorm", "Optimizer", "RMSprop", "SGD"]
