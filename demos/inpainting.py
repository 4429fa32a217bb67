"""Demo: semantic inpainting with a trained DCGAN on Fashion-MNIST (Yeh et al. 2016, the slides' use case).

For every mask it fills n test images exactly as `minigan inpaint` does with its defaults (the run's encoder
reads the codes of the 4 training images nearest to each damaged image on its known pixels; a short search from
each moves G's features so that G's image matches the known pixels; the two that fit best are averaged; the
settings are chosen from the mask), and writes (under --out):

    inpainting_<mask>.png   rows: original / masked / the fill / blended (the slides' figure), 16 images
    search_<mask>.gif       G(z) over the search's iterations for the first few images, the best-fitting
                            start's (masked input on top)
    results.md              hole PSNR / L1, KID and class kept of minigan and the three copy-based baselines

If the run does not exist, a short DCGAN-28 (1 epoch) is trained into it first; if it has no encoder, the
encoder is trained (once, kept in the run directory). benchmarks/inpainting.py measures every mask on 256
images; docs/inpainting.md has its tables.
"""
import _common  # noqa: F401  (sets BLAS threads before NumPy loads)

import os
import tempfile

import numpy as np

from minigan import data
from minigan.gan import viz
from minigan.gan.run import load_run
from minigan.gan.train import train
from minigan.inpaint import compose, encoder_for, get_mask, inpaint
from minigan.inpaint.encoder import TRAINING, training_images
from minigan.inpaint.evaluate import Judge, baselines, compare, table
from minigan.inpaint.figure import inpainting_figure, show_masked

EPILOG = """examples:
  python demos/inpainting.py                                  # runs/fashion-mnist, 64 test images, 4 masks
  python demos/inpainting.py --masks center,random:0.95,grid:2 --n 16
"""


def get_args():
    p = _common.parser("inpainting", "Inpaint Fashion-MNIST test images with a trained DCGAN (Yeh et al.).",
                       images=False, epilog=EPILOG)
    p.add_argument("--run", default=os.path.join("runs", "fashion-mnist"),
                   help="run directory of a DCGAN on Fashion-MNIST (trained for 1 epoch if missing)")
    p.add_argument("--n", type=int, default=64, help="test images per mask (default 64)")
    p.add_argument("--masks", default="center,left,random,grid",
                   help="comma-separated mask specs, as minigan inpaint --mask takes them (default "
                        "center,left,random,grid)")
    p.add_argument("--encoder-steps", type=int, default=TRAINING["steps"],
                   help=f"training steps of the run's encoder when it has none (default {TRAINING['steps']}; "
                        "0: search from random codes)")
    p.add_argument("--gif-images", type=int, default=8, help="images shown in each GIF (default 8)")
    p.add_argument("--data-dir", default=None, help="folder holding the Fashion-MNIST IDX files")
    return p.parse_args()


def ensure_run(args, device):
    """The run directory, training a short DCGAN-28 into it when it has no checkpoint."""
    if os.path.exists(os.path.join(args.run, "checkpoint.npz")):
        return args.run
    print(f"no trained run in {args.run}: training a short DCGAN-28 on Fashion-MNIST first "
          f"(1 epoch; 'minigan train --data fashion-mnist --out {args.run}' gives the docs' fills)")
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
    specs = [k.strip() for k in args.masks.split(",") if k.strip()]
    timer = _common.Timer()
    run = ensure_run(args, device)
    cfg, G, D = load_run(run, device)
    if cfg["data"] != "fashion-mnist" or cfg["model"] != "dcgan" or cfg.get("conditional"):
        print(f"note: {run} is a {cfg['model']} on {cfg['data']}; the demo is written for an unconditional "
              "DCGAN on Fashion-MNIST")
    folder = args.data_dir or cfg.get("data_dir")
    test = data.load_images(cfg["data"], "test", folder, scale="sigmoid")[0]
    trainset, labels = training_images(cfg, folder)
    x, real = test[:args.n], test[-2000:]
    judge = Judge(real, x, cfg["data"], device)
    E = encoder_for(run, cfg, G, steps=args.encoder_steps, data_dir=args.data_dir, progress=True)
    k = min(args.gif_images, len(x))
    scores = {}
    for spec in specs:
        mask = get_mask(spec, x.shape, rng=args.seed)
        name = os.path.basename(spec)
        print(f"[{timer():6.0f} s] {name}: filling {len(x)} images ...")
        r = inpaint(G, D, x, mask, cfg, encoder=E, references=trainset, reference_labels=labels,
                    seed=args.seed, record=k, record_every=5, progress=True)
        inpainting_figure(x[:16], mask[:16], r["generated"][:16], r["blended"][:16],
                          os.path.join(args.out, f"inpainting_{name}.png"))
        write_gif(r, x, mask, os.path.join(args.out, f"search_{name}.gif"), k)
        scores[name] = compare(dict(baselines(x, mask, trainset), minigan=r["blended"]), judge, mask)
    start = "from random codes" if E is None else "from the nearest training images' codes"
    lines = [f"The first {len(x)} {cfg['data']} test images; run {run}; minigan inpaint's defaults ({start}); KID "
             "x 1000 against 2,000 real test images that were not inpainted.", "", table(scores), "",
             f"({timer():.0f} s in all)"]
    _common.report(lines, os.path.join(args.out, "results.md"))
    print(f"figures: {args.out}/inpainting_<mask>.png, search_<mask>.gif")


if __name__ == "__main__":
    main()
