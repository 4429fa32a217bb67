"""Putting G(z_hat) into the hole: plain composition, or Poisson blending (Perez et al. 2003).

Poisson blending solves, inside the hole Omega, the discrete Poisson equation

    |N_p| f_p - sum_{q in N_p} f_q = sum_{q in N_p} (g_p - g_q)      for p in Omega,
    f_q = x_q                                                         for known q,

with g = G(z_hat) as guidance: the filled region keeps G's gradients (its texture and shading) while
its values join the known pixels without a seam. N_p are the 4-neighbours of p inside the image (at the
image border the equation has fewer terms: a zero-flux boundary). It is solved by red-black
successive over-relaxation (Gauss-Seidel with omega > 1), vectorised in NumPy over all images.
"""
import numpy as np


def compose(images, generated, mask):
    """x_hat = M * x + (1 - M) * G(z): known pixels copied exactly, the hole from G; float32."""
    x, g = np.asarray(images, np.float32), np.asarray(generated, np.float32)
    known = np.broadcast_to(np.asarray(mask) != 0, x.shape)
    return np.where(known, x, g).astype(np.float32)


def _neighbour_sum(f):
    """sum over the in-image 4-neighbours of each pixel of (N, C, H, W) f (outside pixels count 0)."""
    s = np.zeros_like(f)
    s[..., 1:, :] += f[..., :-1, :]
    s[..., :-1, :] += f[..., 1:, :]
    s[..., :, 1:] += f[..., :, :-1]
    s[..., :, :-1] += f[..., :, 1:]
    return s


def poisson_blend(images, generated, mask, iters=300, omega=1.8, tol=1e-6):
    """Seamless fill of the hole: solve the Poisson equation above; known pixels are returned unchanged.

    Args:
        images: x, (N, C, H, W) in [0, 1]; generated: G(z_hat), same shape.
        mask: 1 = known, broadcastable to (N, 1, H, W).
        iters: red-black SOR sweeps (at most); omega: the over-relaxation factor (1 = Gauss-Seidel).
        tol: stop early once no pixel changes by more than this in a sweep.
    Returns:
        float32 (N, C, H, W), clipped to [0, 1] in the hole.
    """
    x = np.asarray(images, np.float64)
    g = np.asarray(generated, np.float64)
    if x.shape != g.shape or x.ndim != 4:
        raise ValueError(f"poisson_blend: images {x.shape} and generated {g.shape} must both be (N, C, H, W)")
    if not 0 < omega < 2:
        raise ValueError(f"poisson_blend: omega must be in (0, 2) for convergence, got {omega}")
    hole = np.broadcast_to(np.asarray(mask) == 0, x.shape)
    h, w = x.shape[2:]
    count = _neighbour_sum(np.ones((1, 1, h, w)))                       # (1, 1, H, W): 2, 3 or 4 neighbours
    guide = count * g - _neighbour_sum(g)                               # sum_q (g_p - g_q)
    parity = (np.add.outer(np.arange(h), np.arange(w)) % 2)[None, None]  # (1, 1, H, W) checkerboard
    f = np.where(hole, g, x)
    for _ in range(int(iters)):
        change = 0.0
        for colour in (0, 1):
            upd = hole & (parity == colour)
            target = (_neighbour_sum(f) + guide) / count
            step = np.where(upd, omega * (target - f), 0.0)
            f += step
            change = max(change, float(np.abs(step).max(initial=0.0)))
        if change < tol:
            break
    return np.where(hole, np.clip(f, 0, 1), np.asarray(images, np.float32)).astype(np.float32)
