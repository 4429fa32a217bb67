"""Which array module a tensor lives on: NumPy (``cpu``) or CuPy (``cuda``).

This is the one place ``cupy`` is imported. Everything else asks
``get_array_module(array)`` for ``xp`` and writes ``xp.exp(x)``, so the same
code runs on both devices.

The default device is ``cpu``; ``MINIGAN_DEVICE=cuda`` in the environment makes
new tensors (and so the whole test suite) live on the GPU.
"""
import os

import numpy as np

_CUPY = None            # the cupy module once imported, False if unavailable
_CUPY_ERROR = ""
DEVICES = ("cpu", "cuda")


def _cupy():
    """Import cupy once; return it, or None with the reason kept in _CUPY_ERROR."""
    global _CUPY, _CUPY_ERROR
    if _CUPY is None:
        try:
            import cupy
            cupy.cuda.runtime.getDeviceCount()
            _CUPY = cupy
        except Exception as e:  # ImportError, or no driver / no GPU
            _CUPY, _CUPY_ERROR = False, f"{type(e).__name__}: {e}"
    return _CUPY or None


def cuda_available():
    """True when CuPy imports and sees a GPU."""
    return _cupy() is not None


def check_device(device):
    """Return a valid device name ('cpu' or 'cuda'), or raise a clear error."""
    if device is None:
        return default_device()
    device = str(device)
    if device.startswith("cuda:"):
        device = "cuda"
    if device not in DEVICES:
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and _cupy() is None:
        raise RuntimeError(
            "device 'cuda' needs CuPy and an NVIDIA GPU, but CuPy is not usable here "
            f"({_CUPY_ERROR}). Install the extra with: pip install -e '.[cuda]' "
            "(or pip install cupy-cuda12x / cupy-cuda13x to match your CUDA), or use device='cpu'.")
    return device


_default = None


def default_device():
    """The device new tensors go to: $MINIGAN_DEVICE, else 'cpu'."""
    global _default
    if _default is None:
        _default = check_device(os.environ.get("MINIGAN_DEVICE", "cpu") or "cpu")
    return _default


def set_default_device(device):
    """Make ``device`` the default for new tensors (``None`` re-reads $MINIGAN_DEVICE)."""
    global _default
    _default = None if device is None else check_device(device)


def xp_of(device):
    """The array module for a device name."""
    return _cupy() if check_device(device) == "cuda" else np


def get_array_module(x):
    """numpy or cupy, whichever ``x`` (an array) belongs to."""
    cp = _CUPY or None
    if cp is not None and isinstance(x, cp.ndarray):
        return cp
    return np


def device_of(x):
    """'cuda' for a CuPy array, else 'cpu'."""
    return "cpu" if get_array_module(x) is np else "cuda"


def to_device(x, device):
    """Move an array to ``device`` (a no-op when it is already there)."""
    device = check_device(device)
    if device == "cpu":
        return as_numpy(x)
    return _cupy().asarray(x)


def as_numpy(x):
    """A NumPy array from a NumPy or CuPy array (copies from the GPU)."""
    if get_array_module(x) is np:
        return np.asarray(x)
    return x.get()


def add_at(a, index, values):
    """``a[index] += values`` with repeated indices accumulated (np.add.at)."""
    xp = get_array_module(a)
    if xp is np:
        np.add.at(a, index, values)
    else:
        import cupyx  # comes with cupy
        cupyx.scatter_add(a, index, values)


def as_strided(x, shape, strides):
    """A strided view of ``x`` (read-only use only)."""
    xp = get_array_module(x)
    if xp is np:
        return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
    return xp.lib.stride_tricks.as_strided(x, shape, strides)


# ---------------------------------------------------------------- randomness
_rng = {}     # device -> generator


def manual_seed(seed):
    """Seed every generator minigan uses (NumPy's and, when present, CuPy's)."""
    _rng.clear()
    _rng["seed"] = int(seed)


def rng(device="cpu"):
    """The generator for ``device``: numpy.random.Generator or cupy.random.Generator."""
    device = check_device(device)
    if device not in _rng:
        seed = _rng.get("seed")
        if device == "cpu":
            _rng["cpu"] = np.random.Generator(np.random.PCG64(seed))
        else:
            _rng["cuda"] = _cupy().random.default_rng(seed)
    return _rng[device]


def rng_state():
    """The CPU generator's state as a JSON-able dict (for checkpoints)."""
    return rng("cpu").bit_generator.state


def set_rng_state(state):
    """Restore what ``rng_state()`` returned."""
    rng("cpu").bit_generator.state = state


# ---------------------------------------------------------------- CPU memory
def reuse_freed_memory():
    """Ask glibc to keep freed memory for reuse (CPU speed; called by the command-line tools).

    Every NumPy temporary is a fresh allocation. glibc serves large ones with mmap
    and unmaps them on free, so the next step's array of the same size page-faults
    on every page again; at batch 256 that cost DCGAN-28 about a fifth of its step
    (docs/performance.md). With mmap off and the heap never trimmed below 1 GiB, freed
    blocks are simply reused. A no-op where the C library is not glibc.
    """
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-4, 0)             # M_MMAP_MAX: serve every block from the heap
        libc.mallopt(-1, 1 << 30)       # M_TRIM_THRESHOLD: keep up to 1 GiB of free heap
    except (OSError, AttributeError):
        pass
