"""Issue 15's command-line options (--prior --momentum --clip --gp-lambda --unroll --max-norm), --model dcgan32,
and the unrolled-ring demo's smoke test."""
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import minigan
from minigan import nn
from minigan.cli import main
from minigan.gan import algorithm1, models
from minigan.gan.run import crop_to_28, pad_to_32
from minigan.gan.train import Trainer

from conftest import make_set

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demos"))


def config_of(run):
    with open(os.path.join(run, "config.json")) as f:
        return json.load(f)


def test_cli_options_reach_the_config(tmp_path):
    run = str(tmp_path / "r")
    args = ["train", "--data", "ring", "--steps", "2", "--batch-size", "32", "--pack", "1", "--prior", "uniform",
            "--unroll", "2", "--loss", "wasserstein", "--clip", "0.05", "--optimizer", "sgd", "--momentum", "0.3",
            "--update", "simultaneous", "--out", run, "--quiet"]
    assert main(args) == 0
    cfg = config_of(run)
    assert (cfg["prior"], cfg["unroll"], cfg["clip"], cfg["momentum"]) == ("uniform", 2, 0.05, 0.3)
    assert (cfg["update"], cfg["optimizer"]) == ("simultaneous", "sgd")
    tr = Trainer(dict(cfg, out=str(tmp_path / "r2")), progress=False)
    z = tr.batches.noise(500)[0].numpy()
    assert z.min() >= -1 and z.max() <= 1 and z.min() < -0.9          # U(-1, 1), not N(0, 1)
    algorithm1.d_step(tr.G, tr.D, tr.optD, tr.batches.real(32), tr.batches.noise(32), tr.settings)
    bound = max(np.abs(p.numpy()).max() for p in tr.D.parameters())
    assert 0.04 < bound <= 0.05 + 1e-7                                   # the new clip bound is used
    gp = str(tmp_path / "gp")
    assert main(["train", "--data", "ring", "--steps", "1", "--batch-size", "32", "--loss", "wasserstein-gp",
                 "--gp-lambda", "0.1", "--out", gp, "--quiet"]) == 0
    assert config_of(gp)["gp_lambda"] == 0.1


@pytest.mark.parametrize("bad, message", [
    (["--unroll", "-2"], "--unroll must be >= 0; got -2"),
    (["--optimizer", "sgd", "--momentum", "1"], "--momentum must be in [0, 1); got 1.0"),
    (["--clip", "0"], "--clip must be in (0, inf); got 0.0"),
    (["--max-norm", "-1"], "--max-norm must be >= 0"),
])
def test_cli_bad_values_are_one_line_errors(tmp_path, capsys, bad, message):
    assert main(["train", "--data", "ring", "--steps", "1", "--out", str(tmp_path / "x"), "--quiet"] + bad) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_pad_and_crop():
    x = np.random.default_rng(0).uniform(-1, 1, (3, 1, 28, 28)).astype(np.float32)
    p = pad_to_32(x)
    assert p.shape == (3, 1, 32, 32) and np.all(p[..., :2, :] == -1) and np.all(p[..., :, 30:] == -1)
    assert np.array_equal(crop_to_28(p), x)


def test_dcgan32_trains_samples_and_evaluates_from_the_cli(tmp_path, capsys):
    make_set(tmp_path / "fm", n_train=200, n_test=30)
    run = str(tmp_path / "d32")
    assert main(["train", "--data", "fashion-mnist", "--data-dir", str(tmp_path / "fm"), "--model", "dcgan32",
                 "--steps", "2", "--batch-size", "8", "--out", run, "--quiet"]) == 0
    cfg = config_of(run)
    assert cfg["model"] == "dcgan32" and cfg["optimizer"] == "adam"
    tr = Trainer(dict(cfg, out=str(tmp_path / "again")), progress=False)
    assert tr.batches.images.shape[1:] == (1, 32, 32)
    assert isinstance(tr.G, models.DCGANGenerator) and isinstance(tr.D, models.DCGANDiscriminator)
    assert main(["sample", "--run", run, "--n", "5", "--out", str(tmp_path / "s.npy")]) == 0
    s = np.load(tmp_path / "s.npy")
    assert s.shape == (5, 1, 32, 32) and 0 <= s.min() and s.max() <= 1
    assert main(["evaluate", "--run", run, "--samples", "50"]) == 0
    assert "Parzen window log-likelihood" in capsys.readouterr().out
    assert main(["inpaint", "--run", run, "--data", "fashion-mnist", "--data-dir", str(tmp_path / "fm"),
                 "--n", "2", "--out", str(tmp_path / "i.png")]) == 2
    assert "dcgan32 run" in capsys.readouterr().err


def test_dcgan32_models_have_the_all_convolutional_shapes():
    G = models.DCGANGenerator(100, 32, 1, 16)
    D = models.DCGANDiscriminator(32, 1, 16)
    assert not any(isinstance(m, nn.Linear) for m in list(G.modules()) + list(D.modules()))
    x = G(minigan.randn(2, 100))
    assert x.shape == (2, 1, 32, 32) and D(x).shape == (2, 1)


def test_unrolled_ring_demo_smoke(tmp_path):
    import unrolled_ring
    res = unrolled_ring.main(["--unroll", "0", "2", "--steps", "4", "--every", "2", "--seeds", "0",
                              "--batch-size", "64", "--out", str(tmp_path / "u")])
    assert [r["unroll"] for r in res] == [0, 2]
    for r in res:
        assert 0 <= r["modes_covered"] <= 8 and 0 <= r["high_quality"] <= 1
        assert [c["step"] for c in r["curve"]] == [0, 2, 4]
    for name in ("timelapse.png", "modes.png", "results.json", "table.md"):
        assert (tmp_path / "u" / name).exists()
    assert "8/8 with >= 80% high quality" in (tmp_path / "u" / "table.md").read_text()


def test_unrolled_ring_demo_rates(tmp_path):
    """Every K (0 included) trains with the unrolled recipe's rates (G 1e-3, D 1e-4, cooldown 0.3); --lr-d and
    --cooldown override them; --metz adds the authors' noise and depth."""
    import json

    import unrolled_ring
    cases = (([], (1e-4, 0.3, 2, 3)), (["--metz"], (1e-4, 0.3, 256, 2)),
             (["--lr-d", "5e-4", "--cooldown", "0", "--metz"], (5e-4, 0.0, 256, 2)))
    for i, (extra, (lr_d, cooldown, z_dim, depth)) in enumerate(cases):
        out = tmp_path / f"m{i}"
        unrolled_ring.main(["--unroll", "0", "--steps", "2", "--seeds", "0", "--batch-size", "16",
                            "--out", str(out)] + extra)
        cfg = json.loads((out / "runs" / "K0_seed0" / "config.json").read_text())
        assert (cfg["lr"], cfg["lr_d"], cfg["cooldown"], cfg["z_dim"], cfg["depth"], cfg["pack"], cfg["unroll"]) == \
            (1e-3, lr_d, cooldown, z_dim, depth, 1, 0)


def test_unroll_brings_its_recipe_on_2d_sets():
    """--unroll K > 0 on the 2-D sets takes the unrolled recipe (batch 512, 3,000 steps, D 1e-4, cooldown 0.3);
    explicit options win; not for image sets, the Wasserstein losses or K = 0."""
    from minigan.gan.config import make_config
    keys = ("batch_size", "steps", "lr", "lr_d", "cooldown")
    assert tuple(make_config(data="ring", pack=1, unroll=10)[k] for k in keys) == (512, 3000, 1e-3, 1e-4, 0.3)
    assert tuple(make_config(data="ring", unroll=10, steps=50, lr_d=1e-3, cooldown=0.0)[k] for k in keys) == \
        (512, 50, 1e-3, 1e-3, 0.0)
    for options in (dict(unroll=0), dict(unroll=5, loss="wasserstein"), dict(unroll=5, data="fashion-mnist")):
        cfg = make_config(**{"data": "ring", **options})
        assert (cfg["lr_d"], cfg["cooldown"]) == (None, 0.0), options


def test_ema_lr_d_and_smooth_options(tmp_path):
    """--ema keeps a moving average of G that samples (and is what evaluate loads); --lr-d sets D's lr;
    --smooth gives real images the target s in D's cross-entropy."""
    from minigan.gan.run import load_run
    make_set(tmp_path, n_train=200)
    run = str(tmp_path / "r")
    assert main(["train", "--data", "fashion-mnist", "--data-dir", str(tmp_path), "--steps", "3", "--batch-size",
                 "16", "--ema", "0.5", "--lr-d", "3e-4", "--smooth", "0.9", "--out", run, "--quiet"]) == 0
    cfg = config_of(run)
    assert (cfg["ema"], cfg["lr_d"], cfg["smooth"]) == (0.5, 3e-4, 0.9)
    tr = Trainer(dict(cfg, out=str(tmp_path / "r2")), progress=False)
    assert (tr.optD.lr, tr.optG.lr) == (3e-4, cfg["lr"])
    before = [p.numpy().copy() for p in tr.G_ema.parameters()]
    tr.train_step()                                    # step 0: d = min(0.5, 1/10) = 0.1
    for pe, b, p in zip(tr.G_ema.parameters(), before, tr.G.parameters()):
        np.testing.assert_allclose(pe.numpy(), 0.1 * b + 0.9 * p.numpy(), rtol=1e-5, atol=1e-7)
    _, G, _ = load_run(run)
    from minigan.serialization import load
    st = load(os.path.join(run, "checkpoint.npz"))
    name, value = next(iter(st["G_ema"].items()))
    assert np.array_equal(G.state_dict()[name].numpy(), value) and not np.array_equal(st["G"][name], value)


def test_label_smoothing_is_cross_entropy_with_target_s():
    from minigan.gan import losses
    r, f = minigan.tensor([0.3, -1.2, 2.0], dtype=np.float64), minigan.tensor([0.5, -0.1], dtype=np.float64)
    s = 0.9
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    want = (-(s * np.log(sig(r.numpy())) + (1 - s) * np.log(1 - sig(r.numpy())))).mean() \
        - np.log(1 - sig(f.numpy())).mean()
    assert np.isclose(losses.discriminator_loss(r, f, "nonsaturating", smooth=s).item(), want, rtol=1e-12)


def test_ema_leaves_the_training_trajectory_alone(tmp_path):
    """--ema only adds a moving average: G and D train exactly as without it (no extra random draw)."""
    make_set(tmp_path, n_train=200)
    from minigan.gan.config import make_config
    trainers = []
    for ema in (0.0, 0.9):
        cfg = make_config(data="fashion-mnist", data_dir=str(tmp_path), steps=3, batch_size=16, ema=ema,
                          out=str(tmp_path / f"r{ema}"))
        tr = Trainer(cfg, progress=False)
        for _ in range(3):
            tr.train_step()
        trainers.append(tr)
    for a, b in zip(trainers[0].G.parameters(), trainers[1].G.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(trainers[0].fixed_z.numpy(), trainers[1].fixed_z.numpy())
