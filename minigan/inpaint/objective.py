"""The objective of the latent search (Yeh et al. 2016, as in the slides):

    L_contextual(z) = || W * (G(z) - x) ||_1            W = M, or Yeh's importance weights
    L_perceptual(z) = log(1 - D(G(z)))   ("saturating", the slides' form)
                   or -log D(G(z))       ("nonsaturating", the default: see docs/inpainting.md)
    L(z)            = L_contextual(z) + lambda * L_perceptual(z)   [+ gamma ||z - c||^2 / 2: the prior's penalty]

All losses are per image, shape (N,), on images in [0, 1]; D gets G's raw output (its own range) and
returns logits, so both perceptual forms are written with softplus: log(1 - sigmoid(l)) = -softplus(l)
and -log sigmoid(l) = softplus(-l).
"""
from ..ops import softplus

PERCEPTUAL = ("nonsaturating", "saturating")


def contextual_loss(generated, images, weights):
    """||W * (G(z) - x)||_1 per image: (N,) Tensor.

    Args:
        generated: G(z) in [0, 1], Tensor (N, C, H, W).
        images: x in [0, 1], Tensor (N, C, H, W) (its missing pixels may hold anything).
        weights: the mask M (1 = known) or importance weights, Tensor (N or 1, 1, H, W).
    """
    return ((generated - images).abs() * weights).sum(axis=(1, 2, 3))


def perceptual_loss(logits, form="nonsaturating"):
    """From D's logits (N, 1): log(1 - D) = -softplus(l) ("saturating") or -log D = softplus(-l); (N,) Tensor."""
    if form == "saturating":
        out = -softplus(logits)
    elif form == "nonsaturating":
        out = softplus(-logits)
    else:
        raise ValueError(f"perceptual_loss: form must be one of {', '.join(PERCEPTUAL)}, got {form!r}")
    return out.reshape(logits.shape[0])


def to_unit(out, scale):
    """Generator output -> [0, 1]: (out + 1) / 2 for a tanh generator, unchanged for a sigmoid one."""
    return (out + 1) * 0.5 if scale == "tanh" else out


def call(model, x, labels):
    """model(x), or model(x, labels) for a conditional model."""
    return model(x) if labels is None else model(x, labels)


def objective(G, D, z, images, weights, lam=0.1, perceptual="nonsaturating", scale="tanh", labels=None,
              prior_weight=0.0, centre=None):
    """L(z) per image and its parts.

    Args:
        G, D: the generator and discriminator (D may be None when lam == 0).
        z: latent codes, Tensor (N, z_dim) (or what G takes: the features of a split generator, search.py).
        images, weights: as ``contextual_loss`` (images in [0, 1]).
        lam: the weight lambda of the perceptual loss.
        perceptual: "nonsaturating" or "saturating" (``perceptual_loss``).
        scale: G's output range, "tanh" ([-1, 1]) or "sigmoid" ([0, 1]).
        labels: class labels for conditional models, else None.
        prior_weight: gamma, adds gamma * ||z - c||^2 / 2: for c = 0 and gamma = 1 the Gaussian prior's negative
            log density (up to a constant); 0 leaves it out.
        centre: c, a Tensor of z's shape (the encoder's codes: the search stays near them), or None for 0.
    Returns:
        (total, contextual, perceptual, G(z) in [0, 1]): three (N,) Tensors and one (N, C, H, W).
    """
    raw = call(G, z, labels)
    gen = to_unit(raw, scale)
    lc = contextual_loss(gen, images, weights)
    if lam and D is None:
        raise ValueError(f"inpaint: lambda is {lam} but no discriminator was given; pass D or set lambda 0")
    lp = perceptual_loss(call(D, raw, labels), perceptual) if D is not None else lc * 0
    total = lc + lam * lp if lam else lc
    if prior_weight:
        d = z if centre is None else z - centre
        total = total + (d * d).sum(axis=tuple(range(1, d.ndim))) * (0.5 * prior_weight)
    return total, lc, lp, gen
