"""Smoke tests of the demos (demos/*.py): each ``main([...])`` runs in seconds on tiny budgets and tiny IDX files.

Besides "it runs and writes its figures", each test checks something that can fail: a bound from the theory
(C(G) >= -log 4), a count against its range, helpers against naive references (KDE, moving average,
nearest-neighbour labels), and that ``--run`` reuses a run instead of training.
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import minigan
from minigan import data as minigan_data

from conftest import make_set

DEMOS = Path(__file__).resolve().parents[1] / "demos"
sys.path.insert(0, str(DEMOS))

import _common  # noqa: E402

import conditional  # noqa: E402
import dcgan  # noqa: E402
import figure1_1d  # noqa: E402
import mlp_mnist  # noqa: E402
import mode_collapse_2d  # noqa: E402
import saturation  # noqa: E402


def dev():
    """The device the demos run on in this test session."""
    return ["--device", minigan.backend.default_device()]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny Fashion-MNIST-like set: 250 training images (50 held out), 20 test images."""
    folder = tmp_path_factory.mktemp("idx")
    make_set(folder, n_train=250, n_test=20)
    return str(folder)


def pngs(folder):
    return sorted(p.name for p in Path(folder).glob("*.png"))


# ------------------------------------------------------------------ figure1_1d
def test_pushforward_density_matches_change_of_variables():
    xs = np.linspace(-1.0, 2.0, 301)
    z = np.linspace(-1, 1, 4001)
    # affine G(z) = 0.5 + 0.25 z: uniform on [0.25, 0.75], density 2
    p = figure1_1d.pushforward_density(0.5 + 0.25 * z, xs)
    inside, outside = (xs > 0.27) & (xs < 0.73), (xs < 0.23) | (xs > 0.77)
    np.testing.assert_allclose(p[inside], 2.0, rtol=1e-9)
    assert np.all(p[outside] == 0) and abs(p.sum() * (xs[1] - xs[0]) - 1) < 1e-9
    # non-monotone G(z) = z^2: P(x <= t) = sqrt(t), density 1 / (2 sqrt(x)) on (0, 1)
    p = figure1_1d.pushforward_density(z ** 2, xs)
    mid = (xs > 0.1) & (xs < 0.95)
    np.testing.assert_allclose(p[mid], 1 / (2 * np.sqrt(xs[mid])), rtol=2e-3)


def test_quantile_map_reaches_minus_log4():
    # G = the quantile function of p_data pushes U(-1, 1) onto p_data: C(G) = -log 4 (Theorem 1)
    z = np.linspace(-1, 1, 4001)
    x = figure1_1d.normal_quantile((z + 1) / 2, figure1_1d.MEAN, figure1_1d.STD)
    p_g = figure1_1d.pushforward_density(x)
    p_data = minigan.data.gaussian1d_pdf(figure1_1d.XS)
    c = minigan.gan.losses.virtual_training_criterion(p_data, p_g, figure1_1d.DX)
    assert -math.log(4) - 1e-9 <= c < -math.log(4) + 1e-3
    # and a shifted one does not
    p_far = figure1_1d.pushforward_density(x + 0.5)
    assert minigan.gan.losses.virtual_training_criterion(p_data, p_far, figure1_1d.DX) > -math.log(4) + 0.1


def test_relu_generator_is_piecewise_linear_tanh_is_smooth():
    # why figure1_1d uses a tanh G: a ReLU G is piecewise linear in z (p_g = p_z / |G'| is then piecewise
    # constant), so its second differences vanish but near the kinks; a tanh G curves everywhere
    from minigan.gan import models
    z = np.linspace(-1, 1, 201)[:, None].astype(np.float32)
    for seed in range(4):
        curved = {}
        for act in ("relu", "tanh"):
            minigan.backend.manual_seed(seed)
            G = models.ToyGenerator(1, 1, 4, 2, activation=act)
            with minigan.no_grad():
                x = G(minigan.tensor(z)).numpy().astype(np.float64).ravel()
            curved[act] = int((np.abs(np.diff(x, 2)) > 1e-6).sum())      # of 199 second differences
        # widths 4, 4: at most 4 + 4 * 5 = 24 kinks, each touching at most 2 second differences
        assert curved["relu"] <= 48 < 150 < curved["tanh"], (seed, curved)
    with pytest.raises(ValueError, match="activation"):
        models.ToyGenerator(activation="sigmoid")


def test_figure1_runs_and_respects_theory(tmp_path):
    out = tmp_path / "f1"
    s = figure1_1d.main(["--fit-steps", "30", "--a-steps", "3", "--d-steps", "6", "--max-steps", "4",
                         "--check-every", "2", "--batch-size", "64", "--out", str(out)] + dev())
    assert pngs(out) == ["figure1_curves.png", "figure1_panels.png"]
    lo = -math.log(4) - 1e-9
    assert s["b"]["c_g"] >= lo and s["d"]["c_g"] >= lo            # C(G) = -log 4 + 2 JSD >= -log 4 (Theorem 1)
    assert s["b"]["v"] <= s["b"]["c_g"] + 1e-6                    # V(G, D) <= max_D V(G, D) = C(G)
    assert s["d"]["v"] <= s["d"]["c_g"] + 1e-6
    assert 1 <= s["b"]["d_steps"] <= 6 and 1 <= s["d"]["g_steps"] <= 4
    assert 0 <= s["b"]["d_gap"] <= 1 and 0 <= s["d"]["d_half"] <= 0.5 and 0 <= s["d"]["d_half_core"] <= 0.5
    assert json.loads((out / "summary.json").read_text())["d"]["g_steps"] == s["d"]["g_steps"]


@pytest.mark.parametrize("bad", [["--d-tol", "0"], ["--max-steps", "0"], ["--start-std", "-1"],
                                 ["--half-life", "-5"]])
def test_figure1_rejects_bad_options(tmp_path, bad):
    with pytest.raises(SystemExit, match=bad[0]):
        figure1_1d.main(bad + ["--out", str(tmp_path)] + dev())


# ------------------------------------------------------------------ saturation
def test_w1_to_data():
    q = (np.arange(2000) + 0.5) / 2000
    x = saturation.normal_quantile(q, 4.0, 0.5)
    assert saturation.w1_to_data(x) < 1e-6
    assert abs(saturation.w1_to_data(x + 0.3) - 0.3) < 1e-6       # a shift moves W1 by exactly the shift


def test_saturation_runs_and_minimax_gradient_is_smaller(tmp_path):
    out = tmp_path / "sat"
    s = saturation.main(["--steps", "4", "--pretrain", "150", "--batch-size", "64", "--eval-every", "2",
                         "--out", str(out)] + dev())
    assert pngs(out) == ["saturation.png"]
    pre = s["pretrain_grad_norm"]
    assert s["pretrain_d_fake"][1] < 0.2 < s["pretrain_d_fake"][0]           # D got ahead of G
    ratio = [m / n for m, n in zip(pre["minimax"], pre["nonsaturating"])]    # minimax / non-saturating |grad G|
    assert 0.5 < ratio[0] < 2 and ratio[1] < 0.2                               # equal at D = 1/2; then minimax fades
    assert s["minimax"]["w1_start"] == s["nonsaturating"]["w1_start"]        # one start for both


def test_device_defaults_to_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGAN_DEVICE", "tpu")
    with pytest.raises(SystemExit, match="MINIGAN_DEVICE 'tpu'"):
        saturation.main(["--steps", "1", "--out", str(tmp_path)])
    monkeypatch.setenv("MINIGAN_DEVICE", "nonsense")
    args = saturation.build_parser().parse_args(["--device", "cpu", "--out", str(tmp_path)])
    assert _common.prepare(args) == "cpu"                                    # --device wins over the env


# ------------------------------------------------------------------ mode_collapse_2d
def test_mode_collapse_runs(tmp_path):
    out = tmp_path / "mc"
    rows = mode_collapse_2d.main(["--sets", "ring", "--variants", "nonsaturating,wasserstein-gp,recipe",
                                  "--steps", "3", "--stages", "2", "--samples", "200", "--seeds", "0,1",
                                  "--batch-size", "16",
                                  "--out", str(out)] + dev())
    assert len(rows) == 6 and {r["seed"] for r in rows} == {0, 1}
    assert all(0 <= r["modes_covered"] <= 8 and r["n_modes"] == 8 and 0 <= r["high_quality"] <= 1 for r in rows)
    assert all(r["steps"] == 3 for r in rows)
    assert pngs(out) == ["ring_modes.png"]
    md = (out / "mode_table.md").read_text()
    assert md.count("| ring |") == 6 + 3                   # 6 runs, then 3 means over the 2 seeds
    cfg = json.loads((out / "runs" / "ring_recipe_seed0" / "config.json").read_text())
    assert cfg["pack"] == mode_collapse_2d.RECIPES["ring"]["pack"]
    cfg = json.loads((out / "runs" / "ring_nonsaturating_seed0" / "config.json").read_text())
    assert cfg["pack"] == 1 and cfg["loss"] == "nonsaturating" and cfg["batch_size"] == 16


def test_wasserstein_toy_variants_take_the_papers_settings(tmp_path):
    gp = mode_collapse_2d.variant_config("ring", "wgan-gp-toy", 5, 0, "cpu", str(tmp_path / "a"))
    assert (gp["loss"], gp["gp_lambda"], gp["hidden"], gp["depth"], gp["k"], gp["batch_size"]) == \
        ("wasserstein-gp", 0.1, 512, 3, 5, 256)
    assert (gp["optimizer"], gp["lr"], gp["beta1"], gp["beta2"], gp["pack"]) == ("adam", 1e-4, 0.5, 0.9, 1)
    w = mode_collapse_2d.variant_config("ring", "wgan-toy", 5, 0, "cpu", str(tmp_path / "b"))
    assert (w["loss"], w["optimizer"], w["lr"], w["clip"], w["k"], w["hidden"]) == \
        ("wasserstein", "rmsprop", 5e-5, 0.01, 5, 512)


def test_mode_table_means():
    rows = [dict(set="grid", variant="v", steps=1, batch_size=8, seed=s, modes_covered=m, n_modes=25, high_quality=q)
            for s, m, q in ((0, 20, 0.5), (1, 25, 1.0))]
    lines = mode_collapse_2d.table(rows)
    assert "| grid | v | 2 | 22.50/25 | 75.0% |" in lines


# ------------------------------------------------------------------ image demos
def test_nearest_labels_matches_naive():
    rng = np.random.default_rng(3)
    train = rng.random((37, 1, 4, 4)).astype(np.float32)
    labels = rng.integers(0, 10, 37)
    s = rng.random((9, 1, 4, 4)).astype(np.float32)
    got, dist = _common.nearest_labels(s, train, labels, chunk=5)
    d = np.array([[np.linalg.norm(a - b) for b in train] for a in s])
    np.testing.assert_array_equal(got, labels[d.argmin(1)])
    np.testing.assert_allclose(dist, d.min(1), rtol=1e-4, atol=1e-4)


def test_smooth_is_a_moving_average():
    y = np.random.default_rng(1).random(30)
    want = [y[max(0, i - 4):i + 1].mean() for i in range(30)]
    np.testing.assert_allclose(dcgan.smooth(y, 5), want, rtol=1e-12)


def test_mlp_mnist_runs(tmp_path, tiny):
    out = tmp_path / "mlp"
    s = mlp_mnist.main(["--data-dir", tiny, "--steps", "2", "--parzen-samples", "40", "--frames", "2",
                        "--out", str(out)] + dev())
    assert pngs(out) == ["figure2_samples.png", "figure3_interpolation.png"]
    assert math.isfinite(s["parzen_ll"]) and s["n_test"] == 20 and s["n_samples"] == 40 and s["n_valid"] == 50
    assert (out / "run" / "progress.gif").exists()


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory, tiny):
    out = tmp_path_factory.mktemp("dcgan")
    s = dcgan.main(["--data-dir", tiny, "--steps", "2", "--arith-samples", "60", "--frames", "2",
                    "--out", str(out)] + dev())
    return out, s


def test_dcgan_runs(dcgan_run):
    out, s = dcgan_run
    assert {"training_progress.png", "loss_curves.png", "samples.png", "interpolation.png"} <= set(pngs(out))
    assert s["steps"] == 2 and sum(s["arithmetic"]["class_counts"]) == 60
    arith, counts = s["arithmetic"], s["arithmetic"]["class_counts"]
    names = list(minigan_data.CLASS_NAMES["fashion-mnist"])
    missing = [arith[k] for k in ("a", "b", "c") if counts[names.index(arith[k])] == 0]
    if missing:                                   # a two-step G may make no sample of a class: then it says so
        assert arith["skipped"] == missing and arith["result_labels"] == []
    else:
        assert len(arith["result_labels"]) == 8


def test_dcgan_reuses_a_run(tmp_path, dcgan_run, tiny):
    run_dir = str(dcgan_run[0] / "run")
    out = tmp_path / "again"
    s = dcgan.main(["--data-dir", tiny, "--run", run_dir, "--arith-samples", "30", "--arithmetic", "0,1,2",
                    "--out", str(out)] + dev())
    assert s["run"] == run_dir and not (out / "run").exists()      # nothing was trained
    assert s["arithmetic"]["a"] == "T-shirt/top"


def test_conditional_runs_and_refuses_unconditional_run(tmp_path, dcgan_run, tiny):
    out = tmp_path / "cond"
    s = conditional.main(["--data-dir", tiny, "--steps", "2", "--check-samples", "30", "--frames", "2",
                          "--out", str(out)] + dev())
    assert pngs(out) == ["classes.png"] and 0 <= s["label_agreement"] <= 1
    assert json.loads((out / "run" / "config.json").read_text())["conditional"] is True
    with pytest.raises(SystemExit, match="conditional"):
        conditional.main(["--data-dir", tiny, "--run", str(dcgan_run[0] / "run"), "--out", str(tmp_path / "x")]
                         + dev())
