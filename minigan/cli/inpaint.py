"""``minigan inpaint``: its options (``add_parser``) and the work (``run_cli``)."""
import os

import numpy as np

from ..inpaint.figure import inpainting_figure
from ..inpaint.masks import KINDS, get_mask
from ..inpaint.search import BLENDS, COMBINES, DEFAULTS, inpaint
from .common import check_output_path, one_line

def add_parser(subparsers):
    """Add the ``inpaint`` sub-command, with its options and help, to an argparse subparsers object."""
    p = subparsers.add_parser(
        "inpaint", help="fill missing pixels with a trained GAN (Yeh et al. 2016)",
        description="Semantic inpainting: search the code z that makes G(z) match the known pixels "
                    "(contextual loss) and look real to D (perceptual loss), from several random starts, then fill the hole "
                    "with the mean of their G(z). "
                    "See docs/inpainting.md.")
    p.add_argument("--run", required=True, help="run directory of an image GAN (minigan train)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", help=".npy of float32 images (N, C, H, W) in [0, 1], the run's image size")
    src.add_argument("--data", choices=["mnist", "fashion-mnist"], help="take images from a data set")
    p.add_argument("--split", default="test", choices=["train", "test"], help="with --data (default: test)")
    p.add_argument("--n", type=int, default=64, help="with --data: the first N images (default 64)")
    p.add_argument("--data-dir", help="with --data: folder with the IDX files")
    p.add_argument("--mask", default="center",
                   help=f"{', '.join(KINDS)} or a .npy / .png file (nonzero / bright = known); default center")
    p.add_argument("--p", type=float, default=0.8, help="--mask random: fraction of pixels missing (0.8)")
    p.add_argument("--out", required=True, help=".npy (the filled images, same layout, in [0, 1]) or .png "
                                                "(rows original / masked / the fill / filled)")
    p.add_argument("--iters", type=int, default=DEFAULTS["iters"], help=f"Adam steps on z ({DEFAULTS['iters']})")
    p.add_argument("--lambda", dest="lam", type=float, default=DEFAULTS["lam"],
                   help=f"weight of the perceptual loss ({DEFAULTS['lam']})")
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"], help=f"Adam's learning rate ({DEFAULTS['lr']})")
    p.add_argument("--restarts", type=int, default=DEFAULTS["restarts"],
                   help=f"random starting codes per image ({DEFAULTS['restarts']})")
    p.add_argument("--combine", choices=list(COMBINES), default=DEFAULTS["combine"],
                   help="fill the hole with the mean of the restarts' G(z) or the best restart's "
                        f"(default {DEFAULTS['combine']})")
    p.add_argument("--perceptual", choices=["saturating", "nonsaturating"], default=DEFAULTS["perceptual"],
                   help="log(1 - D(G(z))) or -log D(G(z)) (default nonsaturating)")
    p.add_argument("--prior-weight", type=float, default=DEFAULTS["prior_weight"],
                   help=f"gamma, the weight of the Gaussian prior's penalty gamma*||z||^2/2 (default "
                        f"{DEFAULTS['prior_weight']}; 0.3 fills the grid mask better, docs/inpainting.md)")
    p.add_argument("--weighted", action="store_true", help="importance-weighted contextual loss (Yeh et al.)")
    p.add_argument("--blend", choices=list(BLENDS), default=DEFAULTS["blend"],
                   help=f"how G(z) fills the hole (default {DEFAULTS['blend']})")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: $MINIGAN_DEVICE, else cpu)")
    p.add_argument("--seed", type=int, default=0, help="seeds the starting codes and random masks")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _load_images(a, cfg):
    if a.images is not None:
        if not a.images.endswith(".npy"):
            raise ValueError(f"--images must be a .npy file, got {a.images!r}")
        if not os.path.exists(a.images):
            raise FileNotFoundError(f"--images: no such file {a.images!r}")
        try:
            x = np.load(a.images, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise ValueError(f"--images {a.images}: not a readable .npy array ({one_line(e)})") from None
        if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiu":
            raise ValueError(f"--images {a.images}: holds {getattr(x, 'dtype', type(x).__name__)} values, "
                             "not numbers in [0, 1]")
        return x, None
    from .. import data
    if a.n < 1:
        raise ValueError(f"--n must be >= 1, got {a.n}")
    x, y = data.load_images(a.data, a.split, a.data_dir or cfg.get("data_dir"), scale="sigmoid")
    return x[:a.n], y[:a.n]


def check_options(a):
    """Counts and real numbers checked before any work (``--lambda nan`` would write NaN images)."""
    import math
    for opt, v, lo, lo_ok, hi in (("--lambda", a.lam, 0.0, True, math.inf), ("--lr", a.lr, 0.0, False, math.inf),
                                  ("--p", a.p, 0.0, False, 1.0)):
        if not math.isfinite(v) or v < lo or (v == lo and not lo_ok) or v > hi or (opt == "--p" and v == hi):
            interval = f"{'[' if lo_ok else '('}{lo:g}, {hi:g})"
            raise ValueError(f"{opt} must be a finite number in {interval}, got {v}")
    for opt, v in (("--iters", a.iters), ("--restarts", a.restarts), ("--n", a.n)):
        if v < 1:
            raise ValueError(f"{opt} must be >= 1, got {v}")
    if a.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {a.seed}")


def _search(G, D, images, mask, cfg, a, labels):
    return inpaint(G, D, images, mask, cfg, iters=a.iters, lam=a.lam, lr=a.lr, restarts=a.restarts,
                   perceptual=a.perceptual, weighted=a.weighted, blend=a.blend, combine=a.combine, seed=a.seed,
                   prior_weight=a.prior_weight,
                   labels=labels if cfg.get("conditional") else None, progress=not a.quiet)


def run_cli(a):
    """Do ``minigan inpaint``: load the run and the images, search, write --out; returns the exit code."""
    from ..gan.run import load_run
    check_output_path(a.out)
    check_options(a)
    cfg, G, D = load_run(a.run, a.device)
    if cfg.get("model") == "dcgan32":
        raise ValueError(f"inpaint works on 28x28 generators; {a.run} is a dcgan32 run (32x32, padded images): "
                         "train --model dcgan or mlp to inpaint")
    if cfg.get("model") not in ("dcgan", "mlp"):
        raise ValueError(f"inpaint needs an image GAN; {a.run} is a {cfg.get('model')} model on {cfg.get('data')}")
    images, labels = _load_images(a, cfg)
    if cfg.get("conditional") and labels is None:
        raise ValueError(f"{a.run} is a conditional run: its G needs class labels; use --data")
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"--images must hold (N, C, H, W) images, got shape {images.shape}")
    mask = get_mask(a.mask, images.shape, a.p, a.seed)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):     # non-finite results are refused below
        r = _search(G, D, images, mask, cfg, a, labels)
    if not all(np.isfinite(r[k]).all() for k in ("blended", "generated", "loss")):
        raise ValueError(f"inpaint: the search gave NaN / inf values (a diverged run {a.run}, or a too large "
                         f"--lr {a.lr} / --lambda {a.lam}?); nothing written to {a.out}")
    if a.out.endswith(".npy"):
        tmp = f"{a.out}.part{os.getpid()}.npy"
        try:
            np.save(tmp, r["blended"])
            os.replace(tmp, a.out)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    else:
        inpainting_figure(images, mask, r["generated"], r["blended"], a.out)
    print(f"wrote {a.out}: {len(images)} images inpainted ({a.mask} mask, {a.iters} iterations, "
          f"{a.restarts} restart(s); mean final loss {r['loss'].mean():.3f})")
    return 0
