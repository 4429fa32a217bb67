# %% [markdown]
# # 4. Mode collapse on the ring, and what fixes it
#
# *The minigan tour, notebook 4 of 6. [The tour](README.md) ·
# previous: [3. The GAN objective](03_gan_objective_1d.ipynb) · next: [5. DCGAN](05_dcgan_fashion_mnist.ipynb)*
#
# Theorem 1 (notebook 3) promises $p_g = p_{data}$ if D reaches its optimum at every step. In practice D takes one
# step, and G may answer today's D by putting all its samples wherever D is most fooled now: one mode of the data.
# D learns to reject that mode, G jumps to another, and so on: *mode collapse*, or mode hopping. The standard test
# bed is the ring, eight Gaussians on the unit circle. This notebook trains three GANs there in the same setting, a
# plain one and two remedies: PacGAN's packing (D judges several samples at once) and the unrolled GAN (G looks
# ahead at how D would respond). It counts the modes each covers as it trains.
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
# ## 4.1 The ring, and counting modes
#
# `data.ring` samples the eight Gaussians (radius 1, standard deviation 0.01). `data.mode_stats` applies the count of
# VEEGAN and PacGAN to 2,500 samples: a sample is *high quality* if it lies within 3 standard deviations of its
# nearest mode, and a mode is *covered* if at least one high-quality sample is there. The data itself scores 8/8;
# a generator that puts everything on one mode, 1/8:

# %%
import numpy as np

from minigan import data

rng = np.random.default_rng(0)
real = data.ring(2500, rng)
one_mode = np.array([1.0, 0.0]) + 0.01 * rng.standard_normal((2500, 2))
print("the data:       ", data.mode_stats(real, "ring"))
print("one mode only:  ", data.mode_stats(one_mode, "ring"))

# %% [markdown]
# ## 4.2 Three GANs in one setting
#
# The setting of the unrolled-GAN paper (Metz et al. 2016): G and D are MLPs of three hidden layers of 128 units
# (`models.ToyGenerator`, `models.ToyDiscriminator`), G draws from 2-D Gaussian noise, minibatches of 512, Adam with
# D's learning rate 1e-4 and G's 1e-3 (the rates of the authors' code). The three differ in one option each, the
# options of `minigan train`:
#
# - **plain**: Algorithm 1 as in notebook 3 (`--pack 1`);
# - **PacGAN** (Lin et al. 2018): D judges packs of 4 samples concatenated (`--pack 4`), all real or all fake. A
#   pack of four samples from one mode looks fake even where each sample alone looks real, so D can punish a
#   generator that lacks variety;
# - **unrolled** (`--unroll 5`): G's loss is taken against D advanced 5 of its own Adam steps, and differentiated
#   *through* those steps (second derivatives, as in notebook 1), so a move of G that D would answer at once stops
#   paying.
#
# `make_config` builds the config `minigan train` would use, and the `Trainer` runs it a step at a time (nothing is
# written to disk unless `fit()` is called). Each run takes 400 steps, and every 10 steps we count the modes of 2,500
# samples of a fixed noise.

# %%
import time

from minigan.gan.config import make_config
from minigan.gan.run import noise
from minigan.gan.train import Trainer

common = dict(data="ring", batch_size=512, lr=1e-3, lr_d=1e-4, cooldown=0, steps=400, seed=0, device=device)
variants = {"plain": dict(pack=1), "PacGAN, pack 4": dict(pack=4), "unrolled, K = 5": dict(pack=1, unroll=5)}
runs = {}
for name, options in variants.items():
    trainer = Trainer(make_config(**common, **options), progress=False)
    z = noise(trainer.cfg, 2500, np.random.default_rng(1), device)      # the same fixed noise for every count
    curve, shots, t0 = [], {}, time.perf_counter()
    while True:
        if trainer.step % 10 == 0:
            samples = trainer.sample(z)
            curve.append((trainer.step, data.mode_stats(samples, "ring")["modes_covered"]))
            if trainer.step in (0, 100, 200, 300, 400):
                shots[trainer.step] = samples
        if trainer.step == 400:
            break
        trainer.train_step()
    runs[name] = dict(curve=curve, shots=shots, seconds=time.perf_counter() - t0)
    print(f"{name:16s} {runs[name]['seconds']:5.1f} s   modes covered every 10 steps: {[m for _, m in curve]}")

# %% [markdown]
# The modes covered over the 400 steps, and the samples (blue) over the data (grey) at a few steps (titles: modes
# covered, and the share of high-quality samples):

# %%
import matplotlib.pyplot as plt

plt.figure(figsize=(7, 3))
for name, r in runs.items():
    steps, modes = zip(*r["curve"])
    plt.plot(steps, modes, marker=".", label=name)
plt.ylim(-0.3, 8.5)
plt.xlabel("step")
plt.ylabel("modes covered (of 8)")
plt.legend()
plt.show()

fig, axes = plt.subplots(3, 5, figsize=(12, 7.6))
for row, (name, r) in zip(axes, runs.items()):
    for ax, (step, s) in zip(row, r["shots"].items()):
        ax.scatter(real[:, 0], real[:, 1], s=1, c="0.75")
        ax.scatter(s[:, 0], s[:, 1], s=1, c="tab:blue", alpha=0.4)
        st = data.mode_stats(s, "ring")
        ax.set(xlim=(-1.6, 1.6), ylim=(-1.6, 1.6), aspect="equal", xticks=[], yticks=[],
               title=f"step {step}: {st['modes_covered']}/8, {100 * st['high_quality']:.0f} %")
    row[0].set_ylabel(name)
plt.tight_layout()
plt.show()

# %% [markdown]
# The plain GAN keeps all its samples in one small blob that moves around, mostly off the ring, touching at most
# one mode at a time: G chases whatever D currently calls real, and D follows. Packing and unrolling spread G's
# samples around the ring within these 400 steps and cover most of the modes. None of them is *sharp* yet: few of
# the samples lie within 3 standard deviations (0.03) of a mode.
#
# ## 4.3 The long runs
#
# Sharpness takes thousands of steps, which is why this notebook stops here. The library's demos ran them
# (docs/demos.md, section 2). `python demos/unrolled_ring.py` trains this setting for 3,000 steps, with both rates
# falling to 0 over the last 30 % (the unrolled recipe's cooldown): the plain GAN covers 0 of 8 modes at the end on
# all 5 seeds, hopping from mode to mode the whole time; the unrolled GAN with K = 10 covers 8/8 on all 5 seeds with
# 91-95 % of its samples sharp (K = 5: 8/8 on 4 seeds of 5, 88 % sharp on average). Its figure, seed 0:

# %%
from IPython.display import Image, display

display(Image(filename="../docs/img/demos/unrolled_ring_k0_k10.png"))

# %% [markdown]
# Packing is the library's default for the ring (`minigan train --data ring`): pack 4, minibatches of 1,024 and
# Adam 1e-3 for both players, 8,000 steps, about 2 minutes of CPU time. It covers 8/8 modes with 95 % of the samples
# sharp on 3 of 3 seeds, at about a fifth of the unrolled GAN's cost. One caveat the demos measured: how badly the
# plain GAN collapses depends on D's learning rate. At the rate of G, 1e-3, the plain GAN covers the ring too (7.8 of
# 8 modes over 5 seeds after 3,000 steps), and unrolling then *hurts*; the hopping above comes with a D that learns
# ten times slower than G (docs/demos.md, "Mode hopping and the unrolled GAN"). `python demos/mode_collapse_2d.py`
# draws the recipe (last row) beside four losses with an unpacked D at the recipe's rates, 2,000 steps each:

# %%
display(Image(filename="../docs/img/demos/ring_modes.png", width=560))

# %% [markdown]
# ## What this notebook showed
#
# - A plain GAN can put all its samples on one mode at a time and hop between modes: the objective's optimum covers
#   the data, but Algorithm 1's alternating steps need not reach it.
# - Letting D see packs of samples (PacGAN) or letting G look ahead at D's response (the unrolled GAN, with second
#   derivatives through D's optimizer steps) spreads G over the modes early; making the samples sharp then takes the
#   longer runs of the demos.
#
# To read next: `minigan/gan/unrolled.py` (D's optimizer steps as differentiable Tensor operations), the `pack`
# branch of `models.ToyDiscriminator`, and docs/theory.md, section 8b. [Notebook 5](05_dcgan_fashion_mnist.ipynb)
# trains a GAN on images.
#
# The key numbers, which `tests/test_tour.py` compares with a fresh run (the mean of the last 10 counts of each run):

# %%
print("key numbers")
for name, r in runs.items():
    print(f"  modes covered over steps 310-400, {name}: {np.mean([m for _, m in r['curve'][-10:]]):.1f}")
