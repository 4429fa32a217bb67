"""The latent search: z_hat = argmin_z L(z) by Adam, then x_hat = M * x + (1 - M) * G(z_hat).

All images of a batch and all random restarts are searched at once, as one batch of R*N codes
(restart r of image i is row r*N + i). G and D are put in eval mode and frozen (requires_grad False)
for the search and restored afterwards; only z is a leaf that asks for gradients.
"""
import math

import numpy as np

from .. import backend, optim
from ..tensor import Tensor, no_grad
from .blend import compose, poisson_blend
from .masks import check_mask, importance_weights
from .objective import PERCEPTUAL, call, objective

CONSTRAINTS = ("auto", "clip", "sphere", "penalty", "none")
BLENDS = ("none", "poisson")
# Measured on Fashion-MNIST with the centre mask (docs/inpainting.md): a Gaussian prior as a penalty, the
# non-saturating perceptual loss with lambda 0.1, 4 restarts, Poisson blending; PSNR flattens after ~500 steps.
DEFAULTS = dict(iters=500, lam=0.1, lr=0.01, restarts=4, perceptual="nonsaturating", weighted=False,
                constraint="auto", blend="poisson")


def run_options(cfg):
    """The generator facts a search needs from a run's config.json: z_dim, prior, output scale."""
    scale = "sigmoid" if cfg.get("model") == "mlp" else "tanh"
    return dict(z_dim=int(cfg["z_dim"]), prior=cfg.get("prior", "normal"), scale=scale)


def sample_prior(prior, n, z_dim, rng):
    """n codes from N(0, I) ("normal") or U(-1, 1) ("uniform"): float64 NumPy (n, z_dim)."""
    if prior == "normal":
        return rng.standard_normal((n, z_dim))
    if prior == "uniform":
        return rng.uniform(-1.0, 1.0, (n, z_dim))
    raise ValueError(f"inpaint: prior must be 'normal' or 'uniform', got {prior!r}")


def resolve_constraint(constraint, prior):
    """'auto' -> 'clip' for a uniform prior, 'penalty' for a Gaussian one; other names checked and kept."""
    if constraint not in CONSTRAINTS:
        raise ValueError(f"inpaint: constraint must be one of {', '.join(CONSTRAINTS)}, got {constraint!r}")
    if constraint == "auto":
        return "clip" if prior == "uniform" else "penalty"
    return constraint


def project(z, constraint):
    """Put z back in the prior's support, in place: clip to [-1, 1], or rescale rows to norm sqrt(z_dim)."""
    xp = backend.get_array_module(z)
    if constraint == "clip":
        xp.clip(z, -1.0, 1.0, out=z)
    elif constraint == "sphere":
        norm = xp.sqrt((z * z).sum(axis=1, keepdims=True))
        z *= math.sqrt(z.shape[1]) / xp.maximum(norm, 1e-12)
    return z


def _params(model):
    return list(model.parameters()) if hasattr(model, "parameters") else []


def _image_shape(G, z, labels):
    """The (C, H, W) that G makes, from one probe code in eval mode, without a graph."""
    was = getattr(G, "training", None)
    try:
        if was is not None:
            G.eval()
        with no_grad():
            return tuple(call(G, z, labels).shape[1:])
    finally:
        if was is not None:
            G.train(was)


def check_images(images):
    """Images as float32 NumPy (N, C, H, W) in [0, 1], or a clear error."""
    x = np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"inpaint: images must have shape (N, C, H, W), got {x.shape}")
    if x.dtype.kind not in "fiu":
        raise ValueError(f"inpaint: images must be numbers in [0, 1], got dtype {x.dtype}")
    x = x.astype(np.float32)
    if x.size and not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
        fin = x[np.isfinite(x)]
        span = f"values in [{fin.min():.4g}, {fin.max():.4g}]" if fin.size else "no finite values"
        raise ValueError(f"inpaint: image values must be in [0, 1], got {span}"
                         + ("" if np.isfinite(x).all() else " and NaN / inf"))
    return x


def inpaint(G, D, images, mask, cfg=None, *, iters=DEFAULTS["iters"], lam=DEFAULTS["lam"], lr=DEFAULTS["lr"],
            restarts=DEFAULTS["restarts"], perceptual=DEFAULTS["perceptual"], weighted=DEFAULTS["weighted"],
            constraint=DEFAULTS["constraint"], blend=DEFAULTS["blend"], labels=None, seed=0, record=0,
            record_every=10, progress=False, z_dim=None, prior=None, scale=None, prior_weight=1.0):
    """Fill the missing pixels of ``images`` with a trained generator (Yeh et al. 2016).

    Args:
        G, D: generator and discriminator (D may be None when lam == 0); their weights do not change.
        images: float (N, C, H, W) in [0, 1] (missing pixels may hold anything in range).
        mask: 1 = known, 0 = missing: (H, W), (1, 1, H, W) or (N, 1, H, W) (see ``masks``).
        cfg: the run's config dict (gives z_dim, prior and G's output scale); or give them as keywords.
        iters, lr: Adam iterations and learning rate on z.
        lam: lambda, the weight of the perceptual loss; perceptual: "nonsaturating" or "saturating".
        restarts: random starting codes per image; the one with the lowest final L is kept.
        weighted: use Yeh's importance weights in the contextual loss instead of M.
        constraint: keep z where the prior has its mass: "auto" (clip for uniform, penalty for normal), "clip",
            "sphere" (rescale to norm sqrt(z_dim)), "penalty" (add prior_weight * ||z||^2/2 to L) or "none".
        blend: "none" (x_hat = M x + (1 - M) G(z)) or "poisson" (seamless: ``blend.poisson_blend``).
        labels: class labels (N,) for a conditional run.
        seed: seeds the starting codes.
        record: how many images (the first ones) to record G(z) of every ``record_every`` iterations.
        progress: show a tqdm bar over the iterations.
        z_dim, prior, scale: override ``cfg``: code size, "normal" / "uniform", "tanh" / "sigmoid".
    Returns:
        dict(blended (N, C, H, W), generated = G(z_hat) in [0, 1] (N, C, H, W), z (N, z_dim), loss,
        contextual, perceptual (N,) at z_hat, restart (N,) index of the kept restart, history = dict(loss
        (iters + 1, R, N) total loss before each step and at the end, frames (T, record, C, H, W),
        frame_iters (T,))), all NumPy; images float32.
    """
    opts = run_options(cfg) if cfg is not None else {}
    z_dim, prior, scale = z_dim or opts.get("z_dim"), prior or opts.get("prior", "normal"), \
        scale or opts.get("scale", "tanh")
    if z_dim is None:
        raise ValueError("inpaint: give the run's cfg or z_dim")
    if perceptual not in PERCEPTUAL:
        raise ValueError(f"inpaint: perceptual must be one of {', '.join(PERCEPTUAL)}, got {perceptual!r}")
    if blend not in BLENDS:
        raise ValueError(f"inpaint: blend must be one of {', '.join(BLENDS)}, got {blend!r}")
    if scale not in ("tanh", "sigmoid"):
        raise ValueError(f"inpaint: scale must be 'tanh' or 'sigmoid', got {scale!r}")
    if int(iters) < 0 or int(restarts) < 1 or lr <= 0 or lam < 0:
        raise ValueError(f"inpaint: need iters >= 0, restarts >= 1, lr > 0, lambda >= 0; got iters={iters}, "
                         f"restarts={restarts}, lr={lr}, lambda={lam}")
    constraint = resolve_constraint(constraint, prior)
    x = check_images(images)
    n, R = x.shape[0], int(restarts)
    if n == 0:
        raise ValueError("inpaint: got no images (N = 0)")
    params = _params(G) + _params(D)
    device = params[0].device if params else backend.default_device()
    dtype = params[0].dtype if params else np.float32
    lab = None if labels is None else np.asarray(labels)
    if lab is not None and lab.shape != (n,):
        raise ValueError(f"inpaint: labels must have shape ({n},) for {n} images, got {lab.shape}")

    def dev(a):
        return Tensor(backend.to_device(np.asarray(a, dtype=dtype), device))

    made = _image_shape(G, dev(np.zeros((1, z_dim))), None if lab is None else lab[:1])
    if made != x.shape[1:]:
        raise ValueError(f"inpaint: images of shape {x.shape} do not fit the generator, which makes images "
                         f"of shape (N, {', '.join(map(str, made))})")
    m = check_mask(mask, x.shape)                       # (N or 1, 1, H, W), 0 / 1
    w = importance_weights(m) if weighted else m
    xt, wt = dev(np.tile(x, (R, 1, 1, 1))), dev(np.tile(w, (R if len(w) == n else 1, 1, 1, 1)))
    labt = None if lab is None else np.tile(lab, R)     # (R*N,): restart r of image i is row r*N + i
    z0 = project(sample_prior(prior, R * n, z_dim, np.random.default_rng(seed)), constraint)
    z = Tensor(backend.to_device(z0.astype(dtype), device), requires_grad=True)
    opt = optim.Adam([z], lr=lr)
    gamma = prior_weight if constraint == "penalty" else 0.0
    history, frames, frame_iters, losses = np.zeros((int(iters) + 1, R, n)), [], [], []
    k = min(int(record), n)

    def keep_frame(i, gen):
        if k and (i % record_every == 0 or i == iters):
            frames.append(gen.numpy().reshape((R, n) + x.shape[1:])[:, :k].copy())   # (R, k, C, H, W)
            frame_iters.append(i)

    from tqdm import tqdm
    modes = [(mod, mod.training) for mod in (G, D) if hasattr(mod, "training")]
    frozen = [(p, p.requires_grad) for p in params]
    bar = None
    try:
        for mod, _ in modes:
            mod.eval()
        for p, _ in frozen:
            p.requires_grad = False
        bar = tqdm(total=int(iters), disable=not progress, unit="it", desc=f"inpainting {n} x {R} restarts",
                   dynamic_ncols=True)
        for i in range(int(iters)):
            total, lc, lp, gen = objective(G, D, z, xt, wt, lam, perceptual, scale, labt, gamma)
            losses.append(total.data.reshape(R, n))          # kept on the device, copied once at the end
            keep_frame(i, gen)
            opt.zero_grad()
            total.sum().backward()
            opt.step()
            project(z.data, constraint)
            bar.update(1)
            if progress and (i + 1) % 25 == 0:               # the bar's loss: one small copy per 25 iterations
                bar.set_postfix(loss=f"{float(losses[-1].min(axis=0).mean()):.3f}", refresh=False)
        with no_grad():
            total, lc, lp, gen = objective(G, D, z, xt, wt, lam, perceptual, scale, labt, gamma)
    finally:
        if bar is not None:
            bar.close()
        for p, flag in frozen:
            p.requires_grad = flag
        for mod, flag in modes:
            mod.train(flag)
    losses.append(total.data.reshape(R, n))
    xp = backend.get_array_module(losses[0])
    history[:] = backend.as_numpy(xp.stack(losses))     # (iters + 1, R, N), one copy
    final = history[int(iters)]
    keep_frame(int(iters), gen)
    best = final.argmin(axis=0)                         # (N,) the kept restart of each image
    cols = np.arange(n)
    pick = lambda t: t.numpy().reshape((R, n) + tuple(t.shape[1:]))[best, cols]         # noqa: E731
    generated = np.clip(pick(gen), 0, 1).astype(np.float32)
    blended = poisson_blend(x, generated, m) if blend == "poisson" else compose(x, generated, m)
    frames = np.stack([f[best[:k], np.arange(k)] for f in frames]) if frames else \
        np.zeros((0, k) + x.shape[1:], np.float32)
    return dict(blended=blended, generated=generated, z=pick(z), loss=final[best, cols],
                contextual=pick(lc), perceptual=pick(lp), restart=best,
                history=dict(loss=history, frames=frames.astype(np.float32), frame_iters=np.array(frame_iters)))
