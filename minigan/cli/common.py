"""What every ``minigan`` sub-command shares: the --device and --threads help, the checks of the paths a command
reads and writes (before any work), one-line errors."""
import argparse
import os

from .. import files
from ..gan.config import DEVICE_HELP, THREADS_HELP  # noqa: F401  (one text for every command's --device)
from ..gan.run import run_of_file
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


def check_output_path(path, option="--out", exts=(".npy", ".png"), inputs=None):
    """Refuse an output path that cannot be written, before any work: empty, wrong ending, a directory, under a
    file, not writable; one of the command's own inputs (``inputs``: {option: path}, e.g. {"--images": ...}:
    writing it would replace what is being read); or a file of a training run (its config.json, checkpoint,
    metrics, pictures: ``run.run_of_file``), which belongs to ``minigan train``."""
    if not path:
        raise ValueError(f"{option} must not be empty")
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
    for name, given in (inputs or {}).items():
        if given and os.path.exists(path) and os.path.exists(given) and os.path.samefile(path, given):
            raise ValueError(f"{option} {path} is the file {name} {given} reads: writing it would replace the "
                             f"input; choose another {option}")
    run_dir = run_of_file(path)
    if run_dir is not None:
        raise ValueError(f"{option} {path} is a file of the training run in {run_dir} (minigan train writes it); "
                         f"choose another {option}")


def input_file(path, option):
    """``path`` if it names a regular file; else a one-line error naming ``option``, raised without opening the
    path (a named pipe would block the open until some process wrote to it; a directory or a device is no
    input either). Call it before any ``open`` or ``np.load`` of a path the user gave."""
    if not path:
        raise ValueError(f"{option} must not be empty")
    return files.regular_file(path, option)


def check_not_empty(args, names):
    """Refuse an option given as '' (``--labels ''``, ``--device ''``): an empty value would otherwise read as
    "not given" and be silently replaced by the default."""
    for name in names:
        if getattr(args, name, None) is not None and not str(getattr(args, name)).strip():
            raise ValueError(f"--{name.replace('_', '-')} must not be empty")


def one_line(err):
    """An error message as one line (multi-line library messages are joined with '; ')."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return "; ".join(lines) or type(err).__name__
