"""Unrolled GANs (minigan.gan.unrolled), parameter substitution (minigan.nn.functional_call), max-norm."""
import copy

import numpy as np
import pytest

import minigan
from minigan import backend, nn, optim
from minigan.gan import algorithm1, losses, unrolled
from minigan.gan.config import make_config
from minigan.gan.train import Trainer, schedule
from minigan.gradcheck import gradcheck


def f64(a, requires_grad=False):
    return minigan.tensor(np.asarray(a, np.float64), dtype=np.float64, requires_grad=requires_grad)


class Tiny(nn.Module):
    """in -> 3 or 4 tanh units -> out: G is Tiny(2, 3, 2), D is Tiny(2, 4, 1)."""

    def __init__(self, n_in, hidden, n_out):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, n_out))

    def forward(self, x, labels=None):
        return self.net(x)


def TinyG():
    return Tiny(2, 3, 2)


def TinyD():
    return Tiny(2, 4, 1)


def tiny_setup(opt_name, seed=0, warm=2):
    """float64 tiny G and D, D's optimizer after ``warm`` real steps (so its state is not empty), batches."""
    minigan.manual_seed(seed)
    G, D = TinyG().double(), TinyD().double()
    rng = np.random.default_rng(seed)
    make = dict(adam=lambda p: optim.Adam(p, lr=0.05, betas=(0.5, 0.9)),
                sgd=lambda p: optim.SGD(p, lr=0.2, momentum=0.6, nesterov=True, weight_decay=0.01),
                rmsprop=lambda p: optim.RMSprop(p, lr=0.01, momentum=0.3))[opt_name]
    optD = make(D.named_parameters())

    def batch():
        return (f64(rng.normal(1, 0.5, (16, 2))), None, f64(rng.normal(size=(16, 2))), None)
    for _ in range(warm):
        x, _, z, _ = batch()
        with minigan.no_grad():
            fake = G(z)
        loss = losses.discriminator_loss(D(x), D(fake))
        optD.zero_grad()
        loss.backward()
        optD.step()
    return G, D, optD, batch


# ------------------------------------------------------------------ substitute_parameters
def test_substitute_parameters_computes_with_the_tensors_and_restores():
    lin = nn.Linear(3, 2).double()
    x = f64(np.random.default_rng(0).normal(size=(4, 3)))
    w, b = f64(np.ones((2, 3)), True), f64([0.5, -1.0], True)
    with nn.substitute_parameters(lin, {"weight": w, "bias": b}):
        y = lin(x)
        assert lin.weight is w
    assert isinstance(lin.weight, nn.Parameter) and lin.weight is not w
    np.testing.assert_allclose(y.numpy(), x.numpy() @ np.ones((3, 2)) + [0.5, -1.0])
    (gw,) = minigan.grad(y.sum(), [w])                        # the output depends on the substitute
    np.testing.assert_allclose(gw.numpy(), np.tile(x.numpy().sum(0), (2, 1)))
    seq = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1)).double()
    assert np.allclose(nn.functional_call(seq, {"1.bias": f64([7.0])}, x).numpy(),
                       seq(x).numpy() - seq[1].bias.numpy() + 7.0)
    with pytest.raises(KeyError, match="no parameter '1.nope'"):
        with nn.substitute_parameters(seq, {"1.nope": f64([1.0])}):
            pass
    with pytest.raises(ValueError, match=r"'1.bias' has shape \(2,\)"):
        with nn.substitute_parameters(seq, {"1.bias": f64([1.0, 2.0])}):
            pass
    with pytest.raises(RuntimeError):                          # restored on an exception too
        with nn.substitute_parameters(seq, {"1.bias": f64([7.0])}):
            raise RuntimeError("boom")
    assert isinstance(seq[1].bias, nn.Parameter)


# ------------------------------------------------------------------ the functional update rules
@pytest.mark.parametrize("opt_name", ["adam", "sgd", "rmsprop"])
@pytest.mark.parametrize("warm", [0, 2])
def test_functional_step_is_the_optimizers_step(opt_name, warm):
    """Two functional steps from the optimizer's state give what two real optimizer steps give."""
    G, D, optD, batch = tiny_setup(opt_name, warm=warm)
    batches = [batch() for _ in range(2)]
    theta = unrolled.unroll_discriminator(G, D, optD, batches, first_order=True)
    before = {n: p.numpy().copy() for n, p in D.named_parameters()}
    for x, _, z, _ in batches:                                  # the real thing, on the same batches
        with minigan.no_grad():
            fake = G(z)
        loss = losses.discriminator_loss(D(x), D(fake))
        optD.zero_grad()
        loss.backward()
        optD.step()
    for n, p in D.named_parameters():
        assert not np.allclose(p.numpy(), before[n])
        np.testing.assert_allclose(theta[n].numpy(), p.numpy(), rtol=1e-10, atol=1e-12)


def test_functional_step_applies_max_norm():
    G, D, optD, batch = tiny_setup("sgd")
    optD.constraints = [optim.MaxNorm(D.net[0].weight, 0.3)]
    theta = unrolled.unroll_discriminator(G, D, optD, [batch()], first_order=True)
    assert np.linalg.norm(theta["net.0.weight"].numpy(), axis=1).max() <= 0.3 + 1e-12


# ------------------------------------------------------------------ the unrolled generator loss
def _unrolled_loss_of_g_params(G, D, optD, batches, z, first_order=False):
    names = [n for n, _ in G.named_parameters()]

    def fn(*gparams):
        with nn.substitute_parameters(G, dict(zip(names, gparams))):
            return unrolled.unrolled_generator_loss(G, D, optD, z, None, batches, first_order=first_order)
    return fn, [f64(p.numpy(), True) for p in G.parameters()]


@pytest.mark.parametrize("opt_name", ["adam", "sgd"])
def test_unrolled_loss_gradient_matches_central_differences(opt_name):
    """d f_K / d theta_G, through K = 3 differentiable optimizer steps of D, against central differences."""
    G, D, optD, batch = tiny_setup(opt_name)
    batches, z = [batch() for _ in range(3)], batch()[2]
    fn, inputs = _unrolled_loss_of_g_params(G, D, optD, batches, z)
    assert gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_first_order_version_differs_and_is_the_lookahead_d():
    """Without the gradient through the updates, G's gradient is that of a plain step against D advanced
    K real optimizer steps; the full unrolled gradient differs from it."""
    G, D, optD, batch = tiny_setup("adam")
    batches, z = [batch() for _ in range(3)], batch()[2]
    fn_full, inputs = _unrolled_loss_of_g_params(G, D, optD, batches, z)
    fn_first, _ = _unrolled_loss_of_g_params(G, D, optD, batches, z, first_order=True)
    full = minigan.grad(fn_full(*inputs), inputs)
    first = minigan.grad(fn_first(*inputs), inputs)
    ahead = copy.deepcopy(D)
    opt_ahead = optim.Adam(ahead.named_parameters(), lr=optD.lr, betas=optD.betas)
    opt_ahead.load_state_dict(optD.state_dict())
    for x, _, zz, _ in batches:
        with minigan.no_grad():
            fake = G(zz)
        loss = losses.discriminator_loss(ahead(x), ahead(fake))
        opt_ahead.zero_grad()
        loss.backward()
        opt_ahead.step()
    for p in ahead.parameters():
        p.requires_grad = False
    plain = minigan.grad(losses.generator_loss(ahead(G(z))), list(G.parameters()))
    for a, b in zip(first, plain):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)
    rel = [np.abs(a.numpy() - b.numpy()).max() / np.abs(b.numpy()).max() for a, b in zip(full, first)]
    assert max(rel) > 1e-2, rel


def test_zero_unrolling_steps_is_the_plain_loss_exactly():
    G, D, optD, batch = tiny_setup("adam")
    z = batch()[2]
    plain = losses.generator_loss(D(G(z)))
    g_plain = minigan.grad(plain, list(G.parameters()))
    unr = unrolled.unrolled_generator_loss(G, D, optD, z, None, [])
    g_unr = minigan.grad(unr, list(G.parameters()))
    assert plain.item() == unr.item()
    for a, b in zip(g_plain, g_unr):
        assert np.array_equal(a.numpy(), b.numpy())


def ring_trainer(tmp_path, name, **kw):
    opts = dict(data="ring", steps=3, out=str(tmp_path / name), sample_every=10, hidden=16, depth=2, pack=1,
                batch_size=32)
    opts.update(kw)
    return Trainer(make_config(**opts), progress=False)


def test_trainer_unroll_zero_is_the_plain_trainer(tmp_path):
    a = ring_trainer(tmp_path, "a", unroll=0)
    cfg = dict(a.cfg, out=str(tmp_path / "b"))
    del cfg["unroll"]                                           # a config written before --unroll existed
    b = Trainer(cfg, progress=False)
    for _ in range(3):
        a.train_step()
        b.train_step()
    for p, q in zip(list(a.G.parameters()) + list(a.D.parameters()), list(b.G.parameters()) + list(b.D.parameters())):
        assert np.array_equal(p.numpy(), q.numpy())


def test_trainer_unrolled_step_leaves_d_and_its_optimizer_alone(tmp_path):
    tr = ring_trainer(tmp_path, "u", unroll=3)
    tr.train_step()
    d_before = [p.numpy().copy() for p in tr.D.parameters()]
    st_before = {k: {n: backend.as_numpy(v).copy() for n, v in s.items()} for k, s in tr.optD.state.items()}
    g_before = [p.numpy().copy() for p in tr.G.parameters()]
    noise, ahead = tr.batches.noise(32), algorithm1.look_ahead(tr.batches, tr.settings)     # 3 minibatches
    loss, gnorm = algorithm1.g_step(tr.G, tr.D, tr.optG, noise, tr.settings, tr.optD, ahead)
    assert np.isfinite(loss.item()) and gnorm > 0
    assert all(np.array_equal(a, p.numpy()) for a, p in zip(d_before, tr.D.parameters()))
    assert all(p.requires_grad for p in tr.D.parameters())
    for k, s in tr.optD.state.items():
        assert all(np.array_equal(backend.as_numpy(v), st_before[k][n]) for n, v in s.items())
    assert any(not np.array_equal(a, p.numpy()) for a, p in zip(g_before, tr.G.parameters()))


class BND(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 1))

    def forward(self, x, labels=None):
        return self.net(x)


def test_unrolling_leaves_batchnorm_running_statistics_as_they_were():
    minigan.manual_seed(0)
    G, D = TinyG(), BND()
    optD = optim.SGD(D.named_parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    mk = lambda: minigan.tensor(rng.normal(size=(8, 2)).astype(np.float32))
    D(mk())                                                     # running statistics away from their init
    saved = [b.numpy().copy() for b in D.buffers()]
    theta = unrolled.unroll_discriminator(G, D, optD, [(mk(), None, mk(), None)] * 2)
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(saved, D.buffers()))
    assert not np.array_equal(theta["net.1.weight"].numpy(), D.net[1].weight.numpy())   # D did move


def test_unroll_options_are_checked():
    with pytest.raises(ValueError, match="--unroll must be >= 0; got -1"):
        make_config(data="ring", unroll=-1)
    with pytest.raises(ValueError, match="--unroll is not implemented with --loss wasserstein-gp"):
        make_config(data="ring", unroll=2, loss="wasserstein-gp")
    with pytest.raises(ValueError, match="--momentum must be in"):
        make_config(data="ring", momentum=1.5)
    with pytest.raises(ValueError, match=r"--gp-lambda must be in \[0, inf\); got -1"):
        make_config(data="ring", gp_lambda=-1)


# ------------------------------------------------------------------ max-norm
def test_max_norm_caps_norms_keeps_directions_and_leaves_small_rows_alone():
    w = nn.Parameter(np.array([[3.0, 4.0, 0.0], [0.3, 0.0, 0.4], [0.0, -6.0, 8.0], [1.2, 1.6, 0.0]], np.float32))
    before = w.numpy().copy()
    optim.MaxNorm(w, 2.0)()
    after = w.numpy()
    norms = np.linalg.norm(after, axis=1)
    np.testing.assert_allclose(norms, [2.0, 0.5, 2.0, 2.0], rtol=1e-6)
    for i in (0, 2):                                            # direction kept: a positive multiple
        np.testing.assert_allclose(after[i] / norms[i], before[i] / np.linalg.norm(before[i]), rtol=1e-6)
    assert np.array_equal(after[1], before[1]) and np.array_equal(after[3], before[3])   # at / below the cap
    t = f64(before, True)
    np.testing.assert_allclose(optim.MaxNorm(w, 2.0).apply(t).numpy(), after, rtol=1e-6)
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        optim.MaxNorm(w, 0)


def test_max_norm_runs_after_each_optimizer_step():
    minigan.manual_seed(0)
    m = nn.Maxout(6, 3, 2)
    opt = optim.SGD(m.parameters(), lr=10.0)
    opt.constraints.append(optim.MaxNorm(m.weight, 0.5))
    x = minigan.randn(5, 6)
    (m(x) ** 2).sum().backward()
    opt.step()
    assert np.linalg.norm(m.weight.numpy(), axis=1).max() <= 0.5 * (1 + 1e-6)


def test_max_norm_constrains_the_maxout_layers():
    assert make_config(data="mnist", model="mlp", steps=1)["max_norm"] is None    # the paper's MNIST code had none
    cfg = make_config(data="mnist", model="mlp", steps=1, max_norm=1.9365)
    from minigan.gan.config import build_models
    from minigan.gan.train import make_optimizer
    G, D = build_models(cfg)
    optD, optG = make_optimizer(cfg, D), make_optimizer(cfg, G)
    maxouts = [m for m in D.modules() if isinstance(m, nn.Maxout)]
    assert len(maxouts) == 2 and [c.param for c in optD.constraints] == [m.weight for m in maxouts]
    assert optG.constraints == []
    assert not make_optimizer(dict(cfg, max_norm=0), D).constraints


def test_mlp_recipe_details(tmp_path):
    """The GAN paper's recipe: lr 0.1 / 1.000004^t (D's half: its objective is half of ours), momentum
    0.5 -> 0.7 over 250 epochs, simultaneous updates, dropout 0.2 / 0.5 in D only, sigmoid output for G
    (images in [0, 1]), U(-1, 1) noise; --max-norm caps D's maxout layers after each step."""
    from conftest import make_set
    make_set(tmp_path / "fm", n_train=300, n_test=10)
    tr = Trainer(make_config(data="fashion-mnist", model="mlp", steps=10, batch_size=20, out=str(tmp_path / "r"),
                             data_dir=str(tmp_path / "fm"), max_norm=1.9365), progress=False)
    assert tr.cfg["update"] == "simultaneous" and tr.cfg["ema"] == 0.999 and tr.G_ema is not None
    lr_g, lr_d, momentum = schedule(tr.cfg, 5, tr.total_steps, tr.steps_per_epoch)
    assert momentum == pytest.approx(0.5 + 0.2 * 5 / (250 * tr.steps_per_epoch))
    for lr_now, lr in ((lr_d, 0.05), (lr_g, 0.1)):
        assert lr_now == pytest.approx(lr / 1.000004 ** 5)
    assert make_config(data="mnist", model="mlp", steps=1, lr=0.03)["lr_d"] == pytest.approx(0.015)
    assert make_config(data="mnist", model="mlp", steps=1, optimizer="adam", lr=2e-4)["lr_d"] is None
    assert make_config(data="mnist", model="mlp", steps=1, loss="wasserstein")["lr_d"] is None     # RMSprop
    assert make_config(data="mnist", model="mlp", steps=1, lr=0.03, lr_d=0.01)["lr_d"] == 0.01
    assert [m.p for m in tr.D.modules() if isinstance(m, nn.Dropout)] == [0.2, 0.5, 0.5]
    assert not any(isinstance(m, nn.Dropout) for m in tr.G.modules())
    assert isinstance(list(tr.G.modules())[-1], nn.Sigmoid)
    assert float(tr.batches.images.min()) >= 0 and float(tr.batches.images.max()) <= 1
    z = tr.batches.noise(1000)[0].numpy()
    assert z.min() >= -1 and z.max() <= 1 and abs(z.mean()) < 0.05 and z.std() == pytest.approx(1 / 3 ** 0.5, abs=0.02)
    for m in tr.D.modules():                                      # weights beyond the cap, then one step
        if isinstance(m, nn.Maxout):
            m.weight.data *= 100
            assert np.linalg.norm(m.weight.numpy(), axis=1).max() > 2 * 1.9365
    tr.train_step()
    for m in tr.D.modules():
        if isinstance(m, nn.Maxout):
            assert np.linalg.norm(m.weight.numpy(), axis=1).max() <= 1.9365 * (1 + 1e-5)
