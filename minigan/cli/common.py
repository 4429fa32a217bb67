"""What every ``minigan`` sub-command shares: the --device and --threads help, the output-path check, one-line
errors."""
import argparse
import os

from ..gan.config import DEVICE_HELP, THREADS_HELP  # noqa: F401  (one text for every command's --device)
from ..tricks import set_num_threads


def add_threads_argument(parser):
    """Add ``--threads N`` (THREADS_HELP) to a command's parser; ``use_threads`` applies it."""
    def count(text):
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
        return int(text)
    parser.add_argument("--threads", type=count, default=None, metavar="N", help=THREADS_HELP)


def use_threads(threads=None):
    """``minigan.set_num_threads``: the --threads given, else the default (every core, or the environment's)."""
    set_num_threads(threads)


def check_output_path(path, option="--out", exts=(".npy", ".png")):
    """Refuse an output path that cannot be written, before any work: wrong ending, a directory, under a file."""
    if not path.endswith(exts):
        raise ValueError(f"{option} must end in {' or '.join(exts)}, got {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"{option} {path}: is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        what = "is a file" if os.path.exists(parent) else "does not exist"
        raise ValueError(f"{option} {path}: the folder {parent} {what}")
    if not os.access(parent, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ValueError(f"{option} {path}: not writable")


def one_line(err):
    """An error message as one line (multi-line library messages are joined with '; ')."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return "; ".join(lines) or type(err).__name__
