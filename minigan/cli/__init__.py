"""The ``minigan`` command: train | sample | evaluate | inpaint | bench.

Each sub-command parses its options here and calls one library function, so
what the command does can be read in ``minigan.gan``.
"""
import argparse
import json
import os
import sys

import numpy as np

from ..gan.config import IMAGE_SETS, N_CLASSES
from .common import DEVICE_HELP, check_not_empty, check_output_path, one_line

EPILOG = """examples:
  minigan train --data ring --out runs/ring              # 8 Gaussians on a ring, the default recipe
  minigan train --data fashion-mnist --epochs 5 --out runs/fm   # DCGAN-28
  minigan sample --run runs/fm --n 64 --out samples.png
  minigan evaluate --run runs/fm                          # FID, IS, class balance, Parzen, nearest neighbours
  minigan inpaint --run runs/fm --data fashion-mnist --n 16 --mask center --out filled.png
  minigan bench --profile                                 # ms per DCGAN / MLP training step, per-op times
"""




class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: "minigan train: error: argument --steps: invalid int value: 'x'"."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser():
    p = _Parser(prog="minigan", description="GANs from scratch on NumPy / CuPy.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    from .. import options
    from ..gan import config
    t = sub.add_parser("train", help="train a GAN (Algorithm 1) into a run directory",
                       description="Train a GAN with Algorithm 1 of Goodfellow et al. (k D steps per G step). "
                       "Options left out take the data set's recipe (below; see docs/theory.md); an option the "
                       "run does not use is refused. Every option: docs/options.md.",
                       epilog=config.recipes_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_arguments(t, config.TRAIN, config.RECIPE_KEYS)
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint "
                   "(may change " + ", ".join(options.flag(k) for k in config.RESUME_MAY_CHANGE) + ")")
    t.add_argument("--force", action="store_true", help="start over in an --out that holds a run "
                   "(the old run is moved to OUT.old)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="draw samples from a trained run")
    s.add_argument("--run", required=True, help="run directory")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", required=True, help=".npy (float32: images (N,C,H,W) in [0,1], points (N,d)) "
                                                "or .png (a grid / scatter plot)")
    s.add_argument("--labels", help="conditional runs: class labels, e.g. '3' or '0,1,2' (cycled); "
                                    "default cycles through all classes")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", help=DEVICE_HELP)

    e = sub.add_parser("evaluate", help="FID, Inception-style score, class balance and Parzen log-likelihood "
                                        "(images; docs/evaluation.md) or modes covered (2-D) of a run")
    e.add_argument("--run", required=True, help="run directory")
    e.add_argument("--samples", type=int, help="samples drawn: for the Parzen window (default 10,000) or "
                                               "the 2-D mode count (default 2,500)")
    e.add_argument("--device", help=DEVICE_HELP)
    from .inpaint import add_parser as add_inpaint_parser
    add_inpaint_parser(sub)
    from .bench import parser as bench_parser
    sub.add_parser("bench", parents=[bench_parser()], add_help=False, description=bench_parser().description,
                   help="time minigan's GAN training steps (benchmarks/bench.py adds PyTorch)")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    return p


def cmd_inpaint(a):
    from .inpaint import run_cli
    return run_cli(a)


def cmd_train(a):
    from .. import options
    from ..gan.config import TRAIN
    from ..gan.train import TrainingDiverged, train
    opts = options.given(a, TRAIN)                      # the options typed: the rest come from the recipes
    opts.setdefault("out", f"runs/{opts.get('data', 'ring')}")
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):    # divergence is checked for
            trainer = train(resume=a.resume, force=a.force, progress=not a.quiet, return_trainer=True, **opts)
    except TrainingDiverged as err:
        print(f"minigan train: {one_line(err)}", file=sys.stderr)
        return 1
    if trainer.interrupted:
        return 128 + int(trainer.interrupted)          # 130 for Ctrl-C, 143 for SIGTERM (the shell's convention)
    print(f"done: {trainer.run_dir} (samples/, progress.gif, metrics.csv, checkpoint.npz)")
    return 0


PNG_LIMIT = {"images": 10000, "points": 1000000}     # a grid / scatter plot of more is neither viewable nor cheap


def _parse_labels(text):
    try:
        pool = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"--labels must be class numbers 0..{N_CLASSES - 1} separated by commas, e.g. '3' or "
                         f"'0,1,2'; got {text!r}") from None
    if any(not 0 <= v < N_CLASSES for v in pool):
        raise ValueError(f"--labels must be class numbers 0..{N_CLASSES - 1}, got {text!r}")
    return pool


def _size(nbytes):
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


def _free_memory():
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def cmd_sample(a):
    import shutil

    from tqdm import tqdm

    from .. import backend, files
    from ..gan import viz
    from ..gan.run import load_run, noise, to_unit_range
    from ..tensor import no_grad
    check_not_empty(a, ("run", "labels", "device"))
    if a.n < 1:
        raise ValueError(f"--n must be >= 1, got {a.n}")
    if a.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {a.seed}")
    check_output_path(a.out)
    pool = _parse_labels(a.labels) if a.labels is not None else None
    cfg, G, _ = load_run(a.run, a.device)
    if not cfg["conditional"] and pool is not None:
        raise ValueError("--labels is for conditional runs; this run is not conditional")
    kind = "images" if cfg["data"] in IMAGE_SETS else "points"
    size = 32 if cfg["model"] == "dcgan32" else 28
    shape = (1, size, size) if kind == "images" else (1 if cfg["data"] == "gaussian1d" else 2,)
    nbytes = a.n * int(np.prod(shape)) * 4
    if a.out.endswith(".png"):
        if a.n > PNG_LIMIT[kind]:
            raise ValueError(f"--n {a.n}: too many for one PNG (at most {PNG_LIMIT[kind]}); write a .npy instead")
        free = _free_memory()
        if free is not None and 4 * nbytes > free:
            raise ValueError(f"--n {a.n}: the samples need {_size(nbytes)}, more than the free memory")
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(a.out))).free
    if a.out.endswith(".npy") and nbytes + 4096 > free:
        raise ValueError(f"--n {a.n}: {a.out} would take {_size(nbytes)}, more than the {_size(free)} free "
                         f"on its disk")
    labels = np.resize(np.array(pool if pool else list(range(N_CLASSES))), a.n) if cfg["conditional"] else None
    device = backend.resolve_device(a.device)
    rng, batch = np.random.default_rng(a.seed), 500

    def samples():                                      # batch after batch, each checked before it is written
        with no_grad(), tqdm(total=a.n, unit="sample", disable=a.n <= 10 * batch, file=sys.stderr) as bar:
            for i in range(0, a.n, batch):
                m = min(batch, a.n - i)
                lab = None if labels is None else labels[i:i + m]
                x = np.ascontiguousarray(to_unit_range(cfg, G(noise(cfg, m, rng, device), lab).numpy()), np.float32)
                if not np.isfinite(x).all():
                    raise ValueError(f"{a.run}: the generator made NaN / inf samples (a diverged run?); nothing "
                                     "written")
                bar.update(m)
                yield x

    if a.out.endswith(".npy"):                          # streamed into a temporary file, renamed when whole
        def write(f):
            np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                                                     "fortran_order": False, "shape": (a.n,) + shape})
            for x in samples():
                f.write(x.tobytes())
        files.write_atomic(a.out, write)
    else:
        out = np.concatenate(list(samples()))
        if out.ndim == 4:
            viz.save_image_grid(out, a.out, nrow=int(np.ceil(np.sqrt(a.n))))
        elif out.shape[1] == 2:
            viz.save_png(viz.points_frame(out, title=f"{a.n} samples"), a.out)
        else:
            viz.save_png(viz.histogram_frame(out, title=f"{a.n} samples"), a.out)
    print(f"wrote {a.out}: {a.n} samples of shape {shape}")
    return 0


def _check_evaluate_memory(a):
    """Refuse a --samples whose samples and Parzen distance matrices cannot fit in the free memory."""
    from .. import files
    try:
        with open(files.regular_file(os.path.join(a.run, "config.json"))) as f:
            images = json.load(f).get("data") in IMAGE_SETS
    except (OSError, ValueError, AttributeError):
        return                                          # evaluate() says what is wrong with the run
    n = a.samples or (10000 if images else 2500)
    per_sample = 784 * 12 + 1000 * 8 * 3 if images else 2 * 4 + 25 * 8 * 2   # samples, float64 copy, (1000, n)
    free = _free_memory()
    if free is not None and n * per_sample > free:
        raise ValueError(f"--samples {n}: evaluating needs about {_size(n * per_sample)} of memory, more than "
                         f"the {_size(free)} free")


def cmd_evaluate(a):
    from ..gan.evaluate import evaluate
    check_not_empty(a, ("run", "device"))
    if a.samples is not None and a.samples < 1:
        raise ValueError(f"--samples must be >= 1, got {a.samples}")
    _check_evaluate_memory(a)
    r = evaluate(a.run, n_samples=a.samples, device=a.device)
    if "parzen_ll" in r:
        print(f"Parzen window log-likelihood: {r['parzen_ll']:.1f} +- {r['parzen_se']:.1f} "
              f"(sigma {r['sigma']:.3f}, {r['n_samples']} samples, {r['n_test']} test images)")
        if "fid" in r:
            ratio = r["class_max_min_ratio"]
            print(f"FID (classifier features, against the training set): {r['fid']:.2f}")
            print(f"Inception-style score: {r['is_mean']:.2f} +- {r['is_std']:.2f} ({r['is_splits']} splits)")
            print(f"class balance: entropy {r['class_entropy']:.3f} of 2.303 nats, max/min "
                  f"{'inf' if ratio is None else f'{ratio:.2f}'}, counts {r['class_counts']}")
        else:
            print(f"no FID / IS / class balance: {r.get('quality_note')}")
        print(f"nearest training neighbours: {r['nearest_neighbours_png']}")
    elif "modes_covered" in r:
        print(f"modes covered: {r['modes_covered']}/{r['n_modes']}, "
              f"high-quality samples: {100 * r['high_quality']:.1f}%")
    else:
        print(json.dumps(r, indent=2))
    return 0


def cmd_bench(a):
    from .bench import time_steps
    return time_steps(a)


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate, "inpaint": cmd_inpaint,
            "bench": cmd_bench}


SMALLER = {"train": "a smaller --batch-size", "sample": "fewer samples (--n)", "evaluate": "fewer --samples",
           "inpaint": "fewer images (--n) or --restarts", "bench": "a smaller --batch-size"}


def _error_text(err, command):
    if isinstance(err, MemoryError):
        return f"out of memory (ask for {SMALLER.get(command, 'less')})"
    if isinstance(err, OSError) and err.filename is not None:
        where = err.filename if err.filename2 is None else f"{err.filename} -> {err.filename2}"
        return f"{where}: {err.strerror or err}"
    return one_line(err)


def main(argv=None):
    """Entry point of ``minigan`` and ``python -m minigan``. Errors are one line on stderr (``--debug``: the
    traceback too); exit codes: 0 done, 1 training diverged, 2 bad input, 130 Ctrl-C, 143 SIGTERM."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    argv = [x for x in argv if x != "--debug"]
    from ..tricks import reuse_freed_memory
    reuse_freed_memory()                          # for speed; MINIGAN_REUSE_FREED_MEMORY=0 leaves glibc alone
    parser = _parser()
    a = parser.parse_args(argv)
    if a.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[a.command](a)
    except KeyboardInterrupt as err:              # Ctrl-C outside the training loop, or a second signal in it
        import signal
        signum = getattr(err, "signum", signal.SIGINT)
        if debug:
            raise
        print(f"minigan {a.command}: {one_line(err) if str(err) else 'interrupted'}", file=sys.stderr)
        return 128 + int(signum)
    except Exception as err:                      # noqa: BLE001  no traceback reaches a user
        if debug:
            raise
        print(f"minigan {a.command}: error: {_error_text(err, a.command)}", file=sys.stderr)
        return 2
