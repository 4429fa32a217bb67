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

IMAGE_SETS = ("fashion-mnist", "mnist")


def parser(name, description, images=False, epilog=None):
    """An ArgumentParser with the options every demo has: --device, --out, --seed (and --data, --data-dir)."""
    p = argparse.ArgumentParser(prog=f"python demos/{name}.py", description=description, epilog=epilog,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where tensors live: cpu (default) or cuda (needs CuPy and a GPU)")
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
    from minigan import backend
    device = backend.check_device(args.device)
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
