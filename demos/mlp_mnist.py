"""The GAN paper's MLP on MNIST / Fashion-MNIST: Figure 2, Figure 3 and the Parzen window log-likelihood.

The model and recipe are those of Goodfellow et al. (2014) (``--model mlp``): G is z(100) -> 1200 ReLU ->
1200 ReLU -> 784 sigmoid, D is maxout 240x5 -> maxout 240x5 -> 1 with dropout; SGD with momentum rising
0.5 -> 0.7, batch 100, z ~ U(-1, 1). The demo trains it (or reuses ``--run``) and writes:

* figure2_samples.png: samples, the rightmost (framed) column the nearest training image of the sample
  beside it, as in the paper's Figure 2 (a sample unlike its neighbour is not a memorised image);
* figure3_interpolation.png: rows of 10 images from linear paths between two z's (the paper's Figure 3);
* the Parzen window log-likelihood of the test set (the paper's Table 1): a Gaussian kernel density on
  samples of G, sigma chosen on held-out training images. The paper used 10,000 samples (MNIST: 225 +- 2);
  the default here is fewer for time (``--parzen-samples 10000`` for the paper's measure).
"""
import _common  # noqa: F401  (first: sets the BLAS thread count before NumPy loads)

import json
import os

import numpy as np

from minigan import data
from minigan.gan import evaluate
from minigan.gan.run import split_held_out

DEFAULT_STEPS = 1200


def figure2(cfg, G, train_x, rng, device, path, rows=6, cols=5):
    """Samples in ``cols`` columns plus the nearest training image of the last one, framed (Figure 2)."""
    samples = evaluate.generate(cfg, G, rows * cols, rng, device=device)
    last = samples.reshape(rows, cols, *samples.shape[1:])[:, -1]
    nn_idx = evaluate.nearest_neighbours(last, train_x, rows)
    tiles = np.concatenate([samples.reshape(rows, cols, *samples.shape[1:]), train_x[nn_idx][:, None]], axis=1)
    fig = _common.grid_figure(tiles.reshape(-1, *samples.shape[1:]), cols + 1, frame_cols=[cols],
                              title="samples of G; framed: nearest training image of the sample beside it")
    return _common.savefig(fig, path)


def figure3(cfg, G, rng, device, path, rows=8, steps=10):
    """Rows of ``steps`` images from straight lines between two random z's (Figure 3)."""
    return _common.savefig(_common.interpolation_figure(cfg, G, rng, device, rows, steps), path)


def parzen(cfg, G, train_x, test_x, n_samples, n_test, rng, device):
    """Parzen window log-likelihood of the test set: sigma chosen on held-out training images."""
    samples = evaluate.generate(cfg, G, n_samples, rng, device=device)
    valid = split_held_out(train_x)[1]
    sigma, scores = evaluate.select_sigma(valid, samples)
    ll = evaluate.parzen_log_likelihood(test_x[:n_test], samples, sigma)
    se = float(ll.std(ddof=1) / np.sqrt(len(ll))) if len(ll) > 1 else float("nan")
    return dict(parzen_ll=float(ll.mean()), parzen_se=se, sigma=sigma, n_samples=n_samples, n_test=len(ll),
                n_valid=len(valid))


def build_parser():
    p = _common.parser("mlp_mnist", __doc__, images=True)
    _common.add_training_args(p, f"default {DEFAULT_STEPS}, two epochs of batch 100")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                   help="sgd: the paper's recipe (momentum 0.5 -> 0.7); adam: lr 2e-4, beta1 0.5 (default sgd)")
    p.add_argument("--lr", type=float, default=None,
                   help="G's learning rate, D's is half (default: sgd the paper's 0.1, adam 2e-4)")
    p.add_argument("--parzen-samples", type=int, default=2000,
                   help="samples of G in the Parzen window (default 2000; the paper: 10000)")
    p.add_argument("--parzen-test", type=int, default=10000, help="test images scored (default all 10000)")
    return p


def main(argv=None):
    """Train or load, draw Figures 2 and 3, measure the Parzen LL; returns the summary dict."""
    args = build_parser().parse_args(argv)
    device = _common.prepare(args)
    timer = _common.Timer()
    lr = args.lr or (None if args.optimizer == "sgd" else 2e-4)
    extra = dict(optimizer="adam", beta1=0.5, update="alternating") if args.optimizer == "adam" else {}
    run_dir, cfg, G, _ = _common.train_or_load(args, device, DEFAULT_STEPS, "mlp", lr=lr, **extra)
    t_train = timer()
    train_x, _ = data.load_images(cfg["data"], "train", args.data_dir, scale="sigmoid")
    test_x, _ = data.load_images(cfg["data"], "test", args.data_dir, scale="sigmoid")
    rng = np.random.default_rng(args.seed + 7)
    fig2 = figure2(cfg, G, split_held_out(train_x)[0], rng, device,
                   os.path.join(args.out, "figure2_samples.png"))
    fig3 = figure3(cfg, G, rng, device, os.path.join(args.out, "figure3_interpolation.png"))
    print(f"Parzen window: {args.parzen_samples} samples, sigma chosen on held-out training images ...")
    pz = parzen(cfg, G, train_x, test_x, args.parzen_samples, args.parzen_test, rng, device)
    summary = dict(run=run_dir, data=cfg["data"], steps=cfg["steps"], epochs=cfg["epochs"],
                   optimizer=cfg["optimizer"], lr=cfg["lr"],
                   train_seconds=round(t_train, 1), seconds=round(timer(), 1), figures=[fig2, fig3], **pz)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    budget = (f"{cfg['steps']} steps" if cfg["steps"] else f"{cfg['epochs']} epochs") + \
        f", {cfg['optimizer']} lr {cfg['lr']:g}"
    _common.report([
        f"MLP GAN on {cfg['data']} ({budget}; run {run_dir}); {summary['seconds']} s in all, "
        f"{summary['train_seconds']} s loading/training",
        f"  Parzen window log-likelihood: {pz['parzen_ll']:.1f} +- {pz['parzen_se']:.1f} "
        f"(sigma {pz['sigma']:.3f} chosen on {pz['n_valid']} held-out images; {pz['n_samples']} samples, "
        f"{pz['n_test']} test images)",
        f"  figures: {fig2}, {fig3}, {os.path.join(run_dir, 'progress.gif')}"])
    return summary


if __name__ == "__main__":
    main()
