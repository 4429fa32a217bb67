"""The synthetic sets, always available: ``gaussian1d`` (the GAN paper's Figure 1), ``ring`` (8 Gaussians
on the unit circle) and ``grid`` (25 Gaussians on a 5x5 grid), and ``mode_stats``, which counts the modes a
set of 2-D samples covers (the unrolled-GAN paper's measure)."""
import itertools

import numpy as np


def gaussian1d(n, rng, mean=4.0, std=0.5):
    """n samples of N(mean, std^2) as float32 of shape (n, 1): the data of the GAN paper's Figure 1."""
    return rng.normal(mean, std, size=(int(n), 1)).astype(np.float32)


def gaussian1d_pdf(x, mean=4.0, std=0.5):
    """The density of N(mean, std^2) at x (float64, same shape as x)."""
    z = (np.asarray(x, dtype=np.float64) - mean) / std
    return np.exp(-0.5 * z * z) / (std * np.sqrt(2.0 * np.pi))


def _ring_centers(k=8, radius=1.0):
    """k points equally spaced on a circle of the given radius, the first at angle 0: (k, 2)."""
    angles = 2.0 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _grid_centers(values=(-4.0, -2.0, 0.0, 2.0, 4.0)):
    """All points of values x values, row-major: (25, 2) for the default 5x5 grid."""
    return np.array(list(itertools.product(values, values)), dtype=np.float64)


MODES = {
    "ring": (_ring_centers(), 0.01),   # 8 Gaussians, radius 1, std 0.01
    "grid": (_grid_centers(), 0.05),   # 25 Gaussians at {-4,-2,0,2,4}^2, std 0.05
}


def _mixture(n, rng, name):
    """n samples from the equal-weight Gaussian mixture MODES[name]: float32 (n, 2)."""
    centers, std = MODES[name]
    k = rng.integers(0, len(centers), size=int(n))
    return (centers[k] + std * rng.standard_normal((int(n), 2))).astype(np.float32)


def ring(n, rng):
    """n samples from 8 equal-weight Gaussians on the unit circle, std 0.01: float32 (n, 2)."""
    return _mixture(n, rng, "ring")


def grid(n, rng):
    """n samples from 25 equal-weight Gaussians at {-4,-2,0,2,4}^2, std 0.05: float32 (n, 2)."""
    return _mixture(n, rng, "grid")


SYNTHETIC = {"gaussian1d": gaussian1d, "ring": ring, "grid": grid}


def _to_numpy(x):
    """A NumPy array from a NumPy array, a minigan Tensor or a CuPy array."""
    if hasattr(x, "numpy") and callable(x.numpy):
        return np.asarray(x.numpy())
    if hasattr(x, "get") and callable(x.get) and not isinstance(x, dict):
        return np.asarray(x.get())
    return np.asarray(x)


def mode_stats(samples, name, min_count=1):
    """Count the modes of ``MODES[name]`` a set of 2-D samples covers, and the share of good samples.

    The rule is the one of VEEGAN (Srivastava et al., 2017) and PacGAN (Lin et al., 2018), used with
    2,500 generated samples: each sample is assigned to its nearest mode; it is *high quality* if it lies
    within 3 standard deviations (Euclidean distance <= 3 * std) of that mode. A mode is *covered* when at
    least ``min_count`` (default 1) high-quality samples are assigned to it.

    Args:
        samples: array-like (N, 2) (NumPy, CuPy or a minigan Tensor).
        name: "ring" or "grid".
        min_count: high-quality samples a mode needs to count as covered.
    Returns:
        dict(modes_covered=int, n_modes=int, high_quality=float in [0, 1]); high_quality is 0.0 for N = 0.
    """
    if name not in MODES:
        raise ValueError(f"mode_stats: unknown set {name!r}; expected one of {sorted(MODES)}")
    x = _to_numpy(samples).astype(np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"mode_stats: samples must have shape (N, 2), got {x.shape}")
    centers, std = MODES[name]
    if len(x) == 0:
        return dict(modes_covered=0, n_modes=len(centers), high_quality=0.0)
    # (N, 1, 2) - (1, K, 2) -> (N, K) distances
    dist = np.linalg.norm(x[:, None, :] - centers[None, :, :], axis=2)
    nearest = dist.argmin(axis=1)
    good = dist[np.arange(len(x)), nearest] <= 3.0 * std
    counts = np.bincount(nearest[good], minlength=len(centers))
    return dict(modes_covered=int((counts >= min_count).sum()), n_modes=len(centers),
                high_quality=float(good.mean()))
