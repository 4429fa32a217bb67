"""A conditional GAN (Mirza & Osindero 2014): one row per class, class names as row labels.

G and D both get the class label (``--conditional``): G as a one-hot vector appended to z, D as one-hot
constant image planes (DCGAN-28) or extra input features (the MLP). The demo trains one (or reuses
``--run``) and writes:

* classes.png: 10 rows, one per class, 10 columns; each column shares one z, so a column shows what the
  noise controls (style: thickness, tilt, brightness) with the class held by the label;
* the share of samples whose nearest training image (L2, pixels) has the requested class: a check, with no
  classifier to train, that G listens to the label (about 10% would mean it ignores it).
"""
import _common  # noqa: F401  (first: sets the BLAS thread count before NumPy loads)

import json
import os

import numpy as np

from minigan import backend, data
from minigan.gan import evaluate, run
from minigan.gan.run import held_out
from minigan.tensor import Tensor, no_grad

DEFAULT_STEPS = 1200


def class_grid(cfg, G, rng, device, cols=10):
    """(10 * cols) images: row r is class r, column c uses the same z in every row."""
    z = run.noise(cfg, cols, rng).numpy()
    z = np.tile(z, (10, 1))                                        # (10*cols, z_dim), rows share the z's
    labels = np.repeat(np.arange(10), cols)
    with no_grad():
        out = G(Tensor(backend.to_device(z, device)), labels).numpy()
    return run.to_unit_range(cfg, out), labels


def build_parser():
    p = _common.parser("conditional", __doc__, images=True)
    p.add_argument("--model", choices=["dcgan", "mlp"], default="dcgan", help="DCGAN-28 (default) or the MLP")
    _common.add_training_args(p, f"default {DEFAULT_STEPS}")
    p.add_argument("--check-samples", type=int, default=1000,
                   help="samples labelled by nearest training image for the label check (default 1000)")
    p.add_argument("--nn-train", type=int, default=20000,
                   help="training images searched for nearest neighbours (default 20000)")
    return p


def main(argv=None):
    """Train or load a conditional GAN, draw classes.png, check the labels; returns the summary dict."""
    args = build_parser().parse_args(argv)
    device = _common.prepare(args)
    timer = _common.Timer()
    run_dir, cfg, G, _ = _common.train_or_load(args, device, DEFAULT_STEPS, args.model, conditional=True)
    t_train = timer()
    names = data.CLASS_NAMES[cfg["data"]]
    rng = np.random.default_rng(args.seed + 5)
    images, _ = class_grid(cfg, G, rng, device)
    fig = _common.grid_figure(images, 10, row_labels=names,
                              title=f"conditional {cfg['model']} on {cfg['data']}: one row per class, "
                                    "one z per column")
    grid_png = _common.savefig(fig, os.path.join(args.out, "classes.png"))

    train_x, train_y = data.load_images(cfg["data"], "train", args.data_dir, scale="sigmoid")
    n = min(len(train_x) - held_out(len(train_x)), args.nn_train)
    labels = np.arange(args.check_samples) % 10
    samples = evaluate.generate(cfg, G, args.check_samples, rng, labels=labels, device=device)
    got, _ = _common.nearest_labels(samples, train_x[:n], train_y[:n])
    per_class = [float((got[labels == k] == k).mean()) if (labels == k).any() else float("nan") for k in range(10)]
    agree = float((got == labels).mean())
    summary = dict(run=run_dir, data=cfg["data"], model=cfg["model"], steps=cfg["steps"], epochs=cfg["epochs"],
                   train_seconds=round(t_train, 1), seconds=round(timer(), 1), label_agreement=agree,
                   per_class=dict(zip(names, per_class)), figures=[grid_png])
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    worst = sorted(zip(per_class, names))[:3]
    budget = f"{cfg['steps']} steps" if cfg["steps"] else f"{cfg['epochs']} epochs"
    _common.report([
        f"conditional {cfg['model']} on {cfg['data']} ({budget}; run {run_dir}); {summary['seconds']} s in all, "
        f"{summary['train_seconds']} s loading/training",
        f"  nearest training image has the asked-for class: {100 * agree:.1f}% of {args.check_samples} samples "
        f"(chance: 10%); hardest: " + ", ".join(f"{nm} {100 * v:.0f}%" for v, nm in worst),
        f"  figure: {grid_png}; GIF: {os.path.join(run_dir, 'progress.gif')}"])
    return summary


if __name__ == "__main__":
    main()
