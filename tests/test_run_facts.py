"""A run's config (minigan.gan.config: recipes, length) and facts (minigan.gan.run: held-out split, output range)."""
import numpy as np
import pytest

from minigan import nn
from minigan.gan import algorithm1, config, run


def test_split_held_out_keeps_the_last_images_out():
    x = np.arange(6000)
    train, held = run.split_held_out(x)
    assert len(held) == run.HELD_OUT and np.array_equal(np.concatenate([train, held]), x)
    small_train, small_held = run.split_held_out(np.arange(50))       # a fifth of a small set
    assert len(small_held) == 10 and small_train[-1] == 39


def test_a_run_has_one_length():
    cfg = config.make_config(data="fashion-mnist", steps=7)
    assert (cfg["steps"], cfg["epochs"]) == (7, None)
    config.set_length(cfg, "epochs", 2)
    assert (cfg["steps"], cfg["epochs"]) == (None, 2)


@pytest.mark.parametrize("model, expected", [("dcgan", "tanh"), ("mlp", "sigmoid")])
def test_output_range_and_unit_range(model, expected):
    cfg = config.make_config(data="fashion-mnist", model=model)
    assert run.output_range(cfg) == expected
    out = np.array([-1.0, 0.0, 1.0])
    assert np.allclose(run.to_unit_range(cfg, out), (out + 1) / 2 if expected == "tanh" else out)
    assert run.output_range(config.make_config(data="ring")) is None


def test_frozen_restores_each_flag_even_after_an_error():
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    p0, p1 = list(net.parameters())[:2]
    p1.requires_grad = False
    with pytest.raises(RuntimeError):
        with algorithm1.frozen(net, None):
            assert not any(p.requires_grad for p in net.parameters())
            raise RuntimeError("inside")
    assert p0.requires_grad and not p1.requires_grad


def test_help_lists_every_recipe():
    text = config.recipes_text()
    for name in config.RECIPES:
        assert f"  {name} " in text
    assert "lr 0.0002" in text and "--model mlp" in text


def test_recipe_paper_is_the_five_epoch_dcgan_recipe():
    paper = config.make_config(data="fashion-mnist", recipe="paper")
    assert (paper["epochs"], paper["ema"], paper["model"], paper["lr"]) == (5, 0.0, "dcgan", 2e-4)
    default = config.make_config(data="fashion-mnist")
    assert (default["epochs"], default["lr"], default["lr_d"]) == (12, 1.2e-3, None)  # both players at 1.2e-3
    assert config.make_config(data="fashion-mnist", model="dcgan32")["lr"] == 2e-4       # its own recipe
    assert config.make_config(data="fashion-mnist", model="mlp")["epochs"] == 25         # as docs/demos.md measured
    with pytest.raises(ValueError, match="--recipe paper is the DCGAN papers' recipe, for the image sets; ring"):
        config.make_config(data="ring", recipe="paper")         # refused, not recorded and ignored
    with pytest.raises(ValueError, match="--recipe must be one of default, paper"):
        config.make_config(data="fashion-mnist", recipe="fast")
    old = config.make_config(data="ring")
    del old["recipe"]                                  # a config.json written before --recipe existed
    config.validate(config.complete(old))
    assert old["recipe"] == "default"


def test_an_old_runs_config_loads_and_resumes(tmp_path):
    """A config.json written before the newer options existed: each missing one takes the table's default."""
    import json

    from minigan.gan.train import train
    out = tmp_path / "old"
    train(data="ring", steps=2, batch_size=32, hidden=8, depth=1, pack=1, out=str(out), progress=False)
    cfg = json.loads((out / "config.json").read_text())
    newer = ("recipe", "ema", "smooth", "cooldown", "log_every", "update", "unroll", "lr_d", "reuse_fake",
             "max_norm", "momentum_epochs", "final_momentum", "lr_decay", "beta2", "ngf", "ndf", "gp_lambda", "clip")
    for key in newer:
        del cfg[key]
    (out / "config.json").write_text(json.dumps(cfg))
    loaded, G, _ = run.load_run(str(out))
    assert all(loaded[key] == config.OPTIONS[key].default for key in newer)
    train(out=str(out), resume=True, steps=4, progress=False)
    resumed = json.loads((out / "config.json").read_text())
    assert resumed["update"] == "alternating" and resumed["changes"][0]["to"] == 4


@pytest.mark.parametrize("weighted", [False, True])
def test_nearest_is_the_brute_force_nearest(weighted):
    from minigan.gan.evaluate import nearest
    rng = np.random.default_rng(0)
    q, refs = rng.random((5, 1, 4, 4)), rng.random((23, 1, 4, 4))
    w = (rng.random((5, 1, 4, 4)) > 0.5).astype(float) if weighted else np.ones_like(q)
    d = (((q[:, None] - refs[None]) ** 2) * w[:, None]).reshape(5, 23, -1).sum(-1)
    idx, d2 = nearest(q, refs, weights=w if weighted else None, chunk=7)
    np.testing.assert_array_equal(idx, d.argmin(1))
    np.testing.assert_allclose(d2, d.min(1), rtol=1e-4, atol=1e-5)
    idx, d2 = nearest(q, refs, weights=w if weighted else None, chunk=7, k=4)    # the 4 nearest, across chunks
    np.testing.assert_array_equal(idx, np.argsort(d, axis=1)[:, :4])
    np.testing.assert_allclose(d2, np.sort(d, axis=1)[:, :4], rtol=1e-4, atol=1e-5)
    for k in (0, 24, 2.5):
        with pytest.raises(ValueError, match=r"nearest: k must be a whole number in \[1, 23\]"):
            nearest(q, refs, k=k)
