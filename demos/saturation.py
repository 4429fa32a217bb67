"""Minimax saturation in training: log(1 - D(G(z))) against -log D(G(z)) from one start where D is well ahead.

Section 3 of Goodfellow et al. (2014): "Early in learning, when G is poor, D can reject samples with high
confidence because they are clearly different from the training data. In this case, log(1 - D(G(z)))
saturates. Rather than training G to minimize log(1 - D(G(z))) we can train G to maximize log D(G(z))."

The demo makes that happen. Data x ~ N(4, 0.5^2) (1-D), z ~ U(-1, 1), toy MLPs (G: 2 x 32 ReLU, D: 2 x 32
LeakyReLU). G starts untrained (its samples lie near 0, far from the data) and D is first trained alone for
--pretrain steps, so it rejects G's samples with high confidence (D(G(z)) ~ 1e-4). From that same start (same
weights, same optimizer states, same random numbers) Algorithm 1 runs twice, k D steps per G step:

* minimax:       G descends  E log(1 - D(G(z)));  d/dlogit = -D(G(z)), about 0 when D rejects G(z);
* nonsaturating: G descends -E log D(G(z));       d/dlogit = -(1 - D(G(z))), about -1 there.

The optimizer is SGD with momentum (the paper's), whose step is proportional to the gradient: a vanishing
gradient means a stalled G. (Adam divides by a running gradient scale, so it rescales a small gradient back
up and hides most of the saturation: try --optimizer adam.)

The figure shows, per G step, G's gradient norm (log scale), the distance from p_g to p_data (the 1-D
Wasserstein distance W1 between 4,000 samples of G and the data's quantiles) and the mean D(G(z)).
"""
import _common  # noqa: F401  (first: sets the BLAS thread count before NumPy loads)

import copy
import json
import os

import numpy as np

from minigan import backend, data, optim
from minigan.gan import algorithm1, models
from minigan.tensor import no_grad

import _toygan as toy

MEAN, STD = 4.0, 0.5


def w1_to_data(x, mean=MEAN, std=STD):
    """Wasserstein-1 distance between the empirical distribution of 1-D samples x and N(mean, std^2).

    In 1-D, W1 = int_0^1 |F_g^-1(q) - F_data^-1(q)| dq; the sorted samples are F_g^-1 at q = (i + 1/2) / n.
    """
    x = np.sort(np.asarray(x, np.float64).ravel())
    q = (np.arange(len(x)) + 0.5) / len(x)
    return float(np.mean(np.abs(x - normal_quantile(q, mean, std))))


def normal_quantile(q, mean, std):
    """The quantile function of N(mean, std^2), by inverting its CDF on a fine grid."""
    t = np.linspace(-8, 8, 160001)
    cdf = np.cumsum(np.exp(-0.5 * t * t))
    cdf = (cdf - cdf[0]) / (cdf[-1] - cdf[0])
    return mean + std * np.interp(q, cdf, t)


def make_optimizer(name, module, lr, momentum):
    if name == "sgd":
        return optim.SGD(module.named_parameters(), lr=lr, momentum=momentum)
    return optim.Adam(module.named_parameters(), lr=lr, betas=(0.5, 0.999))


def g_probe(G, D, opt, z, loss, update=True):
    """G's step (algorithm1.g_step, D fixed) on noise z with G's ``loss``, updating G unless ``update`` is False;
    returns ||grad G|| and the mean D(G(z)) before the step."""
    with no_grad():
        d_fake = float(np.mean(_common.sigmoid(D(G(z)).numpy())))
    g = algorithm1.g_step(G, D, opt, (z, None), algorithm1.Settings(z.shape[0], loss=loss), update=update)
    return float(g.grad_norm), d_fake


def train_from(start, loss, args, device):
    """Algorithm 1 from ``start`` (a dict of G, D, optG, optD, rng) with G's ``loss``; returns the per-step log."""
    s = copy.deepcopy(start)
    G, D, optG, optD, rng = s["G"], s["D"], s["optG"], s["optD"], s["rng"]
    m = args.batch_size
    settings = algorithm1.Settings(m, loss=loss)     # D's loss is -V(D, G) for either of G's losses
    z_eval = toy.uniform_z(4000, 1, np.random.default_rng(args.seed + 7), device)
    log = dict(step=[], grad_norm=[], d_fake=[], w1_step=[], w1=[], mean_step=[], mean=[])
    from tqdm import tqdm
    for step in tqdm(range(args.steps + 1), desc=loss, unit="step", dynamic_ncols=True):
        if step % args.eval_every == 0 or step == args.steps:
            G.eval()
            with no_grad():
                xg = G(z_eval).numpy()
            G.train()
            log["w1_step"].append(step)
            log["w1"].append(w1_to_data(xg))
            log["mean"].append(float(np.mean(xg)))
        if step == args.steps:
            break
        for _ in range(args.k):
            real = toy.tensor(data.gaussian1d(m, rng, MEAN, STD), device)
            algorithm1.d_step(G, D, optD, (real, None), (toy.uniform_z(m, 1, rng, device), None), settings)
        gn, d_fake = g_probe(G, D, optG, toy.uniform_z(m, 1, rng, device), loss)
        log["step"].append(step + 1)
        log["grad_norm"].append(gn)
        log["d_fake"].append(d_fake)
    return log


def plot(logs, pre_log, args, path):
    plt = _common.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    colors = {"minimax": "tab:red", "nonsaturating": "tab:blue"}
    names = {"minimax": "minimax: log(1 - D(G(z)))", "nonsaturating": "non-saturating: -log D(G(z))"}
    for loss, log in logs.items():
        axes[0].semilogy(pre_log["step"], np.maximum(pre_log[loss], 1e-12), color=colors[loss], lw=1.5, ls=":")
        axes[2].semilogy(pre_log["step"], np.maximum(pre_log["d_fake"], 1e-12), color="0.4", lw=1.5, ls=":")
        axes[0].semilogy(log["step"], np.maximum(log["grad_norm"], 1e-12), color=colors[loss], lw=0.8,
                         label=names[loss])
        axes[1].plot(log["w1_step"], log["w1"], color=colors[loss], label=names[loss])
        axes[2].semilogy(log["step"], np.maximum(log["d_fake"], 1e-12), color=colors[loss], lw=0.8,
                         label=names[loss])
    for ax in (axes[0], axes[2]):
        ax.axvline(0, color="0.5", lw=0.8)
        ax.text(-args.pretrain, 1.0, " D trained alone (dotted)", transform=ax.get_xaxis_transform(),
                fontsize=7.5, va="top")
    axes[0].set_title("G's gradient norm ||dL_G/dθ_G||", fontsize=10)
    axes[1].set_title("distance to the data: W1(p_g, p_data)", fontsize=10)
    axes[2].set_title("mean D(G(z)) on G's batch", fontsize=10)
    for ax in axes:
        ax.set_xlabel("G step")
        ax.legend(fontsize=8)
    fig.suptitle(f"1-D N(4, 0.5²); D first trained alone for {args.pretrain} steps, then k = {args.k}, "
                 f"{args.optimizer.upper()} lr {args.lr}" + (f" momentum {args.momentum}"
                                                              if args.optimizer == "sgd" else ""), fontsize=10)
    fig.tight_layout()
    return _common.savefig(fig, path)


def build_parser():
    p = _common.parser("saturation", __doc__)
    p.add_argument("--steps", type=int, default=2000, help="G steps of each run (default 2000)")
    p.add_argument("--pretrain", type=int, default=1000, help="D-only steps before both runs (default 1000)")
    p.add_argument("--k", type=int, default=1, help="D steps per G step (default 1)")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                   help="optimizer of both G and D in the runs (default sgd, the paper's)")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate of the runs (default 0.01)")
    p.add_argument("--momentum", type=float, default=0.5, help="SGD momentum (default 0.5)")
    p.add_argument("--batch-size", type=int, default=256, help="samples per update (default 256)")
    p.add_argument("--eval-every", type=int, default=25, help="measure W1 every N G steps (default 25)")
    return p


def main(argv=None):
    """Pretrain D, run both losses from that start; draw saturation.png; returns the summary."""
    args = build_parser().parse_args(argv)
    for name in ("steps", "k", "batch_size", "eval_every"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    if args.pretrain < 0:
        raise SystemExit(f"--pretrain must be >= 0; got {args.pretrain}")
    if not args.lr > 0:
        raise SystemExit(f"--lr must be > 0; got {args.lr}")
    if not 0 <= args.momentum < 1:
        raise SystemExit(f"--momentum must be in [0, 1); got {args.momentum}")
    device = _common.prepare(args)
    timer = _common.Timer()
    backend.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    G = models.ToyGenerator(1, 1, 32, 2).to(device)
    D = models.ToyDiscriminator(1, 32, 2).to(device)
    pre = optim.Adam(D.named_parameters(), lr=1e-3, betas=(0.5, 0.999))   # D gets well ahead
    m = args.batch_size
    z_probe = toy.uniform_z(m, 1, np.random.default_rng(args.seed + 11), device)
    probe_opt = optim.SGD(G.named_parameters(), lr=0.0)            # gradients only, G is not updated
    pre_log = dict(step=[], minimax=[], nonsaturating=[], d_fake=[])
    for i in range(args.pretrain + 1):
        if i % 10 == 0 or i == args.pretrain:                       # what each loss would give G now
            pre_log["step"].append(i - args.pretrain)
            for loss in ("minimax", "nonsaturating"):
                gn, d_fake = g_probe(G, D, probe_opt, z_probe, loss, update=False)
                pre_log[loss].append(gn)
            pre_log["d_fake"].append(d_fake)
        if i < args.pretrain:
            real = toy.tensor(data.gaussian1d(m, rng, MEAN, STD), device)
            algorithm1.d_step(G, D, pre, (real, None), (toy.uniform_z(m, 1, rng, device), None),
                              algorithm1.Settings(m))
    for p in G.parameters():
        p.grad = None
    start = dict(G=G, D=D, rng=rng, optG=make_optimizer(args.optimizer, G, args.lr, args.momentum),
                 optD=make_optimizer(args.optimizer, D, args.lr, args.momentum))
    logs = {loss: train_from(start, loss, args, device) for loss in ("minimax", "nonsaturating")}
    png = plot(logs, pre_log, args, os.path.join(args.out, "saturation.png"))

    def first_below(log, level):
        hits = [s for s, w in zip(log["w1_step"], log["w1"]) if w < level]
        return hits[0] if hits else None
    summary = dict(seconds=round(timer(), 1), seed=args.seed, steps=args.steps, pretrain=args.pretrain,
                   optimizer=args.optimizer, lr=args.lr, k=args.k, figure=png,
                   pretrain_grad_norm={loss: [pre_log[loss][0], pre_log[loss][-1]]
                                       for loss in ("minimax", "nonsaturating")},
                   pretrain_d_fake=[pre_log["d_fake"][0], pre_log["d_fake"][-1]])
    w1_start = logs["minimax"]["w1"][0]
    for loss, log in logs.items():
        first = np.array(log["grad_norm"][:50])
        summary[loss] = dict(grad_norm_first50=float(np.median(first)), d_fake_start=log["d_fake"][0],
                             w1_start=log["w1"][0], w1_end=log["w1"][-1], mean_end=log["mean"][-1],
                             d_fake_end=float(np.mean(log["d_fake"][-50:])),
                             steps_to_w1_below_0_5=first_below(log, 0.5))
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    pg = summary["pretrain_grad_norm"]
    lines = [f"While D trains alone: D(G(z)) {pre_log['d_fake'][0]:.3f} -> {pre_log['d_fake'][-1]:.1e}; |grad G| "
             f"minimax {pg['minimax'][0]:.2e} -> {pg['minimax'][1]:.2e}, "
             f"non-saturating {pg['nonsaturating'][0]:.2e} -> {pg['nonsaturating'][1]:.2e}"]
    lines += [f"Minimax saturation, seed {args.seed}: D pretrained {args.pretrain} steps, then {args.steps} G steps "
             f"(k = {args.k}, {args.optimizer} lr {args.lr}), {summary['seconds']} s; W1 at the start {w1_start:.3f}"]
    for loss in logs:
        r = summary[loss]
        lines.append(f"  {loss:14s} median |grad G| over the first 50 steps {r['grad_norm_first50']:.2e}; "
                     f"D(G(z)) {r['d_fake_start']:.1e} at step 1, {r['d_fake_end']:.3f} at the end; "
                     f"W1 {r['w1_start']:.3f} -> {r['w1_end']:.3f} (p_g mean {r['mean_end']:.3f}); "
                     f"W1 < 0.5 at step {r['steps_to_w1_below_0_5']}")
    lines.append(f"  figure: {png}")
    _common.report(lines)
    return summary


if __name__ == "__main__":
    main()
