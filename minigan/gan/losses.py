"""The GAN objectives, from logits, beside the equations of the seeds (docs/theory.md).

D outputs a logit l, and D(x) = sigmoid(l). With softplus(l) = log(1 + e^l):

    log D(x)      = log sigmoid(l)     = -softplus(-l)
    log(1 - D(x)) = log sigmoid(-l)    = -softplus(l)

so every loss below is a softplus of a logit: finite however sure D is.
"""
import numpy as np

from .. import functional as F
from ..tensor import Tensor, grad

LOSSES = ("minimax", "nonsaturating", "wasserstein", "wasserstein-gp")


def value_function(real_logits, fake_logits):
    """V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))] estimated on a minibatch (eq. 1)."""
    return F.log_sigmoid(real_logits).mean() + F.log_sigmoid(-fake_logits).mean()


def discriminator_loss(real_logits, fake_logits, loss="nonsaturating", smooth=1.0):
    """What D minimises.

    GAN losses: -V(D, G), i.e. binary cross-entropy with real -> 1 and fake -> 0
    (Algorithm 1 *ascends* V; we descend -V). ``smooth`` < 1 is one-sided label smoothing
    (Salimans et al. 2016): real images get the target ``smooth`` instead of 1,
    -[s log D(x) + (1 - s) log(1 - D(x))]. Wasserstein losses: the critic
    minimises E[D(G(z))] - E[D(x)] (the gradient penalty is added by the trainer).
    """
    if loss in ("wasserstein", "wasserstein-gp"):
        return fake_logits.mean() - real_logits.mean()
    _check(loss)
    real = F.softplus(-real_logits).mean()
    if smooth != 1.0:
        real = real * smooth + F.softplus(real_logits).mean() * (1 - smooth)
    return real + F.softplus(fake_logits).mean()


def generator_loss(fake_logits, loss="nonsaturating"):
    """What G minimises.

    - ``minimax``:       E[log(1 - D(G(z)))] = -E[softplus(l)]   (Algorithm 1; saturates when D wins)
    - ``nonsaturating``: -E[log D(G(z))]     =  E[softplus(-l)]  (the paper's practical fix)
    - ``wasserstein``:   -E[D(G(z))]
    """
    if loss == "minimax":
        return -F.softplus(fake_logits).mean()
    if loss == "nonsaturating":
        return F.softplus(-fake_logits).mean()
    _check(loss)
    return -fake_logits.mean()


def gradient_penalty(D, real, fake, rng, *args):
    """WGAN-GP: E[(||grad_x D(x_hat)||_2 - 1)^2] at x_hat = e x + (1 - e) G(z), e ~ U[0, 1].

    ``args`` are D's extra inputs (class labels for a conditional D).

    Differentiable in D's parameters: the gradient is taken with create_graph=True,
    so backward goes through it (a second derivative of D).
    """
    e_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    e = Tensor(rng.random(e_shape).astype(real.dtype), device=real.device)
    x_hat = (e * real + (1 - e) * fake.detach()).detach().requires_grad_()
    out = D(x_hat, *args)
    (g,) = grad(out.sum(), x_hat, create_graph=True)
    norm = (g.reshape(g.shape[0], -1) ** 2).sum(axis=1) + 1e-12
    return ((norm.sqrt() - 1) ** 2).mean()


def _check(loss):
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {loss!r}")


# ---------------------------------------------------------------- the theory, on densities
def optimal_discriminator(p_data, p_g):
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Proposition 1); 1/2 where both are 0."""
    p_data, p_g = np.asarray(p_data, float), np.asarray(p_g, float)
    s = p_data + p_g
    return np.divide(p_data, s, out=np.full_like(s, 0.5), where=s > 0)


def jensen_shannon(p, q, dx):
    """JSD(p || q) for densities sampled on a grid of spacing dx (natural log)."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    m = (p + q) / 2

    def kl(a, b):
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / b[mask])) * dx)
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def virtual_training_criterion(p_data, p_g, dx):
    """C(G) = max_D V(G, D) = E_pdata[log D*] + E_pg[log(1 - D*)], by numerical integration."""
    d = optimal_discriminator(p_data, p_g)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p_data > 0, p_data * np.log(np.where(d > 0, d, 1)), 0.0)
        b = np.where(p_g > 0, p_g * np.log(np.where(d < 1, 1 - d, 1)), 0.0)
    return float((a.sum() + b.sum()) * dx)
