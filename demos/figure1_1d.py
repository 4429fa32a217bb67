"""Figure 1 of Goodfellow et al. (2014), panel by panel, on a 1-D Gaussian: x ~ N(4, 0.5^2), z ~ U(-1, 1).

The paper's Figure 1 tells a story in four panels; this demo makes each one happen and measures it:

(a) a pair near convergence: G is fitted to map z onto a nearby Gaussian (N(3.4, 0.6^2) by default, so p_g is
    close to p_data but shifted), and D is trained for a few steps, so it is a partially accurate classifier;
(b) D alone is trained, G fixed, until it is close to the optimal D* = p_data / (p_data + p_g) (Proposition 1):
    the mean |D - D*| under (p_data + p_g)/2 is below --d-tol;
(c) one G update (the non-saturating loss -log D(G(z)), plain gradient descent): the arrows x = G(z) move
    towards the regions D calls data;
(d) Algorithm 1 (k D steps, one G step) until p_g matches p_data: C(G) = max_D V(G, D) within --tol of
    its minimum -log 4 (Theorem 1); D is then trained alone once more and is 1/2 on the support.

D is a 2-layer LeakyReLU MLP that sees x standardised by the data's mean and std ((x - 4) / 0.5): without that
its kinks start near x = 0, far from the data, and it cannot resolve the small differences between p_g and
p_data that (d) needs. In (d) G's Adam learning rate halves every --half-life G steps so the game settles.

Drawn as the paper draws them: p_data black dotted, p_g green solid, D blue dashed; below, the z line with
arrows to the x line. G is a smooth MLP (tanh hidden units): a ReLU or LeakyReLU G maps a uniform z piecewise
linearly, so its p_g is piecewise constant and D* = p_data / (p_data + p_g) jumps at every kink.

p_g is computed exactly (no kernel density estimate): the uniform density of z pushed through G on a grid of
4,001 z values, G taken as linear between them (the change of variables p_g(x) = sum p_z(z)/|G'(z)| over the
z with G(z) = x, monotone or not). C(G) and D* then follow by numerical integration on a grid of x.
A second figure follows C(G) + log 4 and |D - D*| over every step of (b), (c) and (d).
"""
import _common  # noqa: F401  (first: sets the BLAS thread count before NumPy loads)

import json
import os

import numpy as np

from minigan import data, nn, optim
from minigan.gan import algorithm1, losses, models

import _toygan as toy

XS = np.linspace(-1.0, 9.0, 1001)           # the grid (cell centres) every density and D is evaluated on
DX = XS[1] - XS[0]
LOG4 = np.log(4.0)
MEAN, STD = 4.0, 0.5                         # p_data = N(4, 0.5^2), as data.gaussian1d


def pushforward_density(x_of_z, xs=XS):
    """p_g on the cells of ``xs`` for x = G(z), z ~ U(-1, 1), from G on an even z grid (``x_of_z``).

    Between two grid values z_i, z_i+1 G is taken as linear, so the segment's probability mass
    (z_i+1 - z_i) / 2 spreads evenly over [G(z_i), G(z_i+1)]; the CDF of x at the cell edges is the sum of
    those pieces, and p_g per cell is its difference / DX. Exact for a piecewise-linear G, and for a smooth
    G up to the grid's interpolation error; a non-monotone G is handled (the segments overlap).
    """
    x = np.asarray(x_of_z, np.float64).ravel()
    a, b = np.minimum(x[:-1], x[1:]), np.maximum(x[:-1], x[1:])
    mass = 1.0 / (len(x) - 1)
    dx = xs[1] - xs[0]
    edges = np.concatenate([xs - dx / 2, [xs[-1] + dx / 2]])
    cdf = np.zeros(len(edges))
    width = np.maximum(b - a, 1e-300)
    for i in range(0, len(a), 2000):                        # (segments, edges) a block at a time
        u = (edges[None, :] - a[i:i + 2000, None]) / width[i:i + 2000, None]
        cdf += np.clip(u, 0.0, 1.0).sum(0)
    return np.diff(cdf) * mass / dx


def normal_quantile(q, mean, std):
    """The quantile function of N(mean, std^2) at q in (0, 1), by inverting its CDF on a fine grid."""
    t = np.linspace(-8, 8, 160001)
    cdf = np.cumsum(np.exp(-0.5 * t * t))
    cdf = (cdf - cdf[0]) / (cdf[-1] - cdf[0])
    return mean + std * np.interp(q, cdf, t)


class Standardize(nn.Module):
    """x -> (x - mean) / std with fixed numbers: D sees the data centred and scaled (a plain input normalisation)."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = float(mean), float(std)

    def forward(self, x):
        return (x - self.mean) * (1.0 / self.std)


class StandardizedD(nn.Sequential):
    """Standardize, then the toy discriminator; unconditional (the label Algorithm 1's steps pass is None)."""

    def forward(self, x, labels=None):
        return super().forward(x)


class Game:
    """G, D, their optimizers and the measurements of the paper's quantities on the x grid."""

    def __init__(self, args, device):
        self.args, self.device = args, device
        self.rng = np.random.default_rng(args.seed)
        from minigan import backend
        backend.manual_seed(args.seed)
        self.G = models.ToyGenerator(1, 1, args.g_hidden, 2, activation="tanh").to(device)
        self.D = StandardizedD(Standardize(MEAN, STD), models.ToyDiscriminator(1, args.d_hidden, 2)).to(device)
        self.optD = optim.Adam(self.D.named_parameters(), lr=args.lr, betas=(0.5, 0.999))
        self.optG = optim.Adam(self.G.named_parameters(), lr=args.g_lr_adam, betas=(0.5, 0.999))
        self.z_grid = np.linspace(-1, 1, 4001)[:, None]
        self.p_data = data.gaussian1d_pdf(XS, MEAN, STD)
        self.step = 0                                          # updates made so far (D or G), for the curves
        self.settings = algorithm1.Settings(batch_size=args.batch_size)    # plain Algorithm 1, non-saturating G

    # -------------------------------------------------------------- sampling and updates
    def real(self, m):
        return toy.tensor(data.gaussian1d(m, self.rng, MEAN, STD), self.device)

    def z(self, m):
        return toy.uniform_z(m, 1, self.rng, self.device)

    def d_step(self):
        """One D step of Algorithm 1 (G fixed)."""
        m = self.args.batch_size
        self.step += 1
        algorithm1.d_step(self.G, self.D, self.optD, (self.real(m), None), (self.z(m), None), self.settings)

    def g_step(self, opt=None):
        """One G step of Algorithm 1 (D fixed), the non-saturating loss."""
        self.step += 1
        algorithm1.g_step(self.G, self.D, opt or self.optG, (self.z(self.args.batch_size), None), self.settings)

    # -------------------------------------------------------------- the paper's quantities
    def measure(self):
        """p_g, D, D*, C(G), V(G, D), |D - D*|; |D - 1/2| averaged under p_data, and its max on the core of
        the support (where p_data > 25% of its peak, |x - 4| < 1.67 std)."""
        x_g = toy.forward(self.G, self.z_grid, self.device).ravel()
        p_g = pushforward_density(x_g)
        d = _common.sigmoid(toy.forward(self.D, XS[:, None], self.device).ravel())
        d_star = losses.optimal_discriminator(self.p_data, p_g)
        weight = (self.p_data + p_g) / 2
        log_d, log_1md = np.log(np.maximum(d, 1e-300)), np.log(np.maximum(1 - d, 1e-300))
        core = self.p_data > 0.25 * self.p_data.max()
        return dict(step=self.step, p_g=p_g, d=d, d_star=d_star, x_g_mean=float(np.sum(XS * p_g) * DX),
                    c_g=losses.virtual_training_criterion(self.p_data, p_g, DX),
                    v=float(np.sum(self.p_data * log_d + p_g * log_1md) * DX),
                    d_gap=float(np.sum(np.abs(d - d_star) * weight) * DX),
                    d_half=float(np.sum(np.abs(d - 0.5) * self.p_data) * DX),
                    d_half_core=float(np.abs(d[core] - 0.5).max()))

    def arrows(self, z_line):
        return toy.forward(self.G, z_line[:, None], self.device).ravel()


def fit_start(game, mean, std, steps):
    """Panel (a)'s G: least-squares fit of G(z) to the quantile map of N(mean, std^2) (a nearby Gaussian)."""
    z = np.linspace(-0.95, 0.95, 512)[:, None]                 # the tails' steep ends left out: a smooth bump
    target = toy.tensor(normal_quantile((z + 1) / 2, mean, std), game.device)
    zt = toy.tensor(z, game.device)
    opt = optim.Adam(game.G.named_parameters(), lr=1e-2)
    for _ in range(steps):
        diff = game.G(zt) - target
        loss = (diff * diff).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.numpy())


def train_d_alone(game, max_steps, tol, track, check=25):
    """Panel (b): D updates on a fixed G until mean |D - D*| < tol (checked every ``check`` steps)."""
    for i in range(1, max_steps + 1):
        game.d_step()
        if i % check == 0:
            s = game.measure()
            track.append(_row(s, "b"))
            if s["d_gap"] < tol:
                return i
    return max_steps


def _row(s, phase):
    return dict(phase=phase, step=s["step"], c_g=s["c_g"], v=s["v"], d_gap=s["d_gap"], d_half=s["d_half"],
                d_half_core=s["d_half_core"])


# ------------------------------------------------------------------ figures
def draw_panel(ax, s, z_line, x_line, label, xlim, p_data, x_before=None):
    """One panel as the paper draws it; ``x_before``: where the arrows pointed before the G update."""
    lo, hi = xlim
    ax.plot(XS, p_data, ":", color="black", lw=2, label=r"$p_{data}$")
    ax.plot(XS, s["p_g"], "-", color="tab:green", lw=2, label=r"$p_g$")
    ax.plot(XS, s["d"], "--", color="tab:blue", lw=2, label=r"$D$")
    y_x, y_z = -0.12, -0.55
    ax.hlines([y_x, y_z], lo, hi, color="0.3", lw=1)
    ax.text(hi, y_x + 0.02, "x ", fontsize=8, va="bottom", ha="right")
    ax.text(hi, y_z + 0.02, "z ", fontsize=8, va="bottom", ha="right")
    z_pos = lo + (z_line + 1) / 2 * (hi - lo)                 # z in [-1, 1] drawn across the panel
    for zp, xg in zip(z_pos, x_line):
        ax.annotate("", xy=(float(np.clip(xg, lo, hi)), y_x), xytext=(zp, y_z),
                    arrowprops=dict(arrowstyle="->", color="0.35", lw=0.7, shrinkA=0, shrinkB=0))
    if x_before is not None:                                   # where each arrow pointed before the update
        ax.plot(x_before, np.full(len(x_before), y_x), "|", color="tab:red", ms=8, mew=1.2,
                label="G(z) before the update")
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.65, 1.25)
    ax.set_yticks([0, 0.5, 1])
    ax.set_title(f"({label})", fontsize=11)
    ax.text(0.02, 0.97, f"C(G) + log 4 = {s['c_g'] + LOG4:.4f}\nmean |D - D*| = {s['d_gap']:.3f}",
            transform=ax.transAxes, fontsize=7.5, va="top")


def plot_panels(panels, z_line, p_data, path):
    plt = _common.pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.2), sharey=True)
    xlim = (1.5, 6.5)
    for ax, (label, s, x_line, before) in zip(axes, panels):
        draw_panel(ax, s, z_line, x_line, label, xlim, p_data, before)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[2].legend(loc="upper right", fontsize=8)
    fig.suptitle("Figure 1 of Goodfellow et al. (2014) on N(4, 0.5²), z ~ U(-1, 1): (a) near convergence, "
                 "(b) D trained alone towards D*, (c) one G update, (d) p_g = p_data and D = 1/2", fontsize=10)
    fig.tight_layout()
    return _common.savefig(fig, path)


def plot_curves(track, marks, path):
    plt = _common.pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
    steps = np.array([t["step"] for t in track])
    a1.semilogy(steps, np.maximum([t["c_g"] + LOG4 for t in track], 1e-6), color="tab:green",
                label="C(G) + log 4 = 2 JSD(p_data || p_g)")
    a1.semilogy(steps, np.maximum([t["c_g"] - t["v"] for t in track], 1e-6), color="tab:blue", lw=0.8,
                label="C(G) - V(G, D): how far D is from maximising V")
    a2.plot(steps, [t["d_gap"] for t in track], color="tab:blue", label="mean |D - D*|")
    a2.plot(steps, [t["d_half"] for t in track], color="tab:orange", lw=0.8,
            label="mean |D - 1/2| under p_data")
    for ax in (a1, a2):
        for name, st in marks:
            ax.axvline(st, color="0.6", ls=":", lw=1)
            ax.text(st, 1.0, f" {name}", transform=ax.get_xaxis_transform(), fontsize=8, va="top")
        ax.set_xlabel("updates (D or G) since panel (a)")
        ax.legend(fontsize=7.5)
    a1.set_ylabel("nats")
    a1.set_title("Theorem 1: C(G) reaches -log 4 when p_g = p_data", fontsize=10)
    a2.set_title("Proposition 1: D against D* = p_data / (p_data + p_g)", fontsize=10)
    fig.tight_layout()
    return _common.savefig(fig, path)


# ------------------------------------------------------------------ main
def build_parser():
    p = _common.parser("figure1_1d", __doc__)
    p.add_argument("--start-mean", type=float, default=3.4, help="mean of panel (a)'s p_g (default 3.4; data 4)")
    p.add_argument("--start-std", type=float, default=0.6, help="std of panel (a)'s p_g (default 0.6; data 0.5)")
    p.add_argument("--fit-steps", type=int, default=1500,
                   help="least-squares steps fitting panel (a)'s G (default 1500)")
    p.add_argument("--a-steps", type=int, default=20, help="D steps before panel (a): a partly trained D (default 20)")
    p.add_argument("--d-tol", type=float, default=0.02, help="panel (b) stops when mean |D - D*| < this (default 0.02)")
    p.add_argument("--d-steps", type=int, default=4000,
                   help="at most this many D-only steps in (b) and after (d) (default 4000)")
    p.add_argument("--g-lr", type=float, default=0.01,
                   help="learning rate of panel (c)'s single gradient-descent G update (default 0.01)")
    p.add_argument("--tol", type=float, default=0.01, help="(d) stops when C(G) + log 4 < this (default 0.01)")
    p.add_argument("--max-steps", type=int, default=20000, help="at most this many G steps in (d) (default 20000)")
    p.add_argument("--k", type=int, default=2, help="D steps per G step in (d) (Algorithm 1's k; default 2)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of D (default 1e-3)")
    p.add_argument("--g-lr-adam", type=float, default=5e-4, help="Adam learning rate of G in (d) (default 5e-4)")
    p.add_argument("--half-life", type=float, default=4000,
                   help="in (d) G's learning rate halves every N G steps (default 4000; 0: constant)")
    p.add_argument("--batch-size", type=int, default=2048, help="samples per update (default 2048)")
    p.add_argument("--g-hidden", type=int, default=32, help="G's hidden units, 2 tanh layers (default 32)")
    p.add_argument("--d-hidden", type=int, default=64,
                   help="D's hidden units, 2 LeakyReLU layers after standardising x (default 64)")
    p.add_argument("--check-every", type=int, default=50, help="measure C(G) every N G steps in (d) (default 50)")
    return p


def main(argv=None):
    """Run (a) -> (b) -> (c) -> (d); draw figure1_panels.png and figure1_curves.png; returns the summary."""
    args = build_parser().parse_args(argv)
    for name in ("fit_steps", "a_steps", "d_steps", "max_steps", "k", "batch_size", "g_hidden", "d_hidden",
                 "check_every"):
        if getattr(args, name) < (0 if name in ("fit_steps", "a_steps") else 1):
            raise SystemExit(f"--{name.replace('_', '-')} must be >= {0 if name in ('fit_steps', 'a_steps') else 1}; "
                             f"got {getattr(args, name)}")
    for name in ("d_tol", "tol", "g_lr", "lr", "g_lr_adam", "start_std"):
        if not getattr(args, name) > 0:
            raise SystemExit(f"--{name.replace('_', '-')} must be > 0; got {getattr(args, name)}")
    if not args.half_life >= 0:
        raise SystemExit(f"--half-life must be >= 0; got {args.half_life}")
    device = _common.prepare(args)
    timer = _common.Timer()
    game = Game(args, device)
    z_line = np.linspace(-0.96, 0.96, 25)
    track = []

    # (a) a pair near convergence
    fit_loss = fit_start(game, args.start_mean, args.start_std, args.fit_steps)
    for _ in range(args.a_steps):
        game.d_step()
    game.step = 0
    s_a = game.measure()
    track.append(_row(s_a, "a"))
    panels = [("a", s_a, game.arrows(z_line), None)]

    # (b) D alone towards D*
    b_steps = train_d_alone(game, args.d_steps, args.d_tol, track)
    s_b = game.measure()
    panels.append(("b", s_b, game.arrows(z_line), None))

    # (c) one G update, plain gradient descent on -log D(G(z))
    before = game.arrows(z_line)
    sgd = optim.SGD(game.G.named_parameters(), lr=args.g_lr)
    game.g_step(sgd)
    s_c = game.measure()
    track.append(_row(s_c, "c"))
    after = game.arrows(z_line)
    moved = after - before
    uphill = float(np.mean(np.sign(moved) == np.sign(np.gradient(s_b["d"], DX)[np.searchsorted(XS, before)])))
    panels.append(("c", s_c, after, before))

    # (d) Algorithm 1 until C(G) is within tol of -log 4
    g_steps, reached = 0, False
    from tqdm import tqdm
    with tqdm(total=args.max_steps, desc="(d) Algorithm 1", unit="G step", dynamic_ncols=True) as bar:
        while g_steps < args.max_steps:
            if args.half_life:
                f = 0.5 ** (g_steps / args.half_life)
                game.optG.lr = args.g_lr_adam * f
            for _ in range(args.k):
                game.d_step()
            game.g_step()
            g_steps += 1
            bar.update(1)
            if g_steps % args.check_every == 0:
                s = game.measure()
                track.append(_row(s, "d"))
                bar.set_postfix(gap=f"{s['c_g'] + LOG4:.4f}", refresh=False)
                if s["c_g"] + LOG4 < args.tol:
                    reached = True
                    break
    d_end = game.step
    s_d0 = game.measure()
    final_d_steps = train_d_alone(game, args.d_steps, args.d_tol, track)      # D to D* on the final G
    s_d = game.measure()
    panels.append(("d", s_d, game.arrows(z_line), None))

    panels_png = plot_panels(panels, z_line, game.p_data, os.path.join(args.out, "figure1_panels.png"))
    curves_png = plot_curves(track, [("b", 1), ("c", s_c["step"]), ("d", s_c["step"] + 1), ("D alone", d_end)],
                             os.path.join(args.out, "figure1_curves.png"))
    summary = dict(
        seconds=round(timer(), 1), seed=args.seed, fit_loss=fit_loss,
        a=dict(c_gap=s_a["c_g"] + LOG4, d_gap=s_a["d_gap"], pg_mean=s_a["x_g_mean"]),
        b=dict(d_steps=b_steps, d_gap=s_b["d_gap"], c_gap=s_b["c_g"] + LOG4, v=s_b["v"], c_g=s_b["c_g"]),
        c=dict(mean_move=float(moved.mean()), share_uphill=uphill, c_gap_before=s_b["c_g"] + LOG4,
               c_gap_after=s_c["c_g"] + LOG4, pg_mean_before=s_b["x_g_mean"], pg_mean_after=s_c["x_g_mean"]),
        d=dict(g_steps=g_steps, reached=reached, c_g=s_d["c_g"], c_gap=s_d["c_g"] + LOG4,
               d_gap_as_trained=s_d0["d_gap"], d_half_as_trained=s_d0["d_half"],
               d_half_core_as_trained=s_d0["d_half_core"], final_d_steps=final_d_steps, d_gap=s_d["d_gap"],
               d_half=s_d["d_half"], d_half_core=s_d["d_half_core"], v=s_d["v"],
               pg_mean=s_d["x_g_mean"]),
        minus_log4=-LOG4, tol=args.tol, figures=[panels_png, curves_png])
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    a, b, c, d = summary["a"], summary["b"], summary["c"], summary["d"]
    _common.report([
        f"Figure 1 on N(4, 0.5^2), seed {args.seed}, {summary['seconds']} s",
        f"  (a) p_g mean {a['pg_mean']:.3f}; C(G) + log 4 = {a['c_gap']:.4f}; mean |D - D*| = {a['d_gap']:.3f}",
        f"  (b) {b['d_steps']} D-only steps: mean |D - D*| = {b['d_gap']:.4f}; V(G, D) = {b['v']:.4f} "
        f"<= C(G) = {b['c_g']:.4f}",
        f"  (c) one G step (SGD lr {args.g_lr}): G(z) moved by {c['mean_move']:+.4f} on average, "
        f"{100 * c['share_uphill']:.0f}% of the arrows towards higher D; p_g mean {c['pg_mean_before']:.3f} -> "
        f"{c['pg_mean_after']:.3f}; C(G) + log 4 {c['c_gap_before']:.4f} -> {c['c_gap_after']:.4f}",
        f"  (d) {d['g_steps']} G steps (k = {args.k}): C(G) = {d['c_g']:.4f}, C(G) + log 4 = {d['c_gap']:.4f} "
        f"({'within' if reached else 'NOT within'} {args.tol}); p_g mean {d['pg_mean']:.3f}",
        f"      D as trained: mean |D - D*| = {d['d_gap_as_trained']:.4f}, mean |D - 1/2| under p_data = "
        f"{d['d_half_as_trained']:.3f} (max {d['d_half_core_as_trained']:.3f} where |x - 4| < 1.67 std); after "
        f"{d['final_d_steps']} D-only steps: {d['d_gap']:.4f}, {d['d_half']:.3f} (max {d['d_half_core']:.3f})",
        f"  figures: {panels_png}, {curves_png}"])
    return summary


if __name__ == "__main__":
    main()
