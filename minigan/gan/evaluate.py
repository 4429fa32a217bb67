"""Loading a trained run, sampling it, and measuring it.

- ``parzen_log_likelihood``: the GAN paper's Table 1 measure. Fit a Gaussian
  Parzen window (kernel density estimate) to samples of G, report the mean
  log-likelihood of the test set under it, with sigma chosen on held-out
  training images.
- ``nearest_neighbours``: the paper's Figure 2 check that G did not memorise.
- ``quality.evaluate_quality``: FID, Inception-style score and class balance from a small classifier
  trained with minigan (gan/quality.py), for data sets whose classifier weights are shipped.
- For 2-D runs, modes covered and % high-quality samples (``data.mode_stats``).
"""
import os

import numpy as np

from .. import backend, data
from ..tensor import no_grad
from . import quality, viz
from .config import IMAGE_SETS, N_CLASSES
from .run import crop_to_28, load_run, noise, split_held_out, to_unit_range, write_json_atomic


def generate(cfg, G, n, rng, labels=None, batch=500, device="cpu"):
    """n samples of G as float32 NumPy: images (n, C, H, W) in [0, 1], or points (n, d)."""
    outs = []
    with no_grad():
        for i in range(0, n, batch):
            m = min(batch, n - i)
            lab = None if labels is None else labels[i:i + m]
            outs.append(G(noise(cfg, m, rng, device), lab).numpy())
    return to_unit_range(cfg, np.concatenate(outs)).astype(np.float32)


def parzen_log_likelihood(x, samples, sigma, batch=1000):
    """log p(x_i) under a Gaussian Parzen window of width sigma on ``samples``; one value per row of x.

    log p(x) = logsumexp_j(-||x - s_j||^2 / (2 sigma^2)) - log n - d/2 log(2 pi sigma^2)
    """
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    s = np.asarray(samples, np.float64).reshape(len(samples), -1)
    n, d = s.shape
    s2 = (s * s).sum(1)
    out = np.empty(len(x))
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        sq = (xb * xb).sum(1)[:, None] + s2[None, :] - 2 * xb @ s.T          # (B, n) squared distances
        a = -np.maximum(sq, 0) / (2 * sigma ** 2)
        amax = a.max(1, keepdims=True)
        out[i:i + batch] = (amax[:, 0] + np.log(np.exp(a - amax).sum(1))
                            - np.log(n) - d / 2 * np.log(2 * np.pi * sigma ** 2))
    return out


def select_sigma(valid, samples, sigmas=None):
    """The sigma (from a log grid) that maximises the mean log-likelihood of ``valid``; and all scores."""
    sigmas = np.logspace(-1.5, 0, 16) if sigmas is None else np.asarray(sigmas)
    scores = [float(parzen_log_likelihood(valid, samples, s).mean()) for s in sigmas]
    return float(sigmas[int(np.argmax(scores))]), dict(zip(map(float, sigmas), scores))


def nearest(queries, refs, weights=None, chunk=8192, k=1):
    """For each query, the index into ``refs`` of the nearest (L2) one and the squared distance to it:
    (N,) each; with k > 1 the k nearest, nearest first: (N, k) each.

    With ``weights`` (broadcastable to the queries, e.g. an inpainting mask) the distance is
    ||W (q - r)||^2 = sum W q^2 - 2 (W q) . r + W . r^2, so two matrix products find all of them.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(refs):
        raise ValueError(f"nearest: k must be a whole number in [1, {len(refs)}] (the number of references), "
                         f"got {k!r}")
    q = np.asarray(queries, np.float32).reshape(len(queries), -1)
    w = None if weights is None else \
        np.broadcast_to(np.asarray(weights, np.float32), np.shape(queries)).reshape(q.shape)
    wq = q if w is None else w * q
    best, idx = np.full((len(q), k), np.inf), np.zeros((len(q), k), np.int64)
    for i in range(0, len(refs), chunk):
        r = np.asarray(refs[i:i + chunk], np.float32).reshape(-1, q.shape[1])       # (T, D)
        r2 = (r * r).sum(1)[None, :] if w is None else w @ (r * r).T                  # (1 or N, T)
        d = r2 - 2 * wq @ r.T                                                         # (N, T)
        j = d.argmin(axis=1)[:, None] if k == 1 else np.argsort(d, axis=1, kind="stable")[:, :k]
        dist = np.concatenate([best, np.take_along_axis(d, j, axis=1)], axis=1)     # the old k, then this chunk's
        keep = np.argsort(dist, axis=1, kind="stable")[:, :k]                        # ties: the earlier image
        best = np.take_along_axis(dist, keep, axis=1)
        idx = np.take_along_axis(np.concatenate([idx, j + i], axis=1), keep, axis=1)
    dist = np.maximum(best + (wq * q).sum(1, keepdims=True), 0)
    return (idx[:, 0], dist[:, 0]) if k == 1 else (idx, dist)


def nearest_neighbours(samples, train, n=16):
    """Indices into ``train`` of the nearest (L2) training image of each of the first n samples."""
    return nearest(samples[:n], train)[0]


def parzen_score(samples, name, data_dir=None, n_valid=1000, progress=print):
    """Table 1's protocol for image samples in [0, 1]: sigma chosen on ``n_valid`` of the training images
    the trainer held out, then the Parzen log-likelihood of the test images (mean and standard error).
    Returns the scores and the training images (so callers can look for nearest neighbours)."""
    train_x, _ = data.load_images(name, "train", data_dir, scale="sigmoid")
    test_x, _ = data.load_images(name, "test", data_dir, scale="sigmoid")
    valid = split_held_out(train_x)[1][:n_valid]                      # held out of training by the trainer
    progress(f"choosing sigma on {len(valid)} held-out training images ...")
    sigma, grid = select_sigma(valid, samples)
    progress(f"sigma = {sigma:.4f}; Parzen log-likelihood of {len(test_x)} test images ...")
    ll = parzen_log_likelihood(test_x, samples, sigma)
    return dict(parzen_ll=float(ll.mean()), parzen_se=float(ll.std(ddof=1) / np.sqrt(len(ll))), sigma=sigma,
                n_samples=len(samples), n_test=len(test_x), sigma_scores=grid), train_x


def evaluate(run_dir, n_samples=None, n_valid=1000, device=None, seed=1234, progress=print):
    """Measure a run; writes evaluation.json (and nearest_neighbours.png for images); returns the dict.

    ``n_samples``: samples drawn (default 10,000 for images, 2,500 for 1-D / 2-D runs)."""
    cfg, G, _ = load_run(run_dir, device)
    if n_samples is None:
        n_samples = 10000 if cfg["data"] in IMAGE_SETS else 2500
    if n_samples < 1:
        raise ValueError(f"--samples must be >= 1, got {n_samples}")
    dev = backend.resolve_device(device)
    rng = np.random.default_rng(seed)
    result = {"run": run_dir, "data": cfg["data"], "model": cfg["model"], "loss": cfg["loss"]}
    if cfg["data"] in IMAGE_SETS:
        labels = rng.integers(0, N_CLASSES, n_samples) if cfg["conditional"] else None
        samples = generate(cfg, G, n_samples, rng, labels, device=dev)
        if cfg["model"] == "dcgan32":                   # trained on images padded to 32x32: score the centre
            samples = np.ascontiguousarray(crop_to_28(samples))
        scores, train_x = parzen_score(samples, cfg["data"], cfg["data_dir"], n_valid, progress)
        result.update(scores)
        result.update(quality.evaluate_quality(samples, cfg["data"], dev, progress))
        nn_idx = nearest_neighbours(samples, split_held_out(train_x)[0], 16)
        pairs = np.stack([samples[:16], train_x[nn_idx]], 1).reshape((32,) + samples.shape[1:])
        viz.save_image_grid(pairs, os.path.join(run_dir, "nearest_neighbours.png"), nrow=8, scale=3)
        result["nearest_neighbours_png"] = os.path.join(run_dir, "nearest_neighbours.png")
    else:
        samples = generate(cfg, G, n_samples, rng, device=dev)
        result["n_samples"] = n_samples
        if cfg["data"] in data.MODES:
            result.update(data.mode_stats(samples, cfg["data"]))
        else:
            result.update(mean=float(samples.mean()), std=float(samples.std()))
    write_json_atomic(result, os.path.join(run_dir, "evaluation.json"))
    return result
