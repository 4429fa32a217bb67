"""The pictures of a run: what G makes of the same fixed noise, every ``sample_every`` steps.

    RUN_DIR/samples/step_XXXXXXX.png   an 8x8 image grid; for 1-D data a histogram beside p_data and D's
                                       curve; for 2-D data the samples over the data's modes
    RUN_DIR/progress.gif                every saved picture, in order

The drawing itself (grids, plots, GIF frames) is in viz.py.
"""
import os

import numpy as np

from .. import backend, data
from ..tensor import Tensor, no_grad
from . import viz
from .run import to_unit_range


def sample(G, z, labels=None):
    """G(z) as a NumPy array, G in eval mode (then back in training mode), no graph."""
    training = G.training
    G.eval()
    with no_grad():
        out = G(z, labels).numpy()
    G.train(training)
    return out


def save_samples(path, cfg, out, step, D=None):
    """The picture of ``out`` (G's samples of the fixed noise) at ``step``; ``D`` draws its curve for 1-D data."""
    title = f"step {step}"
    if out.ndim == 4:
        viz.save_image_grid(to_unit_range(cfg, out), path, nrow=8)
    elif cfg["data"] == "gaussian1d":
        xs = np.linspace(-1, 9, 200, dtype=np.float32)[:, None]
        D.eval()
        with no_grad():
            d = D(Tensor(backend.to_device(xs, cfg["device"]))).sigmoid().numpy()
        D.train()
        real = data.gaussian1d(len(out), np.random.default_rng(0))
        viz.save_png(viz.histogram_frame(out, real, xs.ravel(), d.ravel(), title), path)
    else:
        real = getattr(data, cfg["data"])(len(out), np.random.default_rng(0))
        lim = 1.5 if cfg["data"] == "ring" else 5.5
        viz.save_png(viz.points_frame(out, real, title, lim), path)


def write_gif(run_dir):
    """progress.gif from every saved sample picture."""
    folder = os.path.join(run_dir, "samples")
    if os.path.isdir(folder):
        frames = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.startswith("step_"))
        viz.write_gif(frames, os.path.join(run_dir, "progress.gif"))
