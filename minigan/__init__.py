"""minigan: GANs from the derivative of one op up, on NumPy (CPU) or CuPy (GPU)."""
import os as _os
import sys as _sys


def _quiet_ctrl_c_while_starting():
    """Run as the ``minigan`` command (its script, or ``python -m minigan``), a Ctrl-C while Python is still
    importing (NumPy takes a moment) ends the command as a Ctrl-C does later (cli.main): one line on stderr,
    exit code 130, no traceback. Imported as a library, minigan leaves ``sys.excepthook`` alone."""
    argv = getattr(_sys, "orig_argv", [])
    by_m = "-m" in argv and argv[argv.index("-m") + 1:argv.index("-m") + 2] == ["minigan"]
    if not (by_m or _os.path.basename(_sys.argv[0] if _sys.argv else "") == "minigan"):
        return
    previous = _sys.excepthook

    def hook(kind, value, tb):
        if not issubclass(kind, KeyboardInterrupt):
            return previous(kind, value, tb)
        _sys.stderr.write("minigan: interrupted while starting\n")
        _sys.stderr.flush()
        _os._exit(130)
    _sys.excepthook = hook


_quiet_ctrl_c_while_starting()

import numpy as np  # noqa: E402  (after the hook: NumPy's import is where a Ctrl-C lands)

from . import backend, functional, nn, optim
from .backend import cuda_available, manual_seed, set_default_device
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .serialization import load, save
from .tensor import Function, Tensor, enable_grad, grad, is_grad_enabled, no_grad
from .tricks import get_num_threads, reuse_freed_memory, set_num_threads

__version__ = "0.1.0"
float32, float64 = np.float32, np.float64


def tensor(data, requires_grad=False, dtype=None, device=None):
    """A new leaf Tensor (as ``torch.tensor``) on ``device``, by default $MINIGAN_DEVICE (else 'cpu')."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device or backend.default_device())


def _make(fill, shape, dtype, device, requires_grad):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    xp = backend.xp_of(device)
    return Tensor(fill(xp, shape, np.dtype(dtype or np.float32)), requires_grad=requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros."""
    return _make(lambda xp, s, d: xp.zeros(s, dtype=d), shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    """A tensor of ones."""
    return _make(lambda xp, s, d: xp.ones(s, dtype=d), shape, dtype, device, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Standard normal samples from minigan's seeded generator."""
    return _make(lambda xp, s, d: backend.rng(device).standard_normal(s, dtype=d), shape, dtype, device,
                 requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Uniform [0, 1) samples from minigan's seeded generator."""
    return _make(lambda xp, s, d: backend.rng(device).random(s, dtype=d), shape, dtype, device, requires_grad)


__all__ = ["Function", "GradcheckError", "Tensor", "backend", "cuda_available", "enable_grad", "functional",
           "get_num_threads", "grad", "gradcheck", "gradgradcheck", "is_grad_enabled", "load", "manual_seed", "nn",
           "no_grad", "ones", "optim", "rand", "randn", "reuse_freed_memory", "save", "set_default_device",
           "set_num_threads", "tensor", "zeros"]
