# %% [markdown]
# # 2. Layers and an optimizer
#
# *The minigan tour, notebook 2 of 6. [The tour](README.md) · previous: [1. A derivative](01_derivative.ipynb) ·
# next: [3. The GAN objective](03_gan_objective_1d.ipynb)*
#
# Notebook 1 differentiated one loss by hand and by minigan. A network is many such weights in layers, and training
# is a loop: a minibatch, the loss, `backward`, one optimizer step. This notebook builds a small network from
# `minigan.nn`, trains it with `minigan.optim.Adam` to do a discriminator's job (tell samples of the data from
# samples of something else), and then loads the very same weights into PyTorch to show that the layers, their
# names and their weight layouts are PyTorch's.
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
# ## 2.1 A layer is a Module holding Parameters
#
# `nn.Linear(2, 64)` computes $x W^\top + b$ with a weight of shape (64, 2), PyTorch's layout (out, in). Its
# weight and bias are `Parameter`s: Tensors with `requires_grad=True` that the module registers, so
# `named_parameters()` finds them. `nn.Sequential` chains modules and names them by position. This one is the
# discriminator of notebook 4 (`minigan.gan.models.ToyDiscriminator`): it maps a 2-D point to one logit.

# %%
import numpy as np

from minigan import nn

minigan.manual_seed(0)                                  # minigan's own generator: the initial weights
D = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2),
                  nn.Linear(64, 64), nn.LeakyReLU(0.2),
                  nn.Linear(64, 1)).to(device)
print(D)
for name, p in D.named_parameters():
    print(f"{name:10s} {str(p.shape):10s} requires_grad={p.requires_grad}")

# %% [markdown]
# ## 2.2 The task: tell the ring from the noise
#
# The "data" are points of the 8-Gaussian ring that notebook 4 trains GANs on (`minigan.data.ring`); the "fakes"
# are points of a standard normal, a generator that has not learnt anything yet. D should output a large logit for
# ring points and a small one for the others: the binary cross-entropy with targets 1 and 0,
# $\operatorname{softplus}(-\ell)$ on real points plus $\operatorname{softplus}(\ell)$ on fake ones, which
# `F.binary_cross_entropy_with_logits` computes. This is exactly the discriminator's step of Algorithm 1 with the
# generator held fixed (notebook 3).

# %%
from minigan import data

rng = np.random.default_rng(0)


def batch(m):
    """m ring points (label 1) and m standard-normal points (label 0), shuffled together, as Tensors."""
    x = np.concatenate([data.ring(m, rng), rng.standard_normal((m, 2)).astype(np.float32)])
    t = np.concatenate([np.ones((m, 1)), np.zeros((m, 1))]).astype(np.float32)
    order = rng.permutation(2 * m)
    return minigan.tensor(x[order]), minigan.tensor(t[order])


x, t = batch(4)
print(x.numpy().round(2), t.numpy().ravel(), sep="\n")

# %% [markdown]
# ## 2.3 One optimizer step, by hand and by `optim.SGD`
#
# An optimizer owns a list of parameters; `zero_grad()` clears their `.grad`, `step()` updates their data in place
# from `.grad`. Plain gradient descent is one line, $p \leftarrow p - \eta\, \partial L / \partial p$; here it is
# by hand and by `optim.SGD` on a copy of D, from the same gradient:

# %%
import copy

import minigan.functional as F
from minigan import optim

x, t = batch(128)
D_sgd = copy.deepcopy(D)
loss = F.binary_cross_entropy_with_logits(D_sgd(x), t)
sgd = optim.SGD(D_sgd.parameters(), lr=0.1)
sgd.zero_grad()
loss.backward()
w, gw = D_sgd[0].weight, D_sgd[0].weight.grad
by_hand = w.numpy() - 0.1 * gw.numpy()
sgd.step()
print(f"loss {loss.item():.4f}; first weight: by hand {by_hand[0, 0]:.6f}, by SGD {w.numpy()[0, 0]:.6f}; "
      f"largest difference {np.abs(by_hand - w.numpy()).max():.1e}")

# %% [markdown]
# ## 2.4 Training with Adam
#
# Adam keeps two running averages per weight, of the gradient and of its square, and steps by their ratio, so every
# weight moves by about the learning rate whatever its gradient's size (`minigan/optim.py` writes each update under
# its formula, with `torch.optim`'s rules and defaults). GANs are trained with it. 600 steps on minibatches of
# 256 + 256 points:

# %%
opt = optim.Adam(D.named_parameters(), lr=1e-3, betas=(0.5, 0.999))
history = []
for step in range(600):
    x, t = batch(256)
    loss = F.binary_cross_entropy_with_logits(D(x), t)
    opt.zero_grad()
    loss.backward()
    opt.step()
    history.append(loss.item())

x, t = batch(2000)
with minigan.no_grad():
    accuracy = float(((D(x).numpy() > 0) == (t.numpy() > 0.5)).mean())
print(f"loss {np.mean(history[:20]):.3f} (first 20 steps) -> {np.mean(history[-20:]):.3f} (last 20); "
      f"accuracy on 4,000 new points {100 * accuracy:.1f} %")

# %% [markdown]
# What D learnt: $D(x) = \sigma(\ell(x))$ over the plane (yellow: "real"), with the ring's points on top. D is
# high only on a thin band along the ring, highest at the eight modes, and near 0 everywhere else. A generator fools
# it by putting its samples there, which is what the next notebooks train generators to do.

# %%
import matplotlib.pyplot as plt

grid = np.linspace(-2, 2, 161, dtype=np.float32)
gx, gy = np.meshgrid(grid, grid)
with minigan.no_grad():
    logits = D(minigan.tensor(np.stack([gx.ravel(), gy.ravel()], 1))).numpy().reshape(gx.shape)
fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
a1.plot(history, lw=0.7)
a1.set(xlabel="Adam step", ylabel="binary cross-entropy", title="the loss")
im = a2.pcolormesh(gx, gy, 1 / (1 + np.exp(-logits)), cmap="viridis", vmin=0, vmax=1, shading="auto")
ring = data.ring(400, np.random.default_rng(1))
a2.scatter(ring[:, 0], ring[:, 1], s=2, c="white")
a2.set(aspect="equal", title="D(x); white: ring samples")
fig.colorbar(im, ax=a2)
plt.show()

# %% [markdown]
# ## 2.5 The state_dict: the weights by name, and the bridge to PyTorch
#
# `state_dict()` maps each parameter's (and buffer's, such as batch norm's running mean) dotted name to its Tensor,
# with PyTorch's names and shapes. `minigan.save` writes such nested dicts to one `.npz` file without pickle, and
# `minigan.load` reads them back; a training checkpoint (notebook 5) is the same thing with more entries.

# %%
import tempfile

state = D.state_dict()
print({k: tuple(v.shape) for k, v in state.items()})
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "d.npz")
    minigan.save({"D": state, "step": 600}, path)
    back = minigan.load(path)
D2 = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))
D2.load_state_dict(back["D"])
probe = minigan.tensor(np.random.default_rng(2).standard_normal((5, 2)).astype(np.float32))
with minigan.no_grad():
    same = np.abs(D2.to(device)(probe).numpy() - D(probe).numpy()).max()
print(f"saved at step {back['step']}, loaded into a new network: largest difference of the outputs {same:.1e}")

# %% [markdown]
# Because the names and layouts are PyTorch's, the same arrays load into a PyTorch network of the same layers, and
# the two compute the same function. (PyTorch is not a dependency of minigan; the cell skips itself without it.
# The test suite goes further: `tests/test_lockstep.py` trains a whole GAN step for step beside a PyTorch twin.)

# %%
try:
    import torch
except ImportError:
    torch = None
    print("PyTorch is not installed: skipping the bridge (pip install torch to run it)")
if torch is not None:
    net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.LeakyReLU(0.2),
                              torch.nn.Linear(64, 64), torch.nn.LeakyReLU(0.2), torch.nn.Linear(64, 1))
    net.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in D.state_dict().items()})
    with torch.no_grad():
        theirs = net(torch.from_numpy(probe.numpy())).numpy()
    with minigan.no_grad():
        ours = D(probe).numpy()
    print(f"PyTorch {torch.__version__}: D(x) for 5 points, minigan vs PyTorch:")
    print(np.c_[ours, theirs])
    print(f"largest difference {np.abs(ours - theirs).max():.1e} (float32 rounding)")

# %% [markdown]
# ## What this notebook showed
#
# - Layers are `Module`s holding `Parameter`s, with PyTorch's names and layouts; `Sequential` chains them.
# - A training step is `zero_grad`, the loss, `backward`, `step`; `optim.SGD` is $p - \eta \nabla p$ and Adam
#   rescales each weight's step.
# - The `state_dict` is the weights by name: `minigan.save` / `minigan.load` write and read it, and PyTorch reads it
#   as its own.
#
# To read next: `minigan/nn/layers.py`, `minigan/optim.py` and [docs/layers.md](../docs/layers.md) (every update
# rule and the checkpoint format). [Notebook 3](03_gan_objective_1d.ipynb) puts a generator against this
# discriminator.
#
# The key numbers, which `tests/test_tour.py` compares with a fresh run:

# %%
print("key numbers")
print(f"  SGD step vs by hand, largest difference: {np.abs(by_hand - D_sgd[0].weight.numpy()).max():.1e}")
print(f"  loss after 600 Adam steps: {np.mean(history[-20:]):.4f}")
print(f"  accuracy: {accuracy:.4f}")
print(f"  saved and loaded, largest difference: {same:.1e}")
