# %% [markdown]
# # 1. A derivative by hand, then by minigan
#
# *The minigan tour, notebook 1 of 6. [The tour](README.md) ·
# next: [2. Layers and an optimizer](02_layers_and_optimizer.ipynb)*
#
# Training a GAN is two players each nudging millions of weights downhill on a loss. Every nudge needs one thing:
# the derivative of a single number (the loss) with respect to every weight. This notebook takes the smallest
# loss a GAN uses, differentiates it by hand, and then lets minigan do it: the graph a `Tensor` records,
# `backward`, `minigan.grad` (and a second derivative) and `gradcheck`, which checks any derivative against
# finite differences. The engine behind all of it is one file, `minigan/tensor.py`.
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
# ## 1.1 One loss, differentiated by hand
#
# A discriminator D says how likely it finds an input to be real: $D(x) = \sigma(\ell)$, where $\ell$ is a number
# the network computes, the *logit*, and $\sigma(u) = 1/(1 + e^{-u})$. On a real example it is trained to make
# $-\log D(x)$ small. Written with the logit, that loss is a softplus, $-\log \sigma(\ell) = \operatorname{softplus}
# (-\ell)$ with $\operatorname{softplus}(u) = \log(1 + e^u)$ (minigan writes every GAN loss this way: it stays
# finite however sure D is).
#
# Take the smallest D there is, one weight and one bias: $\ell = w x + b$. The loss on one example $x$ is
#
# $$f(w, b) = \operatorname{softplus}(-(w x + b)).$$
#
# The chain rule, with $\operatorname{softplus}'(u) = \sigma(u)$ and $u = -(wx + b)$:
#
# $$\frac{\partial f}{\partial w} = \sigma(u) \cdot (-x), \qquad \frac{\partial f}{\partial b} = \sigma(u) \cdot (-1).$$

# %%
import numpy as np

x, w0, b0 = 1.5, 0.8, -0.3


def f(w, b):
    return np.log1p(np.exp(-(w * x + b)))


def sigmoid(u):
    return 1 / (1 + np.exp(-u))


u = -(w0 * x + b0)
by_hand = {"df/dw": sigmoid(u) * -x, "df/db": -sigmoid(u)}
h = 1e-6                                   # a central difference: (f(w + h) - f(w - h)) / 2h
numeric = {"df/dw": (f(w0 + h, b0) - f(w0 - h, b0)) / (2 * h), "df/db": (f(w0, b0 + h) - f(w0, b0 - h)) / (2 * h)}
for k in by_hand:
    print(f"{k}: by hand {by_hand[k]:.10f}   by finite differences {numeric[k]:.10f}")

# %% [markdown]
# ## 1.2 The same derivative by minigan
#
# A `Tensor` holds an array (NumPy on the CPU, CuPy on the GPU). One made with `requires_grad=True` is a *leaf*
# whose derivative we want. Every operation on it returns a new Tensor and remembers how it was made; `backward()`
# then walks back through those records and leaves $\partial f / \partial w$ in `w.grad`. We compute in float64 to
# compare digits.

# %%
import minigan.functional as F

w = minigan.tensor(w0, requires_grad=True, dtype=minigan.float64)
b = minigan.tensor(b0, requires_grad=True, dtype=minigan.float64)
loss = F.softplus(-(w * x + b))
loss.backward()
print("loss    ", loss)
print("w.grad  ", w.grad.item(), "  by hand", by_hand["df/dw"])
print("b.grad  ", b.grad.item(), "  by hand", by_hand["df/db"])
err_backward = max(abs(w.grad.item() - by_hand["df/dw"]), abs(b.grad.item() - by_hand["df/db"]))

# %% [markdown]
# ## 1.3 The graph a Tensor records
#
# `loss` printed `grad_fn=Softplus`: it knows the operation that made it. Each operation is a `Function` (`Mul`,
# `Add`, `Neg`, `Softplus` in `minigan/ops.py`) with a `forward` on arrays and a `backward` that turns the gradient
# of its output into gradients of its inputs. The output keeps its Function in `.creator`, the Function keeps its
# input Tensors in `.inputs`. Walking those links from `loss` prints the whole graph:

# %%
def show(t, indent=""):
    """Print the graph below Tensor t: each Function and, under it, its inputs."""
    if t.creator is None:
        kind = "leaf, requires_grad" if t.requires_grad else "constant"
        print(f"{indent}{kind}: {t.numpy()}")
        return
    print(f"{indent}{type(t.creator).__name__}")
    for x_in in t.creator.inputs:
        show(x_in, indent + "    ")


show(F.softplus(-(w * x + b)))

# %% [markdown]
# The number `x = 1.5` became a constant Tensor of `Mul`'s. `backward()` visits the Functions from the loss down,
# each after everything that uses its output (a topological order), and *adds* each contribution to the gradient of
# an input, so a Tensor used twice gets both. That is why `.grad` accumulates over calls, and why an optimizer
# zeroes it before each step:

# %%
y = minigan.tensor(3.0, requires_grad=True, dtype=minigan.float64)
(y * y).backward()                         # d(y*y)/dy = y + y: one contribution per use
print("after one backward:  ", y.grad.item())
(y * y).backward()
print("after a second one:  ", y.grad.item(), "(accumulated)")
y.grad = None                              # what optimizer.zero_grad() does for every parameter
with minigan.no_grad():                    # inside no_grad nothing is recorded: no graph, no backward
    print("under no_grad, creator:", (y * y).creator)

# %% [markdown]
# ## 1.4 A second derivative: `minigan.grad`
#
# `backward()` stores gradients; `minigan.grad(outputs, inputs)` returns them instead. With `create_graph=True` the
# backward pass is itself recorded as a graph, so the gradient can be differentiated again. Two GAN methods need
# exactly that: WGAN-GP's penalty on $\lVert \nabla_x D \rVert$ and the unrolled GAN (notebook 4), whose
# generator differentiates through the discriminator's own update steps. By hand, with $\sigma' = \sigma(1 - \sigma)$:
#
# $$\frac{\partial^2 f}{\partial w^2} = \frac{\partial}{\partial w}\big(-x\,\sigma(u)\big)
# = x^2\,\sigma(u)\,\big(1 - \sigma(u)\big).$$

# %%
w = minigan.tensor(w0, requires_grad=True, dtype=minigan.float64)
loss = F.softplus(-(w * x + b0))
(g,) = minigan.grad(loss, w, create_graph=True)    # g = df/dw, a Tensor with its own graph
(gg,) = minigan.grad(g, w)                         # d(df/dw)/dw
second_by_hand = x * x * sigmoid(u) * (1 - sigmoid(u))
print(f"df/dw    minigan {g.item():.12f}   by hand {by_hand['df/dw']:.12f}")
print(f"d2f/dw2  minigan {gg.item():.12f}   by hand {second_by_hand:.12f}")
err_second = abs(gg.item() - second_by_hand)

# %% [markdown]
# ## 1.5 `gradcheck`: every derivative against finite differences
#
# Writing a backward by hand is where bugs hide. `minigan.gradcheck(fn, inputs)` perturbs every entry of every input
# by $\pm\epsilon$ in float64 and compares the central difference with what `backward` says; `gradgradcheck` does
# the same one order up. The test suite runs it on every op and layer. Here it checks a batch of our tiny
# discriminator's losses and a convolution, the operation DCGAN is made of (notebook 5):

# %%
rng = np.random.default_rng(0)


def t64(a, grad=True):
    return minigan.tensor(a, requires_grad=grad, dtype=minigan.float64)


xs, ws, bs = t64(rng.normal(size=(5, 1)), grad=False), t64(rng.normal(size=(1, 1))), t64(rng.normal(size=(1,)))
print("softplus loss, first order: ", minigan.gradcheck(lambda w, b: F.softplus(-(xs @ w + b)).mean(), [ws, bs]))
print("softplus loss, second order:", minigan.gradgradcheck(lambda w, b: F.softplus(-(xs @ w + b)).mean(), [ws, bs]))
img, kernel = t64(rng.normal(size=(2, 1, 6, 6))), t64(rng.normal(size=(3, 1, 4, 4)))
print("conv2d, stride 2:           ", minigan.gradcheck(lambda a, k: F.tanh(F.conv2d(a, k, stride=2, padding=1)),
                                                         [img, kernel]))

# %% [markdown]
# And what a bug looks like. Here is a new operation, $\operatorname{square}(x) = x^2$, written as minigan writes its
# ops (a `forward` on arrays; a `backward` in Tensor operations, so it can be differentiated again), with the
# classic slip in its backward: the factor 2 forgotten.

# %%
class BrokenSquare(minigan.Function):
    def forward(self, a):
        return a * a

    def backward(self, gy, needs):
        (a,) = self.inputs
        return (gy * a,)                   # should be gy * 2 * a


try:
    minigan.gradcheck(lambda a: BrokenSquare()(a).sum(), [t64(rng.normal(size=(3,)))])
except minigan.GradcheckError as e:
    print(e)

# %% [markdown]
# ## What this notebook showed
#
# - `backward()` gives the chain rule's answer to the last digit; the graph behind it is Functions linked through
#   `.creator` and `.inputs`, walked from the loss down, gradients added where a Tensor is used twice.
# - `minigan.grad(..., create_graph=True)` records the backward pass, so derivatives of derivatives come for free.
# - `gradcheck` catches a wrong backward by comparing it with finite differences.
#
# To read next: `minigan/tensor.py` (`Function.__call__` records the graph, `_backprop` walks it) and
# [docs/autodiff.md](../docs/autodiff.md) for the backward of every op. Then [notebook 2](02_layers_and_optimizer.ipynb)
# builds layers and an optimizer on these derivatives.
#
# The numbers below are the notebook's key results; `tests/test_tour.py` runs the notebook again and compares them.

# %%
print("key numbers")
print(f"  df/dw by minigan: {g.item():.10f}")
print(f"  backward vs by hand, largest difference: {err_backward:.1e}")
print(f"  d2f/dw2 by minigan: {gg.item():.10f}")
print(f"  second derivative vs by hand, difference: {err_second:.1e}")
