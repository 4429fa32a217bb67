"""Sample quality seen through a small classifier trained with minigan: FID, Inception-style score, class balance.

The Parzen window (evaluate.py) scores pixels; these score what a classifier sees. One small CNN per data
set (``Classifier``), trained by benchmarks/train_classifier.py on the training images, ships as
``classifier_<data>.npz`` beside this file, with the mean and covariance of its features over the 60,000
training images. For N samples in [0, 1], shape (N, 1, 28, 28):

- FID (Heusel et al. 2017) is the Frechet distance between Gaussians fitted to the 128 features of the
  samples and of the training images: ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)). 0 for identical
  statistics; lower is better. Its scale is this classifier's, not Inception's: compare only with FIDs
  from the same weights file.
- The Inception-style score (Salimans et al. 2016) is exp(E_x KL(p(y|x) || p(y))) with this classifier's
  class probabilities: 1 when every sample gets the same p(y|x), 10 when each is classified with certainty
  and the classes are used equally. Computed on 10 splits of the samples (mean and standard deviation of
  the 10 scores, the paper's convention) unless asked otherwise.
- The class balance: how many samples the classifier puts in each class (argmax), the entropy of that
  histogram (log 10 = 2.303 nats when balanced, 0 when one class takes all) and the ratio of the most to
  the least frequent class (None when a class gets no sample).

Only NumPy is used (the matrix square root comes from a symmetric eigendecomposition); nothing is downloaded.
"""
import os

import numpy as np

from .. import backend, nn
from ..serialization import load
from ..tensor import Tensor, no_grad
from .config import N_CLASSES

CLASSES = N_CLASSES                  # the classifier tells the ten classes of the image sets apart
FEATURES = 128
HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_COMMAND = "python benchmarks/train_classifier.py --data {name}"


class MissingClassifier(FileNotFoundError):
    """No classifier weights for this data set (the file is not shipped and was not trained here)."""


class Classifier(nn.Module):
    """Three strided convolutions with batch norm and LeakyReLU (28 -> 14 -> 7 -> 4), a 128-unit layer
    (the features), and a linear layer to the 10 class logits."""

    def __init__(self):
        super().__init__()

        def block(cin, cout, k, p):
            return [nn.Conv2d(cin, cout, k, stride=2, padding=p, bias=False), nn.BatchNorm2d(cout),
                    nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*block(1, 32, 5, 2), *block(32, 64, 5, 2), *block(64, 64, 3, 1), nn.Flatten(),
                                  nn.Linear(64 * 4 * 4, FEATURES, bias=False), nn.BatchNorm1d(FEATURES),
                                  nn.LeakyReLU(0.2))
        self.head = nn.Linear(FEATURES, CLASSES)

    def features(self, x):
        """(N, 1, 28, 28) images in [0, 1] -> (N, 128) features (the layer FID compares)."""
        return self.body(x * 2 - 1)                  # the network sees [-1, 1]

    def forward(self, x):
        return self.head(self.features(x))


def weights_path(name):
    """Where the shipped weights for data set ``name`` live (they may be absent)."""
    return os.path.join(HERE, f"classifier_{name}.npz")


def load_classifier(name="fashion-mnist", path=None, device="cpu"):
    """(Classifier in eval mode, info) from a weights file; info holds ``train_mu``, ``train_cov`` (float64
    feature statistics of the training images), ``test_accuracy``, ``data``, ``path``.
    Raises MissingClassifier, naming the command that trains the weights, when the file is absent."""
    path = path or weights_path(name)
    if not os.path.exists(path):
        raise MissingClassifier(f"no quality classifier for {name!r}: {path} is not shipped; train it with "
                                f"'{TRAIN_COMMAND.format(name=name)}' (FID / IS / class balance need it)")
    st = load(path)
    model = Classifier()
    model.load_state_dict(st["model"])
    info = {k: v for k, v in st.items() if k != "model"}
    info["train_mu"] = np.asarray(info["train_mu"], np.float64)
    info["train_cov"] = np.asarray(info["train_cov"], np.float64)
    info["path"] = path
    return model.to(backend.check_device(device)).eval(), info


def check_images(x, what="samples"):
    """x as float32 (N, 1, 28, 28) in [0, 1]; a one-line ValueError otherwise."""
    x = np.asarray(backend.as_numpy(x))
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
        raise ValueError(f"{what}: expected images of shape (N, 1, 28, 28), got {x.shape}")
    if len(x) < 2:
        raise ValueError(f"{what}: need at least 2 images, got {len(x)}")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise ValueError(f"{what}: images hold NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"{what}: images must lie in [0, 1] (tanh outputs x map to (x + 1) / 2), "
                         f"got values in [{lo:.3g}, {hi:.3g}]")
    return x


def classify(model, images, batch=500, device=None):
    """(features (N, 128), class probabilities (N, 10)), float64 NumPy, of images in [0, 1]; the images go
    to ``device`` (default: where the model is)."""
    x = check_images(images, "classify")
    device = device or model.head.weight.device
    feats, probs = [], []
    with no_grad():
        for i in range(0, len(x), batch):
            f = model.features(Tensor(backend.to_device(x[i:i + batch], device)))
            logits = np.asarray(model.head(f).numpy(), np.float64)
            logits -= logits.max(1, keepdims=True)
            p = np.exp(logits)
            feats.append(np.asarray(f.numpy(), np.float64))
            probs.append(p / p.sum(1, keepdims=True))
    return np.concatenate(feats), np.concatenate(probs)


def feature_stats(feats):
    """Mean and covariance (ddof=1) of the rows of ``feats``, float64."""
    f = np.asarray(feats, np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"feature_stats: need an (N >= 2, d) array, got shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


def _psd_eigvalsh(a, vectors=False):
    """Eigenvalues (and vectors) of the symmetric part of ``a``, those below the numerical rank threshold
    d * eps * max|w| (rounding noise around 0, of either sign) set to 0, so their square roots add nothing."""
    a = np.asarray(a, np.float64)
    w, v = np.linalg.eigh((a + a.T) / 2)
    tol = len(w) * np.finfo(np.float64).eps * (np.abs(w).max() if len(w) else 0.0)
    w = np.where(w > tol, w, 0.0)
    return (w, v) if vectors else w


def sqrtm_psd(a):
    """The symmetric positive semi-definite square root of a symmetric PSD matrix (eigenvalues that
    only rounding makes nonzero, or negative, are taken as 0)."""
    w, v = _psd_eigvalsh(a, vectors=True)
    return (v * np.sqrt(w)) @ v.T


def frechet_distance(mu1, cov1, mu2, cov2):
    """||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)) between N(mu1, S1) and N(mu2, S2).

    S1 S2 is not symmetric, but it is similar to the symmetric PSD matrix M = S1^(1/2) S2 S1^(1/2)
    (S1 S2 = S1^(1/2) M S1^(-1/2) for invertible S1, and by continuity the eigenvalues agree for any PSD
    S1), so Tr((S1 S2)^(1/2)) = sum of the square roots of M's eigenvalues, found with ``eigh``.
    Eigenvalues below d * eps * the largest count as 0: the square root magnifies rounding noise
    (sqrt(1e-16) = 1e-8 for each of up to d of them), which matters when N < d makes S rank-deficient.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != mu1.shape * 2:
        raise ValueError(f"frechet_distance: shapes differ: mu {mu1.shape} / {mu2.shape}, "
                         f"cov {cov1.shape} / {cov2.shape}")
    s1h = sqrtm_psd(cov1)
    m = s1h @ cov2 @ s1h
    tr_sqrt = np.sqrt(_psd_eigvalsh(m)).sum()
    d = mu1 - mu2
    return float(d @ d + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt)


def inception_score(probs, splits=10):
    """exp(mean over x of KL(p(y|x) || p(y))), p(y) the mean of p(y|x), on ``splits`` equal parts of the
    rows of ``probs`` (N, C); returns (mean, standard deviation) over the parts (std 0 for one part)."""
    p = np.asarray(probs, np.float64)
    if p.ndim != 2 or not 1 <= splits <= len(p):
        raise ValueError(f"inception_score: need probabilities (N, C) and 1 <= splits <= N, "
                         f"got shape {p.shape}, splits={splits}")
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(py)), 0.0).sum(1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


def class_balance(classes, n_classes=CLASSES):
    """Counts per class of integer labels, their entropy (nats; log n_classes when balanced) and the
    ratio of the largest count to the smallest (None when some class has no member)."""
    c = np.asarray(classes)
    if c.ndim != 1 or c.dtype.kind not in "iu" or (c.size and (c.min() < 0 or c.max() >= n_classes)):
        raise ValueError(f"class_balance: need integer labels in 0..{n_classes - 1}, got shape {c.shape}")
    counts = np.bincount(c, minlength=n_classes)
    f = counts[counts > 0] / max(len(c), 1)
    return {"class_counts": counts.tolist(), "class_entropy": float(-(f * np.log(f)).sum()),
            "class_max_min_ratio": float(counts.max() / counts.min()) if counts.min() > 0 else None}


def score_samples(samples, name="fashion-mnist", reference=None, classifier=None, splits=10, device="cpu",
                  batch=500):
    """FID against the training images, Inception-style score and class balance of ``samples``
    ((N, 1, 28, 28) in [0, 1], NumPy or anything np.asarray reads, e.g. a PyTorch CPU tensor's .numpy()).

    Args:
        name: the data set whose shipped classifier scores (fashion-mnist; mnist when trained).
        reference: None for the shipped training-set statistics, or images (M, 1, 28, 28) in [0, 1] whose
            feature statistics FID compares with instead.
        classifier: (model, info) from ``load_classifier``, to load the weights once for many calls.
    Returns a dict: fid, is_mean, is_std, is_splits, class_counts, class_entropy, class_max_min_ratio,
    n_samples, classifier (the weights file) and classifier_test_accuracy.
    """
    dev = backend.check_device(device)
    samples = check_images(samples, "score_samples")
    model, info = classifier or load_classifier(name, device=dev)
    feats, probs = classify(model, samples, batch, dev)
    if reference is None:
        mu_r, cov_r = info["train_mu"], info["train_cov"]
    else:
        mu_r, cov_r = feature_stats(classify(model, reference, batch, dev)[0])
    mu, cov = feature_stats(feats)
    is_mean, is_std = inception_score(probs, splits)
    out = {"fid": frechet_distance(mu, cov, mu_r, cov_r), "is_mean": is_mean, "is_std": is_std,
           "is_splits": splits}
    out.update(class_balance(probs.argmax(1)))
    out.update(n_samples=len(feats), classifier=os.path.basename(info["path"]),
               classifier_test_accuracy=info.get("test_accuracy"))
    return out


def evaluate_quality(samples, name, device="cpu", progress=print):
    """``score_samples`` for ``minigan evaluate``: the scores, or {"quality_note": why not} when the data
    set has no classifier weights (or there are fewer than 2 samples)."""
    if len(samples) < 2:
        return {"quality_note": f"FID / IS / class balance need at least 2 samples, got {len(samples)}"}
    try:
        model = load_classifier(name, device=device)
    except MissingClassifier as e:
        progress(str(e))
        return {"quality_note": str(e)}
    progress(f"FID, Inception-style score and class balance of {len(samples)} samples "
             f"({os.path.basename(model[1]['path'])}) ...")
    return score_samples(samples, name, classifier=model, splits=min(10, len(samples)), device=device)
