# %% [markdown]
# # 3. The GAN objective on a 1-D Gaussian
#
# *The minigan tour, notebook 3 of 6. [The tour](README.md) ·
# previous: [2. Layers and an optimizer](02_layers_and_optimizer.ipynb) ·
# next: [4. Mode collapse](04_mode_collapse_ring.ipynb)*
#
# Goodfellow et al. (2014) set a generator G against a discriminator D in one value function,
#
# $$\min_G \max_D V(D, G) = \mathbb E_{x \sim p_{data}}[\log D(x)] + \mathbb E_{z \sim p_z}[\log(1 - D(G(z)))],$$
#
# and prove two facts about it: for a fixed G the best D is $D^* = p_{data} / (p_{data} + p_g)$ (Proposition 1), and
# against that D the generator's criterion $C(G) = \max_D V(D, G) = -\log 4 + 2\,\mathrm{JSD}(p_{data} \Vert p_g)$
# is smallest, $-\log 4$, exactly when $p_g = p_{data}$ (Theorem 1). This notebook computes both on densities, then
# runs the paper's Algorithm 1 step by step with `minigan.gan.algorithm1`, and draws the four panels of the paper's
# Figure 1 on the data the figure uses: $x \sim \mathcal N(4, 0.5^2)$, $z \sim U(-1, 1)$.
# [docs/theory.md](../docs/theory.md), sections 2 to 5, maps every equation to its function.
#
# **Running this notebook.** In a clone of the repository: `pip install -e ".[dev]"`, then `jupyter lab tour/`.
# On a hosted GPU (Colab, Kaggle: CuPy is preinstalled there): clone the repository, `pip install -e .` in it,
# restart the runtime, `%cd` into its `tour/` folder and run the cells; the next cell then picks the GPU
# ([the tour's README](README.md) has the commands). On a laptop CPU it runs in under two minutes.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads; why one thread: tour/README.md

import minigan

device = os.environ.get("MINIGAN_DEVICE") or ("cuda" if minigan.cuda_available() else "cpu")
minigan.set_default_device(device)  # new tensors go there; "cuda" puts them on the GPU through CuPy
print(f"minigan {minigan.__version__} on {device}")

# %% [markdown]
# ## 3.1 The best discriminator and C(G), on densities
#
# No training yet: densities on a grid of $x$. For each $x$, D picks a number $y = D(x)$ to maximise
# $p_{data}(x) \log y + p_g(x) \log(1 - y)$, which peaks at $y = p_{data} / (p_{data} + p_g)$: that is $D^*$
# (`losses.optimal_discriminator`). Putting $D^*$ back into $V$ gives $C(G)$ (`losses.virtual_training_criterion`,
# a numerical integral), which the paper rewrites with the Jensen-Shannon divergence (`losses.jensen_shannon`).
# Take a generator whose $p_g$ is $\mathcal N(3, 0.5^2)$, one unit left of the data:

# %%
import numpy as np

from minigan import data
from minigan.gan import losses

xs = np.linspace(-1, 9, 1001)                 # the grid every density and D is evaluated on
dx = xs[1] - xs[0]
LOG4 = np.log(4)
p_data = data.gaussian1d_pdf(xs)              # N(4, 0.5^2), the data of Figure 1
p_g = data.gaussian1d_pdf(xs, mean=3.0)
d_star = losses.optimal_discriminator(p_data, p_g)
c_g = losses.virtual_training_criterion(p_data, p_g, dx)
jsd = losses.jensen_shannon(p_data, p_g, dx)
print(f"C(G) = {c_g:.4f};  -log 4 + 2 JSD = {-LOG4 + 2 * jsd:.4f};  -log 4 = {-LOG4:.4f}")


def value(d, p_g):
    """V(D, G) = integral of p_data log D + p_g log(1 - D), for a D given on the grid."""
    return float(np.sum(p_data * np.log(d) + p_g * np.log(1 - d)) * dx)


print(f"V with D = D*: {value(d_star, p_g):.4f} (= C(G));  V with D = 1/2 everywhere: {value(0.5 + 0 * xs, p_g):.4f}"
      f" (= -log 4, whatever G is)")

# %% [markdown]
# Left: $D^*$ is near 1 where only the data has mass, near 0 where only the generator has, and exactly 1/2 where
# the two densities cross. Right: $C(G)$ for $p_g = \mathcal N(\mu, s^2)$ as the mean $\mu$ moves: the minimum,
# $-\log 4$, is reached only at $p_g = p_{data}$ ($\mu = 4$, $s = 0.5$); a wrong width alone also costs.

# %%
import matplotlib.pyplot as plt

fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
a1.plot(xs, p_data, ":", c="k", lw=2, label="$p_{data}$")
a1.plot(xs, p_g, c="tab:green", lw=2, label="$p_g$")
a1.plot(xs, d_star, "--", c="tab:blue", lw=2, label="$D^*$")
a1.set(xlim=(1.5, 6.5), title="Proposition 1: $D^* = p_{data} / (p_{data} + p_g)$")
a1.legend()
mus = np.linspace(1.5, 6.5, 101)
for s in (0.5, 0.8):
    a2.plot(mus, [losses.virtual_training_criterion(p_data, data.gaussian1d_pdf(xs, m, s), dx) for m in mus],
            label=f"$p_g = N(\\mu, {s}^2)$")
a2.axhline(-LOG4, c="k", ls=":", label="$-\\log 4$")
a2.set(xlabel="$\\mu$", ylabel="C(G)", title="Theorem 1: C(G) is smallest when $p_g = p_{data}$")
a2.legend()
plt.show()

# %% [markdown]
# ## 3.2 Algorithm 1, one step at a time
#
# In practice neither density is known: the players see minibatches. Algorithm 1 alternates $k$ steps of D, each
# ascending $V$ on $m$ real examples and $m$ fakes, with one step of G. In minigan it is one file,
# `minigan/gan/algorithm1.py`, and its three functions work on any G and D:
#
# - `d_step(G, D, optD, real, noise, settings)`: G's fakes made under `no_grad` (G is fixed), D's loss
#   $-V$ on the minibatch, one step of D's optimizer;
# - `g_step(G, D, optG, noise, settings)`: D frozen (its weights ask for no gradient, but the gradient flows
#   *through* D into G), G's loss, one step of G's optimizer;
# - `train_step(G, D, optG, optD, batches, settings)`: `k` D steps, then one G step on fresh noise.
#
# G maps $z \in [-1, 1]$ to $x$ through two tanh layers of 32 units (`models.ToyGenerator`; tanh keeps $p_g$ smooth,
# see docs/demos.md, section 1); D is two LeakyReLU layers of 64 (`models.ToyDiscriminator`) behind a fixed
# standardisation $(x - 4) / 0.5$, a plain input normalisation, written as a small Module:

# %%
from minigan import nn, optim
from minigan.gan import algorithm1, models

minigan.manual_seed(0)
rng = np.random.default_rng(0)


class StandardizedD(nn.Module):
    """The toy discriminator on (x - 4) / 0.5. ``labels`` is there because the steps pass one (None here)."""

    def __init__(self):
        super().__init__()
        self.net = models.ToyDiscriminator(dim=1, hidden=64, depth=2)

    def forward(self, x, labels=None):
        return self.net((x - 4.0) * 2.0)


G = models.ToyGenerator(z_dim=1, dim=1, hidden=32, depth=2, activation="tanh").to(device)
D = StandardizedD().to(device)


class Batches:
    """What train_step draws from: m examples x ~ p_data and m noise samples z ~ U(-1, 1), as (Tensor, labels)."""
    rng = rng                                  # (WGAN-GP would draw its mixing weights from it)

    def real(self, m):
        return minigan.tensor(data.gaussian1d(m, rng)), None

    def noise(self, m):
        return minigan.tensor(rng.uniform(-1, 1, (m, 1)).astype(np.float32)), None


def sigmoid(logits):
    return 1 / (1 + np.exp(-logits))


batches = Batches()
settings = algorithm1.Settings(batch_size=512)        # k = 1, the non-saturating G loss: the defaults
optD = optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
optG = optim.Adam(G.parameters(), lr=5e-4, betas=(0.5, 0.999))

d = algorithm1.d_step(G, D, optD, batches.real(512), batches.noise(512), settings)
v = losses.value_function(d.real_logits, d.fake_logits).item()
print(f"d_step: D's loss {d.loss.item():.4f} = -V on the minibatch (V = {v:.4f}); mean D(x) "
      f"{sigmoid(d.real_logits.numpy()).mean():.3f}, mean D(G(z)) {sigmoid(d.fake_logits.numpy()).mean():.3f}")
g = algorithm1.g_step(G, D, optG, batches.noise(512), settings)
print(f"g_step: G's loss -log D(G(z)) {g.loss.item():.4f}; |grad| {float(g.grad_norm):.3f}")

# %% [markdown]
# ## 3.3 Figure 1, panel by panel
#
# The paper's Figure 1 tells the story in four panels: (a) a pair near convergence, D a partially accurate
# classifier; (b) D trained alone converges to $D^*$; (c) after a G update, G's samples flow towards regions D
# calls data; (d) after many steps $p_g = p_{data}$ and D is 1/2 everywhere. We make each one happen and measure it,
# as `demos/figure1_1d.py` does.
#
# To measure $p_g$ we need no density estimate: $x = G(z)$ on 200,001 evenly spaced $z$, and the share of them
# falling in each cell of the grid, divided by the cell's width, is $p_g$ there (the uniform density of $z$ pushed
# through G; exact as the $z$ grid gets finer).

# %%
z_fine = minigan.tensor(np.linspace(-1, 1, 200001, dtype=np.float32)[:, None])
edges = np.r_[xs - dx / 2, xs[-1] + dx / 2]


def on_grid(module, inputs):
    module.eval()
    with minigan.no_grad():
        out = module(minigan.tensor(inputs)).numpy().ravel().astype(np.float64)
    module.train()
    return out


def measure():
    """p_g, D and D* on the grid; C(G) + log 4 and the mean |D - D*| under (p_data + p_g) / 2."""
    with minigan.no_grad():
        x_g = G(z_fine).numpy().ravel()
    pg = np.histogram(x_g, edges)[0] / (len(x_g) * dx)
    d_x = sigmoid(on_grid(D, xs[:, None].astype(np.float32)))
    ds = losses.optimal_discriminator(p_data, pg)
    return dict(p_g=pg, d=d_x, gap=losses.virtual_training_criterion(p_data, pg, dx) + LOG4,
                d_err=float(np.sum(np.abs(d_x - ds) * (p_data + pg) / 2) * dx), mean=float(np.sum(xs * pg) * dx))


z_line = np.linspace(-0.96, 0.96, 25, dtype=np.float32)       # the arrows of the figure: z -> x = G(z)
panels = {}

# %% [markdown]
# **(a) Near convergence.** Fit G by least squares to map $z$ onto a nearby bump (the quantiles of
# $\mathcal N(3.4, 0.6^2)$), then give D 20 steps.

# %%
from statistics import NormalDist

z_fit = np.linspace(-0.95, 0.95, 512, dtype=np.float32)[:, None]
target = np.array([[NormalDist(3.4, 0.6).inv_cdf((v + 1) / 2)] for v in z_fit.ravel()], np.float32)
fit = optim.Adam(G.parameters(), lr=1e-2)
zt, tt = minigan.tensor(z_fit), minigan.tensor(target)
for _ in range(1500):
    mse = ((G(zt) - tt) ** 2).mean()
    fit.zero_grad()
    mse.backward()
    fit.step()
for _ in range(20):
    algorithm1.d_step(G, D, optD, batches.real(2048), batches.noise(2048), settings)
panels["a"] = dict(measure(), arrows=on_grid(G, z_line[:, None]))
print(f"(a) p_g's mean {panels['a']['mean']:.2f}; C(G) + log 4 = {panels['a']['gap']:.4f}; "
      f"mean |D - D*| = {panels['a']['d_err']:.3f}")

# %% [markdown]
# **(b) D trained alone** on this fixed G, until it is within 0.02 of $D^*$ on average (Proposition 1 says where it
# should go).

# %%
b_steps = 0
while True:
    for _ in range(25):
        algorithm1.d_step(G, D, optD, batches.real(2048), batches.noise(2048), settings)
    b_steps += 25
    panels["b"] = dict(measure(), arrows=on_grid(G, z_line[:, None]))
    if panels["b"]["d_err"] < 0.02 or b_steps >= 2000:
        break
print(f"(b) after {b_steps} D-only steps: mean |D - D*| = {panels['b']['d_err']:.4f}")

# %% [markdown]
# **(c) One G update**: a single plain gradient-descent step (SGD, learning rate 0.01) on the non-saturating loss.
# The gradient reaches G through D: every arrow moves towards higher D.

# %%
before = panels["b"]["arrows"]
algorithm1.g_step(G, D, optim.SGD(G.parameters(), lr=0.01), batches.noise(2048), settings)
panels["c"] = dict(measure(), arrows=on_grid(G, z_line[:, None]), before=before)
moved = panels["c"]["arrows"] - before
print(f"(c) the arrows moved by {moved.mean():+.3f} on average ({int((moved > 0).sum())} of {len(moved)} to the "
      f"right); p_g's mean {panels['b']['mean']:.2f} -> {panels['c']['mean']:.2f}; C(G) + log 4 "
      f"{panels['b']['gap']:.4f} -> {panels['c']['gap']:.4f}")

# %% [markdown]
# **(d) Algorithm 1** with $k = 2$ D steps per G step, on minibatches of 512, measuring $C(G)$ every 50 G steps.
# G's learning rate halves every 1,000 steps so the game settles.

# %%
import time

settings_d = algorithm1.Settings(batch_size=512, k=2)
curve, t0 = [(0, panels["c"]["gap"])], time.perf_counter()
for step in range(1, 2001):
    optG.lr = 5e-4 * 0.5 ** (step / 1000)
    algorithm1.train_step(G, D, optG, optD, batches, settings_d)
    if step % 50 == 0:
        curve.append((step, measure()["gap"]))
panels["d"] = dict(measure(), arrows=on_grid(G, z_line[:, None]))
d_half = float(np.sum(np.abs(panels["d"]["d"] - 0.5) * p_data) * dx)
print(f"(d) 2,000 G steps in {time.perf_counter() - t0:.0f} s: C(G) = {panels['d']['gap'] - LOG4:.4f}, "
      f"C(G) + log 4 = {panels['d']['gap']:.4f}; mean |D - 1/2| under p_data {d_half:.3f}")

# %% [markdown]
# The four panels, drawn as the paper draws them: $p_{data}$ black dotted, $p_g$ green, D blue dashed; below, the
# $z$ line with arrows to $x = G(z)$ (red ticks in (c): where they pointed before the update). Then $C(G) + \log 4
# = 2\,\mathrm{JSD}$ over the steps of (d).

# %%
fig, axes = plt.subplots(1, 4, figsize=(16, 4), sharey=True)
lo, hi = 1.5, 6.5
for ax, (name, p) in zip(axes, panels.items()):
    ax.plot(xs, p_data, ":", c="k", lw=2, label="$p_{data}$")
    ax.plot(xs, p["p_g"], c="tab:green", lw=2, label="$p_g$")
    ax.plot(xs, p["d"], "--", c="tab:blue", lw=2, label="D")
    ax.hlines([-0.12, -0.55], lo, hi, color="0.3", lw=1)
    for zv, xv in zip(lo + (z_line + 1) / 2 * (hi - lo), p["arrows"]):
        ax.annotate("", xy=(float(np.clip(xv, lo, hi)), -0.12), xytext=(zv, -0.55),
                    arrowprops=dict(arrowstyle="->", color="0.35", lw=0.7))
    if "before" in p:
        ax.plot(p["before"], np.full(len(z_line), -0.12), "|", c="tab:red", ms=8)
    ax.set(xlim=(lo, hi), ylim=(-0.65, 1.25), title=f"({name})  C(G) + log 4 = {p['gap']:.3f}")
axes[0].legend(loc="upper right")
plt.show()
steps, gaps = zip(*curve)
plt.figure(figsize=(6, 3))
plt.semilogy(steps, gaps)
plt.xlabel("G steps of (d)")
plt.ylabel("C(G) + log 4")
plt.show()

# %% [markdown]
# ## What this notebook showed, and what a longer run gives
#
# - $D^*$ and $C(G)$ from their formulas: $C(G) = -\log 4 + 2\,\mathrm{JSD}$, smallest exactly at $p_g = p_{data}$.
# - D trained alone on a fixed G approaches $D^*$ (b); one G step moves G's samples uphill on D (c); Algorithm 1
#   drives $C(G)$ towards $-\log 4$ and D towards 1/2 on the data (d).
#
# This short run stops after 2,000 G steps on minibatches of 512, with $C(G) + \log 4$ of about 0.02, still
# falling slowly. The demo, `python demos/figure1_1d.py` (minibatches of 2,048; 1 minute 45 seconds of CPU time),
# starts from the same fit (its panel (a): 0.298) and trains until $C(G) + \log 4$ is below 0.01: on seed 0 that
# takes 7,000 G steps and ends at $C(G) = -1.3763$, 0.0100 above $-\log 4 = -1.3863$ (docs/demos.md, section 1).
# Where $p_g$ is 0 (beyond the reach of G, which is bounded) $D^* = 1$, and a trained D rises there too.
#
# To read next: `minigan/gan/algorithm1.py` (the three steps, and each training option as one branch) beside
# `minigan/gan/losses.py`. [Notebook 4](04_mode_collapse_ring.ipynb) moves to two dimensions, where a GAN can miss
# whole modes.
#
# The key numbers, which `tests/test_tour.py` compares with a fresh run:

# %%
print("key numbers")
print(f"  C(G) for N(3, 0.5^2): {c_g:.4f}")
print(f"  (a) C(G) + log 4: {panels['a']['gap']:.4f}")
print(f"  (b) mean |D - D*|: {panels['b']['d_err']:.4f}")
print(f"  (c) C(G) + log 4 after one G step: {panels['c']['gap']:.4f}")
print(f"  (d) C(G) + log 4 after 2,000 G steps: {panels['d']['gap']:.4f}")
print(f"  (d) mean |D - 1/2| under p_data: {d_half:.4f}")
