"""Mode collapse on the 2-D ring (8 Gaussians) and grid (25 Gaussians), loss by loss.

Each variant trains the same toy MLPs on the same data with one objective:

* ``minimax``        Algorithm 1 as written: G descends log(1 - D(G(z)));
* ``nonsaturating``  G ascends log D(G(z)) (the paper's practical fix);
* ``wasserstein``    WGAN: critic with weight clipping, RMSprop, 5 critic steps;
* ``wasserstein-gp`` WGAN-GP: gradient penalty instead of clipping, Adam, 5 critic steps;
* ``wgan-toy``, ``wgan-gp-toy``: the two Wasserstein losses with the settings of the 2-D experiments of
                     Gulrajani et al. 2017 (their code's toy script): G and D 3 x 512 units, 5 critic steps,
                     batch 256; clipping at 0.01 with RMSprop 5e-5, or the penalty with lambda 0.1 (not 10)
                     and Adam 1e-4, betas (0.5, 0.9);
* ``recipe``         the library's default for the set (``minigan train --data ring``): nonsaturating, batch
                     1024, PacGAN packing (D judges 4 (ring) or 2 (grid) samples at once); the best we found.

All but ``recipe`` use an unpacked D (``pack=1``) and, for time, minibatches of 256 (``--batch-size``): they
are the plain objectives on the set's recipe otherwise (models, and each loss's own optimizer). The recipe row
trains with its own steps (8,000 ring, 20,000 grid) and batch size. The demo draws, for each set, a grid of
scatter plots (rows = variants, columns = stages of training) and counts, from 2,500 samples, the modes
covered and the share of high-quality samples (within 3 standard deviations of a mode), the measure of VEEGAN
(Srivastava et al. 2017) and PacGAN (Lin et al. 2018); see ``minigan.data.mode_stats``.
"""
import _common  # noqa: F401  (first: sets the BLAS thread count before NumPy loads)

import json
import os

import numpy as np

from minigan import data
from minigan.gan.config import RECIPES, make_config
from minigan.gan.run import holds_run, move_aside, noise
from minigan.gan.train import Trainer

VARIANTS = ("minimax", "nonsaturating", "wasserstein", "wasserstein-gp", "wgan-toy", "wgan-gp-toy", "recipe")
DEFAULT_VARIANTS = ("minimax", "nonsaturating", "wasserstein", "wasserstein-gp", "recipe")
# The toy settings of Gulrajani et al. (over the losses' own recipes in minigan.gan.config: RMSprop 5e-5 and clip
# 0.01; Adam 1e-4 with beta2 0.9; 5 critic steps).
PAPER_TOY = {"wgan-toy": dict(loss="wasserstein", hidden=512),
             "wgan-gp-toy": dict(loss="wasserstein-gp", hidden=512, gp_lambda=0.1, beta1=0.5)}
DEFAULT_STEPS = {"ring": 2000, "grid": 2000}     # per variant; the recipe row trains its own (longer) budget
LIMITS = {"ring": 1.5, "grid": 5.5}


def variant_config(name, variant, steps, seed, device, out, batch_size=256):
    """The training config of one variant on one set."""
    opts = dict(data=name, model="toy", seed=seed, device=device, out=out)
    if variant != "recipe":
        opts.update(loss=variant, pack=1, steps=steps, batch_size=batch_size)
        opts.update(PAPER_TOY.get(variant, {}))
    elif steps is not None:
        opts.update(steps=steps)
    return make_config(**opts)


def train_variant(cfg, n_stages, n_samples, bar):
    """Train one config, keeping G's samples (fixed z) at n_stages evenly spaced steps; returns the list."""
    if holds_run(cfg["out"]):                  # a re-run starts over (the old run -> RUN.old), as --force
        move_aside(cfg["out"])
    tr = Trainer(cfg, progress=False)
    z = noise(cfg, n_samples, np.random.default_rng(cfg["seed"] + 12345), tr.device)
    total = tr.total_steps
    stages = sorted({round(total * i / (n_stages - 1)) for i in range(n_stages)}) if n_stages > 1 else [total]
    shots = []
    while True:
        if tr.step in stages:
            x = tr.sample(z)
            shots.append(dict(step=tr.step, samples=x, **data.mode_stats(x, cfg["data"])))
        if tr.step >= total:
            break
        tr.train_step()
        bar.update(1)
    tr.save_checkpoint()
    return shots


def label(variant, name):
    """A row label: the variant and, for the recipe, what it is."""
    if variant != "recipe":
        return variant
    r = RECIPES[name]
    return f"recipe ({r['loss']}, pack {r.get('pack', 1)})"


def plot_grid(name, results, path):
    """Rows = variants, columns = stages; each panel G's samples (blue) over the data (grey)."""
    plt = _common.pyplot()
    variants = list(results)
    n_cols = max(len(s) for s in results.values())
    fig, axes = plt.subplots(len(variants), n_cols, figsize=(2.1 * n_cols, 2.2 * len(variants)), squeeze=False)
    real = getattr(data, name)(2500, np.random.default_rng(0))
    lim = LIMITS[name]
    for r, v in enumerate(variants):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            if c >= len(results[v]):
                ax.axis("off")
                continue
            s = results[v][c]
            ax.scatter(real[:, 0], real[:, 1], s=1, c="0.75")
            ax.scatter(s["samples"][:, 0], s["samples"][:, 1], s=1, c="tab:blue", alpha=0.5)
            ax.set_title(f"step {s['step']}: {s['modes_covered']}/{s['n_modes']}, {100 * s['high_quality']:.0f}%",
                         fontsize=8)
            if c == 0:
                ax.set_ylabel(label(v, name), fontsize=8)
    fig.suptitle(f"{name}: G's samples over training (title: modes covered, % high quality)", fontsize=10)
    fig.tight_layout()
    return _common.savefig(fig, path, dpi=80)


def table(rows):
    """Markdown table of the final numbers, per seed and the mean over seeds."""
    lines = ["| set | variant | steps | batch | seed | modes covered | high-quality samples |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['set']} | {r['variant']} | {r['steps']} | {r['batch_size']} | {r['seed']} | "
                     f"{r['modes_covered']}/{r['n_modes']} | {100 * r['high_quality']:.1f}% |")
    groups = {}
    for r in rows:
        groups.setdefault((r["set"], r["variant"]), []).append(r)
    if any(len(g) > 1 for g in groups.values()):
        lines += ["", "| set | variant | seeds | mean modes | mean high quality |", "|---|---|---|---|---|"]
        for (s, v), g in groups.items():
            lines.append(f"| {s} | {v} | {len(g)} | {np.mean([r['modes_covered'] for r in g]):.2f}/"
                         f"{g[0]['n_modes']} | {100 * np.mean([r['high_quality'] for r in g]):.1f}% |")
    return lines


def build_parser():
    p = _common.parser("mode_collapse_2d", __doc__)
    p.add_argument("--sets", default="ring,grid", help="comma-separated: ring, grid (default both)")
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                   help=f"comma-separated, from {', '.join(VARIANTS)} (default {','.join(DEFAULT_VARIANTS)}; the "
                        "two -toy variants take 6-10 min per run on one core)")
    p.add_argument("--steps", type=int, default=None,
                   help="generator steps per variant (default: ring 2000, grid 2000; the recipe row "
                        "uses its own recipe's steps unless --steps is given)")
    p.add_argument("--batch-size", type=int, default=256,
                   help="minibatch of the loss variants (default 256; the recipe row keeps its own)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default: --seed)")
    p.add_argument("--stages", type=int, default=5, help="columns of the scatter grid (default 5)")
    p.add_argument("--samples", type=int, default=2500, help="samples for plots and counts (default 2500)")
    return p


def main(argv=None):
    """Train every (set, variant, seed), draw <set>_modes.png, write mode_table.md; returns the rows."""
    args = build_parser().parse_args(argv)
    device = _common.prepare(args)
    timer = _common.Timer()
    sets = [s for s in args.sets.split(",") if s]
    variants = [v for v in args.variants.split(",") if v]
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
    for s in sets:
        if s not in LIMITS:
            raise SystemExit(f"--sets: unknown set {s!r}; choose from ring, grid")
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"--variants: unknown variant {v!r}; choose from {', '.join(VARIANTS)}")

    plan = []
    for name in sets:
        steps = args.steps or DEFAULT_STEPS[name]
        for v in variants:
            for seed in seeds:
                out = os.path.join(args.out, "runs", f"{name}_{v}_seed{seed}")
                plan.append((name, v, seed, variant_config(name, v, args.steps if v == "recipe" else steps,
                                                           seed, device, out, args.batch_size)))
    from tqdm import tqdm
    total = sum(cfg["steps"] for *_, cfg in plan)
    rows, figures = [], []
    with tqdm(total=total, desc="mode collapse", unit="step", dynamic_ncols=True) as bar:
        for name in sets:
            results = {}
            for n, v, seed, cfg in plan:
                if n != name:
                    continue
                bar.set_description(f"{name} {v} seed {seed}")
                shots = train_variant(cfg, args.stages, args.samples, bar)
                if seed == seeds[0]:
                    results[v] = shots
                last = shots[-1]
                rows.append(dict(set=name, variant=label(v, name), steps=cfg["steps"], batch_size=cfg["batch_size"],
                                 seed=seed,
                                 modes_covered=last["modes_covered"], n_modes=last["n_modes"],
                                 high_quality=last["high_quality"]))
            figures.append(plot_grid(name, results, os.path.join(args.out, f"{name}_modes.png")))
    lines = table(rows)
    md = os.path.join(args.out, "mode_table.md")
    with open(md, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "mode_table.json"), "w") as f:
        json.dump(rows, f, indent=2)
    _common.report(lines + [f"\n{len(plan)} runs in {timer():.0f} s; figures: {', '.join(figures)}; table: {md}"])
    return rows


if __name__ == "__main__":
    main()
