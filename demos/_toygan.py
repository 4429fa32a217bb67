"""A bare Algorithm 1 for the toy demos (figure1_1d.py, saturation.py): one D step, one G step, on any G and D.

The library's Trainer (minigan/gan/train.py) runs whole recipes; these demos need to stop and restart the game
(train D alone, make exactly one G update, compare two generator losses from one start), so they drive the
models directly with the same pieces the Trainer uses: minigan.gan.losses and minigan.optim.
"""
from _common import sigmoid

import math

import numpy as np

from minigan import backend
from minigan.gan import losses
from minigan.tensor import Tensor, no_grad


def tensor(a, device):
    """A float32 NumPy array as a Tensor on ``device``."""
    return Tensor(backend.to_device(np.asarray(a, np.float32), device))


def uniform_z(m, z_dim, rng, device):
    """m draws of U(-1, 1)^z_dim as a Tensor."""
    return tensor(rng.uniform(-1, 1, (m, z_dim)), device)


def forward(module, x, device):
    """module(x) as a float64 NumPy array, no graph, module in eval mode (x a NumPy array)."""
    module.eval()
    with no_grad():
        out = module(tensor(x, device)).numpy()
    module.train()
    return np.asarray(out, np.float64)


def grad_norm(module):
    """||grad||_2 over the parameters of ``module``."""
    total = 0.0
    for p in module.parameters():
        if p.grad is not None:
            total += float((p.grad.numpy().astype(np.float64) ** 2).sum())
    return math.sqrt(total)


def d_step(G, D, optD, real, z):
    """One D update on real samples and G(z) (G fixed); returns D's loss -V(D, G) on this batch."""
    with no_grad():
        fake = G(z)
    loss = losses.discriminator_loss(D(real), D(fake))
    optD.zero_grad()
    loss.backward()
    optD.step()
    return float(loss.numpy())


def g_step(G, D, optG, z, loss="nonsaturating", step=True):
    """G's loss on G(z) and its gradient (D fixed); updates G unless ``step`` is False.

    Returns (loss, ||grad_G||, mean D(G(z)))."""
    for p in D.parameters():                     # no gradient wasted on D
        p.requires_grad = False
    try:
        logits = D(G(z))
        value = losses.generator_loss(logits, loss)
        optG.zero_grad()
        value.backward()
    finally:
        for p in D.parameters():
            p.requires_grad = True
    gn = grad_norm(G)
    if step:
        optG.step()
    d_fake = float(np.mean(sigmoid(logits.numpy())))
    return float(value.numpy()), gn, d_fake
