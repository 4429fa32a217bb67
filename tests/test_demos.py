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
from test_data import make_set

DEMOS = Path(__file__).resolve().parents[1] / "demos"
sys.path.insert(0, str(DEMOS))

import _common  # noqa: E402
import conditional  # noqa: E402
import dcgan  # noqa: E402
import figure1_1d  # noqa: E402
import mlp_mnist  # noqa: E402
import mode_collapse_2d  # noqa: E402


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
def test_kde_matches_closed_form():
    xs = np.linspace(-3, 3, 61)
    # one sample at 0.5 with bandwidth 0.7: the KDE is the N(0.5, 0.7^2) density
    want = np.exp(-0.5 * ((xs - 0.5) / 0.7) ** 2) / (0.7 * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(figure1_1d.kde(np.array([0.5]), xs, 0.7), want, rtol=1e-12)
    # many samples: mean of the kernels, and it integrates to ~1
    s = np.random.default_rng(0).normal(4, 0.5, 3000)
    p = figure1_1d.kde(s)
    assert abs(p.sum() * figure1_1d.DX - 1) < 1e-3


def test_figure1_runs_and_respects_theory(tmp_path):
    out = tmp_path / "f1"
    s = figure1_1d.main(["--steps", "12", "--stages", "0,6,12", "--samples", "300", "--inner-steps", "3",
                         "--track-every", "4", "--out", str(out)] + dev())
    assert pngs(out) == ["figure1_curves.png", "figure1_stages.png"]
    assert s["final_c_g"] >= -math.log(4) - 1e-6          # C(G) = -log 4 + 2 JSD >= -log 4 (Theorem 1)
    assert abs(s["final_c_g"] - (-math.log(4) + 2 * s["final_jsd"])) < 1e-2
    assert [g[0] for g in s["stage_gaps"]] == [0, 6, 12]
    assert all(0 <= g[1] <= 1 and 0 <= g[2] <= 1 for g in s["stage_gaps"])
    assert json.loads((out / "summary.json").read_text())["steps"] == 12


def test_figure1_rejects_bad_stages(tmp_path):
    with pytest.raises(SystemExit):
        figure1_1d.main(["--steps", "5", "--stages", "0,9", "--out", str(tmp_path)] + dev())


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
    assert len(s["arithmetic"]["result_labels"]) in (0, 8)


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
