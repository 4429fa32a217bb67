"""Shared pieces of the demos: the common command-line options, output folders, timing, figures.

Import this module before NumPy is first imported (every demo does) so that OpenBLAS runs on one thread:
the demos' matrices are small and, on a machine shared with other work, BLAS threads spinning for each
other cost more than they save (a toy GAN step measured 10 ms on one thread, 85-120 ms on two).
Set OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS) yourself to override.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:                 # `python demos/x.py` from a checkout
    sys.path.insert(0, os.path.dirname(HERE))

IMAGE_SETS = ("fashion-mnist", "mnist")        # the demos offer Fashion-MNIST first (it is on this machine)


def parser(name, description, images=False, epilog=None):
    """An ArgumentParser with the options every demo has: --device, --out, --seed (and --data, --data-dir)."""
    p = argparse.ArgumentParser(prog=f"python demos/{name}.py", description=description, epilog=epilog,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None,
                   help="where tensors live: cpu, cuda or cuda:N (default: $MINIGAN_DEVICE, else cpu; cuda needs "
                        "CuPy and a GPU)")
    p.add_argument("--out", default=os.path.join("demos", "out", name),
                   help=f"folder for the figures and runs (default demos/out/{name})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    if images:
        p.add_argument("--data", choices=IMAGE_SETS, default="fashion-mnist",
                       help="image set (default fashion-mnist; found under /usr/share/datasets, "
                            "$MINIGAN_DATA or --data-dir)")
        p.add_argument("--data-dir", default=None, help="folder holding the four IDX files")
    return p


def prepare(args):
    """Check the device, create the output folder; returns the device name."""
    from minigan import backend, tricks
    try:
        device = backend.resolve_device(args.device)     # --device, else $MINIGAN_DEVICE, else cpu
    except (ValueError, RuntimeError) as e:
        raise SystemExit(str(e)) from None
    tricks.reuse_freed_memory()                                 # as the command-line tools do (CPU speed)
    os.makedirs(args.out, exist_ok=True)
    return device


def pyplot():
    """matplotlib.pyplot with the file-only Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def savefig(fig, path, dpi=100):
    """Save a matplotlib figure as PNG, close it, and return the path."""
    plt = pyplot()
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def sigmoid(x):
    """1 / (1 + e^-x) on a NumPy array, without overflow warnings."""
    import numpy as np
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


class Timer:
    """Wall-clock seconds since creation: ``Timer()()``."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self):
        return time.perf_counter() - self.t0


def report(lines, path=None):
    """Print the summary lines and, if ``path`` is given, also write them to that file."""
    text = "\n".join(lines)
    print(text)
    if path:
        with open(path, "w") as f:
            f.write(text + "\n")


# ------------------------------------------------------------------ image demos: train or reuse a run
def add_training_args(p, what):
    """--steps / --epochs (training budget) and --run (reuse a trained run instead of training)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--steps", type=int, default=None, help=f"generator steps to train ({what})")
    g.add_argument("--epochs", type=int, default=None, help="passes over the training images (instead of --steps)")
    p.add_argument("--run", default=None, metavar="RUN_DIR",
                   help="reuse a run made by `minigan train` (config.json + checkpoint.npz) instead of training")
    p.add_argument("--frames", type=int, default=20, help="fixed-noise sample grids saved during training "
                                                          "(the frames of progress.gif; default 20)")


def train_or_load(args, device, default_steps, model, conditional=False, **overrides):
    """Train (into OUT/run) or reuse ``--run``; returns (run_dir, cfg, G, D) with G and D in eval mode.

    ``overrides`` (e.g. lr=0.05) are training options on top of the recipe; None means "the recipe's".
    """
    from minigan.gan.run import load_run
    from minigan.gan.train import train
    if args.run:
        run_dir = args.run
    else:
        steps = None if args.epochs else (args.steps or default_steps)
        opts = dict(data=args.data, model=model, conditional=conditional or None, seed=args.seed, device=device,
                    data_dir=args.data_dir, out=os.path.join(args.out, "run"), steps=steps, epochs=args.epochs,
                    **overrides)
        if steps:
            opts["sample_every"] = max(1, steps // max(1, args.frames))
        run_dir = train(progress=True, force=True, **opts)     # a re-run starts over (the old run -> run.old)
    cfg, G, D = load_run(run_dir, device)
    if cfg["model"] != model or bool(cfg["conditional"]) != bool(conditional):
        raise SystemExit(f"--run {run_dir}: this demo needs a {'conditional ' if conditional else ''}{model} run; "
                         f"that run is a {'conditional ' if cfg['conditional'] else ''}{cfg['model']} run")
    return run_dir, cfg, G, D


def grid_figure(images, nrow, row_labels=None, title=None, frame_cols=(), inch_per_tile=0.6):
    """A matplotlib figure of an image grid (N, 1, H, W) in [0, 1]; row labels on the left, framed columns."""
    from matplotlib.patches import Rectangle

    from minigan.gan import viz
    plt = pyplot()
    pad = 2
    grid = viz.image_grid(images, nrow=nrow, pad=pad)
    h, w = images.shape[2:]
    rows = -(-len(images) // nrow)
    fig_w = grid.shape[1] / (w + pad) * inch_per_tile + (1.6 if row_labels else 0)
    fig_h = grid.shape[0] / (h + pad) * inch_per_tile + (0.5 if title else 0)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    ax.imshow(grid, interpolation="nearest")
    for c in frame_cols:
        for r in range(rows):
            ax.add_patch(Rectangle((pad + c * (w + pad) - 1.5, pad + r * (h + pad) - 1.5), w + 2, h + 2,
                                   fill=False, edgecolor="gold", lw=2))
    ax.set_xticks([])
    if row_labels:
        ax.set_yticks([pad + r * (h + pad) + h / 2 for r in range(len(row_labels))])
        ax.set_yticklabels(row_labels, fontsize=9)
        ax.tick_params(length=0)
    else:
        ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def nearest_labels(samples, train_x, train_y, chunk=2000):
    """Label and distance of each sample's nearest (L2) training image: a classifier with no training."""
    import numpy as np

    from minigan.gan.evaluate import nearest
    idx, d2 = nearest(samples, train_x, chunk=chunk)
    return train_y[idx], np.sqrt(d2)


def interpolation_figure(cfg, G, rng, device, rows=8, steps=10, labels=None):
    """Rows of ``steps`` images of G along straight lines between two random z's; returns the figure."""
    import numpy as np

    from minigan import backend
    from minigan.gan import run
    from minigan.tensor import Tensor, no_grad
    z0, z1 = (run.noise(cfg, rows, rng).numpy() for _ in range(2))
    t = np.linspace(0, 1, steps, dtype=np.float32)[None, :, None]
    z = (z0[:, None] * (1 - t) + z1[:, None] * t).reshape(rows * steps, -1)     # (rows*steps, z_dim)
    lab = None if labels is None else np.repeat(np.asarray(labels), steps)
    with no_grad():
        out = run.to_unit_range(cfg, G(Tensor(backend.to_device(z, device)), lab).numpy())
    return grid_figure(out, steps, title="linear interpolation in z space, left to right")
