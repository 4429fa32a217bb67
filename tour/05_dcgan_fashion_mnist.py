# %% [markdown]
# # 5. DCGAN on Fashion-MNIST
#
# *The minigan tour, notebook 5 of 6. [The tour](README.md) ·
# previous: [4. Mode collapse](04_mode_collapse_ring.ipynb) · next: [6. Inpainting](06_inpainting.ipynb)*
#
# From points to pictures: the same Algorithm 1 (notebook 3), now with convolutional players on 28x28 images of
# clothes. This notebook trains DCGAN-28 for a few hundred steps to watch it start, then loads the generator of a
# full run (12 epochs, the library's default recipe, shipped with the tour) and measures it as the library does:
# samples, the classifier FID, the nearest training images (did it copy?) and walks through its latent space.
#
# **Running this notebook.** In a clone of the repository: `pip install -e ".[dev]"`, then `jupyter lab tour/`.
# On a hosted GPU (Colab, Kaggle: CuPy is preinstalled there): clone the repository, `pip install -e .` in it,
# restart the runtime, `%cd` into its `tour/` folder and run the cells; the next cell then picks the GPU
# ([the tour's README](README.md) has the commands). On a laptop CPU it runs in under two minutes.
# The data set comes from `/usr/share/datasets/fashion-mnist` (Debian's `dataset-fashion-mnist`),
# `~/.cache/minigan`, or is downloaded there once (30 MB, each file's SHA-256 checked).

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads; why one thread: tour/README.md

import minigan

device = os.environ.get("MINIGAN_DEVICE") or ("cuda" if minigan.cuda_available() else "cpu")
minigan.set_default_device(device)  # new tensors go there; "cuda" puts them on the GPU through CuPy
print(f"minigan {minigan.__version__} on {device}")

# %% [markdown]
# ## 5.1 The data
#
# Fashion-MNIST: 60,000 training and 10,000 test images of ten kinds of clothing, 28x28 grey levels.
# `data.load_images` finds the files (or downloads and checks them) and scales the pixels for a generator with a
# tanh output, to $[-1, 1]$; `scale="sigmoid"` gives $[0, 1]$, the range the pictures and the scores use.

# %%
import matplotlib.pyplot as plt
import numpy as np

from minigan import data
from minigan.gan import viz

test_x, test_y = data.load_images("fashion-mnist", "test", scale="sigmoid")
names = data.CLASS_NAMES["fashion-mnist"]
print(f"test images {test_x.shape}, values in [{test_x.min():.0f}, {test_x.max():.0f}]; classes: {', '.join(names)}")


def show(images, nrow, title, size=None):
    """A grid of images (N, 1, 28, 28) in [0, 1] (viz.image_grid tiles them), drawn inline."""
    plt.figure(figsize=size or (nrow * 0.75, -(-len(images) // nrow) * 0.75 + 0.4))
    plt.imshow(viz.image_grid(images, nrow=nrow), interpolation="nearest")
    plt.title(title)
    plt.axis("off")
    plt.show()


show(np.concatenate([test_x[test_y == c][:8] for c in range(10)]), 8, "eight test images of each class, "
     "row by row: " + ", ".join(names[:5]) + ",\n" + ", ".join(names[5:]), size=(6.5, 8.6))

# %% [markdown]
# ## 5.2 DCGAN-28
#
# Radford et al.'s rules for a convolutional GAN, at 28x28 (`minigan/gan/models.py`): G maps 100 Gaussian numbers
# through a linear layer to 128 maps of 7x7, then two transposed convolutions (stride 2: 7 -> 14 -> 28) with batch norm
# and ReLU, and tanh at the end; D mirrors it with strided convolutions and LeakyReLU(0.2), ending in one logit. The
# weights start from $\mathcal N(0, 0.02)$ (`models.dcgan_init`).

# %%
from minigan.gan import models

G = models.dcgan_init(models.DCGAN28Generator()).to(device)
D = models.dcgan_init(models.DCGAN28Discriminator()).to(device)
x = minigan.randn(2, 100, device=device)                      # two codes z, through G layer by layer
with minigan.no_grad():
    for layer in G.net:
        x = layer(x)
        print(f"G  {type(layer).__name__:16s} -> {tuple(x.shape)}")
    print(f"D(G(z)): logits of shape {tuple(D(x).shape)}")
for name, m in (("G", G), ("D", D)):
    print(f"{name}: {sum(p.size for p in m.parameters()):,} weights")

# %% [markdown]
# ## 5.3 A short run, watched step by step
#
# `minigan train --data fashion-mnist` runs the `Trainer` (`minigan/gan/train.py`): it builds G, D and their Adam
# optimizers from the data set's recipe (Adam at 1.2e-3, $\beta_1 = 0.5$, minibatches of 64), and each `train_step`
# is one `algorithm1.train_step` plus its bookkeeping; it returns the row `metrics.csv` gets. Nothing is written to
# disk until `fit()` (which we do not call here). 300 steps, a third of one epoch:

# %%
import time

from minigan.gan.config import make_config
from minigan.gan.train import Trainer

cfg = make_config(data="fashion-mnist", steps=300, seed=0, device=device)
trainer = Trainer(cfg, progress=False)
pictures, rows, t0 = {0: trainer.sample(trainer.fixed_z[:16])}, [], time.perf_counter()
while trainer.step < 300:
    rows.append(trainer.train_step())
    if trainer.step in (50, 100, 300):
        pictures[trainer.step] = trainer.sample(trainer.fixed_z[:16])
print(f"300 steps in {time.perf_counter() - t0:.0f} s; the last row of metrics.csv would be:")
print({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()})

# %% [markdown]
# The same 16 noise vectors after 0, 50, 100 and 300 steps, then the losses. `loss_D` near $2 \log 2 = 1.39$ and
# $D(x)$, $D(G(z))$ near 1/2 would be the equilibrium; in the first steps D wins outright (G's loss jumps), then the
# two players trade blows around it.

# %%
strip = np.concatenate([(pictures[s] + 1) / 2 for s in pictures])    # tanh output -> [0, 1]
show(strip, 16, "rows: after " + ", ".join(map(str, pictures)) + " steps", size=(12, 3.4))
plt.figure(figsize=(8, 3))
for key in ("loss_D", "loss_G", "D_x", "D_G_z"):
    plt.plot([r["step"] for r in rows], [r[key] for r in rows], lw=0.8, label=key)
plt.axhline(2 * np.log(2), c="k", ls=":", lw=0.8)
plt.ylim(0, 6)
plt.xlabel("step")
plt.title("the metrics rows (loss_G goes above 6 in the first 50 steps)")
plt.legend(fontsize=8, ncol=4)
plt.show()

# %% [markdown]
# ## 5.4 The full run
#
# The default recipe trains 12 epochs (11,052 steps; 16 to 27 minutes on 2 CPU cores, about 5 on a GPU). The tour
# ships the result as a small run folder, `dcgan28-fashion-mnist/`: the run's `config.json` and a checkpoint with
# G and D only (its weights in half precision, 1.9 MB; `tour/make_run.py` says how it was made).
# `load_run` reads it as it reads any run of `minigan train`, so `minigan sample --run tour/dcgan28-fashion-mnist`
# works on it too.

# %%
from minigan.gan.run import load_run, noise, to_unit_range

cfg, G, D = load_run("dcgan28-fashion-mnist", device)        # G, D in eval mode, on the device
print(f"{cfg['model']} on {cfg['data']}: {cfg['epochs']} epochs at Adam {cfg['lr']}, seed {cfg['seed']}")
z = noise(cfg, 64, np.random.default_rng(0), device)
with minigan.no_grad():
    samples = to_unit_range(cfg, G(z).numpy())
show(samples, 16, "64 samples of the 12-epoch G", size=(12, 3.6))

# %% [markdown]
# ## 5.5 How good? The classifier FID
#
# `minigan evaluate` scores a run with a small CNN trained on Fashion-MNIST that ships with the library
# (`minigan/gan/quality.py`, [docs/evaluation.md](../docs/evaluation.md)): the Fréchet distance between Gaussians
# fitted to its 128 features of generated and of training images (FID: 0 for identical statistics), an
# Inception-style score (up to 10) and how evenly the samples fall into the ten classes. We draw 10,000 samples
# exactly as `minigan evaluate` does (noise from seed 1234), score the short run's G the same way, and score 10,000
# real test images for the scale.

# %%
from minigan.gan.evaluate import generate
from minigan.gan.quality import load_classifier, score_samples

classifier = load_classifier("fashion-mnist", device=device)     # load the weights once for the three scores
scores = {}
for what, gen in (("12 epochs", G), ("300 steps", trainer.G)):
    gen.eval()
    s = generate(cfg, gen, 10000, np.random.default_rng(1234), device=device)
    scores[what] = score_samples(s, classifier=classifier, device=device)
scores["real test images"] = score_samples(test_x, classifier=classifier, device=device)
for what, r in scores.items():
    print(f"{what:17s} FID {r['fid']:7.2f}   Inception-style score {r['is_mean']:.2f}   "
          f"class entropy {r['class_entropy']:.2f} of {np.log(10):.2f}")

# %% [markdown]
# A GAN run's path depends on every rounding, so the same seed on another machine is another run: the same command
# (seed 0, the default recipe) scored FID 4.85 on another 2-core machine and 4.62 to 5.03 on a GPU, 4.80 ± 0.18 over
# four runs (docs/demos.md, section 4, "A stronger default"); the papers' 5-epoch recipe scores 9.19 ± 0.39, and
# PyTorch's twin of it 9.64 ± 0.28. The shipped run was trained on this project's 2-core machine. Real images score
# near 0 (docs: 0.06 for 10,000 training images); the 300-step
# G is far off.
#
# ## 5.6 Did it copy? The nearest training images
#
# The GAN paper's Figure 2 puts each sample beside its nearest training image. A G that memorised would show twins;
# ours draws garments that resemble, but are not, training images:

# %%
from minigan.gan.evaluate import nearest_neighbours

train_x, _ = data.load_images("fashion-mnist", "train", scale="sigmoid")
idx = nearest_neighbours(samples, train_x, n=16)
show(np.concatenate([samples[:16], train_x[idx]]), 16, "top: samples; bottom: the nearest training image (L2)",
     size=(12, 1.9))

# %% [markdown]
# ## 5.7 Walking through z
#
# G is a smooth function of $z$: on a straight line between two codes, the images change gradually, one garment
# turning into another (the DCGAN paper's section 6.1). Each row goes from one random $z$ to another in 10 steps.

# %%
rng = np.random.default_rng(3)
z0, z1 = (rng.standard_normal((6, 100)).astype(np.float32) for _ in range(2))
t = np.linspace(0, 1, 10, dtype=np.float32)[None, :, None]
line = (z0[:, None] * (1 - t) + z1[:, None] * t).reshape(-1, 100)
with minigan.no_grad():
    walk = to_unit_range(cfg, G(minigan.tensor(line, device=device)).numpy())
show(walk, 10, "straight lines in z space, left to right", size=(7.5, 4.9))

# %% [markdown]
# ## What this notebook showed
#
# - DCGAN-28 is Algorithm 1 with convolutional players; the `Trainer` runs it, a step at a time.
# - A few hundred steps give outlines; 12 epochs give garments with a classifier FID near 5, against 0 for real
#   images. They are not copies of training images, and the latent space is smooth.
#
# To read next: `minigan/gan/models.py` (DCGAN-28), `minigan/gan/train.py` (the `Trainer`) and docs/demos.md,
# section 4. To train the full run yourself: `minigan train --data fashion-mnist --out runs/fashion-mnist`, then
# `minigan evaluate --run runs/fashion-mnist`. [Notebook 6](06_inpainting.ipynb) uses this G and D to fill holes in
# images.
#
# The key numbers, which `tests/test_tour.py` compares with a fresh run:

# %%
print("key numbers")
print(f"  loss_D over the last 50 of 300 steps: {np.mean([r['loss_D'] for r in rows[-50:]]):.3f}")
print(f"  FID after 300 steps: {scores['300 steps']['fid']:.2f}")
print(f"  FID of the 12-epoch G: {scores['12 epochs']['fid']:.3f}")
print(f"  Inception-style score of the 12-epoch G: {scores['12 epochs']['is_mean']:.3f}")
print(f"  FID of the real test images: {scores['real test images']['fid']:.3f}")
