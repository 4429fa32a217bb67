"""Shared helpers for the test suite: float64 tensor maker, NumPy value makers, hypothesis profile.

Tensors are made on the default device (``MINIGAN_DEVICE``), so the whole suite can run on a GPU;
assertions compare ``.numpy()`` copies against NumPy references.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
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
