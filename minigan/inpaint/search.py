"""The latent search: z_hat = argmin_z L(z) by Adam, then x_hat = M * x + (1 - M) * G(z_hat).

All images of a batch and all random restarts are searched at once, as one batch of R*N codes
(restart r of image i is row r*N + i). G and D are put in eval mode and frozen (requires_grad False)
for the search and restored afterwards; only z is a leaf that asks for gradients.
"""
import contextlib
import math

import numpy as np

from .. import backend, optim
from ..gan.run import frozen, output_range, sample_prior
from ..tensor import Tensor, no_grad
from .blend import compose, poisson_blend
from .masks import check_mask, importance_weights
from .objective import PERCEPTUAL, call, objective

CONSTRAINTS = ("auto", "clip", "sphere", "penalty", "none")
BLENDS = ("none", "poisson")
COMBINES = ("mean", "best")
# Measured on Fashion-MNIST with the centre mask (docs/inpainting.md): a Gaussian prior as a penalty, the
# non-saturating perceptual loss with lambda 0.1, 4 restarts averaged, Poisson blending; PSNR flattens after
# ~500 steps.
DEFAULTS = dict(iters=500, lam=0.1, lr=0.01, restarts=4, perceptual="nonsaturating", weighted=False,
                constraint="auto", blend="poisson", combine="mean", prior_weight=1.0)


def generator_facts(cfg=None, z_dim=None, prior=None, scale=None):
    """(z_dim, prior, output range) of the generator: from the run's config, or as given (which wins)."""
    if cfg is not None:
        z_dim, prior, scale = z_dim or int(cfg["z_dim"]), prior or cfg.get("prior", "normal"), scale or output_range(cfg)
    if z_dim is None:
        raise ValueError("inpaint: give the run's cfg or z_dim")
    prior, scale = prior or "normal", scale or "tanh"
    if prior not in ("normal", "uniform"):
        raise ValueError(f"inpaint: prior must be 'normal' or 'uniform', got {prior!r}")
    if scale not in ("tanh", "sigmoid"):
        raise ValueError(f"inpaint: scale must be 'tanh' or 'sigmoid', got {scale!r}")
    return int(z_dim), prior, scale


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


def _image_shape(G, z, labels):
    """The (C, H, W) that G makes, from one probe code, without a graph (G is already in eval mode)."""
    with no_grad():
        return tuple(call(G, z, labels).shape[1:])


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


def check_search(iters, restarts, lr, lam, perceptual, blend, combine="mean", prior_weight=DEFAULTS["prior_weight"]):
    """The search's numbers and names, checked before any work."""
    if combine not in COMBINES:
        raise ValueError(f"inpaint: combine must be one of {', '.join(COMBINES)}, got {combine!r}")
    if perceptual not in PERCEPTUAL:
        raise ValueError(f"inpaint: perceptual must be one of {', '.join(PERCEPTUAL)}, got {perceptual!r}")
    if blend not in BLENDS:
        raise ValueError(f"inpaint: blend must be one of {', '.join(BLENDS)}, got {blend!r}")
    if int(iters) < 0 or int(restarts) < 1 or lr <= 0 or lam < 0 or not prior_weight >= 0:
        raise ValueError(f"inpaint: need iters >= 0, restarts >= 1, lr > 0, lambda >= 0, prior_weight >= 0; got "
                         f"iters={iters}, restarts={restarts}, lr={lr}, lambda={lam}, prior_weight={prior_weight}")


class Search:
    """One latent search: the images and mask tiled over R restarts (restart r of image i is row r*N + i),
    the codes z (the one leaf that asks for gradients), Adam on z, and the objective's settings."""

    def __init__(self, G, D, x, mask, labels, facts, restarts, constraint, weighted, lam, perceptual,
                 prior_weight, lr, seed):
        z_dim, prior, self.scale = facts
        params = [p for m in (G, D) if hasattr(m, "parameters") for p in m.parameters()]
        self.G, self.D, self.x, self.n, self.R = G, D, x, len(x), int(restarts)
        self.device = params[0].device if params else backend.default_device()
        self.dtype = params[0].dtype if params else np.float32
        self.labels = None if labels is None else np.tile(labels, self.R)           # (R*N,)
        self.mask = check_mask(mask, x.shape)                                      # (N or 1, 1, H, W), 0 / 1
        w = importance_weights(self.mask) if weighted else self.mask
        self.xt = self.tensor(np.tile(x, (self.R, 1, 1, 1)))
        self.wt = self.tensor(np.tile(w, (self.R if len(w) == self.n else 1, 1, 1, 1)))
        self.constraint, self.lam, self.perceptual = constraint, lam, perceptual
        self.gamma = prior_weight if constraint == "penalty" else 0.0              # the Gaussian prior's penalty
        z0 = sample_prior(prior, self.R * self.n, z_dim, np.random.default_rng(seed))
        self.z = Tensor(backend.to_device(project(z0, constraint).astype(self.dtype), self.device),
                        requires_grad=True)
        self.opt = optim.Adam([self.z], lr=lr)

    def tensor(self, a):
        return Tensor(backend.to_device(np.asarray(a, dtype=self.dtype), self.device))

    def evaluate(self):
        """(total, contextual, perceptual, G(z) in [0, 1]) for every row: objective.objective."""
        return objective(self.G, self.D, self.z, self.xt, self.wt, self.lam, self.perceptual, self.scale,
                         self.labels, self.gamma)

    def step(self):
        """One Adam step on z, then z back in the prior's support; returns the losses before it (R, N) and G(z)."""
        total, _, _, gen = self.evaluate()
        self.opt.zero_grad()
        total.sum().backward()
        self.opt.step()
        project(self.z.data, self.constraint)
        return total.data.reshape(self.R, self.n), gen

    def best(self, final, t):
        """The rows of ``t`` (a Tensor of R*N rows) at each image's best restart: NumPy (N, ...)."""
        keep = final.argmin(axis=0)
        return t.numpy().reshape((self.R, self.n) + tuple(t.shape[1:]))[keep, np.arange(self.n)]


@contextlib.contextmanager
def eval_mode(*models):
    """The models in eval mode (batch norm uses its running statistics) for the block; then as they were."""
    modes = [(m, m.training) for m in models if hasattr(m, "training")]
    for m, _ in modes:
        m.eval()
    try:
        yield
    finally:
        for m, flag in modes:
            m.train(flag)


def inpaint(G, D, images, mask, cfg=None, *, iters=DEFAULTS["iters"], lam=DEFAULTS["lam"], lr=DEFAULTS["lr"],
            restarts=DEFAULTS["restarts"], perceptual=DEFAULTS["perceptual"], weighted=DEFAULTS["weighted"],
            constraint=DEFAULTS["constraint"], blend=DEFAULTS["blend"], combine=DEFAULTS["combine"], labels=None,
            seed=0, record=0,
            record_every=10, progress=False, z_dim=None, prior=None, scale=None,
            prior_weight=DEFAULTS["prior_weight"]):
    """Fill the missing pixels of ``images`` with a trained generator (Yeh et al. 2016).

    Args:
        G, D: generator and discriminator (D may be None when lam == 0); their weights do not change.
        images: float (N, C, H, W) in [0, 1] (missing pixels may hold anything in range).
        mask: 1 = known, 0 = missing: (H, W), (1, 1, H, W) or (N, 1, H, W) (see ``masks``).
        cfg: the run's config dict (gives z_dim, prior and G's output range); or give them as keywords.
        iters, lr: Adam iterations and learning rate on z.
        lam: lambda, the weight of the perceptual loss; perceptual: "nonsaturating" or "saturating".
        restarts: random starting codes per image, all searched.
        combine: how the restarts make the fill: "mean" (the average of their G(z_hat): PSNR rewards the
            conditional mean, and the restarts are draws of plausible completions) or "best" (the G(z_hat)
            of the restart with the lowest final L).
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
        dict(blended (N, C, H, W), generated = the fill in [0, 1] before blending (N, C, H, W): the restarts'
        mean or the best restart's G(z_hat); z (N, z_dim), loss, contextual, perceptual (N,) at the best
        restart's z_hat, z_all (R, N, z_dim) every restart's final code, restart (N,) index of the best
        restart, history = dict(loss
        (iters + 1, R, N) total loss before each step and at the end, frames (T, record, C, H, W),
        frame_iters (T,))), all NumPy; images float32.
    """
    facts = generator_facts(cfg, z_dim, prior, scale)
    check_search(iters, restarts, lr, lam, perceptual, blend, combine, prior_weight)
    x = check_images(images)
    if len(x) == 0:
        raise ValueError("inpaint: got no images (N = 0)")
    lab = None if labels is None else np.asarray(labels)
    if lab is not None and lab.shape != (len(x),):
        raise ValueError(f"inpaint: labels must have shape ({len(x)},) for {len(x)} images, got {lab.shape}")
    with eval_mode(G, D), frozen(G, D):
        s = Search(G, D, x, mask, lab, facts, restarts, resolve_constraint(constraint, facts[1]), weighted, lam,
                   perceptual, prior_weight, lr, seed)
        made = _image_shape(G, s.z.detach()[:1], None if lab is None else lab[:1])
        if made != x.shape[1:]:
            raise ValueError(f"inpaint: images of shape {x.shape} do not fit the generator, which makes images "
                             f"of shape (N, {', '.join(map(str, made))})")
        losses, frames = _run(s, int(iters), min(int(record), len(x)), record_every, progress)
        with no_grad():
            total, lc, lp, gen = s.evaluate()
    return _result(s, losses + [total.data.reshape(s.R, s.n)], frames, gen, lc, lp, blend, combine, int(iters),
                   min(int(record), len(x)))


def _run(s, iters, k, record_every, progress):
    """``iters`` search steps; the losses before each (kept on the device) and the recorded (iteration, G(z))."""
    from tqdm import tqdm
    losses, frames = [], []
    with tqdm(total=iters, disable=not progress, unit="it", desc=f"inpainting {s.n} x {s.R} restarts",
              dynamic_ncols=True) as bar:
        for i in range(iters):
            loss, gen = s.step()
            losses.append(loss)                              # copied to the host once, at the end
            if k and i % record_every == 0:
                frames.append((i, gen.numpy().reshape((s.R, s.n) + s.x.shape[1:])[:, :k].copy()))
            bar.update(1)
            if progress and (i + 1) % 25 == 0:               # the bar's loss: one small copy per 25 iterations
                bar.set_postfix(loss=f"{float(loss.min(axis=0).mean()):.3f}", refresh=False)
    return losses, frames


def _result(s, losses, frames, gen, lc, lp, blend, combine, iters, k):
    """The search's outcome: the fill (the restarts' mean or the best restart's G(z)) and, at each image's
    best restart, its code and losses (see ``inpaint``)."""
    xp = backend.get_array_module(losses[0])
    history = backend.as_numpy(xp.stack(losses)).astype(np.float64)          # (iters + 1, R, N), one copy
    final = history[iters]
    best = final.argmin(axis=0)                                             # (N,) the best restart
    pick = (best, np.arange(s.n))
    gens = np.clip(gen.numpy().reshape((s.R, s.n) + s.x.shape[1:]), 0, 1)   # (R, N, C, H, W), one copy
    generated = (gens.mean(axis=0) if combine == "mean" else gens[pick]).astype(np.float32)
    blended = poisson_blend(s.x, generated, s.mask) if blend == "poisson" else compose(s.x, generated, s.mask)
    if k:
        frames.append((iters, gens[:, :k]))
    pictures = np.stack([f[best[:k], np.arange(k)] for _, f in frames]) if frames else \
        np.zeros((0, k) + s.x.shape[1:])
    z_all = s.z.numpy().reshape(s.R, s.n, -1)
    return dict(blended=blended, generated=generated, z=z_all[pick], z_all=z_all, loss=final[pick],
                contextual=s.best(final, lc), perceptual=s.best(final, lp), restart=best,
                history=dict(loss=history, frames=pictures.astype(np.float32),
                             frame_iters=np.array([i for i, _ in frames])))
