"""Algorithm 1 of Goodfellow et al. (2014), on one page: k steps of D, then one step of G.

    for each training iteration:                                                        train_step
        for k steps:
            sample m noise samples z ~ p_z and m examples x ~ p_data
            update D by ascending  1/m sum [log D(x) + log(1 - D(G(z)))]                d_step
        sample m noise samples z ~ p_z
        update G by descending 1/m sum log(1 - D(G(z)))   (or ascending log D(G(z)))    g_step

The steps take the models, their optimizers, the minibatches and the ``Settings``; they read no file, clock
or config dict (``Settings.of`` reads a config once). The trainer (train.py), the demos, the benchmark and the
tests all call them. Each option of ``minigan train`` that changes the step is one visible branch below:

    labels        conditional GANs: y goes into D beside x, y_z into G and D beside z (Mirza and Osindero)
    smooth        one-sided label smoothing: D's target for real samples (Salimans et al.)
    gp_lambda     WGAN-GP: the gradient penalty, added to D's loss (Gulrajani et al.)
    clip          WGAN: D's weights clipped after its step (Arjovsky et al.)
    unroll        G's loss against D advanced ``unroll`` optimizer steps ahead (Metz et al.; unrolled.py)
    reuse_fake    the G step reuses the last D step's noise (PyTorch's DCGAN example) instead of fresh noise
    simultaneous  G's gradient is taken before D's steps, so both see the same (G, D) (the paper's code)
    ema           a moving average of G's weights, the generator that samples (G itself trains as before)
"""
import contextlib
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from .. import backend
from ..tensor import no_grad
from . import losses, unrolled


@dataclass(frozen=True)
class Settings:
    """What one step needs to know; ``Settings.of(config)`` reads them from a training config. An option
    that is off is None, 0 or False."""
    batch_size: int                   # m
    k: int = 1                        # D steps per G step
    loss: str = "nonsaturating"       # minimax, nonsaturating, wasserstein, wasserstein-gp (losses.py)
    smooth: float = 1.0               # D's target for real samples (1: no smoothing)
    gp_lambda: float = None           # the gradient penalty's weight (WGAN-GP)
    clip: float = None                # the bound D's weights are clipped to (WGAN)
    unroll: int = 0                   # look-ahead steps of D in G's loss
    reuse_fake: bool = False          # G's step on the last D step's noise (alternating updates only)
    simultaneous: bool = False        # G's gradient before D's steps (the paper's code)
    ema: float = 0.0                  # decay of G's moving average

    @classmethod
    def of(cls, cfg):
        """The settings of a training config (config.py): the loss's own options only for that loss."""
        return cls(batch_size=cfg["batch_size"], k=cfg["k"], loss=cfg["loss"], smooth=cfg["smooth"],
                   gp_lambda=cfg["gp_lambda"] if cfg["loss"] == "wasserstein-gp" else None,
                   clip=cfg["clip"] if cfg["loss"] == "wasserstein" else None, unroll=cfg["unroll"],
                   reuse_fake=cfg["reuse_fake"], simultaneous=cfg["update"] == "simultaneous", ema=cfg["ema"])


DStep = namedtuple("DStep", "loss real_logits fake_logits grad_norm")
GStep = namedtuple("GStep", "loss grad_norm")


def d_step(G, D, optD, real, noise, s, rng=None):
    """One update of D on m examples ``real = (x, y)`` and m noise samples ``noise = (z, y_z)`` (labels None
    unless conditional); ``rng`` draws WGAN-GP's mixing weights. Returns D's loss, its logits, ||grad||."""
    x, y = real
    z, yz = noise
    with no_grad():                                             # G is fixed in D's step
        fake = G(z, yz)
    real_logits, fake_logits = D(x, y), D(fake, yz)
    loss = losses.discriminator_loss(real_logits, fake_logits, s.loss, s.smooth)     # -V(D, G): descended
    if s.gp_lambda is not None:                                 # WGAN-GP: ||grad_x D|| pulled towards 1
        loss = loss + s.gp_lambda * losses.gradient_penalty(D, x, fake, rng, *([y] if y is not None else []))
    optD.zero_grad()
    loss.backward()
    norm = grad_norm(D)
    optD.step()
    if s.clip is not None:                                      # WGAN: keep the critic K-Lipschitz
        clip_weights(D, s.clip)
    return DStep(loss, real_logits, fake_logits, norm)


def g_step(G, D, optG, noise, s, optD=None, ahead=(), update=True):
    """One update of G on m noise samples ``noise = (z, y_z)``, D fixed. With ``s.unroll``, G's loss is taken
    against D advanced through the minibatches ``ahead`` (one (x, y, z, y_z) per step) by ``optD``'s rule.
    ``update=False`` leaves the gradient in G's ``.grad``, to be applied later. Returns G's loss, ||grad||."""
    z, yz = noise
    with frozen(D):                                             # no gradient wasted on D's weights
        if s.unroll:                                            # Metz et al.: against D K steps ahead
            loss = unrolled.unrolled_generator_loss(G, D, optD, z, yz, ahead, s.loss, s.clip)
        else:
            loss = losses.generator_loss(D(G(z, yz), yz), s.loss)
        optG.zero_grad()
        loss.backward()
    norm = grad_norm(G)
    if update:
        optG.step()
    return GStep(loss, norm)


def train_step(G, D, optG, optD, batches, s, G_ema=None, t=0):
    """One iteration of Algorithm 1: k D steps, then one G step; then G's moving average (``G_ema``, at step
    ``t``). ``batches.real(m)`` gives m examples (x, y), ``batches.noise(m)`` m noise samples (z, y_z),
    ``batches.rng`` WGAN-GP's mixing weights. Returns (the last DStep, the GStep)."""
    m = s.batch_size
    if s.simultaneous:                                          # G's gradient at D as it is before its steps
        g = g_step(G, D, optG, batches.noise(m), s, optD, look_ahead(batches, s), update=False)
    for _ in range(s.k):
        real = batches.real(m)
        noise = batches.noise(m)
        d = d_step(G, D, optD, real, noise, s, batches.rng)
    if s.simultaneous:
        optG.step()
    else:
        noise = noise if s.reuse_fake else batches.noise(m)    # Algorithm 1: fresh noise for G's step
        g = g_step(G, D, optG, noise, s, optD, look_ahead(batches, s))
    if G_ema is not None:
        update_ema(G_ema, G, s.ema, t)
    return d, g


def look_ahead(batches, s):
    """The minibatches (x, y, z, y_z) D is advanced through in G's loss: one per unrolled step (none without)."""
    return [batches.real(s.batch_size) + batches.noise(s.batch_size) for _ in range(s.unroll)]


# ---------------------------------------------------------------- the helpers the steps use
@contextlib.contextmanager
def frozen(*modules):
    """Within the block, the modules' parameters ask for no gradient (their values are fixed, the inputs
    still get gradients through them); afterwards each parameter's requires_grad is as it was."""
    params = [p for m in modules if hasattr(m, "parameters") for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad = False
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad = flag


def grad_norm(module):
    """||grad||_2 over all parameters of ``module``, in float64, as a 0-d array on their device (no sync): the
    norm of all the gradients laid end to end in one vector (a few array operations, not a few per parameter)."""
    xp = np
    for p in module.parameters():
        xp = backend.get_array_module(p.data)
    grads = [p.grad.data.reshape(-1) for p in module.parameters() if p.grad is not None]
    if not grads:
        return xp.zeros(())
    g = xp.concatenate(grads, dtype=np.float64)
    return xp.sqrt(g @ g)


def clip_weights(module, c):
    """Every parameter clipped to [-c, c], in place (WGAN's weight clipping)."""
    for p in module.parameters():
        backend.get_array_module(p.data).clip(p.data, -c, c, out=p.data)


def update_ema(G_ema, G, decay, t):
    """G_ema <- d G_ema + (1 - d) G with d = min(decay, (1 + t) / (10 + t)), so that the first steps are not
    averaged with the initial weights for long; batch-norm running statistics are copied from G."""
    d = min(decay, (1 + t) / (10 + t))
    for pe, p in zip(G_ema.parameters(), G.parameters()):
        pe.data *= pe.data.dtype.type(d)
        pe.data += p.data * pe.data.dtype.type(1 - d)
    for be, b in zip(G_ema.buffers(), G.buffers()):
        be.data[...] = b.data
