# %% [markdown]
# # 6. Inpainting: filling a hole with a trained GAN
#
# *The minigan tour, notebook 6 of 6. [The tour](README.md) · previous: [5. DCGAN](05_dcgan_fashion_mnist.ipynb)*
#
# Once G and D are trained, they can repair images (Yeh et al., *Semantic Image Inpainting with Deep Generative
# Models*, 2017). Fix their weights and search the *input* instead: find a code $z$ whose image $G(z)$ matches the
# pixels we know and looks real to D, then fill the hole with $G(z)$. Using the trained model is itself an
# optimisation, by gradient descent on $z$, through both networks. This notebook writes down the two losses, runs
# the search with the 12-epoch DCGAN of notebook 5, and measures the fill against filling by copying from the
# training set. [docs/inpainting.md](../docs/inpainting.md) derives every choice and measures it at length.
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
# ## 6.1 The generator, the images and the masks
#
# The run of notebook 5 (`dcgan28-fashion-mnist/`, 12 epochs of the default recipe), and test images it never
# saw. A mask $M$ has the image's size: 1 where a pixel is known, 0 where it is missing. `make_mask` makes the
# four kinds the library measures; `show_masked` paints the missing pixels blue.

# %%
import matplotlib.pyplot as plt
import numpy as np

from minigan import data
from minigan.gan import viz
from minigan.gan.run import load_run
from minigan.inpaint import make_mask
from minigan.inpaint.figure import show_masked

cfg, G, D = load_run("dcgan28-fashion-mnist", device)
test_x, _ = data.load_images("fashion-mnist", "test", scale="sigmoid")      # images in [0, 1]
kinds = ("center", "random", "left", "grid")
masks = {k: make_mask(k, (28, 28)) for k in kinds}
for k, m in masks.items():
    print(f"{k:7s} {int((m == 0).sum()):4d} of 784 pixels missing")


def show(images, nrow, title, size):
    """A grid of images (N, C, 28, 28) in [0, 1], drawn inline."""
    plt.figure(figsize=size)
    plt.imshow(viz.image_grid(images, nrow=nrow), interpolation="nearest")
    plt.title(title)
    plt.axis("off")
    plt.show()


show(np.concatenate([show_masked(test_x[:6], masks[k]) for k in kinds]), 6,
     "the masks on six test images: " + ", ".join(kinds) + " (rows)", (5, 3.9))

# %% [markdown]
# ## 6.2 The two losses
#
# For an image $x$ with mask $M$ and a code $z$:
#
# - the **contextual loss** $L_c(z) = \lVert M \odot (G(z) - x) \rVert_1$: how far $G(z)$ is from $x$ on the known
#   pixels (the hole does not count);
# - the **perceptual loss** $L_p(z) = -\log D(G(z)) = \operatorname{softplus}(-\ell)$: how fake D finds $G(z)$.
#   (The paper's $\log(1 - D(G(z)))$ saturates, as G's minimax loss does in training: the library uses the
#   non-saturating form, docs/inpainting.md section 2.)
#
# The search minimises $L(z) = L_c(z) + \lambda L_p(z) + \tfrac{\gamma}{2}\lVert z \rVert^2$, the last term the
# Gaussian prior's negative log-density, which keeps $z$ where G was trained ($\lambda = 0.1$, $\gamma = 1$).
# `minigan.inpaint.objective` computes the parts for a batch of codes; here for three random codes, beside the same
# numbers computed by hand:

# %%
from minigan.inpaint import contextual_loss, objective, perceptual_loss

x = test_x[:3]
m = masks["center"]
z = minigan.tensor(np.random.default_rng(0).standard_normal((3, 100)).astype(np.float32), requires_grad=True)
xt, mt = minigan.tensor(x), minigan.tensor(m[None, None])
total, l_c, l_p, g_z = objective(G, D, z, xt, mt, lam=0.1, prior_weight=1.0)
by_hand_c = np.abs(m * (g_z.numpy() - x)).sum(axis=(1, 2, 3))
logit = D(g_z * 2 - 1).numpy().ravel()                        # D sees G's own range, [-1, 1]
by_hand_p = np.log1p(np.exp(-logit))
print("contextual L_c:", l_c.numpy().round(3), " by hand:", by_hand_c.round(3))
print("perceptual L_p:", l_p.numpy().round(4), " by hand:", by_hand_p.round(4))
print("total L       :", total.numpy().round(3))
(dz,) = minigan.grad(total.sum(), z)        # G and D in eval mode (batch norm's running statistics): codes apart
print("dL/dz: one gradient per code, shape", dz.shape, "- the search moves z only; G and D stay fixed")

# %% [markdown]
# The same functions, `contextual_loss` and `perceptual_loss`, are what `objective` adds up:

# %%
with minigan.no_grad():
    print(contextual_loss(g_z, xt, mt).numpy().round(3), perceptual_loss(D(g_z * 2 - 1)).numpy().round(4))

# %% [markdown]
# ## 6.3 The search
#
# `inpaint(G, D, images, mask, cfg, ...)` runs Adam on $z$ for all images at once, from `restarts` random codes per
# image (searched together as one batch), and fills the hole with the mean of the restarts' $G(\hat z)$; Poisson
# blending then joins the fill to the known pixels without a seam (`blend.poisson_blend`). It returns a dict with the
# `blended` and `generated` images, the codes `z`, and a `history` of the losses (and, with `record`, of $G(z)$).
# The library's defaults are 500 steps and 4 restarts; for time we search the first 64 centre-masked test images
# for 200 steps.

# %%
import time

from minigan.inpaint import inpaint

images, mask = test_x[:64], masks["center"]
t0 = time.perf_counter()
result = inpaint(G, D, images, mask, cfg, iters=200, restarts=4, seed=0, record=8, record_every=25)
print(f"64 images x 4 restarts, 200 steps: {time.perf_counter() - t0:.0f} s")
print({k: getattr(v, "shape", v) for k, v in result.items() if k != "history"})

# %% [markdown]
# The loss (the mean over images of each image's best restart) falls fast in the first hundred steps and is still
# creeping down at 200; below, $G(z)$ over the search for eight images, every 25 steps, under the masked input.

# %%
loss = result["history"]["loss"]                              # (iters + 1, restarts, images)
frames = result["history"]["frames"]                          # (recorded steps, 8 images, 1, 28, 28)
plt.figure(figsize=(5, 2.8))
plt.plot(loss.min(axis=1).mean(axis=1))
plt.xlabel("Adam step on z")
plt.ylabel("L(z)")
plt.show()
tiles = np.concatenate([show_masked(images[:8], mask)] + [np.repeat(f, 3, axis=1) for f in frames])
show(tiles, 8, "masked input, then G(z) at steps " + ", ".join(map(str, result["history"]["frame_iters"])),
     (4.6, 6.4))

# %% [markdown]
# The slides' figure: the originals, the masked inputs, the fill $G(\hat z)$ (the restarts' mean) and the blended
# result.

# %%
rows = [images[:16], show_masked(images[:16], mask), result["generated"][:16], result["blended"][:16]]
show(np.concatenate([np.repeat(r, 3, axis=1) if r.shape[1] == 1 else r for r in rows]), 16,
     "rows: original, masked, the fill G(z), blended", (12, 3.4))

# %% [markdown]
# ## 6.4 Against copying from the training set
#
# A fill is judged on the missing pixels only: the hole's L1 error and PSNR, $10 \log_{10}(1 / \mathrm{MSE})$ in
# dB (higher is better; `minigan.inpaint.hole_psnr`). Fashion-MNIST is a hard test for a GAN, because copying works
# well: its classes hold many near-identical items. Three copy-based fills: the mean training image; the hole of the
# training image nearest to $x$ on the known pixels; and the mean of the 8 nearest (the training images are the
# 59,000 the GAN was trained on).

# %%
from minigan.gan.run import split_held_out
from minigan.inpaint import compose, hole_l1, hole_psnr, mean_fill, nearest_fill

train_x, _ = data.load_images("fashion-mnist", "train", scale="sigmoid")
train_x = split_held_out(train_x)[0]
fills = {"mean training image": mean_fill(images, mask, train_x),
         "nearest training image": nearest_fill(images, mask, train_x)[0],
         "mean of the 8 nearest": nearest_fill(images, mask, train_x, k=8)[0],
         "minigan, pasted": compose(images, result["generated"], mask),
         "minigan, blended": result["blended"]}
psnr = {}
print(f"{'fill (centre mask, 64 test images)':36s} {'hole L1':>8s} {'PSNR (dB)':>10s}")
for name, filled in fills.items():
    psnr[name] = float(np.nanmean(hole_psnr(filled, images, mask)))
    print(f"{name:36s} {np.nanmean(hole_l1(filled, images, mask)):8.4f} {psnr[name]:10.2f}")
gan = psnr["minigan, blended"]
print(f"minigan (blended) against the nearest training image: {gan - psnr['nearest training image']:+.2f} dB; "
      f"against the mean of the 8 nearest: {gan - psnr['mean of the 8 nearest']:+.2f} dB")
show(np.concatenate([show_masked(images[:16], mask)] + [np.repeat(f[:16], 3, axis=1) for f in fills.values()]), 16,
     "rows: masked; " + "; ".join(fills), (12, 5))

# %% [markdown]
# ## What this notebook showed, and the full measurement
#
# - Inpainting with a GAN is a search over $z$ with the networks fixed: a contextual loss on the known pixels, a
#   perceptual loss from D and the prior on $z$, minimised by Adam through G and D.
# - Blending matters: pasting $G(\hat z)$ leaves a seam that Poisson blending removes.
# - PSNR rewards the conditional mean of the hole, not one sharp guess: the mean of eight real neighbours is a
#   strong baseline, and copying one neighbour is a fair one on Fashion-MNIST.
#
# The full measurement (docs/inpainting.md, section 4: the first 256 test images, 300 steps, 8 restarts averaged,
# a generator of the same recipe) on the centre mask: minigan 17.07 dB blended, the nearest training image 15.47
# dB, the mean of the 8 nearest 17.51 dB, the mean image 10.28 dB. A well-searched GAN fill beats copying one
# neighbour by 1.6 dB, and the mean of eight neighbours still beats the GAN: 59,000 real images give a better
# estimate of the conditional mean than this generator does. The short search above (64 images, 200 steps, 4
# restarts) lands in between; on the random, left and grid masks the GAN does less well (docs/inpainting.md).
# `python demos/inpainting.py --run tour/dcgan28-fashion-mnist --n 256 --iters 300 --restarts 8` runs the full
# measurement (every mask; about 35 minutes on 2 CPU cores), and `minigan inpaint --run ...` fills your own images.
#
# To read next: `minigan/inpaint/objective.py` and `search.py`, and [docs/inpainting.md](../docs/inpainting.md).
# That is the tour: from the derivative of one op to a filled hole.
#
# The key numbers, which `tests/test_tour.py` compares with a fresh run:

# %%
print("key numbers")
for name in fills:
    print(f"  hole PSNR, {name}: {psnr[name]:.3f}")
print(f"  final L(z), mean over images: {loss[-1].min(axis=0).mean():.3f}")
