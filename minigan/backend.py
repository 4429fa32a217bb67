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
    """Import cupy once and run one tiny kernel and one GEMM on it; return it, or None with the reason
    kept in _CUPY_ERROR (a missing CUDA library shows here, once, not as a traceback at the first op)."""
    global _CUPY, _CUPY_ERROR
    if _CUPY is None:
        try:
            import cupy
        except Exception as e:  # noqa: BLE001  ImportError, or a broken install
            _CUPY, _CUPY_ERROR = False, f"{type(e).__name__}: {e}"
            return None
        try:
            cupy.cuda.runtime.getDeviceCount()
            x = cupy.arange(4, dtype=cupy.float32).reshape(2, 2)
            float(((x * 2 + 1) @ x).sum())              # an element-wise kernel (NVRTC) and a GEMM (cuBLAS)
            _CUPY = cupy
        except Exception as e:  # noqa: BLE001  no driver / no GPU / a CUDA library missing
            _CUPY, _CUPY_ERROR = False, _cuda_failure(e)
    return _CUPY or None


_CUDA_LIBRARIES = (("nvrtc", "NVRTC (CUDA's run-time compiler, libnvrtc)"), ("cublas", "cuBLAS (libcublas)"),
                   ("curand", "cuRAND (libcurand)"), ("cudart", "the CUDA runtime (libcudart)"),
                   ("insufficientdriver", "a recent enough NVIDIA driver"),
                   ("nodevice", "an NVIDIA GPU (none is visible)"), ("libcuda", "the NVIDIA driver (libcuda)"))


def _cuda_failure(e):
    """One line naming what a failed CUDA call says is missing."""
    text = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
    low = text.lower().replace("_", "").replace(" ", "")
    for key, what in _CUDA_LIBRARIES:
        if key in low:
            return f"CuPy imports, but {what} is missing or unusable ({text})"
    return f"CuPy imports, but a test kernel failed ({text})"


def cuda_available():
    """True when CuPy imports, sees a GPU and runs a kernel and a GEMM on it."""
    return _cupy() is not None


def check_device(device):
    """Return a valid device name ('cpu' or 'cuda'), or raise a clear error.

    ``None`` is the default device. ``'cuda:N'`` selects GPU N (it becomes CuPy's current device) and
    is refused when there is no GPU N.
    """
    if device is None:
        return default_device()
    device = str(device)
    index = None
    if device.startswith("cuda:"):
        index = device[5:]
        if not index.isdigit():
            raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N' with N a GPU number, got {device!r}")
        device, index = "cuda", int(index)
    if device not in DEVICES:
        raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device == "cuda" and _cupy() is None:
        raise RuntimeError(
            f"device 'cuda' needs CuPy and an NVIDIA GPU, but CuPy is not usable here ({_CUPY_ERROR}). "
            "Install the extra with: pip install -e '.[cuda]' (CuPy for CUDA 12 with NVIDIA's CUDA library "
            "wheels; only the NVIDIA driver must be on the machine), or use device='cpu'.")
    if index is not None:
        n = _CUPY.cuda.runtime.getDeviceCount()
        if index >= n:
            raise ValueError(f"device 'cuda:{index}': this machine has {n} GPU(s), cuda:0 to cuda:{n - 1}")
        _CUPY.cuda.Device(index).use()
    return device


def resolve_device(device=None):
    """The device a command runs on: ``device`` (its --device) if given, else $MINIGAN_DEVICE, else 'cpu'."""
    source, value = ("--device", device) if device else ("$MINIGAN_DEVICE", os.environ.get("MINIGAN_DEVICE") or "cpu")
    try:
        return check_device(value)
    except (ValueError, RuntimeError) as err:   # name where the bad value came from
        raise type(err)(f"{source} {value!r}: {err}") from None


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


def is_device_array(x):
    """True for a CuPy array, told by its type alone: no CuPy import is needed to ask."""
    return type(x).__module__.startswith("cupy")


def get_array_module(x):
    """numpy or cupy, whichever ``x`` (an array) belongs to."""
    if type(x) is not np.ndarray and is_device_array(x):
        return _cupy() or _imported_cupy()
    return np


def _imported_cupy():
    import cupy  # an array of it exists, so it imports
    return cupy


def device_of(x):
    """'cuda' for a CuPy array, else 'cpu'."""
    return "cuda" if type(x) is not np.ndarray and is_device_array(x) else "cpu"


def to_device(x, device):
    """Move an array to ``device`` (a no-op when it is already there)."""
    device = check_device(device)
    if device == "cpu":
        return as_numpy(x)
    if is_device_array(x):
        return x
    return _cupy().asarray(x)


def as_numpy(x):
    """A NumPy array from a NumPy or CuPy array (copies from the GPU)."""
    if is_device_array(x):
        return x.get()
    return np.asarray(x)


def check_index(index, shape):
    """IndexError for an integer-array index outside its dim, on both devices (CuPy would wrap it): the
    min and max of every index array are read back in one copy."""
    items = index if isinstance(index, tuple) else (index,)
    used = sum(i.ndim if getattr(i, "dtype", None) == bool else 1
               for i in items if i is not None and i is not Ellipsis)
    dim, arrays = 0, []
    for i in items:
        if i is Ellipsis:
            dim += len(shape) - used
        elif i is None:
            continue
        elif hasattr(i, "dtype") and not isinstance(i, np.generic) and i.dtype.kind in "iu":
            if dim < len(shape) and i.size:
                arrays.append((i, dim))
            dim += 1
        else:
            dim += i.ndim if getattr(i, "dtype", None) == bool else 1
    if not arrays:
        return
    xp = get_array_module(arrays[0][0])
    ends = xp.stack([xp.stack([i.min(), i.max()]).astype(np.int64) for i, _ in arrays])
    ends = as_numpy(ends)                                       # one copy for every index array
    for (i, d), (lo, hi) in zip(arrays, ends):
        if lo < -shape[d] or hi >= shape[d]:
            bad = lo if lo < -shape[d] else hi
            raise IndexError(f"getitem: index {int(bad)} is out of range for dim {d} of size {shape[d]} "
                             f"(tensor of shape {shape})")


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
    """The generators' states as a dict for checkpoints: {"cpu": NumPy's state (JSON-able)} and, once the
    GPU generator has been used, {"cuda": its cuRAND states as a NumPy int8 array}.

    CuPy's ``Generator`` has no public state API; its bit generator keeps every cuRAND state in one
    device array, ``bit_generator._state``, which is copied out here and back in by ``set_rng_state``.
    """
    state = {"cpu": rng("cpu").bit_generator.state}
    if "cuda" in _rng:
        state["cuda"] = as_numpy(_rng["cuda"].bit_generator._state)
    return state


def set_rng_state(state):
    """Restore what ``rng_state()`` returned (or, from older checkpoints, the CPU state alone)."""
    if "cpu" not in state:
        state = {"cpu": state}
    rng("cpu").bit_generator.state = state["cpu"]
    if "cuda" in state:
        saved = state["cuda"]
        target = rng("cuda").bit_generator._state
        if tuple(saved.shape) != tuple(target.shape):
            raise ValueError(f"set_rng_state: the saved GPU generator state has {saved.shape[0]} bytes, this "
                             f"GPU's has {target.shape[0]} (another GPU model?); it cannot be restored exactly")
        target[...] = _cupy().asarray(saved)
