"""Demo: semantic inpainting with a trained DCGAN on Fashion-MNIST (Yeh et al. 2016, the slides' use case).

For every mask kind it searches z_hat = argmin_z ||M (G(z) - x)||_1 + lambda * perceptual(D(G(z))) on n
test images, and writes (under --out):

    inpainting_<mask>.png   rows: original / masked / G(z_hat) / blended (the slides' figure), 16 images
    search_<mask>.gif       G(z) over the iterations for the first few images (masked input on top)
    results.md              hole-region L1 and PSNR of minigan against three baselines (also printed)

Baselines: the mean training image in the hole; the hole of the training image nearest on the known
pixels (L2, searched over the training set minus its held-out part); the mean of the 8 nearest. If the
run does not exist, a short DCGAN-28 (1 epoch) is trained into it first.
"""
import _common  # noqa: F401  (sets BLAS threads before NumPy loads)

import os
import tempfile

import numpy as np

from minigan import data, load
from minigan.gan import viz
from minigan.gan.run import load_run
from minigan.gan.train import train
from minigan.gan.run import split_held_out
from minigan.inpaint import (COMBINES, DEFAULTS, KINDS, compose, hole_l1, hole_psnr, inpaint, make_mask, mean_fill,
                             nearest_fill)
from minigan.inpaint.figure import inpainting_figure, show_masked

EPILOG = """examples:
  python demos/inpainting.py                                  # runs/fashion-mnist, 64 test images, 4 masks
  python demos/inpainting.py --n 256 --iters 300 --restarts 8   # the 256-image table of docs/inpainting.md
"""


def get_args():
    p = _common.parser("inpainting", "Inpaint Fashion-MNIST test images with a trained DCGAN (Yeh et al.).",
                       images=False, epilog=EPILOG)
    p.add_argument("--run", default=os.path.join("runs", "fashion-mnist"),
                   help="run directory of a DCGAN on Fashion-MNIST (trained for 1 epoch if missing)")
    p.add_argument("--n", type=int, default=64, help="test images per mask (default 64)")
    p.add_argument("--masks", default=",".join(KINDS), help=f"comma-separated mask kinds (default {','.join(KINDS)})")
    p.add_argument("--iters", type=int, default=DEFAULTS["iters"],
                   help=f"Adam steps on z (default {DEFAULTS['iters']})")
    p.add_argument("--restarts", type=int, default=1, help="random starting codes per image (default 1)")
    p.add_argument("--combine", choices=list(COMBINES), default=DEFAULTS["combine"],
                   help=f"fill with the mean of the restarts or the best one (default {DEFAULTS['combine']})")
    p.add_argument("--lambda", dest="lam", type=float, default=DEFAULTS["lam"],
                   help=f"perceptual weight (default {DEFAULTS['lam']})")
    p.add_argument("--perceptual", choices=["nonsaturating", "saturating"], default="nonsaturating")
    p.add_argument("--prior-weight", type=float, default=DEFAULTS["prior_weight"],
                   help=f"gamma, the weight of the Gaussian prior's penalty on z (default {DEFAULTS['prior_weight']})")
    p.add_argument("--gif-images", type=int, default=8, help="images shown in each GIF (default 8)")
    p.add_argument("--data-dir", default=None, help="folder holding the Fashion-MNIST IDX files")
    return p.parse_args()


def ensure_run(args, device):
    """The run directory, training a short DCGAN-28 into it when it has no checkpoint."""
    if os.path.exists(os.path.join(args.run, "checkpoint.npz")):
        return args.run
    print(f"no trained run in {args.run}: training a short DCGAN-28 on Fashion-MNIST first "
          f"(1 epoch; 'minigan train --data fashion-mnist --epochs 5 --out {args.run}' gives better fills)")
    return train(data="fashion-mnist", model="dcgan", epochs=1, out=args.run, device=device, seed=args.seed,
                 data_dir=args.data_dir, force=True)


def write_gif(result, images, mask, path, k):
    """search_<mask>.gif: masked inputs over G(z) at each recorded iteration."""
    frames, iters = result["history"]["frames"], result["history"]["frame_iters"]
    top = show_masked(images[:k], mask[:k])
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for t, (it, f) in enumerate(zip(iters, frames)):
            grid = viz.image_grid(np.concatenate([top, np.repeat(f, 3, axis=1),
                                                  np.repeat(compose(images[:k], f, mask[:k]), 3, axis=1)]), nrow=k)
            paths.append(os.path.join(tmp, f"{t:04d}.png"))
            viz.save_png(grid, paths[-1], scale=3)
        viz.write_gif(paths + [paths[-1]] * 5, path, ms_per_frame=120)      # hold the last frame


def main():
    args = get_args()
    device = _common.prepare(args)
    kinds = [k.strip() for k in args.masks.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise SystemExit(f"--masks: unknown kinds {bad}; choose from {', '.join(KINDS)}")
    timer = _common.Timer()
    run = ensure_run(args, device)
    cfg, G, D = load_run(run, device)
    if cfg["data"] != "fashion-mnist" or cfg["model"] != "dcgan" or cfg.get("conditional"):
        print(f"note: {run} is a {cfg['model']} on {cfg['data']}; the demo is written for an unconditional "
              "DCGAN on Fashion-MNIST")
    data_dir = args.data_dir or cfg.get("data_dir")
    test, _ = data.load_images(cfg["data"], "test", data_dir, scale="sigmoid")
    trainset, _ = data.load_images(cfg["data"], "train", data_dir, scale="sigmoid")
    trainset = split_held_out(trainset)[0]                              # never the held-out images
    x = test[:args.n]
    k = min(args.gif_images, len(x))
    rows = []
    for kind in kinds:
        mask = make_mask(kind, (len(x), 1, 28, 28), rng=args.seed)
        print(f"[{timer():6.0f} s] {kind} mask: searching z for {len(x)} images "
              f"({args.iters} iterations, {args.restarts} restart(s)) ...")
        r = inpaint(G, D, x, mask, cfg, iters=args.iters, restarts=args.restarts, lam=args.lam,
                    perceptual=args.perceptual, combine=args.combine, seed=args.seed, record=k,
                    prior_weight=args.prior_weight,
                    record_every=max(1, args.iters // 30), progress=True)
        inpainting_figure(x[:16], mask[:16], r["generated"][:16], r["blended"][:16],
                          os.path.join(args.out, f"inpainting_{kind}.png"))
        write_gif(r, x, mask, os.path.join(args.out, f"search_{kind}.gif"), k)
        fills = {"mean training image": mean_fill(x, mask, trainset),
                 "nearest training image (known pixels)": nearest_fill(x, mask, trainset)[0],
                 "mean of the 8 nearest training images": nearest_fill(x, mask, trainset, k=8)[0],
                 "minigan G(z_hat), pasted": compose(x, r["generated"], mask),
                 "minigan G(z_hat), Poisson-blended": r["blended"]}
        for name, fill in fills.items():
            rows.append((kind, name, float(np.nanmean(hole_l1(fill, x, mask))),
                         float(np.nanmean(hole_psnr(fill, x, mask)))))
    step = int(load(os.path.join(run, "checkpoint.npz"))["step"])
    per_epoch = max(1, len(trainset) // (cfg["batch_size"] * cfg["k"]))
    lines = [f"Hole-region error on the first {len(x)} {cfg['data']} test images (images in [0, 1]; PSNR over "
             f"the missing pixels, mean over images). Run: {run}, G after {step} steps ({step / per_epoch:.1f} "
             f"epochs); {args.iters} iterations, {args.restarts} restart(s) ({args.combine}), lambda {args.lam}, "
             f"prior weight {args.prior_weight}, "
             f"{args.perceptual} perceptual loss.", "",
             "| mask | method | hole L1 | hole PSNR (dB) |", "|---|---|---:|---:|"]
    lines += [f"| {kind} | {name} | {l1:.4f} | {psnr:.2f} |" for kind, name, l1, psnr in rows]
    lines += ["", f"({timer():.0f} s in all)"]
    _common.report(lines, os.path.join(args.out, "results.md"))
    print(f"figures: {args.out}/inpainting_<mask>.png, search_<mask>.gif")


if __name__ == "__main__":
    main()
