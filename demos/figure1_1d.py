"""Figure 1 of Goodfellow et al. (2014) on a 1-D Gaussian: p_data, p_g, D(x) and the optimal D* over training.

A toy GAN (``--data gaussian1d``: x ~ N(4, 0.5^2), z ~ U(-1, 1)) is trained step by step with the library's
Trainer. At a few stages of training the demo draws, like the paper's Figure 1:

* p_data (black, dotted): the true density;
* p_g (green, solid): a Gaussian kernel density estimate of G's samples;
* D(x) (blue, dashed): the discriminator's output sigmoid(logit);
* D*(x) = p_data / (p_data + p_g) (orange): the optimal discriminator for the current G (Proposition 1);
* below the axis, arrows from evenly spaced z (lower line) to x = G(z) (upper line): how G squeezes and
  stretches the noise into p_g.

A second figure follows two numbers over training: how far D is from D* (the mean |D - D*| under
(p_data + p_g) / 2) and the virtual training criterion C(G) = -log 4 + 2 JSD(p_data || p_g) (Theorem 1),
which reaches its minimum -log 4 only when p_g = p_data. Both use the KDE of p_g, so C(G) cannot reach
-log 4 exactly: the dotted line shows the same estimate for true samples (the floor of the estimator).
"""
import _common  # noqa: F401  (first: sets the BLAS thread count before NumPy loads)

import copy
import json
import os

import numpy as np

from minigan import data
from minigan.gan import losses
from minigan.gan.evaluate import prior
from minigan.gan.train import RECIPES, Trainer, make_config
from minigan.tensor import Tensor, no_grad

XS = np.linspace(-3.0, 9.0, 1201)           # the grid every density and D is evaluated on
DX = XS[1] - XS[0]
LOG4 = np.log(4.0)


def kde(samples, xs=XS, bandwidth=None):
    """Gaussian kernel density estimate of 1-D samples on ``xs`` (Silverman's bandwidth, at least 0.02)."""
    s = np.asarray(samples, np.float64).ravel()
    if bandwidth is None:
        bandwidth = max(1.06 * s.std() * len(s) ** -0.2, 0.02)
    out = np.zeros(len(xs))
    for i in range(0, len(s), 1000):                       # (G, B) kernel matrix, a block of samples at a time
        u = (xs[:, None] - s[None, i:i + 1000]) / bandwidth
        out += np.exp(-0.5 * u * u).sum(1)
    return out / (len(s) * bandwidth * np.sqrt(2 * np.pi))


def d_of_x(trainer, xs=XS):
    """D(x) = sigmoid(D's logit) on a grid, D in eval mode."""
    trainer.D.eval()
    with no_grad():
        logits = trainer.D(Tensor(xs.astype(np.float32)[:, None], device=trainer.device)).numpy()
    trainer.D.train()
    return _common.sigmoid(logits.ravel())


def snapshot(trainer, z):
    """Everything a panel needs at the current step: densities, D, D*, and G(z) for the samples z."""
    x_g = trainer.sample(z).ravel()
    p_data, p_g = data.gaussian1d_pdf(XS), kde(x_g)
    d, d_star = d_of_x(trainer), losses.optimal_discriminator(p_data, p_g)
    weight = (p_data + p_g) / 2                             # the mixture D is trained on
    return dict(step=trainer.step, x_g=x_g, p_data=p_data, p_g=p_g, d=d, d_star=d_star,
                d_gap=float(np.sum(np.abs(d - d_star) * weight) * DX),
                c_g=losses.virtual_training_criterion(p_data, p_g, DX),
                jsd=losses.jensen_shannon(p_data, p_g, DX))


def converged_d(trainer, steps):
    """D(x) after ``steps`` more D updates against the current G, frozen (on a copy: training is untouched)."""
    clone = copy.deepcopy(trainer)
    for _ in range(steps):
        clone.d_step()
    return d_of_x(clone)


def draw_curves(ax, snap, d, d_label):
    """p_data, p_g, a discriminator and D* on one axis."""
    ax.plot(XS, snap["p_data"], ":", color="black", lw=2, label=r"$p_{data}$")
    ax.plot(XS, snap["p_g"], "-", color="tab:green", lw=2, label=r"$p_g$ (KDE of G(z))")
    ax.plot(XS, d, "--", color="tab:blue", lw=2, label=d_label)
    d_star = np.where(snap["p_data"] + snap["p_g"] > 1e-3, snap["d_star"], np.nan)   # undefined off-support
    ax.plot(XS, d_star, "-", color="tab:orange", lw=1, alpha=0.8,
            label=r"$D^* = p_{data}/(p_{data}+p_g)$")


def draw_panel(ax, snap, z_arrows, x_arrows, label, xlim):
    """One panel of Figure 1: curves above the axis, the z -> x mapping below it."""
    draw_curves(ax, snap, snap["d"], "D(x)")
    lo, hi = xlim
    y_x, y_z = -0.12, -0.55
    ax.hlines([y_x, y_z], lo, hi, color="0.3", lw=1)
    ax.text(lo, y_x + 0.02, " x", fontsize=8, va="bottom")
    ax.text(lo, y_z + 0.02, " z", fontsize=8, va="bottom")
    z_pos = lo + (z_arrows + 1) / 2 * (hi - lo)             # z in [-1, 1] drawn across the panel
    for zp, xg in zip(z_pos, x_arrows):
        xg = float(np.clip(xg, lo, hi))
        ax.annotate("", xy=(xg, y_x), xytext=(zp, y_z),
                    arrowprops=dict(arrowstyle="->", color="0.35", lw=0.7, shrinkA=0, shrinkB=0))
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.65, 1.15)
    ax.set_yticks([0, 0.5, 1])
    ax.set_title(f"({label}) step {snap['step']}\nC(G) = {snap['c_g']:.3f}, mean|D - D*| = {snap['d_gap']:.3f}",
                 fontsize=9)


def plot_stages(snaps, z_arrows, x_arrows, inner_steps, path):
    """Top row: Figure 1, one panel per stage. Bottom row: the same G's with D trained to convergence."""
    plt = _common.pyplot()
    n = len(snaps)
    fig, axes = plt.subplots(2, n, figsize=(3.6 * n, 6.4), sharey="row", squeeze=False,
                             gridspec_kw=dict(height_ratios=[3.6, 2.5]))
    xg_all = np.concatenate([s["x_g"] for s in snaps])
    lo = float(min(1.5, np.quantile(xg_all, 0.005) - 0.3))
    hi = float(max(6.5, np.quantile(xg_all, 0.995) + 0.3))
    for i, (s, xa) in enumerate(zip(snaps, x_arrows)):
        draw_panel(axes[0, i], s, z_arrows, xa, "abcdefghij"[i % 10], (lo, hi))
        ax = axes[1, i]
        draw_curves(ax, s, s["d_conv"], f"D after {inner_steps} D-only steps")
        ax.set_xlim(lo, hi)
        ax.set_ylim(0, 1.15)
        ax.set_title(f"G of step {s['step']} frozen: mean|D - D*| = {s['d_conv_gap']:.3f}", fontsize=9)
    axes[0, 0].legend(loc="upper left", fontsize=7)
    axes[1, 0].legend(loc="upper left", fontsize=7)
    fig.suptitle("Figure 1 of Goodfellow et al. (2014) on N(4, 0.5^2). Top: training (Algorithm 1); arrows map "
                 "z (lower line) to x = G(z).\nBottom: G frozen, D trained alone approaches D* "
                 "(Proposition 1)", fontsize=10)
    fig.tight_layout()
    return _common.savefig(fig, path)


def plot_curves(track, floor, path):
    """|D - D*| and C(G) over training."""
    plt = _common.pyplot()
    steps = [t["step"] for t in track]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.4))
    a1.plot(steps, [t["d_gap"] for t in track], color="tab:blue")
    a1.set_xlabel("training step")
    a1.set_ylabel(r"$\int |D - D^*|\,(p_{data}+p_g)/2\,dx$")
    a1.set_title("how far D is from the optimal D*", fontsize=10)
    gap = np.maximum([t["c_g"] + LOG4 for t in track], 1e-6)
    a2.semilogy(steps, gap, color="tab:green", label="C(G) + log 4 = 2 JSD(p_data || p_g)")
    a2.axhline(max(floor + LOG4, 1e-6), color="0.5", ls=":", lw=1.5,
               label="the same estimate for true samples (KDE floor)")
    a2.axhline(2 * np.log(2), color="black", ls="--", lw=1, label="2 log 2: disjoint supports")
    a2.set_xlabel("training step")
    a2.set_ylabel("C(G) - (-log 4)")
    a2.set_title("virtual training criterion C(G), above its minimum -log 4", fontsize=10)
    a2.legend(fontsize=8)
    fig.tight_layout()
    return _common.savefig(fig, path)


def build_parser():
    p = _common.parser("figure1_1d", __doc__)
    p.add_argument("--steps", type=int, default=RECIPES["gaussian1d"]["steps"],
                   help=f"generator steps (default {RECIPES['gaussian1d']['steps']}, the recipe's)")
    p.add_argument("--stages", default=None,
                   help="comma-separated steps to draw (default: 0, 1%%, 5%%, 20%% and 100%% of --steps)")
    p.add_argument("--loss", choices=["nonsaturating", "minimax"], default="nonsaturating",
                   help="generator objective (default nonsaturating, the paper's practical choice)")
    p.add_argument("--k", type=int, default=1, help="D steps per G step (Algorithm 1's k; default 1)")
    p.add_argument("--samples", type=int, default=4000, help="samples of G for the KDE of p_g (default 4000)")
    p.add_argument("--inner-steps", type=int, default=300,
                   help="D-only steps for the bottom row (D trained to convergence on a frozen G; default 300)")
    p.add_argument("--track-every", type=int, default=25, help="measure |D - D*| and C(G) every N steps")
    return p


def main(argv=None):
    """Train, draw figure1_stages.png and figure1_curves.png, print a summary; returns the summary dict."""
    args = build_parser().parse_args(argv)
    device = _common.prepare(args)
    timer = _common.Timer()
    if args.stages:
        stages = sorted({int(s) for s in args.stages.split(",")})
    else:
        stages = sorted({0, args.steps // 100, args.steps // 20, args.steps // 5, args.steps})
    if stages[0] < 0 or stages[-1] > args.steps:
        raise SystemExit(f"--stages must lie in 0..--steps ({args.steps}); got {stages}")
    cfg = make_config(data="gaussian1d", model="toy", loss=args.loss, k=args.k, steps=args.steps,
                      seed=args.seed, device=device, out=os.path.join(args.out, "run"))
    tr = Trainer(cfg, progress=False)
    rng = np.random.default_rng(args.seed + 1)
    z_kde = prior(cfg, args.samples, rng, device)            # fixed noise for the density estimates
    z_line = np.linspace(-0.95, 0.95, 24, dtype=np.float32)[:, None]
    z_arrows = Tensor(z_line, device=device)
    floor = losses.virtual_training_criterion(data.gaussian1d_pdf(XS), kde(data.gaussian1d(args.samples, rng)), DX)

    from tqdm import tqdm
    snaps, arrows, track = [], [], []
    with tqdm(total=args.steps, desc="GAN on N(4, 0.5^2)", unit="step", dynamic_ncols=True) as bar:
        while True:
            if tr.step in stages or tr.step % args.track_every == 0:
                s = snapshot(tr, z_kde)
                track.append({k: s[k] for k in ("step", "d_gap", "c_g", "jsd")})
                if tr.step in stages:
                    s["d_conv"] = converged_d(tr, args.inner_steps)
                    s["d_conv_gap"] = float(np.sum(np.abs(s["d_conv"] - s["d_star"])
                                                   * (s["p_data"] + s["p_g"]) / 2) * DX)
                    snaps.append(s)
                    arrows.append(tr.sample(z_arrows).ravel())
            if tr.step >= args.steps:
                break
            row = tr.train_step()
            bar.update(1)
            bar.set_postfix(D_x=f"{row['D_x']:.2f}", D_G_z=f"{row['D_G_z']:.2f}", refresh=False)
    tr.save_checkpoint()

    stages_png = plot_stages(snaps, z_line.ravel(), arrows, args.inner_steps,
                             os.path.join(args.out, "figure1_stages.png"))
    curves_png = plot_curves(track, floor, os.path.join(args.out, "figure1_curves.png"))
    last = snaps[-1]
    summary = dict(steps=args.steps, loss=args.loss, k=args.k, seconds=round(timer(), 1),
                   final_c_g=last["c_g"], minus_log4=-LOG4, kde_floor=floor, final_jsd=last["jsd"],
                   final_d_gap=last["d_gap"], final_d_conv_gap=last["d_conv_gap"],
                   stage_gaps=[(sn["step"], sn["d_gap"], sn["d_conv_gap"]) for sn in snaps],
                   pg_mean=float(last["x_g"].mean()), pg_std=float(last["x_g"].std()),
                   figures=[stages_png, curves_png])
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    _common.report([
        f"Figure 1 on N(4, 0.5^2), {args.steps} steps ({args.loss}, k={args.k}) in {summary['seconds']} s",
        f"  p_g: mean {summary['pg_mean']:.3f} (data 4), std {summary['pg_std']:.3f} (data 0.5)",
        f"  C(G) = {last['c_g']:.4f}  (-log 4 = {-LOG4:.4f}; KDE floor {floor:.4f}); JSD = {last['jsd']:.4f}",
        f"  mean |D - D*| = {last['d_gap']:.4f} as trained (k={args.k}); {last['d_conv_gap']:.4f} after "
        f"{args.inner_steps} more D-only steps on the final G",
        f"  figures: {stages_png}, {curves_png}"])
    return summary


if __name__ == "__main__":
    main()
