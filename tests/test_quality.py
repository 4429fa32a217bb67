"""The quality metric (minigan/gan/quality.py): softmax cross-entropy, the Frechet distance, the Inception-style
score, the class balance, the shipped classifier, its training script and ``minigan evaluate``'s report."""
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

import minigan.functional as F
from minigan import data
from minigan.cli import main
from minigan.gan import quality
from minigan.gradcheck import gradcheck
from minigan.tensor import Tensor

from conftest import make_set

ROOT = Path(__file__).resolve().parents[1]
FM_DIR = Path("/usr/share/datasets/fashion-mnist")


def t64(a, requires_grad=True):
    return Tensor(np.asarray(a, np.float64), requires_grad=requires_grad)


# ------------------------------------------------------------------ log_softmax / cross_entropy
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_softmax_and_cross_entropy_gradcheck(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((5, 7)) * 3
    target = rng.integers(0, 7, 5)
    gradcheck(lambda a: F.log_softmax(a, dim=1), [t64(x)])
    gradcheck(lambda a: F.log_softmax(a, dim=0), [t64(x)])
    gradcheck(lambda a: F.softmax(a, dim=-1), [t64(x)])
    for reduction in ("mean", "sum", "none"):
        gradcheck(lambda a: F.cross_entropy(a, target, reduction=reduction), [t64(x)])


def test_cross_entropy_closed_form():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4)) * 50                    # large logits: the max shift keeps it finite
    t = rng.integers(0, 4, 6)
    m = x.max(1, keepdims=True)
    ref = -(x[np.arange(6), t] - (m[:, 0] + np.log(np.exp(x - m).sum(1))))
    a = t64(x)
    loss = F.cross_entropy(a, t, reduction="none")
    np.testing.assert_allclose(loss.numpy(), ref, rtol=1e-12)
    F.cross_entropy(a, t).backward()
    p = np.exp(x - m) / np.exp(x - m).sum(1, keepdims=True)
    onehot = np.eye(4)[t]
    np.testing.assert_allclose(a.grad.numpy(), (p - onehot) / 6, rtol=1e-10, atol=1e-14)
    # uniform logits: -log C, and softmax sums to 1
    np.testing.assert_allclose(F.cross_entropy(t64(np.zeros((3, 5))), np.array([0, 1, 4])).item(), np.log(5))
    np.testing.assert_allclose(F.softmax(t64(x)).numpy().sum(-1), 1, rtol=1e-12)


def test_cross_entropy_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 10)) * 4
    t = rng.integers(0, 10, 8)
    for reduction in ("mean", "sum", "none"):
        a, b = t64(x), torch.tensor(x, requires_grad=True)
        la = F.cross_entropy(a, t, reduction=reduction)
        lb = torch.nn.functional.cross_entropy(b, torch.tensor(t), reduction=reduction)
        np.testing.assert_allclose(la.numpy(), lb.detach().numpy(), rtol=1e-12)
        g = rng.standard_normal(lb.shape)
        la.backward(t64(g, False))
        lb.backward(torch.tensor(g))
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-15)
    a, b = t64(x), torch.tensor(x, requires_grad=True)
    np.testing.assert_allclose(F.log_softmax(a, 0).numpy(), torch.log_softmax(b, 0).detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("target, match", [(np.array([0, 5]), "outside 0..4"), (np.array([0, -1]), "outside"),
                                           (np.array([0.0, 1.0]), "integer"), (np.array([0, 1, 2]), "2 integer")])
def test_cross_entropy_bad_target(target, match):
    with pytest.raises(ValueError, match=match):
        F.cross_entropy(t64(np.zeros((2, 5))), target)


# ------------------------------------------------------------------ Frechet distance
def random_cov(rng, d, n=None):
    a = rng.standard_normal((d, n or 2 * d))
    return a @ a.T / a.shape[1]


def test_frechet_distance_identical_and_symmetric():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    c1, c2 = random_cov(rng, 6), random_cov(rng, 6)
    assert abs(quality.frechet_distance(mu1, c1, mu1, c1)) < 1e-10
    d12, d21 = quality.frechet_distance(mu1, c1, mu2, c2), quality.frechet_distance(mu2, c2, mu1, c1)
    assert d12 > 0.1
    np.testing.assert_allclose(d12, d21, rtol=1e-10)
    # identical feature sets give exactly identical statistics, hence 0
    f = rng.standard_normal((300, 8))
    assert abs(quality.frechet_distance(*quality.feature_stats(f), *quality.feature_stats(f.copy()))) < 1e-10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frechet_distance_closed_form(seed):
    """Covariances with the same eigenvectors (diagonal ones, then rotated): the distance is
    ||mu1 - mu2||^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2."""
    rng = np.random.default_rng(seed)
    d = 7
    a, b = rng.uniform(0.1, 4, d), rng.uniform(0.0, 4, d)
    b[0] = 0                                                # a singular covariance is fine too
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    ref = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    np.testing.assert_allclose(quality.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)), ref, rtol=1e-10)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    np.testing.assert_allclose(quality.frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T),
                               ref, rtol=1e-9, atol=1e-9)
    # one dimension: (m1 - m2)^2 + (s1 - s2)^2
    np.testing.assert_allclose(quality.frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]), 4 + 1)


def test_frechet_distance_against_scipy():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(5)
    for d in (3, 16):
        c1, c2 = random_cov(rng, d), random_cov(rng, d)
        mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
        ref = ((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * linalg.sqrtm(c1 @ c2).real)
        np.testing.assert_allclose(quality.frechet_distance(mu1, c1, mu2, c2), ref, rtol=1e-7)


def test_sqrtm_psd():
    rng = np.random.default_rng(6)
    c = random_cov(rng, 9, 4)                               # rank 4
    s = quality.sqrtm_psd(c)
    np.testing.assert_allclose(s @ s, c, atol=1e-10)
    np.testing.assert_allclose(s, s.T)
    assert np.linalg.eigvalsh(s).min() > -1e-8


def test_frechet_distance_bad_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        quality.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# ------------------------------------------------------------------ Inception-style score, class balance
def test_inception_score_bounds_and_extremes():
    eye = np.eye(10)
    assert quality.inception_score(np.tile(eye[3], (50, 1)), splits=1) == (1.0, 0.0)          # one class
    np.testing.assert_allclose(quality.inception_score(np.tile(eye, (20, 1)), splits=1)[0], 10)  # certain, balanced
    np.testing.assert_allclose(quality.inception_score(np.full((40, 10), 0.1), splits=4)[0], 1)  # no information
    two = np.tile(eye[:2], (30, 1))                                                             # two classes
    np.testing.assert_allclose(quality.inception_score(two, splits=3), (2.0, 0.0))
    rng = np.random.default_rng(0)
    for _ in range(5):
        p = rng.dirichlet(np.full(10, rng.uniform(0.05, 3)), size=200)
        m, s = quality.inception_score(p, splits=10)
        assert 1 <= m <= 10 and s >= 0
        single = quality.inception_score(p, splits=1)[0]
        assert 1 <= single <= 10 and single >= m - 1e-12          # splits of 20 see less of p(y): lower score


def test_class_balance_known_labels():
    labels = np.array([0] * 5 + [1] * 5 + [2] * 10)
    r = quality.class_balance(labels, 3)
    assert r["class_counts"] == [5, 5, 10]
    np.testing.assert_allclose(r["class_entropy"], -(2 * 0.25 * np.log(0.25) + 0.5 * np.log(0.5)))
    assert r["class_max_min_ratio"] == 2.0
    r = quality.class_balance(np.arange(10).repeat(3))
    np.testing.assert_allclose(r["class_entropy"], np.log(10))
    assert r["class_max_min_ratio"] == 1.0
    r = quality.class_balance(np.array([4, 4, 4]))
    assert r["class_entropy"] == 0 and r["class_max_min_ratio"] is None and r["class_counts"][4] == 3
    with pytest.raises(ValueError, match="0..9"):
        quality.class_balance(np.array([10]))


# ------------------------------------------------------------------ the shipped classifier
def test_shipped_weights_load_and_shapes():
    path = quality.weights_path("fashion-mnist")
    assert os.path.getsize(path) < 1_000_000
    model, info = quality.load_classifier("fashion-mnist")
    assert info["test_accuracy"] >= 0.90 and info["data"] == "fashion-mnist"
    assert info["train_mu"].shape == (quality.FEATURES,) and info["train_cov"].shape == (quality.FEATURES,) * 2
    x = np.random.default_rng(0).random((7, 1, 28, 28)).astype(np.float32)
    f, p = quality.classify(model, x, batch=3)
    assert f.shape == (7, quality.FEATURES) and p.shape == (7, quality.CLASSES)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-6)
    f2, _ = quality.classify(model, x[:, 0])                  # (N, 28, 28) is accepted too
    np.testing.assert_allclose(f2, f, rtol=1e-5, atol=1e-5)


def test_missing_classifier_is_explained(tmp_path):
    with pytest.raises(quality.MissingClassifier, match="train_classifier.py --data mnist"):
        quality.load_classifier("mnist", path=str(tmp_path / "none.npz"))


@pytest.mark.parametrize("bad, match", [(np.zeros((3, 1, 32, 32)), r"\(N, 1, 28, 28\)"),
                                        (np.zeros((1, 1, 28, 28)), "at least 2"),
                                        (np.full((3, 1, 28, 28), 2.0), r"\[0, 1\]"),
                                        (np.full((3, 1, 28, 28), np.nan), "NaN")])
def test_score_samples_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        quality.score_samples(bad)


def synthetic_images(n, rng, blur=0.0, noise=0.0):
    """A fixed family of 28x28 images in [0, 1]: a bright rectangle of random size and place on a dark
    background, one of 10 sizes; blur and noise spoil them."""
    x = np.zeros((n, 1, 28, 28), np.float32)
    for i in range(n):
        k = rng.integers(0, 10)
        h, w = 6 + k, 18 - k
        r, c = rng.integers(2, 28 - h - 1), rng.integers(2, 28 - w - 1)
        x[i, 0, r:r + h, c:c + w] = rng.uniform(0.6, 1.0)
    if blur:
        for _ in range(int(blur)):
            x = (x + np.roll(x, 1, 2) + np.roll(x, -1, 2) + np.roll(x, 1, 3) + np.roll(x, -1, 3)) / 5
    if noise:
        x = x + noise * rng.standard_normal(x.shape).astype(np.float32)
    return np.clip(x, 0, 1)


@pytest.mark.parametrize("seed", [0, 1])
def test_fid_synthetic_same_distribution_near_zero(seed):
    """Two independent draws of one distribution score far closer to each other than to a spoilt draw
    (always runs: no data files needed)."""
    rng = np.random.default_rng(seed)
    model, info = clf = quality.load_classifier("fashion-mnist")
    ref = quality.feature_stats(quality.classify(model, synthetic_images(800, rng))[0])
    fid = {}
    for name, kw in (("same", {}), ("noisy", {"noise": 0.15}), ("blurred", {"blur": 3})):
        fid[name] = quality.frechet_distance(*quality.feature_stats(
            quality.classify(model, synthetic_images(800, rng, **kw))[0]), *ref)
    assert 0 <= fid["same"] < 0.2 * min(fid["noisy"], fid["blurred"]), fid
    r = quality.score_samples(synthetic_images(300, rng), classifier=clf)   # against the training statistics
    assert r["fid"] > 10 * fid["same"] and 1 <= r["is_mean"] <= 10 and sum(r["class_counts"]) == 300
    x = synthetic_images(50, rng)
    assert abs(quality.score_samples(x, reference=x.copy(), classifier=clf)["fid"]) < 1e-6   # identical sets


def test_quality_check_script_scores_an_array(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("quality_check", ROOT / "benchmarks" / "quality_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    x = synthetic_images(30, np.random.default_rng(0))
    np.save(tmp_path / "s.npy", x)
    (r,) = mod.main(["--samples", str(tmp_path / "s.npy")])
    assert r == quality.score_samples(x, splits=10)
    np.save(tmp_path / "bad.npy", x * 3)
    with pytest.raises(SystemExit, match=r"--samples .*\[0, 1\]"):
        mod.main(["--samples", str(tmp_path / "bad.npy")])


@pytest.mark.skipif(not (FM_DIR / "t10k-images-idx3-ubyte.gz").exists() and
                    not (FM_DIR / "t10k-images-idx3-ubyte").exists(), reason="Fashion-MNIST files not on disk")
def test_fashion_mnist_test_set_against_training_set():
    """The 10,000 test images against the shipped training-set statistics: FID near 0 (0.08 measured; a
    pixel-noise copy of 2,000 of them is far off), high Inception-style score, balanced classes, and the
    accuracy the weights file states."""
    test_x, test_y = data.load_images("fashion-mnist", "test", str(FM_DIR), scale="sigmoid", download_missing=False)
    model, info = quality.load_classifier("fashion-mnist")
    f, p = quality.classify(model, test_x)
    fid = quality.frechet_distance(*quality.feature_stats(f), info["train_mu"], info["train_cov"])
    noisy = np.clip(test_x[:2000] + 0.1 * np.random.default_rng(0).standard_normal((2000, 1, 28, 28)), 0, 1)
    fn = quality.frechet_distance(*quality.feature_stats(quality.classify(model, noisy)[0]),
                                  info["train_mu"], info["train_cov"])
    assert fid < 0.5 and fn > 20 * fid, (fid, fn)
    assert quality.inception_score(p)[0] > 7
    assert quality.class_balance(p.argmax(1))["class_max_min_ratio"] < 1.3
    np.testing.assert_allclose((p.argmax(1) == test_y).mean(), info["test_accuracy"], atol=1e-9)
    assert info["test_accuracy"] >= 0.90


# ------------------------------------------------------------------ the training script and minigan evaluate
def load_script():
    spec = importlib.util.spec_from_file_location("train_classifier", ROOT / "benchmarks" / "train_classifier.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_train_classifier_script_tiny(tmp_path):
    make_set(tmp_path / "fm", n_train=64, n_test=20)
    out = tmp_path / "clf.npz"
    rep = load_script().main(["--data-dir", str(tmp_path / "fm"), "--epochs", "2", "--batch", "16",
                              "--out", str(out), "--no-progress"])
    assert rep["out"] == str(out) and 0 <= rep["test_accuracy"] <= 1
    model, info = quality.load_classifier("fashion-mnist", path=str(out))
    assert info["n_train"] == 64 and info["epochs"] == 2
    f, _ = quality.classify(model, np.zeros((3, 1, 28, 28), np.float32))
    assert f.shape == (3, quality.FEATURES)
    mu, _ = quality.feature_stats(quality.classify(model, data.load_images(
        "fashion-mnist", "train", str(tmp_path / "fm"), scale="sigmoid")[0])[0])
    np.testing.assert_allclose(info["train_mu"], mu, rtol=1e-6, atol=1e-6)   # statistics of the stored weights


@pytest.mark.parametrize("args, match", [(["--epochs", "0"], "--epochs must be >= 1"),
                                         (["--shift", "9"], "--shift must be <= 8"),
                                         (["--lr", "nan"], "--lr must be a positive")])
def test_train_classifier_script_bad_options(args, match, capsys):
    with pytest.raises(SystemExit):
        load_script().parse_args(args)
    assert match in capsys.readouterr().err


def test_cli_evaluate_reports_fid(tmp_path, capsys):
    make_set(tmp_path / "fm", n_train=200, n_test=30)
    run = str(tmp_path / "run")
    assert main(["train", "--data", "fashion-mnist", "--data-dir", str(tmp_path / "fm"), "--steps", "2",
                 "--batch-size", "16", "--out", run, "--quiet"]) == 0
    assert main(["evaluate", "--run", run, "--samples", "40"]) == 0
    out = capsys.readouterr().out
    assert "Parzen window log-likelihood" in out and "FID (classifier features" in out
    with open(os.path.join(run, "evaluation.json")) as f:
        r = json.load(f)
    assert r["fid"] > 0 and 1 <= r["is_mean"] <= 10 and r["is_splits"] == 10 and sum(r["class_counts"]) == 40
    assert "parzen_ll" in r


def test_cli_evaluate_mnist_says_weights_are_missing(tmp_path, capsys, monkeypatch):
    make_set(tmp_path / "mn", n_train=200, n_test=30)
    run = str(tmp_path / "run")
    assert main(["train", "--data", "mnist", "--data-dir", str(tmp_path / "mn"), "--steps", "2",
                 "--batch-size", "16", "--out", run, "--quiet"]) == 0
    monkeypatch.setattr(quality, "weights_path", lambda name: str(tmp_path / f"classifier_{name}.npz"))
    assert main(["evaluate", "--run", run, "--samples", "20"]) == 0
    out = capsys.readouterr().out
    assert "Parzen window log-likelihood" in out
    assert "no FID / IS / class balance" in out and "train_classifier.py --data mnist" in out
    with open(os.path.join(run, "evaluation.json")) as f:
        assert "fid" not in json.load(f)


def test_torch_reference_reports_fid(tmp_path, capsys):
    """benchmarks/torch_dcgan_quality.py scores PyTorch's samples with the same function (tiny run)."""
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("torch_quality", ROOT / "benchmarks" / "torch_dcgan_quality.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    make_set(tmp_path / "fm", n_train=160, n_test=20)
    assert mod.main(["--data-dir", str(tmp_path / "fm"), "--epochs", "1", "--samples", "30",
                     "--out", str(tmp_path / "o")]) == 0
    with open(tmp_path / "o" / "torch_evaluation.json") as f:
        r = json.load(f)
    assert r["fid"] > 0 and 1 <= r["is_mean"] <= 10 and sum(r["class_counts"]) == 30 and "parzen_ll" in r
