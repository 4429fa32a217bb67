"""Scoring a fill on the missing pixels only, and the two baselines of the demo's table.

Images are in [0, 1]. Per image i with hole Omega_i (all channels):

    L1_i   = mean_{p in Omega_i} |x_hat_p - x_p|
    PSNR_i = 10 log10(1 / MSE_i),  MSE_i = mean_{p in Omega_i} (x_hat_p - x_p)^2

Baselines: the mean training image in the hole, and the hole of the training image nearest to x on the
known pixels (L2 over known pixels), or the mean of the k nearest.
"""
import numpy as np

from ..gan.evaluate import nearest


def _hole(mask, shape):
    return np.broadcast_to(np.asarray(mask) == 0, shape)


def hole_l1(pred, target, mask):
    """Mean |pred - target| over each image's missing pixels: (N,) float64 (NaN for an image with no hole)."""
    p, t = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    hole = _hole(mask, t.shape)
    cnt = hole.sum(axis=(1, 2, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(hole, np.abs(p - t), 0).sum(axis=(1, 2, 3)) / cnt


def hole_psnr(pred, target, mask, floor=1e-10):
    """PSNR in dB over each image's missing pixels (peak 1): (N,) float64; MSE is floored at ``floor``."""
    p, t = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    hole = _hole(mask, t.shape)
    cnt = hole.sum(axis=(1, 2, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        mse = np.where(hole, (p - t) ** 2, 0).sum(axis=(1, 2, 3)) / cnt
        return 10 * np.log10(1.0 / np.maximum(mse, floor))


def mean_fill(images, mask, train):
    """Baseline: the mean training image in the hole, x_hat = M x + (1 - M) mean(train)."""
    x = np.asarray(images, np.float32)
    mean = np.asarray(train, np.float64).mean(axis=0, keepdims=True).astype(np.float32)   # (1, C, H, W)
    return np.where(_hole(mask, x.shape), mean, x).astype(np.float32)


def nearest_fill(images, mask, train, chunk=8192, k=1):
    """Baseline: copy the hole from the training image nearest to x on x's known pixels (L2); with k > 1,
    fill it with the mean of the k nearest (a crude estimate of the conditional mean, which PSNR rewards).

    ||M (x - t)||^2 = sum M x^2 - 2 (M x) . t + M . t^2, so two matrix products find all distances.
    Returns (filled images float32 (N, C, H, W), indices into train (N,), or (N, k) for k > 1).
    """
    x = np.asarray(images, np.float32)
    m = np.broadcast_to(np.asarray(mask, np.float32), (len(x), 1) + x.shape[2:])
    idx = nearest(x, train, weights=np.broadcast_to(m, x.shape), chunk=chunk, k=k)[0]
    fill = np.asarray(train)[idx].astype(np.float32)
    if k > 1:
        fill = fill.mean(axis=1)
    return np.where(_hole(mask, x.shape), fill, x).astype(np.float32), idx
