"""``minigan inpaint``: its options (``add_parser``), the work (``run_cli``) and the figure it draws."""
import os

import numpy as np

from .masks import KINDS, get_mask
from .search import BLENDS, DEFAULTS, inpaint

HOLE_COLOUR = (0.25, 0.45, 0.85)      # how missing pixels are shown in the "masked" row


def _rgb(images):
    x = np.asarray(images, np.float32)
    return np.repeat(x, 3, axis=1) if x.shape[1] == 1 else x[:, :3]


def show_masked(images, mask):
    """RGB copies of the images with the missing pixels painted HOLE_COLOUR, for figures."""
    x = _rgb(images)
    hole = np.broadcast_to(np.asarray(mask) == 0, (x.shape[0], 1) + x.shape[2:])
    colour = np.array(HOLE_COLOUR, np.float32)[None, :, None, None]
    return np.where(hole, colour, x)


def inpainting_figure(original, mask, generated, blended, path, ncol=16, scale=2):
    """The slides' figure: rows original / masked / G(z_hat) / blended, ``ncol`` images a block, as a PNG."""
    from ..gan import viz
    rows = [_rgb(original), show_masked(original, mask), _rgb(generated), _rgb(blended)]
    n = len(original)
    ncol = max(1, min(ncol, n))
    blank = np.ones((1,) + rows[0].shape[1:], np.float32)
    tiles = []
    for start in range(0, n, ncol):
        for r in rows:
            part = r[start:start + ncol]
            tiles += [part, np.repeat(blank, ncol - len(part), axis=0)]
    viz.save_image_grid(np.concatenate(tiles), path, nrow=ncol, scale=scale)


def add_parser(subparsers):
    """Add the ``inpaint`` sub-command, with its options and help, to an argparse subparsers object."""
    p = subparsers.add_parser(
        "inpaint", help="fill missing pixels with a trained GAN (Yeh et al. 2016)",
        description="Semantic inpainting: search the code z that makes G(z) match the known pixels "
                    "(contextual loss) and look real to D (perceptual loss), then fill the hole with G(z). "
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
                                                "(rows original / masked / G(z) / filled)")
    p.add_argument("--iters", type=int, default=DEFAULTS["iters"], help=f"Adam steps on z ({DEFAULTS['iters']})")
    p.add_argument("--lambda", dest="lam", type=float, default=DEFAULTS["lam"],
                   help=f"weight of the perceptual loss ({DEFAULTS['lam']})")
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"], help=f"Adam's learning rate ({DEFAULTS['lr']})")
    p.add_argument("--restarts", type=int, default=DEFAULTS["restarts"],
                   help=f"random starting codes per image, the best kept ({DEFAULTS['restarts']})")
    p.add_argument("--perceptual", choices=["saturating", "nonsaturating"], default=DEFAULTS["perceptual"],
                   help="log(1 - D(G(z))) or -log D(G(z)) (default nonsaturating)")
    p.add_argument("--weighted", action="store_true", help="importance-weighted contextual loss (Yeh et al.)")
    p.add_argument("--blend", choices=list(BLENDS), default=DEFAULTS["blend"],
                   help=f"how G(z) fills the hole (default {DEFAULTS['blend']})")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: the run's device")
    p.add_argument("--seed", type=int, default=0, help="seeds the starting codes and random masks")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _load_images(a, cfg):
    if a.images is not None:
        if not a.images.endswith(".npy"):
            raise ValueError(f"--images must be a .npy file, got {a.images!r}")
        if not os.path.exists(a.images):
            raise FileNotFoundError(f"--images: no such file {a.images!r}")
        return np.load(a.images, allow_pickle=False), None
    from .. import data
    if a.n < 1:
        raise ValueError(f"--n must be >= 1, got {a.n}")
    x, y = data.load_images(a.data, a.split, a.data_dir or cfg.get("data_dir"), scale="sigmoid")
    return x[:a.n], y[:a.n]


def run_cli(a):
    """Do ``minigan inpaint``: load the run and the images, search, write --out; returns the exit code."""
    from ..gan.evaluate import load_run
    if not a.out.endswith((".npy", ".png")):
        raise ValueError(f"--out must end in .npy or .png, got {a.out!r}")
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
    r = inpaint(G, D, images, mask, cfg, iters=a.iters, lam=a.lam, lr=a.lr, restarts=a.restarts,
                perceptual=a.perceptual, weighted=a.weighted, blend=a.blend, seed=a.seed,
                labels=labels if cfg.get("conditional") else None, progress=not a.quiet)
    if a.out.endswith(".npy"):
        np.save(a.out, r["blended"])
    else:
        inpainting_figure(images, mask, r["generated"], r["blended"], a.out)
    print(f"wrote {a.out}: {len(images)} images inpainted ({a.mask} mask, {a.iters} iterations, "
          f"{a.restarts} restart(s); mean final loss {r['loss'].mean():.3f})")
    return 0
