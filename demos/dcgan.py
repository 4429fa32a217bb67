"""DCGAN-28 on Fashion-MNIST (or MNIST): samples over training, loss curves, interpolation, z arithmetic.

Trains the library's DCGAN-28 (Radford et al. 2016, cut down to 28x28: Linear -> 7x7x128 -> two strided
transposed convolutions, BatchNorm, ReLU / LeakyReLU, tanh; Adam with beta1 0.5 at the data set's rate, batch
64: the recipe ``minigan train --help`` lists, or with ``--recipe paper`` the papers' Adam 2e-4) or reuses a
trained run (``--run``), and writes:

* training_progress.png: the fixed-noise sample grids saved during training, side by side (the run folder
  also has them one by one in samples/ and as progress.gif);
* samples.png: 64 samples of the final G;
* loss_curves.png: loss_D, loss_G, D(x) and D(G(z)) per step from metrics.csv (thin) and smoothed (thick);
* interpolation.png: rows of 10 images along straight lines between two z's (DCGAN paper, section 6.1);
* arithmetic.png: z-space vector arithmetic (DCGAN paper, section 6.3). There is no labelled latent space, so
  the demo labels samples the way a human would without a classifier: each sample takes the class of its
  nearest training image (L2 in pixel space). The mean z of samples labelled A, minus that of B, plus that of
  C, is decoded, with 7 more points around it (z + U(-0.25, 0.25) noise, as in the DCGAN paper).
"""
import _common  # noqa: F401  (first: sets the BLAS thread count before NumPy loads)

import json
import os

import numpy as np

from minigan import backend, data
from minigan.gan import evaluate, run, watch
from minigan.gan.run import held_out
from minigan.tensor import Tensor, no_grad

DEFAULT_STEPS = 1400
ARITHMETIC = {"fashion-mnist": "Ankle boot,Sneaker,Sandal", "mnist": "9,4,7"}


def read_metrics(run_dir):
    """metrics.csv as a dict of float arrays: the rows of the run as it stands (a resumed run's rows replace the
    ones a killed run wrote past its checkpoint: watch.read_metrics)."""
    rows = watch.read_metrics(os.path.join(run_dir, "metrics.csv"))
    if not rows:
        raise SystemExit(f"{run_dir}/metrics.csv has no rows")
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def smooth(y, n):
    """Moving average over n points (shorter at the start)."""
    if n <= 1 or len(y) < 2:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    idx = np.arange(1, len(y) + 1)
    lo = np.maximum(idx - n, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def loss_curves(run_dir, loss, path):
    """Two panels from metrics.csv: the losses, and D's mean output on real and generated images."""
    m = read_metrics(run_dir)
    plt = _common.pyplot()
    n = max(1, len(m["step"]) // 50)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.5))
    for key, color in (("loss_D", "tab:red"), ("loss_G", "tab:blue")):
        a1.plot(m["step"], m[key], color=color, alpha=0.25, lw=0.6)
        a1.plot(m["step"], smooth(m[key], n), color=color, lw=1.8, label=key)
    a1.set_xlabel("step")
    if loss.startswith("wasserstein"):
        a1.set_title(f"losses ({loss}: critic E[D(G(z))] - E[D(x)]; G: -E[D(G(z))])", fontsize=10)
    else:
        a1.axhline(2 * np.log(2), color="tab:red", ls=":", lw=1, label="loss_D at the equilibrium: 2 log 2")
        g = "-log D(G(z))" if loss == "nonsaturating" else "log(1 - D(G(z)))"
        a1.set_title(f"losses (D: -V(D, G); G: {g})", fontsize=10)
    a1.legend()
    for key, color, lab in (("D_x", "tab:green", "D(x), real"), ("D_G_z", "tab:orange", "D(G(z)), generated")):
        a2.plot(m["step"], m[key], color=color, alpha=0.25, lw=0.6)
        a2.plot(m["step"], smooth(m[key], n), color=color, lw=1.8, label=lab)
    a2.set_xlabel("step")
    if loss.startswith("wasserstein"):
        a2.set_title("the critic's mean output", fontsize=10)
    else:
        a2.axhline(0.5, color="0.5", ls=":", lw=1)
        a2.set_ylim(0, 1)
        a2.set_title("the discriminator's mean output (1/2 at the equilibrium)", fontsize=10)
    a2.legend()
    fig.tight_layout()
    return _common.savefig(fig, path)


def training_progress(run_dir, path, n=6):
    """Up to n of the run's fixed-noise grids (first, last and evenly between), titled by step."""
    from PIL import Image
    folder = os.path.join(run_dir, "samples")
    frames = sorted(f for f in os.listdir(folder) if f.startswith("step_")) if os.path.isdir(folder) else []
    if not frames:
        return None
    pick = [frames[i] for i in sorted({round(j * (len(frames) - 1) / max(1, n - 1)) for j in range(n)})]
    plt = _common.pyplot()
    fig, axes = plt.subplots(1, len(pick), figsize=(2.6 * len(pick), 2.9), squeeze=False)
    for ax, f in zip(axes[0], pick):
        ax.imshow(np.asarray(Image.open(os.path.join(folder, f)).convert("RGB")))
        ax.set_title(f"step {int(f[5:12])}", fontsize=9)
        ax.axis("off")
    fig.suptitle("the same 64 z's during training", fontsize=10)
    fig.tight_layout()
    return _common.savefig(fig, path)


def class_index(name, dataset):
    """A class given by name ("Sandal") or number ("5")."""
    names = data.CLASS_NAMES[dataset]
    if name in names:
        return names.index(name)
    if name.isdigit() and int(name) < len(names):
        return int(name)
    raise SystemExit(f"--arithmetic: unknown class {name!r}; {dataset} has {', '.join(names)}")


def decode(cfg, G, z, device):
    """G(z) in [0, 1] for a NumPy z."""
    with no_grad():
        return run.to_unit_range(cfg, G(Tensor(backend.to_device(z.astype(np.float32), device))).numpy())


def arithmetic(cfg, G, train_x, train_y, spec, n_samples, rng, device, path, exemplars=3):
    """z arithmetic mean_z(A) - mean_z(B) + mean_z(C), classes from nearest training images; returns a dict."""
    names = data.CLASS_NAMES[cfg["data"]]
    a, b, c = (class_index(s.strip(), cfg["data"]) for s in spec.split(","))
    z = run.noise(cfg, n_samples, rng).numpy()
    x = np.concatenate([decode(cfg, G, z[i:i + 500], device) for i in range(0, n_samples, 500)])
    lab, dist = _common.nearest_labels(x, train_x, train_y)
    counts = np.bincount(lab, minlength=len(names))
    missing = [names[k] for k in (a, b, c) if counts[k] == 0]
    if missing:
        print(f"arithmetic skipped: none of {n_samples} samples looks like {', '.join(missing)} "
              "(train longer, or pick other classes with --arithmetic)")
        return dict(a=names[a], b=names[b], c=names[c], class_counts=counts.tolist(), result_labels=[],
                    skipped=missing)
    # DCGAN averaged the z of 3 exemplars per concept: here the 3 samples of the class nearest to a training
    # image. (The mean of many z's would shrink towards 0, a point far from where the prior puts its mass.)
    order = {k: np.flatnonzero(lab == k)[np.argsort(dist[lab == k])] for k in (a, b, c)}
    means = {k: z[order[k][:exemplars]].mean(0) for k in (a, b, c)}
    z_r = means[a] - means[b] + means[c]
    z_set = np.concatenate([z_r[None], z_r[None] + rng.uniform(-0.25, 0.25, (7, z.shape[1]))])
    result = decode(cfg, G, z_set, device)
    res_lab, _ = _common.nearest_labels(result, train_x, train_y)
    rows, labels = [], []
    for k in (a, b, c):
        examples = x[order[k][:7]]
        examples = np.concatenate([examples, np.ones((7 - len(examples),) + x.shape[1:], np.float32)])
        rows.append(np.concatenate([decode(cfg, G, means[k][None], device), examples]))
        labels.append(f"{names[k]} ({counts[k]} of {n_samples})")
    rows.append(result)
    labels.append(f"{names[a]} - {names[b]}\n+ {names[c]}")
    fig = _common.grid_figure(np.concatenate(rows), 8, row_labels=labels,
                              title=f"first column: G(mean z of the first {exemplars} samples shown); then the\n"
                                    "samples labelled so, nearest a training image first. Last row: "
                                    "G(z_A - z_B + z_C) and 7 points around it")
    _common.savefig(fig, path)
    return dict(a=names[a], b=names[b], c=names[c], class_counts=counts.tolist(),
                result_labels=[names[k] for k in res_lab])


def build_parser():
    p = _common.parser("dcgan", __doc__, images=True)
    _common.add_training_args(p, f"default {DEFAULT_STEPS}: recognisable garments; 5 epochs look better")
    p.add_argument("--recipe", choices=["default", "paper"], default="default",
                   help="the data set's recipe (default), or the DCGAN papers' Adam 2e-4 (paper)")
    p.add_argument("--arithmetic", default=None, metavar="A,B,C",
                   help="classes for z_A - z_B + z_C, by name or number (default: fashion-mnist "
                        f"'{ARITHMETIC['fashion-mnist']}', mnist '{ARITHMETIC['mnist']}')")
    p.add_argument("--exemplars", type=int, default=3,
                   help="samples averaged per class for the arithmetic (default 3, as the DCGAN paper)")
    p.add_argument("--arith-samples", type=int, default=2000,
                   help="samples labelled by nearest training image for the arithmetic (default 2000)")
    p.add_argument("--nn-train", type=int, default=20000,
                   help="training images searched for nearest neighbours (default 20000)")
    return p


def main(argv=None):
    """Train or load, then draw every figure; returns the summary dict."""
    args = build_parser().parse_args(argv)
    device = _common.prepare(args)
    timer = _common.Timer()
    run_dir, cfg, G, _ = _common.train_or_load(args, device, DEFAULT_STEPS, "dcgan", recipe=args.recipe)
    t_train = timer()
    out = args.out
    rng = np.random.default_rng(args.seed + 3)
    figs = [training_progress(run_dir, os.path.join(out, "training_progress.png")),
            loss_curves(run_dir, cfg["loss"], os.path.join(out, "loss_curves.png"))]
    samples = evaluate.generate(cfg, G, 64, rng, device=device)
    from minigan.gan import viz
    viz.save_image_grid(samples, os.path.join(out, "samples.png"), nrow=8, scale=2)
    figs.append(os.path.join(out, "samples.png"))
    figs.append(_common.savefig(_common.interpolation_figure(cfg, G, rng, device),
                                os.path.join(out, "interpolation.png")))
    train_x, train_y = data.load_images(cfg["data"], "train", args.data_dir, scale="sigmoid")
    n_train = len(train_x) - held_out(len(train_x))
    train_x, train_y = train_x[:min(n_train, args.nn_train)], train_y[:min(n_train, args.nn_train)]
    spec = args.arithmetic or ARITHMETIC[cfg["data"]]
    arith = arithmetic(cfg, G, train_x, train_y, spec, args.arith_samples, rng, device,
                       os.path.join(out, "arithmetic.png"), args.exemplars)
    if not arith.get("skipped"):
        figs.append(os.path.join(out, "arithmetic.png"))
    figs = [f for f in figs if f]
    m = read_metrics(run_dir)
    tail = slice(max(0, len(m["step"]) - 100), None)
    summary = dict(run=run_dir, data=cfg["data"], steps=int(m["step"][-1]), train_seconds=round(t_train, 1),
                   seconds=round(timer(), 1), last100=dict((k, float(m[k][tail].mean()))
                                                           for k in ("loss_D", "loss_G", "D_x", "D_G_z")),
                   arithmetic=arith, figures=figs)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    res = {k: arith["result_labels"].count(k) for k in dict.fromkeys(arith["result_labels"])}
    l100 = summary["last100"]
    _common.report([
        f"DCGAN-28 on {cfg['data']}: {summary['steps']} steps (run {run_dir}); {summary['seconds']} s in all, "
        f"{summary['train_seconds']} s loading/training",
        f"  last 100 steps: loss_D {l100['loss_D']:.3f}, loss_G {l100['loss_G']:.3f}, D(x) {l100['D_x']:.2f}, "
        f"D(G(z)) {l100['D_G_z']:.2f}",
        f"  arithmetic {arith['a']} - {arith['b']} + {arith['c']}: the 8 results look like (nearest training "
        f"image) {res}",
        f"  figures: {', '.join(figs)}; GIF: {os.path.join(run_dir, 'progress.gif')}"])
    return summary


if __name__ == "__main__":
    main()
