# %% [markdown]
# # 6. Inpainting: filling a hole with a trained GAN
#
# *The minigan tour, notebook 6 of 6. [The tour](README.md) · previous: [5. DCGAN](05_dcgan_fashion_mnist.ipynb)*
#
# Once G and D are trained, they can repair images (Yeh et al., *Semantic Image Inpainting with Deep Generative
# Models*, 2017). Fix their weights and search the *input* instead: find a code $z$ whose image $G(z)$ matches the
# pixels we know and looks real to D, then fill the hole with $G(z)$. Using the trained model is itself an
# optimisation, by gradient descent on $z$, through both networks. This notebook writes down the two losses, runs
# Yeh et al.'s search from random codes with the 12-epoch DCGAN of notebook 5, then minigan's search, which starts
# from the codes an encoder reads off the damaged image and off its nearest training images, and scores them, and
# three ways of copying from the training set, on accuracy and on realism. [docs/inpainting.md](../docs/inpainting.md)
# derives every choice and measures it at length.
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
# saw. A mask $M$ has the image's size: 1 where a pixel is known, 0 where it is missing. `get_mask` makes one from
# a spec, as `minigan inpaint --mask` reads it: `center` (the middle square), `left` (that half), `random:0.8` (80 %
# of the pixels, drawn afresh for every image), `grid` (one pixel of each 4x4 block known), `box:Y,X,H,W`, or
# a file. `show_masked` paints the missing pixels blue.

# %%
import matplotlib.pyplot as plt
import numpy as np

from minigan import data
from minigan.gan import viz
from minigan.gan.run import load_run
from minigan.inpaint import get_mask
from minigan.inpaint.figure import show_masked

cfg, G, D = load_run("dcgan28-fashion-mnist", device)
test_x, _ = data.load_images("fashion-mnist", "test", scale="sigmoid")      # images in [0, 1]
images = test_x[:64]                                                         # the images this notebook fills
specs = ("center", "left", "random:0.8", "grid")
masks = {s: get_mask(s, images.shape, rng=0) for s in specs}                # (64, 1, 28, 28) each, 0 / 1
for s, m in masks.items():
    print(f"{s:10s} {int((m[0] == 0).sum()):3d} of 784 pixels missing")


def show(images, nrow, title, size):
    """A grid of images (N, C, 28, 28) in [0, 1], drawn inline."""
    plt.figure(figsize=size)
    plt.imshow(viz.image_grid(images, nrow=nrow), interpolation="nearest")
    plt.title(title)
    plt.axis("off")
    plt.show()


def grey(x):
    """(N, 1, H, W) -> (N, 3, H, W), to stand beside show_masked's RGB rows."""
    return np.repeat(x, 3, axis=1)


show(np.concatenate([show_masked(images[:6], masks[s][:6]) for s in specs]), 6,
     "the masks on six test images: " + ", ".join(specs) + " (rows)", (5, 3.9))

# %% [markdown]
# ## 6.2 The two losses
#
# For an image $x$ with mask $M$ and a code $z$:
#
# - the **contextual loss** $L_c(z) = \lVert M \odot (G(z) - x) \rVert_1$: how far $G(z)$ is from $x$ on the known
#   pixels (the hole does not count);
# - the **perceptual loss** $L_p(z) = -\log D(G(z)) = \operatorname{softplus}(-\ell)$: how fake D finds $G(z)$.
#   (The paper's $\log(1 - D(G(z)))$ saturates, as G's minimax loss does in training: the library uses the
#   non-saturating form, docs/inpainting.md.)
#
# The search minimises $L(z) = L_c(z) + \lambda L_p(z) + \tfrac{\gamma}{2}\lVert z - c \rVert^2$. The last term
# keeps $z$ near a centre $c$: from random codes $c = 0$, the Gaussian prior's negative log-density, which keeps
# $z$ where G was trained ($\lambda = 0.1$, $\gamma = 1$); from an encoder (6.4) $c$ is the encoder's code.
# `minigan.inpaint.objective` computes the parts for a batch of codes; here for three random codes and $c = 0$,
# beside the same numbers computed by hand:

# %%
from minigan.inpaint import contextual_loss, objective, perceptual_loss

x = test_x[:3]
m = masks["center"][:3]                                       # (3, 1, 28, 28)
z = minigan.tensor(np.random.default_rng(0).standard_normal((3, 100)).astype(np.float32), requires_grad=True)
xt, mt = minigan.tensor(x), minigan.tensor(m)
total, l_c, l_p, g_z = objective(G, D, z, xt, mt, lam=0.1, prior_weight=1.0)     # centre=None: c = 0
by_hand_c = np.abs(m * (g_z.numpy() - x)).sum(axis=(1, 2, 3))
logit = D(g_z * 2 - 1).numpy().ravel()                        # D sees G's own range, [-1, 1]
by_hand_p = np.log1p(np.exp(-logit))
print("contextual L_c:", l_c.numpy().round(3), " by hand:", by_hand_c.round(3))
print("perceptual L_p:", l_p.numpy().round(4), " by hand:", by_hand_p.round(4))
print("total L       :", total.numpy().round(3), " by hand:",
      (by_hand_c + 0.1 * by_hand_p + 0.5 * (z.numpy() ** 2).sum(axis=1)).round(3))
(dz,) = minigan.grad(total.sum(), z)        # G and D in eval mode (batch norm's running statistics): codes apart
print("dL/dz: one gradient per code, shape", dz.shape, "- the search moves z only; G and D stay fixed")

# %% [markdown]
# The same functions, `contextual_loss` and `perceptual_loss`, are what `objective` adds up:

# %%
with minigan.no_grad():
    print(contextual_loss(g_z, xt, mt).numpy().round(3), perceptual_loss(D(g_z * 2 - 1)).numpy().round(4))

# %% [markdown]
# ## 6.3 Searching from random codes
#
# Yeh et al.'s search: draw `restarts` random codes per image, run Adam on all of them at once (one batch), and fill
# the hole with the mean of the restarts' $G(\hat z)$; Poisson blending then joins the fill to the known pixels
# without a seam (`blend.poisson_blend`). `inpaint(G, D, images, mask, cfg)` with no encoder does this. It returns
# a dict with the `blended` and `generated` images, the codes `z`, the `settings` it used and a `history` of the
# losses (and, with `record`, of $G(z)$). Every setting left out is chosen by `settings(mask, start)`; from random
# codes the library's defaults are 500 steps and 4 restarts. For time we search the 64 centre-masked images for
# 200 steps.

# %%
import time

from minigan.inpaint import inpaint, settings

mask = masks["center"]
print("defaults from random codes:", settings(mask, start="random"))
t0 = time.perf_counter()
result = inpaint(G, D, images, mask, cfg, encoder=None, iters=200, restarts=4, seed=0, record=8, record_every=25)
print(f"64 images x 4 restarts, 200 steps: {time.perf_counter() - t0:.0f} s")
print({k: getattr(v, "shape", v) for k, v in result.items() if k not in ("history", "settings")})

# %% [markdown]
# The loss (the mean over images of each image's best restart) falls fast over the first fifty steps and is still
# falling at 200 (the library runs 500); below, $G(z)$ over the search for eight images, every 25 steps, under the
# masked input: from a random start the code wanders through other garments before it settles.

# %%
loss = result["history"]["loss"]                              # (iters + 1, restarts, images)
frames = result["history"]["frames"]                          # (recorded steps, 8 images, 1, 28, 28)
plt.figure(figsize=(5, 2.8))
plt.plot(loss.min(axis=1).mean(axis=1))
plt.xlabel("Adam step on z")
plt.ylabel("L(z)")
plt.show()
tiles = np.concatenate([show_masked(images[:8], mask[:8])] + [grey(f) for f in frames])
show(tiles, 8, "masked input, then G(z) at steps " + ", ".join(map(str, result["history"]["frame_iters"])),
     (4.6, 6.4))

# %% [markdown]
# ## 6.4 An encoder proposes the start
#
# Many codes fit the known pixels about equally well, and they draw different things in the hole: the search sees
# only the known pixels, so it cannot tell which one draws the right hole, and from a random start it finds
# whichever is nearest. An encoder can learn which one. $E(x \odot M, M)$ reads the damaged image and its mask and
# returns a code $z_E$; it was trained once for this generator, on training images with holes of many shapes cut in
# them, so that $G(z_E)$ matches the *whole* image, hole included (`minigan/inpaint/encoder.py`). The run folder
# keeps it (`dcgan28-fashion-mnist/inpaint_encoder.npz`); `encoder_for` loads it, or trains and saves it for a run
# that has none. Here $G(z_E)$, before any search, for eight images under two masks:

# %%
from minigan.inpaint import encoder_for
from minigan.inpaint.encoder import encode

E = encoder_for("dcgan28-fashion-mnist", cfg, G)
print(f"encoder: {sum(int(np.prod(p.shape)) for p in E.parameters()):,} weights; code size {cfg['z_dim']}")


def start_image(spec):
    """G(z_E) in [0, 1] for the first eight images under the mask ``spec``: the encoder's proposal."""
    z_e = encode(E, images[:8], masks[spec][:8])                 # (8, 100)
    with minigan.no_grad():
        return (G(minigan.tensor(z_e)).numpy() + 1) / 2          # G ends in tanh: [-1, 1] -> [0, 1]


rows = [grey(images[:8])]
for s in ("center", "left"):
    rows += [show_masked(images[:8], masks[s][:8]), grey(start_image(s))]
show(np.concatenate(rows), 8, "original; masked (centre), G(z_E); masked (left half), G(z_E)", (4.6, 3.4))

# %% [markdown]
# The search then starts at $z_E$ and only has to move as far as the known pixels ask. With DCGAN-28 it moves
# not $z$ but G's projected features: $G = \mathrm{tail} \circ \mathrm{head}$, where $h = \mathrm{head}(z)$ holds
# the 128 maps of 7x7 after G's first layer, 6,272 numbers that can follow the known pixels where the 100 of $z$
# cannot. It runs Adam on $h$ from $h_E = \mathrm{head}(z_E)$, the penalty $\tfrac{\gamma}{2}\lVert h - h_E
# \rVert^2$ keeping $h$ near what G makes.
#
# $G(z_E)$ is the generator's best *single* guess of the hole, trained to minimise the squared error: where the
# known pixels leave the hole uncertain it is a cautious, average-looking garment, sometimes of the wrong kind.
# The training set has sharper guesses. The encoder also reads *whole* images (mask all ones): the codes of the
# 4 training images nearest to the damaged one on its known pixels put real-looking garments of the class the
# known pixels suggest in G's range. With the training labels, the 4 are the nearest of the class most of the 8
# nearest share (a vote: a shirt among five T-shirts does not start a search). `minigan inpaint` starts one
# search from each of them (penalty centred on its own start). G redraws a training image a little softer than it
# is, so each searched image is the training image $t_r$ itself, edited by the search: $t_r + G(\hat h_r) -
# G(h_r)$, the change the search made to G's drawing of $t_r$ added to the real image. The fill is the mean of the
# three edits that fit the known pixels best. `settings(mask, "neighbours")` holds these settings; what depends on
# the mask's shape is the blending: a hole that is one large region (a half) is pasted without Poisson blending,
# which would drag the border's shade across the whole hole; every other hole is blended. We call `inpaint` with
# the defaults and the training images and labels as `references` and `reference_labels`:

# %%
from minigan.gan.run import split_held_out

train_x, train_y = (split_held_out(v)[0] for v in data.load_images("fashion-mnist", "train", scale="sigmoid"))
for s in specs:
    st = settings(masks[s], "neighbours")
    print(f"{s:10s} chosen from the mask: {st['restarts']} starts, the best {st['pool']} averaged, "
          f"residual = {st['residual']}, blend = {st['blend']}")
t0 = time.perf_counter()
r = inpaint(G, D, images, mask, cfg, encoder=E, references=train_x, reference_labels=train_y)   # 59,000 images
print(f"64 images from the nearest training images' codes: {time.perf_counter() - t0:.1f} s")
print("settings:", r["settings"])

# %% [markdown]
# The slides' figure: the originals, the masked inputs, the fill (the mean of the three best-fitting edited
# training images) and the blended result.

# %%
rows = [grey(images[:16]), show_masked(images[:16], mask[:16]), grey(r["generated"][:16]), grey(r["blended"][:16])]
show(np.concatenate(rows), 16, "rows: original, masked, the fill, blended", (12, 3.4))

# %% [markdown]
# ## 6.5 Accuracy and realism
#
# A fill is judged on two counts (`minigan.inpaint.evaluate`):
#
# - **accuracy**, on the missing pixels only: the hole's L1 error and PSNR, $10 \log_{10}(1 / \mathrm{MSE})$ in dB
#   (higher is better). PSNR rewards the *conditional mean* of the hole: when the known pixels leave the hole
#   uncertain, the blur that averages the possibilities beats any one sharp guess;
# - **realism**: KID ($\times 1000$; lower is better), the unbiased squared MMD between the shipped classifier's
#   features of the completed images and of real test images that were not inpainted (the last 2,000). It is about
#   0 for real images and rewards a fill that looks like a real garment, where a blur scores badly. **Class kept**:
#   the share of completions the classifier puts in the class it gives the original.
#
# Beside the three searches, three fills that copy from the 59,000 training images the GAN was trained on
# (`baselines`): the mean training image; the hole of the training image nearest to $x$ on the known pixels; and
# the mean of the 8 nearest, a crude conditional mean.

# %%
from minigan.gan import quality
from minigan.inpaint.evaluate import Judge, baselines, compare, kid, table

judge = Judge(test_x[-2000:], images, device=device)         # the classifier, and the real images' features
fills = dict(baselines(images, mask, train_x))
fills["minigan, random codes"] = result["blended"]
fills["minigan, encoder"] = inpaint(G, D, images, mask, cfg, encoder=E)["blended"]     # z_E alone
fills["minigan, nearest images' codes"] = r["blended"]
scores = compare(fills, judge, mask)
print(table({"center": scores}))

# %% [markdown]
# KID is noisy at 64 images. docs/evaluation.md scores eight disjoint sets of 256 *real* test images against the
# same 2,000 and finds a standard deviation of 5.2; at 64 images it is larger. The same check here, on eight sets
# of 64 real test images (none of them inpainted), and the 64 originals themselves:

# %%
noise = [kid(quality.classify(judge.model, test_x[64 * i:64 * (i + 1)])[0], judge.real) for i in range(1, 9)]
print(f"KID x 1000 of 8 sets of 64 real images: {', '.join(f'{v:.1f}' for v in noise)}; "
      f"standard deviation {np.std(noise, ddof=1):.1f}")
print(f"KID x 1000 of the 64 originals: {judge(images, mask)['kid']:.1f}")
show(np.concatenate([show_masked(images[:16], mask[:16])] + [grey(f[:16]) for f in fills.values()]), 16,
     "rows: masked; " + "; ".join(fills), (12, 5))

# %% [markdown]
# Read the table on both columns. The mean training image is neither accurate nor real. Copying the nearest
# training image puts a real garment in the hole, as real to the classifier as real images are, but often not the
# right one: its PSNR is low. The mean of the 8 nearest is the most accurate fill here, because PSNR rewards the
# average, and it pays in realism. The first two searches fill the hole with what the generator draws, the
# default with the training images it started from, edited by the search. Started from the encoder's code z_E,
# the search is more accurate than from random codes (which 200 steps leave short of the library's 500); started
# from the nearest training images' codes (the default) it is more accurate still, and its fill is the most
# realistic of the searches. At 64 images KID separates only large gaps: the mean image is
# far from real, while the copies and the searches lie within a few noise widths of one another.
#
# ## What this notebook showed, and the full measurement
#
# - Inpainting with a GAN is a search with the networks fixed: a contextual loss on the known pixels, a perceptual
#   loss from D and a penalty that keeps the code near a centre, minimised by Adam through G and D.
# - Where the search starts decides what it draws in the hole. An encoder trained on holes in training images
#   proposes a start that draws it better; the codes it reads off the nearest training images are sharper
#   starts still; the search then fits the known pixels from each, and its change to G's drawing of each
#   training image, added to that real image, keeps the detail G's drawing loses.
# - A fill is a point on two axes: PSNR rewards the blurry conditional mean, KID a real-looking garment.
#
# [docs/inpainting.md](../docs/inpainting.md), section 3, has the full measurement: thirteen masks, 256 test
# images each, every method on both axes. One mask of it:
# `minigan inpaint --run tour/dcgan28-fashion-mnist --data fashion-mnist --n 256 --mask center --evaluate --out
# filled.png` (run from the repository's root) fills the first 256 test images and prints the table above for them.
#
# To read next: `minigan/inpaint/search.py` (its docstring lists every setting), `encoder.py` and `evaluate.py`,
# and [docs/inpainting.md](../docs/inpainting.md). That is the tour: from the derivative of one op to a filled hole.
#
# The key numbers, which `tests/test_tour.py` compares with a fresh run:

# %%
print("key numbers")
for name, s in scores.items():
    print(f"  hole PSNR, {name}: {s['psnr']:.3f}")
print(f"  final L(z) of the search from random codes, mean over images: {loss[-1].min(axis=0).mean():.3f}")
