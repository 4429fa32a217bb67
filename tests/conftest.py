"""Shared helpers for the test suite: float64 tensor maker, NumPy value makers, hypothesis profile.

Tensors are made on the default device (``MINIGAN_DEVICE``), so the whole suite can run on a GPU;
assertions compare ``.numpy()`` copies against NumPy references.
"""
import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st

import minigan

# Small shapes and few examples: the suite must stay fast. `deadline=None` because gradchecks of
# convolutions vary in time with the drawn shapes; `derandomize` keeps CI runs reproducible.
settings.register_profile(
    "minigan", max_examples=15, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
settings.register_profile("thorough", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "minigan")     # HYPOTHESIS_PROFILE=thorough explores more
settings.load_profile(PROFILE)


def examples(n):
    """settings(max_examples=n) for one test; ten times more under the "thorough" profile."""
    return settings(max_examples=n * (10 if PROFILE == "thorough" else 1))


def device():
    """The device tests put their tensors on."""
    return minigan.backend.default_device()


def t64(array, requires_grad=True):
    """A float64 leaf Tensor on the default device (NumPy arrays would otherwise stay on the CPU)."""
    return minigan.tensor(np.array(array, dtype=np.float64), requires_grad=requires_grad, dtype=np.float64,
                          device=device())


def normal(rng, shape, scale=1.0):
    """Standard normal float64 values."""
    return rng.standard_normal(shape) * scale


def away_from_zero(rng, shape, lo=0.2, hi=2.0):
    """Values with random sign and |v| in [lo, hi]: kinks at 0 stay out of central differences."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, size=shape)


def positive(rng, shape, lo=0.3, hi=2.5):
    """Uniform values in [lo, hi]."""
    return rng.uniform(lo, hi, size=shape)


def distinct(rng, shape, gap=0.1):
    """Values pairwise at least ``gap`` apart (no ties for max/min), in random order."""
    n = int(np.prod(shape, dtype=int))
    return (rng.permutation(n).reshape(shape) - n / 2) * gap + rng.uniform(0, gap / 10, size=shape)


def close(actual, expected, rtol=1e-10, atol=1e-12):
    """assert_allclose on a Tensor (or array) against a NumPy reference, tight defaults for float64."""
    if isinstance(actual, minigan.Tensor):
        actual = actual.numpy()
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


seeds = st.integers(0, 2**32 - 1)
"""A hypothesis strategy for NumPy generator seeds (values are drawn from it, shapes from hypothesis)."""


@pytest.fixture
def rng():
    """A fixed-seed NumPy generator for tests that draw no seed from hypothesis."""
    return np.random.default_rng(1234)


# ------------------------------------------------------------------ tiny IDX data sets (minigan.data's format)
ROLES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
CODES = {"u1": 0x08, "i1": 0x09, ">i2": 0x0B, ">i4": 0x0C, ">f4": 0x0D, ">f8": 0x0E}


# ------------------------------------------------------------------------------------------------ helpers

def idx_bytes(arr, code=None):
    """The bytes of an IDX file holding arr, written from LeCun's format description."""
    arr = np.asarray(arr)
    big = arr.dtype.newbyteorder(">") if arr.dtype.itemsize > 1 else arr.dtype
    code = CODES[big.str.lstrip("|")] if code is None else code
    header = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.astype(big).tobytes()


def write_idx(path, arr, gz=None):
    """Write arr as an IDX file, gzipped when the name ends in .gz; returns the path."""
    path = Path(path)
    raw = idx_bytes(arr)
    path.write_bytes(gzip.compress(raw) if (gz if gz is not None else path.suffix == ".gz") else raw)
    return path


def make_set(folder, n_train=12, n_test=7, gz=True, seed=0):
    """Write the four IDX files of a tiny MNIST-like set into folder; returns their arrays by role."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255  # both ends of the pixel range
        arrays[split + "_images"] = images
        arrays[split + "_labels"] = rng.integers(0, 10, size=n, dtype=np.uint8)
    for role, arr in arrays.items():
        write_idx(folder / (ROLES[role] + (".gz" if gz else "")), arr)
    return arrays


# ------------------------------------------------------------------ convolution cases (hypothesis strategies)
@st.composite
def conv_case(draw, max_hw=7):
    """Shapes and hyper-parameters for conv2d: kernel 1-5, stride 1-3, padding 0-2, non-square images."""
    n, c, o = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    hw = (draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw)))
    assume(hw[0] + 2 * padding[0] >= kernel[0] and hw[1] + 2 * padding[1] >= kernel[1])
    return dict(n=n, c=c, o=o, kernel=kernel, stride=stride, padding=padding, hw=hw,
                bias=draw(st.booleans()), as_int=draw(st.booleans()))


@st.composite
def conv_transpose_case(draw, max_hw=5):
    """Shapes for conv_transpose2d, with a valid output_padding (< stride)."""
    n, cin, cout = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    out_pad = (draw(st.integers(0, stride[0] - 1)), draw(st.integers(0, stride[1] - 1)))
    hw = (draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw)))
    out = [(hw[d] - 1) * stride[d] - 2 * padding[d] + kernel[d] + out_pad[d] for d in range(2)]
    assume(out[0] >= 1 and out[1] >= 1)
    return dict(n=n, cin=cin, cout=cout, kernel=kernel, stride=stride, padding=padding, out_pad=out_pad,
                hw=hw, out=tuple(out), bias=draw(st.booleans()), as_int=draw(st.booleans()))


def conv_arrays(case, seed):
    rng = np.random.default_rng(seed)
    x = normal(rng, (case["n"], case["c"]) + case["hw"])
    w = normal(rng, (case["o"], case["c"]) + case["kernel"])
    b = normal(rng, (case["o"],)) if case["bias"] else None
    return x, w, b


def conv_transpose_arrays(case, seed):
    rng = np.random.default_rng(seed)
    x = normal(rng, (case["n"], case["cin"]) + case["hw"])
    w = normal(rng, (case["cin"], case["cout"]) + case["kernel"])
    b = normal(rng, (case["cout"],)) if case["bias"] else None
    return x, w, b
