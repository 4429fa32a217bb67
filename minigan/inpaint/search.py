"""The latent search: z_hat = argmin_z L(z) by Adam, then the fill from G(z_hat).

Where it starts (``start``):

    "neighbours"  with an encoder and reference images (the run's training images: ``minigan inpaint`` gives
               them): restart r starts from the code the encoder reads off the r-th reference image nearest to
               the damaged one on its known pixels, read whole, z_r = E(t_r, 1), and its penalty is centred
               there, gamma ||z - z_r||^2 / 2 (with the references' labels, the nearest of the class most of the
               8 nearest share: ``encoder.vote``). Each start is a sharp, real-looking guess of the class the known
               pixels suggest; the search bends it to fit them (docs/inpainting.md measures it).
    "encoder"  the code the run's encoder reads off the damaged image, z_E = E(x * M, M) (encoder.py), and the
               prior's penalty is centred there, gamma ||z - z_E||^2 / 2: the search moves the code only as far
               as the known pixels ask. Restart r > 0 starts from z_E plus a draw of N(0, I).
    "random"   R draws of the prior p_z (Yeh et al.), the penalty gamma ||z||^2 / 2 (a Gaussian prior's MAP).

What it moves (``space``):

    "z"        the code z itself (Yeh et al.)
    "features" with an encoder and a generator that says where its projected features are (``FEATURES``: the
               (N, 128, 7, 7) tensor after DCGAN-28's first layer), those features h instead of z, from
               h_E = head(z_E) and with the penalty gamma ||h - h_E||^2 / 2; the fill is tail(h). The 6,272
               numbers of h can follow the known pixels where the 100 of z cannot, and the penalty keeps h near
               what G makes (docs/inpainting.md measures it). A generator without ``FEATURES`` searches z.

How the restarts make the fill (``combine``):

    "mean"     the mean of the images G draws from the ``pool`` searched codes that fit the known pixels best
               (all of them when ``pool`` is None); with an encoder, w G(z_E) + (1 - w) times that mean,
               w = ``start_weight``: the accuracy point (PSNR rewards the conditional mean of the hole)
    "best"     G(z_hat) of the restart with the lowest final L: one sharp completion, the realism point

With reference images (the default), each restart's image is first the reference it started from, edited by
the search (``residual``): t_r + G(h_hat_r) - G(h_r). G redraws a training image softer than it is; the edit
keeps the real image's detail and adds the change the search made to fit the known pixels.

Settings left out (None) are chosen from the mask by ``settings`` (docs/inpainting.md measures them).
All images and restarts are searched at once, as one batch of R*N codes (restart r of image i is row
r*N + i). G and D are put in eval mode and frozen (requires_grad False) for the search and restored
afterwards; only z is a leaf that asks for gradients.
"""
import contextlib
import math

import numpy as np

from .. import backend, optim
from ..gan.algorithm1 import frozen
from ..gan.run import output_range, sample_prior
from ..tensor import Tensor, no_grad
from .blend import compose, poisson_blend
from .masks import check_mask, importance_weights
from .objective import PERCEPTUAL, call, objective, to_unit

STARTS = ("neighbours", "encoder", "random")
CONSTRAINTS = ("auto", "clip", "sphere", "penalty", "none")
BLENDS = ("none", "poisson")
SPACES = ("z", "features")
COMBINES = ("mean", "best")
RESIDUALS = ("add", "none")


def settings(mask, start="encoder"):
    """The search's settings for a mask (N or 1, 1, H, W), from the mask itself and where the search starts.

    The mask's two numbers are its border shares (``border_share``): the fraction of missing pixels with a
    known 4-neighbour, and of known pixels with a missing one (0.07 and 0.07 for a half of a 28 x 28 image;
    0.27 and 0.10 for the centre square; 0.19 and 1 for 95 % random pixels missing; 0.67 and 1 for a grid of
    spacing 2). Known pixels in one region (under half of them on its border) let the search's own fill
    stand (w = 0); scattered ones (random pixels, grids) constrain each feature cell weakly, and the fill
    leans a quarter on the encoder's image (w = 0.25). A hole that is moreover one large region (under 20 %
    of it on its border: a half of the image) is pasted without Poisson blending, which would drag the
    border's shade across the whole hole; every other hole is Poisson-blended.

    From the nearest references (the default of ``minigan inpaint``): 4 restarts, one from each of the 4 nearest
    references' codes (with their labels: of the class most of the 8 nearest share), 100 Adam steps on the
    features, gamma 0.1 around each start, no perceptual term, each restart's image its reference edited by the
    search (``residual`` "add"), the fill the mean of the 3 best-fitting ones (w = 0).
    From the encoder alone: 100 Adam steps on the features, one restart, gamma 0.1 around h_E, no perceptual term,
    the fill w G(z_E) + (1 - w) tail(h_hat). From random codes: Yeh et al.'s search as tuned on the centre mask
    (500 steps, 4 restarts averaged, gamma 1, lambda 0.1, Poisson). docs/inpainting.md has the measurements.
    """
    if start not in STARTS:
        raise ValueError(f"inpaint: start must be one of {', '.join(STARTS)}, got {start!r}")
    hole = np.asarray(mask, np.float32) == 0
    known_together = border_share(~hole) < 0.5
    one_region = known_together and border_share(hole) < 0.2
    blend = "none" if one_region else "poisson"
    if start == "random":
        return dict(space="z", iters=500, restarts=4, pool=None, lr=0.01, lam=0.1, prior_weight=1.0,
                    perceptual="nonsaturating", weighted=False, constraint="auto", combine="mean", start_weight=0.0,
                    blend="poisson", residual="none")
    features = dict(space="features", iters=100, lr=0.01, lam=0.0, prior_weight=0.1, perceptual="nonsaturating",
                    weighted=False, constraint="auto", combine="mean", blend=blend)
    if start == "neighbours":
        return dict(features, restarts=4, pool=3, start_weight=0.0, residual="add")
    return dict(features, restarts=1, pool=None, start_weight=0.0 if known_together else 0.25, residual="none")


class Split:
    """A generator cut where its projected features are: ``head(z, labels)`` -> h, ``tail(h)`` -> G's output,
    tail(head(z)) = G(z). ``Split.of(G)`` is None for a generator without ``FEATURES``."""

    def __init__(self, G):
        self.G, self.k = G, int(G.FEATURES)

    @classmethod
    def of(cls, G):
        return cls(G) if getattr(G, "FEATURES", None) is not None and hasattr(G, "net") else None

    def head(self, z, labels=None):
        return self.G.net[:self.k](self.G._with_labels(z, labels))

    def __call__(self, h, labels=None):                # the tail; labels went in with z
        return self.G.net[self.k:](h)


def border_share(region):
    """The fraction of the pixels of ``region`` (bool (..., H, W)) with a 4-neighbour outside it."""
    edge = np.zeros_like(region)
    edge[..., 1:, :] |= region[..., 1:, :] & ~region[..., :-1, :]
    edge[..., :-1, :] |= region[..., :-1, :] & ~region[..., 1:, :]
    edge[..., :, 1:] |= region[..., :, 1:] & ~region[..., :, :-1]
    edge[..., :, :-1] |= region[..., :, :-1] & ~region[..., :, 1:]
    return edge.sum() / max(region.sum(), 1)


def generator_facts(cfg=None, z_dim=None, prior=None, scale=None):
    """(z_dim, prior, output range) of the generator: from the run's config, or as given (which wins)."""
    if cfg is not None:
        z_dim, prior = z_dim or int(cfg["z_dim"]), prior or cfg.get("prior", "normal")
        scale = scale or output_range(cfg)
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


def check_references(references, shape):
    """Reference images for the images of ``shape`` (N, C, H, W): float32 NumPy (M >= 1, C, H, W) in [0, 1]."""
    ref = check_images(references)
    if ref.shape[1:] != tuple(shape[1:]) or len(ref) == 0:
        raise ValueError(f"inpaint: references must be images of shape (M >= 1, {', '.join(map(str, shape[1:]))}) "
                         f"like the inputs, got {ref.shape}")
    return ref


def check_search(st):
    """The search's settings (a dict as ``settings`` returns), checked before any work."""
    for key, allowed in (("space", SPACES), ("combine", COMBINES), ("perceptual", PERCEPTUAL), ("blend", BLENDS),
                         ("constraint", CONSTRAINTS), ("residual", RESIDUALS)):
        if st[key] not in allowed:
            raise ValueError(f"inpaint: {key} must be one of {', '.join(allowed)}, got {st[key]!r}")
    keys = ("iters", "restarts", "pool", "lr", "lam", "prior_weight", "start_weight")
    bad = {k: st[k] for k in keys if not (k == "pool" and st[k] is None)
           and not (isinstance(st[k], (int, float, np.integer, np.floating)) and math.isfinite(st[k]))}
    if bad or int(st["iters"]) < 0 or int(st["restarts"]) < 1 or (st["pool"] is not None and st["pool"] < 1) \
            or st["lr"] <= 0 or st["lam"] < 0 or st["prior_weight"] < 0 or not 0 <= st["start_weight"] <= 1:
        raise ValueError("inpaint: need iters >= 0, restarts >= 1, pool >= 1 (or None: all), lr > 0, lambda >= 0, "
                         "prior_weight >= 0, start_weight in [0, 1] (finite); got "
                         + ", ".join(f"{k}={st[k]}" for k in keys))


class Search:
    """One latent search: the images and mask tiled over R restarts (restart r of image i is row r*N + i),
    the codes z (the one leaf that asks for gradients), Adam on z, and the objective's settings."""

    def __init__(self, G, D, x, mask, labels, facts, st, encoder, seed, references=None, reference_labels=None):
        z_dim, prior, self.scale = facts
        params = [p for m in (G, D) if hasattr(m, "parameters") for p in m.parameters()]
        self.G, self.D, self.x, self.n, self.R = G, D, x, len(x), int(st["restarts"])
        self.gen = G                                                               # what maps the searched variable
        self.device = params[0].device if params else backend.default_device()
        self.dtype = params[0].dtype if params else np.float32
        self.labels = None if labels is None else backend.to_device(np.tile(labels, self.R), self.device)
        self.starts = None                                                         # the references started from
        self.mask = check_mask(mask, x.shape)                                      # (N or 1, 1, H, W), 0 / 1
        w = importance_weights(self.mask) if st["weighted"] else self.mask
        self.xt = self.tensor(np.tile(x, (self.R, 1, 1, 1)))
        self.wt = self.tensor(np.tile(w, (self.R if len(w) == self.n else 1, 1, 1, 1)))
        self.lam, self.perceptual = st["lam"], st["perceptual"]
        rng = np.random.default_rng(seed)
        if encoder is None:                                                        # Yeh et al.: draws of p_z
            self.constraint = resolve_constraint(st["constraint"], prior)
            self.gamma = st["prior_weight"] if self.constraint == "penalty" else 0.0
            z0, self.centre = self.tensor(project(sample_prior(prior, self.R * self.n, z_dim, rng),
                                                  self.constraint)).data, None
        else:                                                                      # the encoder's guess, then near it
            from .encoder import encode, neighbour_codes
            self.constraint, self.gamma = "none", st["prior_weight"]
            xp = backend.get_array_module(self.xt.data)
            self.ze = ze = encode(encoder, x, self.mask).astype(self.dtype)       # (N, z_dim): z_E
            if references is not None:                                             # restart r: the r-th neighbour
                ze, self.starts = neighbour_codes(encoder, x, self.mask, references, self.R, reference_labels)
                ze = z0 = ze.astype(self.dtype)
            else:                                                                  # restart r > 0: z_E + N(0, I)
                ze = xp.concatenate([ze] * self.R)                                 # (R*N, z_dim)
                jitter = sample_prior("normal", self.R * self.n, z_dim, rng)
                jitter[:self.n] = 0                                                # restart 0 starts at z_E itself
                z0 = ze + self.tensor(jitter).data
            if st["space"] == "features":                                          # h = head(z), searched near h_E
                self.gen = Split(G)
                with no_grad():                                                    # (once where z0 is ze)
                    h = self.gen.head(Tensor(ze), self.labels).data
                    ze, z0 = h, h if z0 is ze else self.gen.head(Tensor(z0), self.labels).data
            self.centre = Tensor(ze)
        self.residual = None                                                       # what G missed of each start
        if self.starts is not None and st["residual"] == "add":                    # t_r - G(h_r): (R, N, C, H, W)
            with no_grad():
                drawn = to_unit(call(self.gen, Tensor(z0), self.labels), self.scale).numpy()
            self.residual = (self.starts - np.clip(drawn, 0, 1)).reshape((self.R, self.n) + x.shape[1:])
        self.z = Tensor(z0.copy(), requires_grad=True)
        self.opt = optim.Adam([self.z], lr=st["lr"])

    def tensor(self, a):
        return Tensor(backend.to_device(np.asarray(a, dtype=self.dtype), self.device))

    def evaluate(self):
        """(total, contextual, perceptual, G(z) in [0, 1]) for every row: objective.objective."""
        return objective(self.gen, self.D, self.z, self.xt, self.wt, self.lam, self.perceptual, self.scale,
                         self.labels, self.gamma, self.centre)

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

    def start_images(self):
        """G(z_E) in [0, 1] (N, C, H, W) NumPy: the encoder's guess (None for random starts)."""
        if self.centre is None:
            return None
        with no_grad():
            out = call(self.G, Tensor(self.ze), None if self.labels is None else self.labels[:self.n])
        return np.clip(to_unit(out, self.scale).numpy(), 0, 1)


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


def inpaint(G, D, images, mask, cfg=None, *, encoder=None, references=None, reference_labels=None, space=None,
            iters=None, restarts=None, pool=None, lr=None, lam=None, prior_weight=None, perceptual=None,
            weighted=None, constraint=None, combine=None, start_weight=None, blend=None, residual=None, labels=None,
            seed=0, record=0, record_every=10, progress=False, z_dim=None, prior=None, scale=None):
    """Fill the missing pixels of ``images`` with a trained generator (Yeh et al. 2016), starting from the
    codes ``encoder`` reads off the nearest ``references`` (encoder.py), or off the damaged images when no
    references are given, or, without an encoder, from random codes.

    Args:
        G, D: generator and discriminator (D may be None when lam == 0); their weights do not change.
        images: float (N, C, H, W) in [0, 1] (missing pixels may hold anything in range).
        mask: 1 = known, 0 = missing: (H, W), (1, 1, H, W) or (N, 1, H, W) (see ``masks``).
        cfg: the run's config dict (gives z_dim, prior and G's output range); or give them as keywords.
        encoder: an ``encoder.Encoder`` for G (``encoder.encoder_for`` / ``train_encoder``), or None.
        references: with an encoder, images (M, C, H, W) in [0, 1] (the run's training images): restart r
            starts from the encoder's code of the r-th of them nearest to each image on its known pixels.
        reference_labels: the references' classes (M,) (the run's training labels), or None: with them the starts
            are the nearest references of the class most of the 8 nearest share (``encoder.vote``).
        Every setting below left None is chosen from the mask (``settings``):
        space: "features" (with an encoder, for a generator with ``FEATURES``: search its projected features
            near head(z_E)) or "z" (search the code); "features" falls back to "z" where it does not apply.
        iters, lr: Adam iterations and learning rate on z.
        restarts: codes per image, all searched.
        pool: with combine "mean", how many of the best-fitting restarts' images are averaged (None: all).
        lam: lambda, the weight of the perceptual loss; perceptual: "nonsaturating" or "saturating".
        prior_weight: gamma, the weight of the penalty gamma ||z - c||^2 / 2 (c = z_E with an encoder, else 0).
        combine: "mean" (w G(z_E) + (1 - w) times the mean of the ``pool`` best codes' images), "best" (the
            G(z_hat) of the restart with the lowest final L); with ``residual`` "add", of the edited references.
        start_weight: w, the weight of the encoder's G(z_E) in the "mean" fill (ignored without an encoder).
        weighted: Yeh's importance weights in the contextual loss instead of M.
        constraint: (random starts) keep z where the prior has its mass: "auto" (clip for uniform, penalty
            for normal), "clip", "sphere" (rescale to norm sqrt(z_dim)), "penalty" or "none".
        blend: "none" (x_hat = M x + (1 - M) G(z)) or "poisson" (seamless: ``blend.poisson_blend``).
        residual: with references, "add" (each restart's image is its reference image edited by the search,
            t_r + G(h_hat_r) - G(h_r): the search's change added to the real image, which keeps the detail G's
            redrawing of t_r loses) or "none" (G(h_hat_r) itself).
        labels: class labels (N,) for a conditional run.
        seed: seeds the starting codes.
        record: how many images (the first ones) to record G(z) of every ``record_every`` iterations.
        progress: show a tqdm bar over the iterations.
        z_dim, prior, scale: override ``cfg``: code size, "normal" / "uniform", "tanh" / "sigmoid".
    Returns:
        dict(blended (N, C, H, W), generated = the fill in [0, 1] before blending (N, C, H, W); z (N, z_dim) the
        searched variable (with space "features": the features, flattened (N, 6272)), loss, contextual,
        perceptual (N,) at the best restart's z_hat, z_all (R, N, z_dim) every restart's final code, restart (N,)
        index of the best restart, settings (the settings used), history = dict(loss (iters + 1, R, N) total
        loss before each step and at the end, frames (T, record, C, H, W), frame_iters (T,))), all NumPy; images
        float32.
    """
    facts = generator_facts(cfg, z_dim, prior, scale)
    x = check_images(images)
    if len(x) == 0:
        raise ValueError("inpaint: got no images (N = 0)")
    m = check_mask(mask, x.shape)
    if references is not None:
        if encoder is None:
            raise ValueError("inpaint: references (the images whose nearest ones start the search) need an encoder "
                             "to read their codes; give encoder= or leave references out")
        references = check_references(references, x.shape)
    if reference_labels is not None:
        if references is None:
            raise ValueError("inpaint: reference_labels are the classes of the references; give references= too")
        reference_labels = np.asarray(reference_labels)
        if reference_labels.shape != (len(references),):
            raise ValueError(f"inpaint: reference_labels must have shape ({len(references)},) for "
                             f"{len(references)} references, got {reference_labels.shape}")
    given = dict(space=space, iters=iters, restarts=restarts, pool=pool, lr=lr, lam=lam, prior_weight=prior_weight,
                 perceptual=perceptual, weighted=weighted, constraint=constraint, combine=combine,
                 start_weight=start_weight, blend=blend, residual=residual)
    st = {k: (v if given[k] is None else given[k]) for k, v in
          settings(m, "random" if encoder is None else "encoder" if references is None else "neighbours").items()}
    check_search(st)
    if references is not None and int(st["restarts"]) > len(references):
        raise ValueError(f"inpaint: {st['restarts']} restarts start from as many nearest references, but only "
                         f"{len(references)} reference image(s) were given")
    if st["space"] == "features" and (encoder is None or Split.of(G) is None):
        st["space"] = "z"                                  # random starts, or a G without FEATURES: search z
    lab = None if labels is None else np.asarray(labels)
    if lab is not None and lab.shape != (len(x),):
        raise ValueError(f"inpaint: labels must have shape ({len(x)},) for {len(x)} images, got {lab.shape}")
    with eval_mode(G, D, *([encoder] if encoder is not None else [])), frozen(G, D):
        made = _image_shape(G, facts[0], lab)
        if made != x.shape[1:]:
            raise ValueError(f"inpaint: images of shape {x.shape} do not fit the generator, which makes images "
                             f"of shape (N, {', '.join(map(str, made))})")
        s = Search(G, D, x, m, lab, facts, st, encoder, seed, references, reference_labels)
        steps, k = int(st["iters"]), min(int(record), len(x))
        losses, frames = _run(s, steps, k, record_every, progress)
        with no_grad():
            total, lc, lp, gen = s.evaluate()
    out = _result(s, losses + [total.data.reshape(s.R, s.n)], frames, gen, lc, lp, st, steps, k)
    out.update(settings=st)
    return out


def _image_shape(G, z_dim, labels):
    """The (C, H, W) that G makes, from one zero code, without a graph (G is already in eval mode)."""
    p = next(iter(G.parameters()), None)
    device, dtype = (p.device, p.dtype) if p is not None else ("cpu", np.float32)
    z = Tensor(backend.to_device(np.zeros((1, z_dim), dtype), device))
    with no_grad():
        return tuple(call(G, z, None if labels is None else backend.to_device(labels[:1], device)).shape[1:])


def _run(s, iters, k, record_every, progress):
    """``iters`` search steps; the losses before each (kept on the device) and the recorded (iteration, G(z))."""
    from tqdm import tqdm
    losses, frames = [], []
    with tqdm(total=iters, disable=not progress, unit="it", desc=f"inpainting {s.n} x {s.R} restart(s)",
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


def _images(gen, s):
    """G's images (R*N, C, H, W) of a Tensor as NumPy (R, N, C, H, W), clipped to [0, 1]."""
    return np.clip(gen.numpy().reshape((s.R, s.n) + s.x.shape[1:]), 0, 1)


def _fill(s, final, gens, st):
    """The fill (N, C, H, W) float32 from every restart's image ``gens`` (R, N, C, H, W) and final loss (R, N):
    the best one's, or the mean of the ``pool`` best-fitting ones (with "mean", weighed with G(z_E)); with a
    residual, each image is first its reference image edited (``Search.residual``)."""
    if s.residual is not None:                                              # each restart's reference, edited
        gens = np.clip(gens + s.residual, 0, 1)
    if st["combine"] == "best":
        return gens[final.argmin(axis=0), np.arange(s.n)].astype(np.float32)
    w, pool = float(st["start_weight"]), min(int(st["pool"] or s.R), s.R)
    fitted = np.take_along_axis(gens, np.argsort(final, axis=0, kind="stable")[:pool, :, None, None, None],
                                axis=0).mean(axis=0)                        # the pool best-fitting restarts' mean
    start = s.start_images() if w else None                                 # G(z_E): one more forward, if used
    return (fitted if start is None else w * start + (1 - w) * fitted).astype(np.float32)


def _result(s, losses, frames, gen, lc, lp, st, iters, k):
    """The search's outcome: the fill (``_fill``) and, at each image's best restart, its code and losses (see
    ``inpaint``)."""
    xp = backend.get_array_module(losses[0])
    history = backend.as_numpy(xp.stack(losses))                           # one copy
    history = history.astype(np.float64)                                    # (iters + 1, R, N)
    final = history[iters]
    best = final.argmin(axis=0)                                             # (N,) the best restart
    pick = (best, np.arange(s.n))
    gens = _images(gen, s)                                                  # (R, N, C, H, W), one copy
    generated = _fill(s, final, gens, st)
    blended = poisson_blend(s.x, generated, s.mask) if st["blend"] == "poisson" else compose(s.x, generated, s.mask)
    if k:
        frames.append((iters, gens[:, :k]))
    pictures = np.stack([f[best[:k], np.arange(k)] for _, f in frames]) if frames else \
        np.zeros((0, k) + s.x.shape[1:])
    z_all = s.z.numpy().reshape(s.R, s.n, -1)
    return dict(blended=blended, generated=generated, z=z_all[pick], z_all=z_all, loss=final[pick],
                contextual=s.best(final, lc), perceptual=s.best(final, lp), restart=best,
                history=dict(loss=history, frames=pictures.astype(np.float32),
                             frame_iters=np.array([i for i, _ in frames])))
