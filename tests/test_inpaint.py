"""Tests for minigan.inpaint: masks, importance weights, the losses and their gradient, the latent search,
Poisson blending, the hole metrics and baselines, and the ``inpaint`` command on a tiny run.

References: naive loops over pixels, closed forms in NumPy float64, central differences, a direct
linear solve of the Poisson system, a linear generator whose code is known exactly.
"""
import argparse
import gzip
import os
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan
from minigan import inpaint as I
from minigan import nn
from minigan.cli import inpaint as inpaint_cli
from minigan.data import DataError
from minigan.inpaint.objective import contextual_loss, objective, perceptual_loss


def dev_tensor(a, dtype=np.float64, requires_grad=False):
    """A tensor on the default device (the suite may run with MINIGAN_DEVICE=cuda)."""
    return minigan.tensor(np.asarray(a, dtype), requires_grad=requires_grad, dtype=dtype,
                          device=minigan.backend.default_device())


# ------------------------------------------------------------------------------------------------ masks

def mask_ref(kind, h, w):
    """The mask kinds written as per-pixel rules, one pixel at a time."""
    m = np.zeros((h, w), np.float32)
    for i in range(h):
        for j in range(w):
            if kind == "center":
                m[i, j] = not (h // 4 <= i < 3 * h // 4 and w // 4 <= j < 3 * w // 4)
            elif kind == "left":
                m[i, j] = j >= w // 2
            elif kind == "grid":
                m[i, j] = i % 4 == 0 and j % 4 == 0
    return m


@settings(max_examples=15, deadline=None)
@given(kind=st.sampled_from(["center", "left", "grid"]), h=st.integers(1, 13), w=st.integers(1, 13),
       n=st.integers(1, 3))
def test_fixed_masks_match_pixel_rules(kind, h, w, n):
    ref = mask_ref(kind, h, w)
    m2 = I.make_mask(kind, (h, w))
    assert m2.shape == (h, w) and m2.dtype == np.float32
    np.testing.assert_array_equal(m2, ref)
    m4 = I.make_mask(kind, (n, 1, h, w))
    assert m4.shape == (n, 1, h, w) and m4.dtype == np.float32
    np.testing.assert_array_equal(m4, np.broadcast_to(ref, (n, 1, h, w)))


def test_center_mask_on_28_pixels():
    m = I.make_mask("center", (28, 28))
    assert m.sum() == 28 * 28 - 14 * 14 and m[7:21, 7:21].sum() == 0 and m[6, 6] == 1 and m[21, 21] == 1


@settings(max_examples=15, deadline=None)
@given(h=st.integers(2, 12), w=st.integers(2, 12), n=st.integers(1, 4), p=st.floats(0, 1), seed=st.integers(0, 99))
def test_random_mask_fraction_and_seed(h, w, n, p, seed):
    m = I.make_mask("random", (n, 1, h, w), p=p, rng=seed)
    assert m.shape == (n, 1, h, w) and m.dtype == np.float32 and set(np.unique(m)) <= {0.0, 1.0}
    missing = (m == 0).sum(axis=(1, 2, 3))
    np.testing.assert_array_equal(missing, round(p * h * w))
    np.testing.assert_array_equal(m, I.make_mask("random", (n, 1, h, w), p=p, rng=seed))     # seeded
    assert I.make_mask("random", (h, w), p=p, rng=np.random.default_rng(seed)).shape == (h, w)


def test_random_masks_differ_between_images_and_seeds():
    m = I.make_mask("random", (2, 1, 28, 28), p=0.5, rng=0)
    assert (m[0] != m[1]).any()
    assert (I.make_mask("random", (28, 28), p=0.5, rng=1) != I.make_mask("random", (28, 28), p=0.5, rng=2)).any()


def test_mask_errors():
    with pytest.raises(ValueError, match="unknown mask kind 'square'"):
        I.make_mask("square", (4, 4))
    with pytest.raises(ValueError, match=r"\(H, W\) or \(N, 1, H, W\), got \(2, 3, 4, 4\)"):
        I.make_mask("center", (2, 3, 4, 4))
    with pytest.raises(ValueError, match="p .* must be in \\[0, 1\\], got 1.5"):
        I.make_mask("random", (4, 4), p=1.5)


def test_mask_files_round_trip(tmp_path):
    m = I.make_mask("random", (9, 7), p=0.4, rng=3)
    for name in ("m.npy", "m.png"):
        I.save_mask(m, tmp_path / name)
        back = I.load_mask(str(tmp_path / name))
        assert back.dtype == np.float32
        np.testing.assert_array_equal(back, m)
    m4 = I.make_mask("random", (3, 1, 5, 6), p=0.5, rng=1)
    I.save_mask(m4, tmp_path / "m4.npy")
    np.testing.assert_array_equal(I.load_mask(str(tmp_path / "m4.npy")), m4)
    with pytest.raises(ValueError, match="one \\(H, W\\) mask"):
        I.save_mask(m4, tmp_path / "m4.png")


def test_mask_files_are_binary(tmp_path):
    from PIL import Image
    np.save(tmp_path / "a.npy", np.array([[0, 1, 1], [0, 0, 1]], np.uint8))
    np.testing.assert_array_equal(I.load_mask(str(tmp_path / "a.npy")), [[0, 1, 1], [0, 0, 1]])
    np.save(tmp_path / "b.npy", np.array([[False, True], [True, True]]))
    np.testing.assert_array_equal(I.load_mask(str(tmp_path / "b.npy")), [[0, 1], [1, 1]])
    np.save(tmp_path / "bad.npy", np.array([[0, 3.5, -1], [0, 0, 1e-3]]))
    with pytest.raises(ValueError, match=r"bad.npy must hold only 0 \(missing\) and 1 \(known\); it holds "
                                         r"3 value\(s\) such as -1, 0.001, 3.5"):
        I.load_mask(str(tmp_path / "bad.npy"))
    Image.fromarray(np.array([[0, 255, 255], [255, 0, 255]], np.uint8)).save(tmp_path / "g.png")
    np.testing.assert_array_equal(I.load_mask(str(tmp_path / "g.png")), [[0, 1, 1], [1, 0, 1]])
    Image.fromarray(np.array([[0, 127, 128], [255, 30, 200]], np.uint8)).save(tmp_path / "grey.png")
    with pytest.raises(ValueError, match=r"grey.png must be black .* and white .* only; .*127"):
        I.load_mask(str(tmp_path / "grey.png"))
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        I.load_mask(str(tmp_path / "nope.npy"))
    (tmp_path / "m.txt").write_text("1 0")
    with pytest.raises(ValueError, match="must end in .npy or .png"):
        I.load_mask(str(tmp_path / "m.txt"))


def test_check_mask_fits_and_refuses():
    shape = (3, 1, 6, 5)
    m = I.make_mask("center", (6, 5))
    for given_mask in (m, m[None], m[None, None], np.broadcast_to(m, (3, 1, 6, 5))):
        out = I.check_mask(given_mask, shape)
        assert out.ndim == 4 and out.shape[1:] == (1, 6, 5)
        np.testing.assert_array_equal(np.broadcast_to(out, shape), np.broadcast_to(m, shape))
    with pytest.raises(ValueError, match=r"mask of shape \(5, 6\) does not fit images of shape \(3, 1, 6, 5\)"):
        I.check_mask(m.T, shape)
    with pytest.raises(ValueError, match=r"mask of shape \(2, 1, 6, 5\)"):
        I.check_mask(np.ones((2, 1, 6, 5)), shape)
    with pytest.raises(ValueError, match="0 \\(missing\\) or 1 \\(known\\)"):
        I.check_mask(m * 0.5, shape)


# ------------------------------------------------------------------------------------------------ weights

def weights_ref(m, size):
    """W_i = M_i * (number of missing pixels in the size x size window, outside = known) / size^2."""
    h, w = m.shape
    r = size // 2
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            if m[i, j]:
                miss = sum(1 for a in range(i - r, i + r + 1) for b in range(j - r, j + r + 1)
                           if 0 <= a < h and 0 <= b < w and m[a, b] == 0)
                out[i, j] = miss / size ** 2
    return out


def test_importance_weights_hand_case():
    m = np.ones((5, 5), np.float32)
    m[2, 2] = 0                                  # one missing pixel in the middle, 3x3 window
    w = I.importance_weights(m, size=3)
    expect = np.zeros((5, 5))
    expect[1:4, 1:4] = 1 / 9
    expect[2, 2] = 0
    np.testing.assert_allclose(w, expect, rtol=1e-6)
    m[0, 0] = 0                                  # a corner hole: window partly outside the image
    w = I.importance_weights(m, size=3)
    assert np.isclose(w[1, 1], 2 / 9) and np.isclose(w[0, 1], 1 / 9) and w[0, 0] == 0


@settings(max_examples=15, deadline=None)
@given(h=st.integers(1, 10), w=st.integers(1, 10), seed=st.integers(0, 999), size=st.sampled_from([1, 3, 7]))
def test_importance_weights_match_loop(h, w, seed, size):
    m = (np.random.default_rng(seed).random((h, w)) > 0.4).astype(np.float32)
    np.testing.assert_allclose(I.importance_weights(m, size), weights_ref(m, size), rtol=1e-6, atol=1e-7)
    batch = np.stack([m, 1 - m])[:, None]
    got = I.importance_weights(batch, size)
    np.testing.assert_allclose(got[1, 0], weights_ref(1 - m, size), rtol=1e-6, atol=1e-7)


def test_importance_weights_rejects_even_window():
    with pytest.raises(ValueError, match="odd and positive, got 4"):
        I.importance_weights(np.ones((3, 3)), 4)


# ------------------------------------------------------------------------------------------------ losses

def test_contextual_loss_zero_on_match_and_closed_form(rng):
    x = rng.random((3, 2, 6, 6))
    m = I.make_mask("random", (3, 1, 6, 6), p=0.5, rng=0).astype(np.float64)
    g = np.where(m == 1, x, rng.random(x.shape))                    # equal on known pixels only
    lc = contextual_loss(dev_tensor(g), dev_tensor(x), dev_tensor(m)).numpy()
    assert lc.shape == (3,)
    np.testing.assert_allclose(lc, 0, atol=1e-15)
    g2 = g + 0.1 * rng.standard_normal(g.shape)
    lc2 = contextual_loss(dev_tensor(g2), dev_tensor(x), dev_tensor(m)).numpy()
    assert (lc2 > 0).all()
    ref = np.array([sum(abs(g2[i, c, a, b] - x[i, c, a, b]) * m[i, 0, a, b]
                        for c in range(2) for a in range(6) for b in range(6)) for i in range(3)])
    np.testing.assert_allclose(lc2, ref, rtol=1e-12)
    wts = I.importance_weights(m[:, :, :, :].astype(np.float32)).astype(np.float64)
    lcw = contextual_loss(dev_tensor(g2), dev_tensor(x), dev_tensor(wts)).numpy()
    np.testing.assert_allclose(lcw, (np.abs(g2 - x) * wts).sum(axis=(1, 2, 3)), rtol=1e-12)


def test_perceptual_loss_forms_and_saturation():
    logits = np.array([[-3.0], [-0.5], [0.0], [2.0]])
    d = 1 / (1 + np.exp(-logits[:, 0]))
    sat = perceptual_loss(dev_tensor(logits), "saturating").numpy()
    non = perceptual_loss(dev_tensor(logits), "nonsaturating").numpy()
    np.testing.assert_allclose(sat, np.log(1 - d), rtol=1e-12)
    np.testing.assert_allclose(non, -np.log(d), rtol=1e-12)
    # D sure that G(z) is fake (logit -30): log(1 - D) is flat there, -log D still has slope -1
    for form, slope in (("saturating", 0.0), ("nonsaturating", -1.0)):
        l = dev_tensor([[-30.0], [30.0]], requires_grad=True)
        out = perceptual_loss(l, form)
        assert np.isfinite(out.numpy()).all()
        (g,) = minigan.grad(out.sum(), [l])
        np.testing.assert_allclose(g.numpy()[0, 0], slope if form == "nonsaturating" else -1 / (1 + np.exp(30)),
                                   atol=1e-12)
    with pytest.raises(ValueError, match="form must be one of"):
        perceptual_loss(dev_tensor(logits), "minimax")


class Reshape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape((x.shape[0],) + self.shape)


def tiny_gan(z_dim=3, h=5, w=4, seed=0):
    """A small tanh G and a conv D from minigan.nn, in float64."""
    minigan.manual_seed(seed)
    G = nn.Sequential(nn.Linear(z_dim, 16), nn.Tanh(), nn.Linear(16, h * w), nn.Tanh(), Reshape((1, h, w)))
    D = nn.Sequential(nn.Conv2d(1, 2, 3, 1, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(2 * h * w, 1))
    return G.to(dtype=np.float64), D.to(dtype=np.float64)


@pytest.mark.parametrize("form", ["saturating", "nonsaturating"])
@pytest.mark.parametrize("weighted", [False, True])
def test_objective_gradient_matches_central_differences(form, weighted, rng):
    G, D = tiny_gan()
    n, h, w = 2, 5, 4
    x = rng.random((n, 1, h, w))
    m = I.make_mask("center", (n, 1, h, w))
    wts = (I.importance_weights(m) if weighted else m).astype(np.float64)
    z0 = rng.standard_normal((n, 3))
    lam = 0.7

    def L(z_np):
        with minigan.no_grad():
            return objective(G, D, dev_tensor(z_np), dev_tensor(x), dev_tensor(wts), lam, form)[0].numpy().sum()

    z = dev_tensor(z0, requires_grad=True)
    total, lc, lp, gen = objective(G, D, z, dev_tensor(x), dev_tensor(wts), lam, form)
    np.testing.assert_allclose(total.numpy(), lc.numpy() + lam * lp.numpy(), rtol=1e-12)
    (gz,) = minigan.grad(total.sum(), [z])
    eps, num = 1e-6, np.zeros_like(z0)
    for idx in np.ndindex(z0.shape):
        zp, zm = z0.copy(), z0.copy()
        zp[idx] += eps
        zm[idx] -= eps
        num[idx] = (L(zp) - L(zm)) / (2 * eps)
    np.testing.assert_allclose(gz.numpy(), num, rtol=1e-5, atol=1e-7,
                               err_msg=f"analytic {gz.numpy()} vs numeric {num}")


# ------------------------------------------------------------------------------------------------ search

class LinearG(nn.Module):
    """G(z) = A z + 0.5, reshaped to (N, 1, H, W): an image range [0, 1] generator that can be inverted."""

    def __init__(self, A):
        super().__init__()
        self.h, self.w = int(np.sqrt(A.shape[0])), int(np.sqrt(A.shape[0]))
        self.lin = nn.Linear(A.shape[1], A.shape[0])
        self.lin.weight.data[...] = dev_tensor(A, np.float32).data
        self.lin.bias.data[...] = 0.5

    def forward(self, z):
        return self.lin(z).reshape(z.shape[0], 1, self.h, self.w)


@pytest.mark.parametrize("seed", [5, 6, 7, 8, 9])
def test_linear_generator_recovers_the_hole(seed):
    rng = np.random.default_rng(seed)
    k, h = 4, 6
    A = (rng.standard_normal((h * h, k)) * 0.1).astype(np.float32)
    G = LinearG(A)
    z_true = rng.uniform(-0.8, 0.8, (3, k))
    x = (z_true @ A.T + 0.5).reshape(3, 1, h, h).astype(np.float32)
    assert 0 <= x.min() and x.max() <= 1
    m = I.make_mask("center", (h, h))
    r = I.inpaint(G, None, x, m, z_dim=k, prior="uniform", scale="sigmoid", lam=0.0, iters=600, lr=0.02,
                  restarts=2, blend="none", seed=1)
    hole = np.broadcast_to(m == 0, x.shape)
    err = np.abs(r["blended"] - x)[hole].mean()
    start = np.abs(0.5 - x)[hole].mean()                 # what G(0) would give
    assert err < 2e-3 and err < start / 20, (err, start)
    assert np.abs(r["z"]).max() <= 1                       # clipped to the uniform prior's support
    np.testing.assert_array_equal(r["blended"][~hole], x[~hole])


def tiny_setup(n=3, seed=0):
    G, D = tiny_gan(seed=seed)
    x = np.random.default_rng(seed).random((n, 1, 5, 4)).astype(np.float32)
    return G, D, x


@pytest.mark.parametrize("blend", ["none", "poisson"])
@pytest.mark.parametrize("kind", ["center", "random", "left", "grid"])
def test_known_pixels_never_change(kind, blend):
    G, D, x = tiny_setup()
    m = I.make_mask(kind, (3, 1, 5, 4), p=0.6, rng=2)
    r = I.inpaint(G, D, x, m, z_dim=3, iters=3, restarts=2, blend=blend, record=2, record_every=1)
    known = np.broadcast_to(m == 1, x.shape)
    np.testing.assert_array_equal(r["blended"][known], x[known])
    assert r["blended"].dtype == np.float32 and r["blended"].shape == x.shape
    assert 0 <= r["blended"].min() and r["blended"].max() <= 1
    if blend == "none":
        np.testing.assert_array_equal(r["blended"][~known], r["generated"][~known])


def test_search_result_shapes_restarts_and_history():
    G, D, x = tiny_setup(n=4)
    R, iters = 3, 6
    r = I.inpaint(G, D, x, I.make_mask("center", (5, 4)), z_dim=3, iters=iters, restarts=R, record=2,
                  record_every=4, perceptual="saturating", weighted=True, constraint="sphere", combine="best")
    hist = r["history"]
    assert hist["loss"].shape == (iters + 1, R, 4)
    np.testing.assert_array_equal(r["loss"], hist["loss"][-1].min(axis=0))       # best restart kept
    np.testing.assert_array_equal(r["restart"], hist["loss"][-1].argmin(axis=0))
    np.testing.assert_array_equal(hist["frame_iters"], [0, 4, 6])
    assert hist["frames"].shape == (3, 2, 1, 5, 4)
    np.testing.assert_allclose(hist["frames"][-1], r["generated"][:2], atol=1e-6)
    assert r["z"].shape == (4, 3)
    np.testing.assert_allclose(np.linalg.norm(r["z"], axis=1), np.sqrt(3), rtol=1e-6)  # sphere for N(0, I)
    # the kept code reproduces the reported G(z_hat)
    with minigan.no_grad():
        g = G(dev_tensor(r["z"])).numpy()
    np.testing.assert_allclose(r["generated"], (g + 1) / 2, atol=1e-6)
    np.testing.assert_array_equal(r["z_all"][r["restart"], np.arange(4)], r["z"])


def test_mean_of_the_restarts_fills_the_hole():
    G, D, x = tiny_setup(n=4)
    mask = I.make_mask("center", (5, 4))
    kw = dict(z_dim=3, iters=6, restarts=3, blend="none")
    best, mean = (I.inpaint(G, D, x, mask, combine=c, **kw) for c in ("best", "mean"))
    np.testing.assert_array_equal(mean["z_all"], best["z_all"])                   # the same search
    with minigan.no_grad():
        g = np.stack([G(dev_tensor(z)).numpy() for z in mean["z_all"]])          # (R, N, C, H, W)
    np.testing.assert_allclose(mean["generated"], np.clip((g + 1) / 2, 0, 1).mean(axis=0), atol=1e-6)
    assert np.abs(mean["generated"] - best["generated"]).max() > 1e-3
    np.testing.assert_array_equal(mean["blended"], I.compose(x, mean["generated"], mask))
    with pytest.raises(ValueError, match="combine must be one of mean, best, got 'agree'"):
        I.inpaint(G, D, x, mask, combine="agree", **kw)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_search_descends_the_loss(seed):
    G, D, x = tiny_setup(n=2, seed=seed)
    r = I.inpaint(G, D, x, I.make_mask("center", (5, 4)), z_dim=3, iters=40, restarts=1, lr=0.05)
    loss = r["history"]["loss"][:, 0]
    assert (loss[-1] < loss[0]).all()


def test_weights_frozen_and_modes_restored():
    G, D, x = tiny_setup()
    G.train()
    D.eval()
    before = [p.numpy().copy() for p in list(G.parameters()) + list(D.parameters())]
    next(D.parameters()).requires_grad = False                # a flag of the caller's own, kept
    I.inpaint(G, D, x, I.make_mask("left", (5, 4)), z_dim=3, iters=4, restarts=2)
    after = list(G.parameters()) + list(D.parameters())
    for b, p in zip(before, after):
        np.testing.assert_array_equal(p.numpy(), b)
        assert p.grad is None
    assert [p.requires_grad for p in after] == [True] * len(list(G.parameters())) + \
        [False] + [True] * (len(list(D.parameters())) - 1)
    assert G.training and not D.training


def test_projection_keeps_prior_support(rng):
    z = rng.standard_normal((5, 7)) * 3
    np.testing.assert_allclose(np.linalg.norm(I.project(z.copy(), "sphere"), axis=1), np.sqrt(7), rtol=1e-12)
    np.testing.assert_array_equal(I.project(z.copy(), "clip"), np.clip(z, -1, 1))
    np.testing.assert_array_equal(I.project(z.copy(), "none"), z)


@pytest.mark.parametrize("constraint,gamma", [("penalty", 1.0), ("penalty", 0.3), ("sphere", 0.0), ("none", 0.0)])
def test_reported_loss_is_the_sum_of_its_parts(constraint, gamma):
    G, D, x = tiny_setup(n=2)
    lam = 0.5
    r = I.inpaint(G, D, x, I.make_mask("center", (5, 4)), z_dim=3, iters=5, restarts=2, lam=lam,
                  constraint=constraint, prior_weight=gamma or 1.0)
    expect = r["contextual"] + lam * r["perceptual"] + 0.5 * gamma * (r["z"].astype(np.float64) ** 2).sum(1)
    np.testing.assert_allclose(r["loss"], expect, rtol=1e-10)


def test_auto_constraint_follows_the_prior():
    from minigan.inpaint.search import resolve_constraint
    assert resolve_constraint("auto", "uniform") == "clip" and resolve_constraint("auto", "normal") == "penalty"
    assert resolve_constraint("sphere", "uniform") == "sphere"


def test_penalty_prior_adds_half_squared_norm(rng):
    G, D, x = tiny_setup(n=2)
    z = rng.standard_normal((2, 3))
    m = dev_tensor(np.ones((1, 1, 5, 4)))
    with minigan.no_grad():
        plain = objective(G, D, dev_tensor(z), dev_tensor(x), m)[0].numpy()
        pen = objective(G, D, dev_tensor(z), dev_tensor(x), m, prior_weight=1.0)[0].numpy()
    np.testing.assert_allclose(pen - plain, (z * z).sum(1) / 2, rtol=1e-10)


def test_inpaint_errors():
    G, D, x = tiny_setup()
    m = I.make_mask("center", (5, 4))
    with pytest.raises(ValueError, match=r"images of shape \(3, 1, 4, 5\) do not fit the generator.*\(N, 1, 5, 4\)"):
        I.inpaint(G, D, x.transpose(0, 1, 3, 2), m.T, z_dim=3, iters=1)
    with pytest.raises(ValueError, match=r"mask of shape \(4, 5\) does not fit images of shape \(3, 1, 5, 4\)"):
        I.inpaint(G, D, x, m.T, z_dim=3, iters=1)
    bad = x.copy()
    bad[1, 0, 2, 3] = -0.25
    with pytest.raises(ValueError, match=r"values must be in \[0, 1\], got values in \[-0.25, "):
        I.inpaint(G, D, bad, m, z_dim=3, iters=1)
    with pytest.raises(ValueError, match="NaN"):
        I.inpaint(G, D, np.where(x > 0.5, np.nan, x), m, z_dim=3, iters=1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\), got \(5, 4\)"):
        I.inpaint(G, D, x[0, 0], m, z_dim=3, iters=1)
    with pytest.raises(ValueError, match="perceptual must be one of"):
        I.inpaint(G, D, x, m, z_dim=3, iters=1, perceptual="wasserstein")
    with pytest.raises(ValueError, match="no discriminator"):
        I.inpaint(G, None, x, m, z_dim=3, iters=1, lam=0.1)
    with pytest.raises(ValueError, match="constraint must be one of"):
        I.inpaint(G, D, x, m, z_dim=3, iters=1, constraint="ball")
    with pytest.raises(ValueError, match="give the run's cfg or z_dim"):
        I.inpaint(G, D, x, m, iters=1)
    with pytest.raises(ValueError, match="restarts >= 1"):
        I.inpaint(G, D, x, m, z_dim=3, restarts=0)
    with pytest.raises(ValueError, match=r"prior_weight >= 0.*prior_weight=nan"):
        I.inpaint(G, D, x, m, z_dim=3, prior_weight=float("nan"))
    assert G.training and D.training                                 # untouched by the failed calls
    assert all(p.requires_grad for p in list(G.parameters()) + list(D.parameters()))


# ------------------------------------------------------------------------------------------------ blending

def poisson_ref(x, g, hole):
    """The Poisson system of one (H, W) channel built entry by entry and solved directly."""
    h, w = x.shape
    cells = [(i, j) for i in range(h) for j in range(w) if hole[i, j]]
    index = {c: k for k, c in enumerate(cells)}
    A, b = np.zeros((len(cells), len(cells))), np.zeros(len(cells))
    for k, (i, j) in enumerate(cells):
        for a, c in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
            if 0 <= a < h and 0 <= c < w:
                A[k, k] += 1
                b[k] += g[i, j] - g[a, c]
                if hole[a, c]:
                    A[k, index[(a, c)]] -= 1
                else:
                    b[k] += x[a, c]
    f = x.copy()
    for k, c in enumerate(cells):
        f[c] = np.linalg.solve(A, b)[k]
    return f


def test_poisson_blend_matches_direct_solve(rng):
    x = rng.uniform(0.3, 0.7, (2, 2, 6, 7))
    g = rng.uniform(0.3, 0.7, x.shape)
    m = I.make_mask("random", (2, 1, 6, 7), p=0.4, rng=4)
    out = I.poisson_blend(x, g, m, iters=2000, tol=1e-12)
    for i in range(2):
        for c in range(2):
            ref = np.clip(poisson_ref(x[i, c], g[i, c], m[i, 0] == 0), 0, 1)
            np.testing.assert_allclose(out[i, c], ref, atol=1e-5)


def test_poisson_blend_removes_a_constant_offset(rng):
    x = rng.uniform(0.2, 0.8, (1, 1, 12, 12)).astype(np.float32)
    m = I.make_mask("center", (12, 12))
    out = I.poisson_blend(x, np.clip(x + 0.1, 0, 1), m)
    np.testing.assert_allclose(out, x, atol=1e-4)        # same gradients, boundary fixes the level
    plain = I.compose(x, x + 0.1, m)
    assert np.abs(plain - x).max() > 0.09


def test_poisson_blend_errors():
    with pytest.raises(ValueError, match="omega must be in \\(0, 2\\)"):
        I.poisson_blend(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), np.ones((3, 3)), omega=2.0)
    with pytest.raises(ValueError, match="must both be \\(N, C, H, W\\)"):
        I.poisson_blend(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 4)), np.ones((3, 3)))


# ------------------------------------------------------------------------------------------------ metrics

def test_hole_metrics_match_loops(rng):
    t = rng.random((3, 2, 5, 5))
    p = np.clip(t + 0.1 * rng.standard_normal(t.shape), 0, 1)
    m = I.make_mask("random", (3, 1, 5, 5), p=0.3, rng=0)
    l1, ps = I.hole_l1(p, t, m), I.hole_psnr(p, t, m)
    for i in range(3):
        d = [p[i, c, a, b] - t[i, c, a, b] for c in range(2) for a in range(5) for b in range(5) if m[i, 0, a, b] == 0]
        assert np.isclose(l1[i], np.mean(np.abs(d)))
        assert np.isclose(ps[i], -10 * np.log10(np.mean(np.square(d))))
    assert np.isinf(I.hole_psnr(t, t, m)).sum() == 0 and np.allclose(I.hole_psnr(t, t, m), 100)


def test_baselines_match_brute_force(rng):
    train = rng.random((50, 1, 6, 6)).astype(np.float32)
    x = rng.random((4, 1, 6, 6)).astype(np.float32)
    m = I.make_mask("random", (4, 1, 6, 6), p=0.5, rng=1)
    filled, idx = I.nearest_fill(x, m, train, chunk=7)
    for i in range(4):
        d = [np.sum(m[i] * (x[i] - t) ** 2) for t in train]
        assert idx[i] == int(np.argmin(d))
        np.testing.assert_array_equal(filled[i], np.where(m[i] == 1, x[i], train[idx[i]]))
    filled, idx = I.nearest_fill(x, m, train, chunk=7, k=3)                    # the mean of the 3 nearest
    for i in range(4):
        d = [np.sum(m[i] * (x[i] - t) ** 2) for t in train]
        np.testing.assert_array_equal(idx[i], np.argsort(d)[:3])
        np.testing.assert_allclose(filled[i], np.where(m[i] == 1, x[i], train[idx[i]].mean(0)), rtol=1e-6)
    mean = I.mean_fill(x, m, train)
    np.testing.assert_allclose(mean, np.where(m == 1, x, train.mean(0, keepdims=True)), rtol=1e-6)


# ------------------------------------------------------------------------------------------------ CLI

def write_idx(path, arr):
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    path.write_bytes(gzip.compress(header + arr.astype(np.uint8).tobytes()))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A DCGAN-28 trained 2 steps on a tiny fake Fashion-MNIST written as IDX files."""
    from minigan.gan.train import train
    root = tmp_path_factory.mktemp("inpaint_run")
    data_dir = root / "data"
    data_dir.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 6)):
        write_idx(data_dir / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(data_dir / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    run = train(data="fashion-mnist", model="dcgan", steps=2, batch_size=8, data_dir=str(data_dir),
                out=str(root / "run"), progress=False, sample_every=100)
    return run, data_dir


def cli(argv):
    p = argparse.ArgumentParser(prog="minigan")
    inpaint_cli.add_parser(p.add_subparsers(dest="command"))
    return inpaint_cli.run_cli(p.parse_args(["inpaint"] + argv))


def test_cli_on_a_tiny_run(tiny_run, tmp_path, capsys):
    run, data_dir = tiny_run
    out = tmp_path / "filled.npy"
    assert cli(["--run", run, "--data", "fashion-mnist", "--n", "3", "--iters", "2", "--restarts", "2",
                "--encoder-steps", "0", "--out", str(out), "--quiet"]) == 0
    filled = np.load(out)
    from minigan import data
    x = data.load_images("fashion-mnist", "test", str(data_dir), scale="sigmoid")[0][:3]
    m = I.make_mask("center", (28, 28))
    assert filled.shape == (3, 1, 28, 28) and filled.dtype == np.float32
    np.testing.assert_array_equal(filled[:, :, m == 1], x[:, :, m == 1])
    assert "from random codes" in capsys.readouterr().out
    # --images, a mask file and a PNG figure
    np.save(tmp_path / "x.npy", x[:2])
    I.save_mask(I.make_mask("left", (28, 28)), tmp_path / "mask.png")
    png = tmp_path / "fig.png"
    assert cli(["--run", run, "--images", str(tmp_path / "x.npy"), "--mask", str(tmp_path / "mask.png"),
                "--iters", "1", "--restarts", "1", "--blend", "none", "--perceptual", "saturating",
                "--encoder-steps", "0", "--out", str(png), "--quiet"]) == 0
    from PIL import Image
    w, h = Image.open(png).size
    assert h > w > 0                                                  # 4 rows of 2 images


def test_cli_trains_the_encoder_once_and_evaluates(tiny_run, tmp_path, capsys):
    """The first call trains the run's encoder and keeps it; the next one loads it; --evaluate prints minigan's
    scores beside the three baselines."""
    run, _ = tiny_run
    argv = ["--run", run, "--data", "fashion-mnist", "--n", "3", "--mask", "random:0.5", "--encoder-steps", "3",
            "--iters", "2", "--out", str(tmp_path / "f.npy"), "--quiet"]
    path = os.path.join(run, "inpaint_encoder.npz")
    if os.path.exists(path):
        os.remove(path)
    assert cli(argv) == 0 and os.path.isfile(path)
    first = capsys.readouterr().out
    assert "training the inpainting encoder" in first and "from the nearest training images' codes" in first
    assert "mean of the best 3 (the training images, edited)" in first
    stamp = os.stat(path).st_mtime_ns
    assert cli(argv + ["--evaluate"]) == 0
    text = capsys.readouterr().out
    assert "training the inpainting encoder" not in text and os.stat(path).st_mtime_ns == stamp
    for name in ("mean training image", "nearest training image", "mean of 8 nearest", "minigan", "KID"):
        assert name in text
    assert cli(argv + ["--residual", "none"]) == 0                    # G's drawing, without the references
    out = capsys.readouterr().out
    assert "mean of the best 3," in out and "edited" not in out
    assert np.load(tmp_path / "f.npy").shape == (3, 1, 28, 28)
    os.remove(path)


def test_cli_refuses_bad_input(tiny_run, tmp_path):
    run, _ = tiny_run
    np.save(tmp_path / "small.npy", np.zeros((2, 1, 14, 14), np.float32))
    base = ["--encoder-steps", "0", "--iters", "1"]
    with pytest.raises(ValueError,
                       match=r"images of shape \(2, 1, 14, 14\) do not fit the generator.*\(N, 1, 28, 28\)"):
        cli(["--run", run, "--images", str(tmp_path / "small.npy"), "--out", str(tmp_path / "o.npy")] + base)
    np.save(tmp_path / "big.npy", np.full((2, 1, 28, 28), 255, np.float32))
    with pytest.raises(ValueError, match=r"values must be in \[0, 1\], got values in \[255"):
        cli(["--run", run, "--images", str(tmp_path / "big.npy"), "--out", str(tmp_path / "o.npy")] + base)
    np.save(tmp_path / "ok.npy", np.zeros((2, 1, 28, 28), np.float32))
    np.save(tmp_path / "m.npy", np.ones((20, 20)))
    with pytest.raises(ValueError, match=r"mask of shape \(20, 20\) does not fit images of shape \(2, 1, 28, 28\)"):
        cli(["--run", run, "--images", str(tmp_path / "ok.npy"), "--mask", str(tmp_path / "m.npy"),
             "--out", str(tmp_path / "o.npy")] + base)
    with pytest.raises(ValueError, match="--out must end in .npy or .png"):
        cli(["--run", run, "--images", str(tmp_path / "ok.npy"), "--out", str(tmp_path / "o.jpg")])
    with pytest.raises(ValueError, match="--n is used only with --data"):
        cli(["--run", run, "--images", str(tmp_path / "ok.npy"), "--n", "3", "--out", str(tmp_path / "o.npy")])
    with pytest.raises(SystemExit):
        cli(["--run", run, "--out", str(tmp_path / "o.npy")])           # neither --images nor --data


def test_cli_options_reach_the_search(monkeypatch, tiny_run, tmp_path, capsys):
    """An option given reaches the search; one left out reaches it as None (the search chooses it from the mask)."""
    run, _ = tiny_run
    seen = {}

    def fake(G, D, images, mask, cfg, **kw):
        seen.update(kw)
        return dict(blended=images, generated=images, loss=np.zeros(len(images)), settings=I.settings(mask))
    monkeypatch.setattr(I.search, "inpaint", fake)
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 28, 28), np.float32))
    for argv, key, want in ((["--prior-weight", "0.3"], "prior_weight", 0.3), ([], "prior_weight", None),
                            (["--lambda", "2"], "lam", 2.0), (["--combine", "best"], "combine", "best"),
                            (["--space", "z"], "space", "z"), (["--start-weight", "0.7"], "start_weight", 0.7),
                            (["--pool", "3"], "pool", 3), ([], "pool", None),
                            (["--residual", "none"], "residual", "none"), ([], "residual", None)):
        cli(["--run", run, "--images", str(tmp_path / "x.npy"), "--encoder-steps", "0", "--quiet",
             "--out", str(tmp_path / "o.npy")] + argv)
        assert seen[key] == want
    import minigan.inpaint.encoder as enc
    monkeypatch.setattr(enc, "encoder_for", lambda *a, **k: "E")       # an encoder: the training images go too
    cli(["--run", run, "--images", str(tmp_path / "x.npy"), "--quiet", "--out", str(tmp_path / "o.npy")])
    assert seen["encoder"] == "E" and seen["references"].shape[1:] == (1, 28, 28)
    assert seen["reference_labels"].shape == (len(seen["references"]),)      # and their labels, for the vote

    def missing(v, cfg):
        raise DataError("no files here")
    monkeypatch.setattr(inpaint_cli, "_training_images", missing)     # no training images: z_E alone, said
    cli(["--run", run, "--images", str(tmp_path / "x.npy"), "--quiet", "--out", str(tmp_path / "o.npy")])
    assert seen["references"] is None and seen["reference_labels"] is None
    assert "training images not found (no files here)" in capsys.readouterr().out
    threads = []
    monkeypatch.setattr(inpaint_cli, "use_threads", threads.append)
    cli(["--run", run, "--images", str(tmp_path / "x.npy"), "--encoder-steps", "0", "--quiet", "--threads", "1",
         "--out", str(tmp_path / "o.npy")])
    assert threads == [1]


# ------------------------------------------------------------------------------------------------ mask specs

def test_mask_specs_parse_and_make():
    assert I.parse_spec("center") == ("center", None) and I.parse_spec("grid") == ("grid", 4)
    assert I.parse_spec("random") == ("random", 0.8) and I.parse_spec("random:0.95") == ("random", 0.95)
    assert I.parse_spec("box:2,11,14,14") == ("box", (2, 11, 14, 14))
    shape = (3, 1, 28, 28)
    for kind, known in (("right", lambda m: m[..., :14].all() and not m[..., 14:].any()),
                        ("top", lambda m: m[..., 14:, :].all() and not m[..., :14, :].any()),
                        ("bottom", lambda m: m[..., :14, :].all() and not m[..., 14:, :].any())):
        assert known(I.get_mask(kind, shape))
    g = I.get_mask("grid:6", shape)
    assert g.sum() == 3 * 5 * 5 and g[0, 0, ::6, ::6].all()
    b = I.get_mask("box:2,11,14,14", shape)
    assert (b[:, :, 2:16, 11:25] == 0).all() and b.sum() == 3 * (784 - 14 * 14)
    r = I.get_mask("random:0.5", shape, rng=1)
    assert (r.reshape(3, -1).sum(1) == 392).all()


@pytest.mark.parametrize("spec, words", [("circle", "unknown kind 'circle'"), ("random:1.5", "fraction of pixels"),
                                         ("random:x", "cannot read 'x'"), ("grid:1", "spacing"),
                                         ("box", "needs its argument"), ("box:1,2,3", "Y,X,H,W"),
                                         ("center:3", "takes no argument"), ("box:40,40,3,3", "outside the 28x28"),
                                             ("random:", "needs its argument"), ("m.txt", "must end in .npy or .png")])
def test_bad_mask_specs_are_refused_by_name(spec, words):
    with pytest.raises(ValueError, match=words):
        I.get_mask(spec, (2, 1, 28, 28))


def test_training_masks_cover_the_family():
    m = I.masks.training_masks(600, 0)
    missing = 1 - m.reshape(600, -1).mean(1)
    assert m.shape == (600, 1, 28, 28) and set(np.unique(m)) == {0.0, 1.0}
    assert (missing > 0).all() and (missing < 1).all()                       # every image keeps both kinds
    assert missing.min() < 0.1 and missing.max() > 0.9                       # small holes and sparse grids
    np.testing.assert_array_equal(m, I.masks.training_masks(600, 0))         # seeded


# ------------------------------------------------------------------------------------------------ settings

def test_settings_are_chosen_from_the_mask():
    """A hole that is one large region is pasted (Poisson blending would drag the border's shade across it),
    others Poisson-blended; known pixels in one region let the search's fill stand (w = 0), scattered ones
    lean a quarter on the encoder's image; from the nearest references' codes the fill averages the 3 best of 4,
    each its reference edited by the search; the search from random codes keeps Yeh et al.'s settings."""
    shape = (2, 1, 28, 28)
    for spec in ("left", "right", "top", "bottom", "box:0,0,20,28"):
        st = I.settings(I.get_mask(spec, shape))
        assert (st["blend"], st["start_weight"], st["space"]) == ("none", 0.0, "features"), spec
    for spec in ("center", "box:3,5,9,12"):
        st = I.settings(I.get_mask(spec, shape))
        assert (st["blend"], st["start_weight"]) == ("poisson", 0.0), spec
    for spec in ("random:0.5", "random:0.95", "grid:2", "grid:6"):
        st = I.settings(I.get_mask(spec, shape, rng=0))
        assert (st["blend"], st["start_weight"]) == ("poisson", 0.25), spec
    enc, rnd = I.settings(I.get_mask("center", shape)), I.settings(I.get_mask("center", shape), "random")
    assert enc["restarts"] == 1 and rnd["restarts"] == 4 and rnd["prior_weight"] == 1.0 and rnd["pool"] is None
    assert enc["residual"] == rnd["residual"] == "none"                               # no references to edit
    for spec in ("center", "left", "top", "random:0.95", "grid:6"):                   # from the neighbours' codes
        st = I.settings(I.get_mask(spec, shape, rng=0), "neighbours")
        assert (st["restarts"], st["pool"], st["start_weight"], st["space"], st["residual"]) == \
            (4, 3, 0.0, "features", "add"), spec
        assert st["blend"] == I.settings(I.get_mask(spec, shape, rng=0))["blend"], spec
    with pytest.raises(ValueError, match="start must be one of neighbours, encoder, random"):
        I.settings(I.get_mask("center", shape), "nearest")
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="start_weight"):
            I.search.check_search(dict(enc, start_weight=bad))


# ------------------------------------------------------------------------------------------------ evaluation

def kid_loop(a, b):
    """The unbiased MMD^2 with the cubic kernel, one pair at a time (features already standardised)."""
    d = a.shape[1]
    k = lambda u, v: (float(u @ v) / d + 1) ** 3                             # noqa: E731
    n, m = len(a), len(b)
    saa = sum(k(a[i], a[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    sbb = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    sab = sum(k(a[i], b[j]) for i in range(n) for j in range(m)) / (n * m)
    return 1000 * (saa + sbb - 2 * sab)


def test_kid_matches_a_loop_and_is_near_zero_for_one_distribution(rng):
    from minigan.inpaint.evaluate import kid
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(9, 5)) + 0.5
    mu, sd = b.mean(0), b.std(0) + 1e-8
    np.testing.assert_allclose(kid(a, b), kid_loop((a - mu) / sd, (b - mu) / sd), rtol=1e-10)
    same = [kid(rng.normal(size=(200, 8)), rng.normal(size=(300, 8))) for _ in range(5)]
    shifted = kid(rng.normal(size=(200, 8)) + 1.0, rng.normal(size=(300, 8)))
    assert abs(np.mean(same)) < 0.1 * shifted and shifted > 0
    with pytest.raises(ValueError, match="kid: need feature sets"):
        kid(np.zeros((1, 3)), np.zeros((4, 3)))


def test_judge_scores_the_originals_perfectly_and_a_blur_worse():
    from minigan import data as D_
    from minigan.inpaint.evaluate import Judge
    try:
        D_.find_files("fashion-mnist", None, download_missing=False)
    except Exception:
        pytest.skip("needs Fashion-MNIST for real images (the classifier is shipped)")
    test = D_.load_images("fashion-mnist", "test", None, scale="sigmoid")[0]
    x, real = test[:64], test[-500:]
    judge = Judge(real, x)
    m = I.get_mask("center", x.shape)
    own = judge(x, m, per_image=True)
    assert own["class_kept"] == 1.0 and own["psnr"] == 100.0 and own["l1"] == 0.0
    assert own["kept"].shape == (64,) and own["kept"].all() and "kept" not in judge(x, m)
    blur = judge(np.where(m == 1, x, x.mean(0, keepdims=True)), m)
    assert blur["kid"] > own["kid"] + 20 and blur["psnr"] < 15 and blur["class_kept"] < 1


def test_paired_difference_of_shares():
    from minigan.inpaint.evaluate import paired_difference
    a = np.array([1, 1, 0, 1, 0, 1, 1, 0], bool)
    b = np.array([1, 0, 0, 1, 1, 1, 0, 0], bool)
    d = [float(u) - float(v) for u, v in zip(a, b)]                     # 0, 1, 0, 0, -1, 0, 1, 0
    mean = sum(d) / 8
    sd = (sum((v - mean) ** 2 for v in d) / 7) ** 0.5
    assert paired_difference(a, b) == pytest.approx((mean, sd / 8 ** 0.5))
    assert paired_difference(a, a) == (0.0, 0.0)
    with pytest.raises(ValueError, match=r"paired_difference: .*\(8,\) and \(7,\)"):
        paired_difference(a, b[:7])


def test_baselines_on_a_tiny_set(rng):
    from minigan.inpaint.evaluate import baselines
    train = rng.uniform(0, 1, (12, 1, 4, 4)).astype(np.float32)
    x = rng.uniform(0, 1, (3, 1, 4, 4)).astype(np.float32)
    m = I.make_mask("random", (3, 1, 4, 4), p=0.5, rng=2)
    fills = baselines(x, m, train, k=3)
    assert list(fills) == ["mean training image", "nearest training image", "mean of 3 nearest"]
    for i in range(3):
        d = [float(np.sum(m[i] * (x[i] - t) ** 2)) for t in train]
        order = np.argsort(d, kind="stable")
        hole = m[i] == 0
        np.testing.assert_allclose(fills["nearest training image"][i][hole], train[order[0]][hole], rtol=1e-6)
        np.testing.assert_allclose(fills["mean of 3 nearest"][i][hole], train[order[:3]].mean(0)[hole], rtol=1e-5)
        np.testing.assert_allclose(fills["mean training image"][i][hole], train.mean(0)[hole], rtol=1e-5)
        for f in fills.values():
            np.testing.assert_array_equal(f[i][~hole], x[i][~hole])


# ------------------------------------------------------------------------------------------------ the encoder

def test_encoder_learns_and_the_search_starts_from_its_codes():
    """On a linear G (G(z) = A z + b, every image G draws), training lowers the encoder's loss; the search
    starts at E's code (0 steps: z is E's code) and the fill is w G(z_E) + (1 - w) G(z_hat), w = start_weight."""
    from minigan.inpaint.encoder import encode, train_encoder
    rng = np.random.default_rng(0)
    G = AffineG(rng)
    z = rng.normal(size=(96, 3)).astype(np.float32)
    images = np.clip(G.numpy(z), 0, 1)
    untrained = train_encoder(G, images, z_dim=3, scale="sigmoid", steps=1, lr=1e-9, cooldown=0)
    trained = train_encoder(G, images, z_dim=3, scale="sigmoid", steps=300, lr=3e-3, batch=32)
    m = I.make_mask("center", (len(images), 1, 5, 4))

    def codes(E, x, mask):
        return minigan.backend.as_numpy(encode(E, x, mask))                          # the device's array, on the host

    def err(E):
        return float(np.mean((G.numpy(codes(E, images, m)) - images) ** 2))
    assert err(trained) < 0.3 * err(untrained)
    r = I.inpaint(G, None, images[:4], m[:4], z_dim=3, scale="sigmoid", encoder=trained, iters=0, lam=0,
                  combine="best", blend="none")
    np.testing.assert_allclose(r["z"], codes(trained, images[:4], m[:4]), rtol=1e-5, atol=1e-6)
    start = np.clip(G.numpy(codes(trained, images[:4], m[:4])), 0, 1)
    for w in (0.0, 0.3, 1.0):
        r2 = I.inpaint(G, None, images[:4], m[:4], z_dim=3, scale="sigmoid", encoder=trained, iters=5, lam=0,
                       combine="mean", start_weight=w, blend="none")
        end = np.clip(G.numpy(r2["z"]), 0, 1)
        assert np.abs(end - start).max() > 1e-4                                 # the search moved z
        np.testing.assert_allclose(r2["generated"], w * start + (1 - w) * end, atol=1e-5)


def test_the_search_starts_from_the_nearest_references_codes():
    """With reference images, restart r starts from E's code of the r-th reference nearest to the image on its
    known pixels, read whole (found here by a loop), with the penalty centred on that start (zero there);
    combine "mean" averages the ``pool`` best-fitting restarts' images (1: the best one; R: all)."""
    from minigan.inpaint.encoder import Encoder, encode, neighbour_codes
    rng = np.random.default_rng(2)
    G, E = AffineG(rng), Encoder(3, (1, 5, 4), width=4).eval()
    refs = rng.random((30, 1, 5, 4)).astype(np.float32)
    x = rng.random((4, 1, 5, 4)).astype(np.float32)
    m = I.make_mask("random", (4, 1, 5, 4), p=0.5, rng=0)
    whole = np.ones((1, 1, 5, 4), np.float32)
    codes, chosen = neighbour_codes(E, x, m, refs, 3)
    codes, chosen = minigan.backend.as_numpy(codes).reshape(3, 4, 3), chosen.reshape(3, 4, 1, 5, 4)
    for i in range(4):
        dist = [float((((x[i] - t) ** 2) * m[i]).sum()) for t in refs]
        for j, k in enumerate(np.argsort(dist, kind="stable")[:3]):
            np.testing.assert_array_equal(chosen[j, i], refs[k])
            np.testing.assert_allclose(codes[j, i], minigan.backend.as_numpy(encode(E, refs[k:k + 1], whole))[0],
                                       rtol=1e-5, atol=1e-6)
    kw = dict(z_dim=3, scale="sigmoid", encoder=E, references=refs, lam=0, blend="none")
    still = I.inpaint(G, None, x, m, iters=0, restarts=3, prior_weight=100.0, **kw)
    np.testing.assert_allclose(still["z_all"], codes, rtol=1e-5, atol=1e-6)
    free = I.inpaint(G, None, x, m, iters=0, restarts=3, prior_weight=0.0, **kw)
    np.testing.assert_allclose(still["history"]["loss"], free["history"]["loss"], rtol=1e-6)  # penalty 0 at the start
    st = I.inpaint(G, None, x, m, iters=1, **kw)["settings"]
    assert (st["restarts"], st["pool"], st["residual"]) == (4, 3, "add")
    best = I.inpaint(G, None, x, m, iters=5, restarts=3, combine="best", **kw)
    one = I.inpaint(G, None, x, m, iters=5, restarts=3, pool=1, **kw)
    every = I.inpaint(G, None, x, m, iters=5, restarts=3, pool=3, residual="none", **kw)
    np.testing.assert_allclose(one["generated"], best["generated"], atol=1e-6)
    images = np.clip(G.numpy(every["z_all"].reshape(-1, 3)), 0, 1).reshape(3, 4, 1, 5, 4)
    np.testing.assert_allclose(every["generated"], images.mean(axis=0), atol=1e-5)
    # residual "add": each restart's image is its reference plus the search's change to G's drawing of it
    edited = I.inpaint(G, None, x, m, iters=5, restarts=3, pool=3, **kw)
    np.testing.assert_array_equal(edited["z_all"], every["z_all"])                      # the same search
    start = np.clip(G.numpy(codes.reshape(-1, 3)), 0, 1).reshape(3, 4, 1, 5, 4)
    np.testing.assert_allclose(edited["generated"], np.clip(chosen + images - start, 0, 1).mean(axis=0), atol=1e-5)
    still = I.inpaint(G, None, x, m, iters=0, restarts=3, pool=3, **kw)                # no step: the references
    np.testing.assert_allclose(still["generated"], chosen.mean(axis=0), atol=1e-6)
    with pytest.raises(ValueError, match="references .* need an encoder"):
        I.inpaint(G, None, x, m, z_dim=3, scale="sigmoid", references=refs)
    with pytest.raises(ValueError, match="5 restarts start from as many nearest references, but only 3"):
        I.inpaint(G, None, x, m, iters=1, restarts=5, **dict(kw, references=refs[:3]))
    with pytest.raises(ValueError, match=r"references must be images of shape \(M >= 1, 1, 5, 4\)"):
        I.inpaint(G, None, x, m, iters=1, **dict(kw, references=refs[:, :, :4]))
    with pytest.raises(ValueError, match=r"pool >= 1.*pool=0"):
        I.inpaint(G, None, x, m, iters=1, pool=0, **kw)
    with pytest.raises(ValueError, match="residual must be one of add, none, got 'keep'"):
        I.inpaint(G, None, x, m, iters=1, residual="keep", **kw)


def test_the_label_vote_starts_from_the_majority_class_of_the_8_nearest():
    """With the references' labels, the starts are the nearest references of the label most of the 8 nearest
    share (a tie to the label of the nearer one), then the nearest others where that label has too few
    (found here by a loop); labels of the wrong shape, or without references, are refused."""
    from minigan.inpaint.encoder import VOTE, Encoder, encode, neighbour_codes, vote
    rng = np.random.default_rng(3)
    for _ in range(200):                                                          # vote alone, against a loop
        V, k = int(rng.integers(1, 10)), int(rng.integers(1, 6))
        idx, lab = rng.permutation(50)[:V], rng.integers(0, 3, V)
        counts = {c: int((lab == c).sum()) for c in lab}
        winner = next(c for c in lab if counts[c] == max(counts.values()))      # the nearest of the most shared
        want = [i for i, c in zip(idx, lab) if c == winner] + [i for i, c in zip(idx, lab) if c != winner]
        assert list(vote(idx[None], lab[None], min(k, V))[0]) == want[:min(k, V)]
    G, E = AffineG(rng), Encoder(3, (1, 5, 4), width=4).eval()
    refs = rng.random((30, 1, 5, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 30)
    x = rng.random((4, 1, 5, 4)).astype(np.float32)
    m = I.make_mask("random", (4, 1, 5, 4), p=0.5, rng=0)
    codes = minigan.backend.as_numpy(neighbour_codes(E, x, m, refs, 3, labels)[0]).reshape(3, 4, 3)
    for i in range(4):
        near = np.argsort([float((((x[i] - t) ** 2) * m[i]).sum()) for t in refs], kind="stable")[:VOTE]
        counts = np.bincount(labels[near], minlength=3)
        winner = next(c for c in labels[near] if counts[c] == counts.max())
        picks = [j for j in near if labels[j] == winner] + [j for j in near if labels[j] != winner]
        for r, j in enumerate(picks[:3]):
            np.testing.assert_allclose(codes[r, i], minigan.backend.as_numpy(
                encode(E, refs[j:j + 1], np.ones((1, 1, 5, 4), np.float32)))[0], rtol=1e-5, atol=1e-6)
    kw = dict(z_dim=3, scale="sigmoid", encoder=E, lam=0, blend="none", iters=0, restarts=3, prior_weight=1.0)
    r = I.inpaint(G, None, x, m, references=refs, reference_labels=labels, **kw)
    np.testing.assert_allclose(r["z_all"], codes, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"reference_labels must have shape \(30,\) for 30 references, got \(29,\)"):
        I.inpaint(G, None, x, m, references=refs, reference_labels=labels[:29], **kw)
    with pytest.raises(ValueError, match="reference_labels are the classes of the references; give references="):
        I.inpaint(G, None, x, m, reference_labels=labels, **kw)


def test_encoder_file_belongs_to_one_generator(tmp_path):
    from minigan.inpaint.encoder import Encoder, fingerprint, load_encoder, save_encoder
    rng = np.random.default_rng(1)
    G = AffineG(rng)
    E = Encoder(3, (1, 5, 4), width=4).eval()
    save_encoder(E, G, tmp_path / "e.npz")
    back = load_encoder(str(tmp_path / "e.npz"), G)
    for (k, a), (_, b) in zip(E.state_dict().items(), back.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    before = fingerprint(G)
    G.A.data[0, 0] += 1                                        # another generator: the file is not its encoder
    assert fingerprint(G) != before and load_encoder(str(tmp_path / "e.npz"), G) is None
    assert load_encoder(str(tmp_path / "none.npz"), G) is None


class AffineG(nn.Module):
    """G(z) = A z + b as a (N, 1, 5, 4) image, for the encoder's tests."""

    def __init__(self, rng):
        super().__init__()
        self.A = nn.Parameter(minigan.tensor((rng.normal(size=(20, 3)) * 0.15).astype(np.float32)))
        self.b = nn.Parameter(minigan.tensor(np.full(20, 0.5, np.float32)))

    def forward(self, z, labels=None):
        return (z @ self.A.transpose(0, 1) + self.b).reshape(z.shape[0], 1, 5, 4)

    def numpy(self, z):
        return (np.asarray(z) @ self.A.numpy().T + self.b.numpy()).reshape(len(z), 1, 5, 4)


def test_features_search_starts_at_the_encoders_image_and_stays_near_it():
    """space "features": DCGAN-28's head and tail compose to G; with no steps the fill is G(z_E) exactly; with
    steps the features move and the known pixels fit better, and the penalty keeps them nearer h_E; without an
    encoder, or with a generator that has no FEATURES, the search falls back to z."""
    from minigan.gan.models import DCGAN28Generator
    from minigan.inpaint.encoder import Encoder, encode
    from minigan.inpaint.search import Split
    from minigan.tensor import Tensor, no_grad
    minigan.manual_seed(0)
    G, E = DCGAN28Generator(z_dim=8).eval(), Encoder(8, (1, 28, 28), width=4).eval()
    rng = np.random.default_rng(0)
    x = rng.random((3, 1, 28, 28)).astype(np.float32)
    mask = I.get_mask("center", x.shape)
    z = minigan.tensor(rng.normal(size=(3, 8)).astype(np.float32))
    with no_grad():
        np.testing.assert_allclose(Split(G)(Split(G).head(z)).numpy(), G(z).numpy(), atol=1e-6)
        g_e = np.clip((G(Tensor(encode(E, x, mask))).numpy() + 1) / 2, 0, 1)
    kw = dict(z_dim=8, encoder=E, space="features", lam=0, blend="none", combine="best")
    still = I.inpaint(G, None, x, mask, iters=0, **kw)
    assert still["settings"]["space"] == "features" and still["z"].shape == (3, 128 * 7 * 7)
    np.testing.assert_allclose(still["generated"], g_e, atol=1e-5)
    held = I.inpaint(G, None, x, mask, iters=40, lr=0.05, prior_weight=10.0, **kw)
    moved = I.inpaint(G, None, x, mask, iters=40, lr=0.05, prior_weight=0.0, **kw)
    assert moved["contextual"].mean() < 0.9 * still["contextual"].mean()
    assert np.abs(held["z"] - still["z"]).mean() < 0.5 * np.abs(moved["z"] - still["z"]).mean()
    assert I.inpaint(G, None, x, mask, z_dim=8, iters=1, space="features", lam=0)["settings"]["space"] == "z"
    affine = I.inpaint(AffineG(rng), None, rng.random((2, 1, 5, 4)), I.make_mask("center", (5, 4)), z_dim=3,
                       encoder=Encoder(3, (1, 5, 4), width=4).eval(), iters=1, scale="sigmoid")
    assert affine["settings"]["space"] == "z"
