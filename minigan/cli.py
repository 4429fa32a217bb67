"""The ``minigan`` command: train | sample | evaluate | inpaint | bench.

Each sub-command parses its options here and calls one library function, so
what the command does can be read in ``minigan.gan``.
"""
import argparse
import json
import sys

import numpy as np

EPILOG = """examples:
  minigan train --data ring --out runs/ring              # 8 Gaussians on a ring, the default recipe
  minigan train --data fashion-mnist --epochs 5 --out runs/fm   # DCGAN-28
  minigan sample --run runs/fm --n 64 --out samples.png
  minigan evaluate --run runs/fm                          # Parzen log-likelihood, nearest neighbours
  minigan inpaint --run runs/fm --data fashion-mnist --n 16 --mask center --out filled.png
  minigan bench --profile                                 # ms per DCGAN / MLP training step, per-op times
"""


def _parser():
    p = argparse.ArgumentParser(prog="minigan", description="GANs from scratch on NumPy / CuPy.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a GAN (Algorithm 1) into a run directory",
                       description="Train a GAN with Algorithm 1 of Goodfellow et al. (k D steps per G step). "
                       "Options left out take the data set's recipe (see docs/theory.md).")
    t.add_argument("--data", default="ring", choices=["gaussian1d", "ring", "grid", "mnist", "fashion-mnist"],
                   help="training data (default: ring)")
    t.add_argument("--model", choices=["mlp", "dcgan", "dcgan32", "toy"],
                   help="mlp: the GAN paper's maxout MLP; dcgan: DCGAN-28; dcgan32: the all-convolutional DCGAN "
                        "on images padded to 32x32; toy: small MLPs for 1-D/2-D "
                        "(default: dcgan for images, toy otherwise)")
    t.add_argument("--loss", choices=["minimax", "nonsaturating", "wasserstein", "wasserstein-gp"],
                   help="generator / critic objective (default: nonsaturating)")
    t.add_argument("--k", type=int, help="discriminator steps per generator step (default 1; 5 for Wasserstein)")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--epochs", type=int, help="passes over the training images")
    g.add_argument("--steps", type=int, help="generator steps (instead of --epochs)")
    t.add_argument("--batch-size", type=int, help="minibatch size m")
    t.add_argument("--lr", type=float, help="learning rate")
    t.add_argument("--beta1", type=float, help="Adam's beta1 (DCGAN: 0.5)")
    t.add_argument("--optimizer", choices=["sgd", "adam", "rmsprop"])
    t.add_argument("--z-dim", type=int, help="size of the noise vector z")
    t.add_argument("--prior", choices=["normal", "uniform"], help="noise p_z: N(0, I) or U(-1, 1)^z_dim")
    t.add_argument("--momentum", type=float, help="SGD momentum (the MLP recipe: 0.5, rising to 0.7)")
    t.add_argument("--clip", type=float, help="WGAN's weight clipping bound c (default 0.01)")
    t.add_argument("--gp-lambda", type=float, help="WGAN-GP's penalty weight lambda (default 10)")
    t.add_argument("--unroll", type=int, help="unrolled GAN (Metz et al.): G's loss against D advanced K "
                                              "optimizer steps, differentiated through them (default 0: off)")
    t.add_argument("--max-norm", type=float, help="cap on the norm of each maxout unit's weight vector "
                                                  "(the MLP recipe: 1.9365; 0: none)")
    t.add_argument("--pack", type=int, help="PacGAN packing: D judges this many samples at once (toy models)")
    t.add_argument("--sample-every", type=int, help="save the fixed-noise picture every N steps")
    t.add_argument("--device", choices=["cpu", "cuda"], default=None, help="cpu (default) or cuda (needs CuPy)")
    t.add_argument("--seed", type=int, default=0, help="random seed (same seed, same result on CPU)")
    t.add_argument("--conditional", action="store_true", help="feed the class label to G and D (images)")
    t.add_argument("--data-dir", help="folder with the IDX files (else $MINIGAN_DATA, ~/.cache/minigan, "
                                      "/usr/share/datasets)")
    t.add_argument("--out", help="run directory (default runs/DATA)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="draw samples from a trained run")
    s.add_argument("--run", required=True, help="run directory")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", required=True, help=".npy (float32: images (N,C,H,W) in [0,1], points (N,d)) "
                                                "or .png (a grid / scatter plot)")
    s.add_argument("--labels", help="conditional runs: class labels, e.g. '3' or '0,1,2' (cycled); "
                                    "default cycles through all classes")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", choices=["cpu", "cuda"])

    e = sub.add_parser("evaluate", help="Parzen log-likelihood (images) or modes covered (2-D) of a run")
    e.add_argument("--run", required=True, help="run directory")
    e.add_argument("--samples", type=int, default=10000, help="samples for the Parzen window (default 10,000)")
    e.add_argument("--device", choices=["cpu", "cuda"])
    from .inpaint.cli import add_parser as add_inpaint_parser
    add_inpaint_parser(sub)
    sub.add_parser("bench", help="time minigan's GAN training steps (benchmarks/bench.py adds PyTorch)")
    return p


def cmd_inpaint(a):
    from .inpaint.cli import run_cli
    return run_cli(a)


def cmd_train(a):
    from .gan.train import TrainingDiverged, train
    opts = dict(data=a.data, model=a.model, loss=a.loss, k=a.k, epochs=a.epochs, steps=a.steps,
                batch_size=a.batch_size, lr=a.lr, beta1=a.beta1, optimizer=a.optimizer, z_dim=a.z_dim,
                pack=a.pack, prior=a.prior, momentum=a.momentum, clip=a.clip, gp_lambda=a.gp_lambda,
                unroll=a.unroll, max_norm=a.max_norm, sample_every=a.sample_every, device=a.device, seed=a.seed,
                conditional=a.conditional or None, data_dir=a.data_dir, out=a.out or f"runs/{a.data}")
    if opts["model"] is None and not a.resume:
        opts["model"] = "dcgan" if a.data in ("mnist", "fashion-mnist") else "toy"
    try:
        run_dir = train(resume=a.resume, progress=not a.quiet, **opts)
    except TrainingDiverged as err:
        print(f"minigan train: {err}", file=sys.stderr)
        return 1
    print(f"done: {run_dir} (samples/, progress.gif, metrics.csv, checkpoint.npz)")
    return 0


def cmd_sample(a):
    from . import backend
    from .gan import viz
    from .gan.evaluate import generate, load_run
    cfg, G, _ = load_run(a.run, a.device)
    if a.n < 1:
        raise ValueError(f"--n must be >= 1, got {a.n}")
    labels = None
    if cfg["conditional"]:
        pool = [int(v) for v in a.labels.split(",")] if a.labels else list(range(10))
        if any(not 0 <= v < 10 for v in pool):
            raise ValueError(f"--labels must be class numbers 0..9, got {a.labels}")
        labels = np.resize(np.array(pool), a.n)
    elif a.labels:
        raise ValueError("--labels is for conditional runs; this run is not conditional")
    out = generate(cfg, G, a.n, np.random.default_rng(a.seed), labels,
                   device=backend.check_device(a.device or cfg.get("device", "cpu")))
    if a.out.endswith(".npy"):
        np.save(a.out, out)
    elif a.out.endswith(".png"):
        if out.ndim == 4:
            viz.save_image_grid(out, a.out, nrow=int(np.ceil(np.sqrt(a.n))))
        elif out.shape[1] == 2:
            viz.save_png(viz.points_frame(out, title=f"{a.n} samples"), a.out)
        else:
            viz.save_png(viz.histogram_frame(out, title=f"{a.n} samples"), a.out)
    else:
        raise ValueError(f"--out must end in .npy or .png, got {a.out!r}")
    print(f"wrote {a.out}: {out.shape[0]} samples of shape {out.shape[1:]}")
    return 0


def cmd_evaluate(a):
    from .gan.evaluate import evaluate
    r = evaluate(a.run, n_samples=a.samples, device=a.device)
    if "parzen_ll" in r:
        print(f"Parzen window log-likelihood: {r['parzen_ll']:.1f} +- {r['parzen_se']:.1f} "
              f"(sigma {r['sigma']:.3f}, {r['n_samples']} samples, {r['n_test']} test images)")
        print(f"nearest training neighbours: {r['nearest_neighbours_png']}")
    elif "modes_covered" in r:
        print(f"modes covered: {r['modes_covered']}/{r['n_modes']}, "
              f"high-quality samples: {100 * r['high_quality']:.1f}%")
    else:
        print(json.dumps(r, indent=2))
    return 0


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate, "inpaint": cmd_inpaint}


def main(argv=None):
    """Entry point of ``minigan`` and ``python -m minigan``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    from .backend import reuse_freed_memory
    reuse_freed_memory()
    if argv[:1] == ["bench"]:                     # bench has its own parser (minigan/bench.py)
        from .bench import main as bench_main
        return bench_main(argv[1:])
    parser = _parser()
    a = parser.parse_args(argv)
    if a.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[a.command](a)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"minigan {a.command}: error: {err}", file=sys.stderr)
        return 2
