"""Scoring inpainting on accuracy *and* realism, for minigan and the copy-based baselines alike.

For N originals x, their completions x_hat and a mask M (1 = known), pooled over every missing pixel p
of every image (all channels):

    hole L1    = mean_p |x_hat_p - x_p|
    hole PSNR  = 10 log10(1 / mean_p (x_hat_p - x_p)^2)                 (images in [0, 1], peak 1)
    KID        = unbiased MMD^2 between the completions and real images that were not inpainted, on the
                 shipped quality classifier's 128 features, standardised on the real set, with the cubic
                 polynomial kernel k(a, b) = (a . b / d + 1)^3 (Binkowski et al. 2018); reported x 1000.
                 0 for sets drawn from one distribution (it can dip below 0: it is unbiased); a blurred
                 fill scores high, a sharp garment low.
    class kept = the share of completions that the classifier puts in the class it gives the original.

PSNR rewards the conditional mean of the hole (a blur); KID rewards a fill that looks like a real garment.
A method is judged by where it sits on both: ``evaluate`` scores one set of completions, ``baselines``
makes the copy-based ones (the mean training image, the nearest training image on the known pixels, the
mean of its k nearest).
"""
import numpy as np

from ..gan import quality
from .metrics import mean_fill, nearest_fill

KID_SCALE = 1000.0


def kid(feats, real_feats):
    """Unbiased KID (x 1000) between feature sets (N, d) and (M, d), standardised on ``real_feats``.

    MMD^2_u = sum_{i != j} k(a_i, a_j) / (N (N - 1)) + sum_{i != j} k(b_i, b_j) / (M (M - 1))
              - 2 sum_{i, j} k(a_i, b_j) / (N M),        k(a, b) = (a . b / d + 1)^3
    """
    a, b = np.asarray(feats, np.float64), np.asarray(real_feats, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"kid: need feature sets (N >= 2, d) and (M >= 2, d), got {a.shape} and {b.shape}")
    mu, sd = b.mean(0), b.std(0) + 1e-8
    a, b = (a - mu) / sd, (b - mu) / sd
    d, n, m = a.shape[1], len(a), len(b)
    kaa, kbb, kab = ((x @ y.T / d + 1) ** 3 for x, y in ((a, a), (b, b), (a, b)))
    mmd = ((kaa.sum() - np.trace(kaa)) / (n * (n - 1)) + (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
           - 2 * kab.mean())
    return float(mmd * KID_SCALE)


class Judge:
    """The shipped classifier and the features of a real reference set, loaded once, to score many fills.

    Args:
        real: real images (M, 1, 28, 28) in [0, 1] that were not inpainted (KID's reference).
        originals: the images before masking (N, 1, 28, 28), whose classes ``class kept`` compares with.
        name: the data set whose shipped classifier is used (``quality.load_classifier``).
    """

    def __init__(self, real, originals, name="fashion-mnist", device="cpu"):
        self.model = quality.load_classifier(name, device=device)[0]
        self.real = quality.classify(self.model, real)[0]
        self.originals = np.asarray(originals, np.float32)
        self.classes = quality.classify(self.model, self.originals)[1].argmax(1)

    def __call__(self, filled, mask, per_image=False):
        """dict(psnr, l1, kid, class_kept) of completions ``filled`` (N, 1, 28, 28) of the originals; with
        ``per_image``, also kept (N,): whether each completion kept its original's class."""
        x, f = np.asarray(self.originals, np.float64), np.asarray(filled, np.float64)
        if f.shape != x.shape:
            raise ValueError(f"evaluate: completions of shape {f.shape} do not match the originals {x.shape}")
        hole = np.broadcast_to(np.asarray(mask) == 0, x.shape)
        err = (f - x)[hole]
        feats, probs = quality.classify(self.model, np.clip(f, 0, 1))
        kept = probs.argmax(1) == self.classes
        out = dict(psnr=float(10 * np.log10(1.0 / max(np.mean(err ** 2), 1e-10))), l1=float(np.abs(err).mean()),
                   kid=kid(feats, self.real), class_kept=float(kept.mean()))
        return dict(out, kept=kept) if per_image else out


def paired_difference(a, b):
    """The difference of two shares measured on the same images, mean(a) - mean(b), and its standard error
    sd(a_i - b_i) / sqrt(N) (a, b: (N,) bools or 0/1); the error of a class-kept difference."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
        raise ValueError(f"paired_difference: need two outcome vectors (N >= 2,) of one length, got {a.shape} "
                         f"and {b.shape}")
    d = a - b
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


def baselines(images, mask, train, k=8):
    """The copy-based fills: {"mean training image", "nearest training image", f"mean of {k} nearest"}."""
    return {"mean training image": mean_fill(images, mask, train),
            "nearest training image": nearest_fill(images, mask, train)[0],
            f"mean of {k} nearest": nearest_fill(images, mask, train, k=k)[0]}


def compare(fills, judge, mask):
    """{method: dict(psnr, l1, kid, class_kept)} for completions {method: (N, 1, H, W)} of ``judge``'s originals."""
    return {name: judge(f, mask) for name, f in fills.items()}


def table(scores, seconds=None):
    """The scores of ``compare`` (or of several masks: {mask: scores}) as Markdown table rows."""
    nested = all(isinstance(v, dict) and all(isinstance(w, dict) for w in v.values()) for v in scores.values())
    per_mask = scores if nested else {"": scores}
    rows = ["| mask | method | hole PSNR (dB) | hole L1 | KID x 1000 | class kept |", "|---|---|---:|---:|---:|---:|"]
    for mask, s in per_mask.items():
        for name, v in s.items():
            rows.append(f"| {mask} | {name} | {v['psnr']:.2f} | {v['l1']:.4f} | {v['kid']:.1f} | "
                        f"{100 * v['class_kept']:.1f} % |")
    return "\n".join(rows)
