"""Mode collapse on the 8-Gaussian ring and the unrolled GAN (Metz et al. 2016) as its remedy.

The setting is the unrolled-GAN paper's: 8 Gaussians on a ring (minigan's ``ring``: radius 1, std 0.01), MLP G
and D, Adam, minibatches of 512 and an ordinary D (no PacGAN packing, ``--pack 1``). Every run, whatever its K,
trains with the settings ``minigan train --data ring --pack 1 --unroll K`` takes (the ring recipe: non-saturating
loss, 3 hidden layers of 128 units, 2-D Gaussian noise, Adam with beta1 0.5; and the unrolled recipe,
``minigan.gan.config.UNROLLED_RECIPE``: 3,000 steps, G's rate 1e-3, D's 1e-4 as in the authors' code, both falling
linearly to 0 over the last 30 % of the run). For each number of unrolling steps K (G's loss is computed against
D advanced K optimizer steps, differentiated through those steps) and each seed, the demo trains G and D and
records, every ``--every`` steps, the modes covered and the share of high-quality samples (2,500 samples of a
fixed z; ``minigan.data.mode_stats``: within 3 standard deviations of a mode).

With these settings the plain GAN (K = 0) puts its samples in one blob that hops from mode to mode, as in the
unrolled-GAN paper's first figure, and K = 10 covers all 8 modes. ``--lr-d`` and ``--cooldown`` change D's rate
and the cooldown: at D's rate 1e-3 (the ring recipe's, ``--lr-d 1e-3 --cooldown 0``) the plain GAN does not
collapse and unrolling drives G into collapse. ``--metz`` also takes the authors' noise and depth (256-D noise,
2 hidden layers). docs/demos.md has the measurements.

Outputs in --out: results.json (one entry per finished run, written as soon as it finishes), table.md,
timelapse.png (rows: K, columns: training steps; G's samples over the data, as the first figure of the
unrolled-GAN paper) and modes.png (modes covered against steps, every run).

Cost per step with one BLAS thread on an idle core: 9 ms for K = 0, 0.10 s for K = 5 and 0.21 s for K = 10
(3 layers; an unrolled step costs about 1 + 2.3 K plain steps), so the default run (K = 0, 5, 10, 3,000 steps,
one seed) takes about 16 minutes; ``--metz`` steps are cheaper (2 layers).
"""
import _common  # noqa: F401  (first: sets the BLAS thread count before NumPy loads)

import json
import os

import numpy as np

from minigan import data
from minigan.gan.config import UNROLLED_RECIPE, make_config
from minigan.gan.run import holds_run, move_aside, noise
from minigan.gan.train import Trainer

METZ = dict(z_dim=256, depth=2)   # --metz: the authors' noise and depth (their rates are the unrolled recipe's)


def run_config(unroll, seed, steps, out, device="cpu", batch_size=512, **overrides):
    """``minigan train --data ring --pack 1 --unroll K``'s config, for every K (K = 0 included)."""
    rates = {k: UNROLLED_RECIPE[k] for k in ("lr_d", "cooldown")}
    return make_config(data="ring", pack=1, batch_size=batch_size, unroll=unroll, steps=steps, seed=seed,
                       device=device, out=out, sample_every=max(1, steps), **{**rates, **overrides})


def train_run(cfg, every, n_samples=2500, bar=None):
    """Train one config; returns the list of snapshots {step, samples, modes_covered, high_quality}."""
    if holds_run(cfg["out"]):                  # a re-run starts over (the old run -> RUN.old), as --force
        move_aside(cfg["out"])
    tr = Trainer(cfg, progress=False)
    z = noise(cfg, n_samples, np.random.default_rng(cfg["seed"] + 12345), tr.device)
    shots = []
    while True:
        if tr.step % every == 0 or tr.step == tr.total_steps:
            x = tr.sample(z)
            shots.append(dict(step=tr.step, samples=x, **data.mode_stats(x, "ring")))
        if tr.step >= tr.total_steps:
            break
        tr.train_step()
        if bar is not None:
            bar.update(1)
    tr.save_checkpoint()
    return shots


def plot_timelapse(runs, path, columns=6):
    """Rows = K (first seed), columns = evenly spaced snapshots: G's samples (blue) over the data (grey)."""
    plt = _common.pyplot()
    real = data.ring(2500, np.random.default_rng(0))
    fig, axes = plt.subplots(len(runs), columns, figsize=(1.9 * columns, 2.0 * len(runs)), squeeze=False)
    for r, (k, shots) in enumerate(runs):
        idx = np.unique(np.linspace(0, len(shots) - 1, columns).round().astype(int))
        for c in range(columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlim(-1.5, 1.5)
            ax.set_ylim(-1.5, 1.5)
            ax.set_aspect("equal")
            if c >= len(idx):
                ax.axis("off")
                continue
            s = shots[idx[c]]
            ax.scatter(real[:, 0], real[:, 1], s=1, c="0.75")
            ax.scatter(s["samples"][:, 0], s["samples"][:, 1], s=1, c="tab:blue", alpha=0.4)
            ax.set_title(f"step {s['step']}: {s['modes_covered']}/8, {100 * s['high_quality']:.0f}%", fontsize=8)
            if c == 0:
                ax.set_ylabel(f"unroll K = {k}", fontsize=9)
    fig.suptitle("8-Gaussian ring, batch 512, no packing: G's samples over training "
                 "(title: modes covered, % high quality)", fontsize=9)
    fig.tight_layout()
    return _common.savefig(fig, path, dpi=80)


def plot_modes(results, path):
    """Modes covered against training step, one line per (K, seed)."""
    plt = _common.pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    colors = {}
    for r in results:
        c = colors.setdefault(r["unroll"], f"C{len(colors)}")
        steps = [s["step"] for s in r["curve"]]
        ax.plot(steps, [s["modes_covered"] for s in r["curve"]], c=c, alpha=0.7,
                label=f"K = {r['unroll']}" if r["seed"] == min(q["seed"] for q in results if q["unroll"] == r["unroll"])
                else None)
    ax.set_xlabel("step")
    ax.set_ylabel("modes covered (of 8)")
    ax.set_ylim(0, 8.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _common.savefig(fig, path, dpi=90)


def table(results):
    lines = ["| K | seed | steps | modes covered | high quality | seconds |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['unroll']} | {r['seed']} | {r['steps']} | {r['modes_covered']}/8 | "
                     f"{100 * r['high_quality']:.1f}% | {r['seconds']:.0f} |")
    ks = sorted({r["unroll"] for r in results})
    lines += ["", "| K | seeds | mean modes | mean high quality | 8/8 with >= 80% high quality |",
              "|---|---|---|---|---|"]
    for k in ks:
        g = [r for r in results if r["unroll"] == k]
        ok = sum(r["modes_covered"] == 8 and r["high_quality"] >= 0.8 for r in g)
        lines.append(f"| {k} | {len(g)} | {np.mean([r['modes_covered'] for r in g]):.1f} | "
                     f"{100 * np.mean([r['high_quality'] for r in g]):.1f}% | {ok} of {len(g)} |")
    return lines


def build_parser():
    p = _common.parser("unrolled_ring", __doc__)
    p.add_argument("--unroll", type=int, nargs="+", default=[0, 5, 10], help="values of K (default 0 5 10)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default: --seed)")
    p.add_argument("--steps", type=int, default=3000, help="generator steps per run (default 3000)")
    p.add_argument("--every", type=int, default=None, help="record the modes every N steps (default steps/30)")
    p.add_argument("--batch-size", type=int, default=512, help="minibatch (default 512, the paper's)")
    p.add_argument("--lr-d", type=float, default=None,
                   help="D's Adam learning rate (default 1e-4, the unrolled recipe's and the authors'; the ring "
                        "recipe's is 1e-3, G's)")
    p.add_argument("--cooldown", type=float, default=None,
                   help="fraction of the run over which both rates fall linearly to 0 (default 0.3, the unrolled "
                        "recipe's; 0: none)")
    p.add_argument("--columns", type=int, default=6, help="snapshots per row of timelapse.png (default 6)")
    p.add_argument("--metz", action="store_true",
                   help="the unrolled-GAN authors' noise and depth too: 256-D noise, 2 hidden layers")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    device = _common.prepare(args)
    seeds = args.seeds or [args.seed]
    every = args.every or max(1, args.steps // 30)
    rates = {k: v for k, v in (("lr_d", args.lr_d), ("cooldown", args.cooldown)) if v is not None}
    if any(k < 0 for k in args.unroll):
        raise SystemExit(f"--unroll: values must be >= 0, got {args.unroll}")
    from tqdm import tqdm
    results, timelapse = [], []
    json_path = os.path.join(args.out, "results.json")
    with tqdm(total=len(seeds) * len(args.unroll) * args.steps, unit="step", dynamic_ncols=True) as bar:
        for k in args.unroll:
            for seed in seeds:
                bar.set_description(f"K={k} seed {seed}")
                cfg = run_config(k, seed, args.steps, os.path.join(args.out, "runs", f"K{k}_seed{seed}"), device,
                                 args.batch_size, **{**(METZ if args.metz else {}), **rates})
                timer = _common.Timer()
                shots = train_run(cfg, every, bar=bar)
                last = shots[-1]
                results.append(dict(unroll=k, seed=seed, steps=args.steps, modes_covered=last["modes_covered"],
                                    high_quality=last["high_quality"], seconds=timer(),
                                    curve=[{n: s[n] for n in ("step", "modes_covered", "high_quality")}
                                           for s in shots]))
                with open(json_path, "w") as f:                     # progress survives an interrupted demo
                    json.dump(results, f, indent=1)
                if seed == seeds[0]:
                    timelapse.append((k, shots))
    figs = [plot_timelapse(timelapse, os.path.join(args.out, "timelapse.png"), args.columns),
            plot_modes(results, os.path.join(args.out, "modes.png"))]
    lines = table(results)
    _common.report(lines + ["", f"figures: {', '.join(figs)}; results: {json_path}"],
                   os.path.join(args.out, "table.md"))
    return results


if __name__ == "__main__":
    main()
