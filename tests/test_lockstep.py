"""Lockstep parity with PyTorch, through the trainer's own code.

For each configuration, the real ``Trainer`` runs 100 steps of Algorithm 1 (``train_step``, which calls
``minigan.gan.algorithm1``), in float64.
Beside it, a PyTorch twin of the exact models the trainer built starts from the same weights and is fed
the same real batches, noise, labels, dropout masks and gradient-penalty mixing weights, which are recorded
as the trainer draws them. The twin's step is written here from PyTorch's own pieces (``torch.optim``,
``binary_cross_entropy_with_logits``, ``torch.autograd.grad``), not from minigan's code. After every step the
losses, the discriminator's logits, the generator's outputs, every parameter and every buffer must agree
to 1e-8 relative.

Skipped where PyTorch is not installed; minigan itself never imports torch.
"""
import numpy as np
import pytest

import minigan
import minigan.functional as MF
from minigan import backend, nn
from minigan.gan import algorithm1, losses
from minigan.gan.config import make_config
from minigan.gan.train import Trainer

from conftest import make_set

torch = pytest.importorskip("torch")
TF = torch.nn.functional
STEPS = 100
RTOL, ATOL = 1e-8, 1e-12


def host(v):
    """A state-dict value (Tensor or array) as a NumPy array."""
    return np.array(v.numpy() if isinstance(v, minigan.Tensor) else v)


# ------------------------------------------------------------------ the PyTorch twin of a minigan model
class QueueDropout(torch.nn.Module):
    """Dropout whose keep-masks are the ones minigan drew, in the same order."""

    def __init__(self, p, masks):
        super().__init__()
        self.p, self.masks = p, masks

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = self.masks.pop(0)
        assert keep.shape == tuple(x.shape), "dropout masks out of step"
        return x * torch.from_numpy(keep.astype(np.float64) * (1 / (1 - self.p)))


class TorchMaxout(torch.nn.Module):
    """max over `pieces` consecutive outputs of one Linear (minigan's Maxout weight layout)."""

    def __init__(self, m):
        super().__init__()
        self.out, self.pieces = m.out_features, m.pieces
        self.weight = torch.nn.Parameter(torch.zeros(m.out_features * m.pieces, m.in_features, dtype=torch.float64))
        self.bias = torch.nn.Parameter(torch.zeros(m.out_features * m.pieces, dtype=torch.float64))

    def forward(self, x):
        z = TF.linear(x, self.weight, self.bias)
        return z.reshape(x.shape[0], self.out, self.pieces).amax(-1)


def twin_layer(m, masks):
    """The torch layer for one minigan layer (fresh weights; copied later)."""
    T = torch.nn
    if isinstance(m, nn.Sequential):
        return T.Sequential(*[twin_layer(c, masks) for c in m._modules.values()])
    if isinstance(m, nn.Linear):
        return T.Linear(m.in_features, m.out_features, bias=m.bias is not None)
    if isinstance(m, nn.Conv2d):
        return T.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, bias=m.bias is not None)
    if isinstance(m, nn.ConvTranspose2d):
        return T.ConvTranspose2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                                 m.output_padding, bias=m.bias is not None)
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        cls = T.BatchNorm1d if isinstance(m, nn.BatchNorm1d) else T.BatchNorm2d
        return cls(m.num_features, eps=m.eps, momentum=m.momentum)
    if isinstance(m, nn.Maxout):
        return TorchMaxout(m)
    if isinstance(m, nn.Dropout):
        return QueueDropout(m.p, masks)
    if isinstance(m, nn.LeakyReLU):
        return T.LeakyReLU(m.negative_slope)
    if isinstance(m, nn.Unflatten):
        return T.Unflatten(m.dim, m.unflattened_size)
    if isinstance(m, nn.Flatten):
        return T.Flatten(m.start_dim, m.end_dim)
    simple = {nn.ReLU: T.ReLU, nn.Tanh: T.Tanh, nn.Sigmoid: T.Sigmoid}
    return simple[type(m)]()


class Twin(torch.nn.Module):
    """A minigan GAN model (generator or discriminator) rebuilt in PyTorch, with its weights copied."""

    def __init__(self, model, masks):
        super().__init__()
        self.kind = type(model).__name__
        self.n_classes = model.n_classes
        self.pack = getattr(model, "pack", 1)
        self.image_shape = getattr(model, "image_shape", None)
        self.net = twin_layer(model.net, masks).double()
        state = self.state_dict()
        mine = model.state_dict()
        assert set(state) == set(mine), (sorted(state), sorted(mine))
        with torch.no_grad():
            for k, v in mine.items():
                state[k].copy_(torch.from_numpy(host(v)))

    def with_labels(self, x, labels):
        if not self.n_classes:
            return x
        y = TF.one_hot(torch.as_tensor(labels, dtype=torch.int64), self.n_classes).double()
        if x.ndim == 2:
            return torch.cat([x, y], 1)
        n, _, h, w = x.shape
        return torch.cat([x, y[:, :, None, None].expand(n, self.n_classes, h, w)], 1)

    def forward(self, x, labels=None):
        n = x.shape[0]
        if self.kind == "MLPDiscriminator":
            x = x.reshape(n, -1)
        x = self.with_labels(x, labels)
        if self.pack > 1:
            x = x.reshape(n // self.pack, -1)
        out = self.net(x)
        if self.kind == "MLPGenerator":
            out = out.reshape((n,) + self.image_shape)
        return out


# ------------------------------------------------------------------ recording what the trainer draws
def record(trainer, monkeypatch, masks, eps):
    """Make the trainer work in float64 and record every random input it draws, in order."""
    trainer.G.double()
    trainer.D.double()
    batches = trainer.batches
    if trainer.kind == "images":
        batches.images = batches.images.astype(np.float64)
    drawn = {"real": [], "noise": [], "labels": [], "d_out": [], "g_out": []}
    real, noise, d_step = batches.real, batches.noise, algorithm1.d_step

    def real64(m):
        x, y = real(m)
        x = minigan.Tensor(x.data.astype(np.float64))
        drawn["real"].append((x.numpy().copy(), None if y is None else np.array(y)))
        return x, y

    def noise64(m):
        z, y = noise(m)
        z = minigan.Tensor(z.data.astype(np.float64))
        drawn["noise"].append(z.numpy().copy())
        drawn["labels"].append(None if y is None else np.array(y))
        return z, y

    def d_step_rec(*args, **kwargs):
        out = d_step(*args, **kwargs)
        drawn["d_out"].append((float(out.loss.data), out.real_logits.numpy().copy(), out.fake_logits.numpy().copy()))
        return out

    g_forward = trainer.G.forward

    def g_forward_rec(*args):
        out = g_forward(*args)
        drawn["g_out"].append(out.numpy().copy())
        return out

    batches.real, batches.noise = real64, noise64
    monkeypatch.setattr(algorithm1, "d_step", d_step_rec)
    trainer.G.forward = g_forward_rec

    dropout = MF.dropout

    def dropout_rec(x, p=0.5, training=True):
        if training and 0 < p < 1:                 # replay the generator's draw to see the mask
            gen = backend.rng(x.device)
            replay = np.random.Generator(type(gen.bit_generator)())
            replay.bit_generator.state = gen.bit_generator.state
            masks.append(replay.random(x.shape) >= p)
        return dropout(x, p, training)
    monkeypatch.setattr(MF, "dropout", dropout_rec)

    gp = losses.gradient_penalty

    def gp_rec(D, real, fake, rng, *args):
        replay = np.random.Generator(type(rng.bit_generator)())
        replay.bit_generator.state = rng.bit_generator.state
        eps.append(replay.random((real.shape[0],) + (1,) * (real.ndim - 1)))
        return gp(D, real, fake, rng, *args)
    monkeypatch.setattr(losses, "gradient_penalty", gp_rec)
    return drawn


# ------------------------------------------------------------------ Algorithm 1 in PyTorch
def torch_optimizer(cfg, module):
    if cfg["optimizer"] == "sgd":
        return torch.optim.SGD(module.parameters(), lr=cfg["lr"], momentum=cfg["momentum"])   # lr set each step
    if cfg["optimizer"] == "rmsprop":
        return torch.optim.RMSprop(module.parameters(), lr=cfg["lr"])
    return torch.optim.Adam(module.parameters(), lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]))


def bce(logits, target):
    return TF.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class TorchAlgorithm1:
    """One step of Algorithm 1 on the twins, consuming the recorded draws."""

    def __init__(self, cfg, G, D, drawn, eps):
        self.cfg, self.G, self.D, self.drawn, self.eps = cfg, G, D, drawn, eps
        self.optG, self.optD = torch_optimizer(cfg, G), torch_optimizer(cfg, D)
        self.out = {"d_out": [], "g_out": []}

    def G_(self, z, y):
        out = self.G(z, y)
        self.out["g_out"].append(out.detach().numpy().copy())
        return out

    def d_step(self):
        cfg = self.cfg
        xr, y = self.drawn["real"].pop(0)
        x = torch.from_numpy(xr)
        z, yz = torch.from_numpy(self.drawn["noise"].pop(0)), self.drawn["labels"].pop(0)
        self.last = z, yz
        with torch.no_grad():
            fake = self.G_(z, yz)
        rl, fl = self.D(x, y), self.D(fake, yz)
        if cfg["loss"].startswith("wasserstein"):
            loss = fl.mean() - rl.mean()
        else:
            loss = bce(rl, 1.0) + bce(fl, 0.0)
        if cfg["loss"] == "wasserstein-gp":
            e = torch.from_numpy(self.eps.pop(0))
            x_hat = (e * x + (1 - e) * fake).detach().requires_grad_()
            (g,) = torch.autograd.grad(self.D(x_hat, y).sum(), x_hat, create_graph=True)
            norm = (g.reshape(g.shape[0], -1) ** 2).sum(1) + 1e-12
            loss = loss + cfg["gp_lambda"] * ((norm.sqrt() - 1) ** 2).mean()
        self.optD.zero_grad()
        loss.backward()
        self.optD.step()
        if cfg.get("max_norm"):                     # the paper's max-norm on each maxout piece's weight row
            with torch.no_grad():
                for m in self.D.modules():
                    if isinstance(m, TorchMaxout):
                        norms = m.weight.norm(dim=1, keepdim=True)
                        m.weight.mul_(torch.where(norms > cfg["max_norm"], cfg["max_norm"] / norms, 1.0))
        if cfg["loss"] == "wasserstein":
            with torch.no_grad():
                for p in self.D.parameters():
                    p.clamp_(-cfg["clip"], cfg["clip"])
        self.out["d_out"].append((loss.item(), rl.detach().numpy().copy(), fl.detach().numpy().copy()))
        return loss

    def g_step(self):
        cfg = self.cfg
        if cfg.get("reuse_fake"):
            z, yz = self.last
        else:
            z, yz = torch.from_numpy(self.drawn["noise"].pop(0)), self.drawn["labels"].pop(0)
        for p in self.D.parameters():
            p.requires_grad_(False)
        logits = self.D(self.G_(z, yz), yz)
        for p in self.D.parameters():
            p.requires_grad_(True)
        if cfg["loss"] == "minimax":
            loss = -TF.softplus(logits).mean()                      # E log(1 - D(G(z)))
        elif cfg["loss"] == "nonsaturating":
            loss = bce(logits, 1.0)                                  # -E log D(G(z))
        else:
            loss = -logits.mean()
        self.optG.zero_grad()
        loss.backward()
        return loss

    def step(self, lr_d, lr_g, momentum):
        for opt, lr in ((self.optD, lr_d), (self.optG, lr_g)):
            for group in opt.param_groups:
                group["lr"] = lr
                if "momentum" in group:
                    group["momentum"] = momentum
        self.G.train()
        self.D.train()
        simultaneous = self.cfg["update"] == "simultaneous"
        if simultaneous:                            # G's gradient against D before D's step
            loss_g = self.g_step()
        for _ in range(self.cfg["k"]):
            loss_d = self.d_step()
        if not simultaneous:
            loss_g = self.g_step()
        self.optG.step()
        return loss_d.item(), loss_g.item()


# ------------------------------------------------------------------ the comparison
def agree(name, step, mine, theirs, atol=ATOL):
    mine, theirs = np.asarray(mine, np.float64), np.asarray(theirs, np.float64)
    assert mine.shape == theirs.shape, f"step {step}: {name} shapes {mine.shape} vs {theirs.shape}"
    np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=atol, err_msg=f"step {step}: {name}")


def zero_gradient_biases(model):
    """Biases of the layers that feed a BatchNorm: in training mode BN subtracts the batch mean, so their true
    gradient is 0 and both libraries move them only by rounding noise (DCGAN-28: G.net.0.bias, G.net.4.bias,
    D.net.2.bias). They are compared through the outputs (which they cannot change) instead."""
    layers = list(model.net._modules.items())
    return {f"net.{name}.bias": f"net.{nxt_name}" for (name, m), (nxt_name, nxt) in zip(layers, layers[1:])
            if isinstance(nxt, (nn.BatchNorm1d, nn.BatchNorm2d)) and getattr(m, "bias", None) is not None}


def compare_state(step, tag, model, twin, drift):
    theirs = {k: v.numpy() for k, v in twin.state_dict().items()}
    mine = {k: host(v) for k, v in model.state_dict().items()}
    skip = zero_gradient_biases(model)
    for k in mine:
        atol = ATOL
        if k in skip:                               # rounding noise only: it stays tiny in both
            assert np.abs(mine[k]).max() < 1e-6 and np.abs(theirs[k]).max() < 1e-6, f"step {step}: {tag}.{k}"
            drift[tag + k] = max(drift.get(tag + k, 0.0), float(np.abs(mine[k] - theirs[k]).max()))
            continue
        fed_by = [b for b, bn in skip.items() if k == bn + ".running_mean"]
        if fed_by:
            # The running mean also averages that noisy bias: it may differ by the largest difference the two
            # biases have had so far, plus 1e-8 of the activations' scale.
            atol = RTOL * float(np.sqrt(mine[k[:-len("mean")] + "var"]).max()) + drift[tag + fed_by[0]]
        agree(f"{tag}.{k}", step, mine[k], theirs[k], atol)


slow = pytest.mark.slow        # CI runs these too (.ci/run: python -m pytest -m slow tests/test_lockstep.py)
# The DCGAN cases train at the papers' Adam 2e-4 (--recipe paper), the rate of PyTorch's DCGAN example. At the
# doubled rate, 4e-4 (the fashion-mnist default's rate is higher still), the float64 rounding differences between
# the two libraries grow faster: in the 100 steps of dcgan28-adam one near-zero output element (1.2e-5) then
# differs by 1.2e-12, just over ATOL.
CASES = {
    "dcgan28-adam": dict(data="fashion-mnist", model="dcgan", batch_size=16, recipe="paper"),
    "mlp-sgd-momentum-dropout": dict(data="fashion-mnist", model="mlp", batch_size=16),
    "toy-wgan-gp": dict(data="ring", batch_size=64, loss="wasserstein-gp", hidden=32, depth=2, pack=1),
    "toy-wgan-clip-rmsprop": dict(data="ring", batch_size=64, loss="wasserstein", hidden=32, depth=2, pack=1),
    "toy-minimax-pack": dict(data="ring", batch_size=64, loss="minimax", hidden=32, depth=2, pack=4),
    "dcgan28-adam-reuse-fake": pytest.param(dict(data="fashion-mnist", model="dcgan", batch_size=16,
                                                 reuse_fake=True, recipe="paper"), marks=slow),
    "conditional-dcgan28": pytest.param(dict(data="fashion-mnist", model="dcgan", batch_size=16,
                                             conditional=True, recipe="paper"), marks=slow),
    "dcgan28-wgan-gp": pytest.param(dict(data="fashion-mnist", model="dcgan", batch_size=8,
                                         loss="wasserstein-gp"), marks=slow),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_trainer_in_lockstep_with_pytorch(case, tmp_path, monkeypatch):
    torch.set_num_threads(1)                       # deterministic reductions on the PyTorch side
    make_set(tmp_path / "data", n_train=120, n_test=4)
    opts = dict(case, steps=STEPS, out=str(tmp_path / "run"), device="cpu", seed=3)   # the twin: PyTorch, CPU
    if case["data"] != "ring":
        opts["data_dir"] = str(tmp_path / "data")
    if opts.get("model") == "mlp":
        # The paper's lr 0.1 is for its 60,000 images; the same rule at a size where 100 steps stay finite.
        # A max-norm of 0.06 binds from the first step (the first maxout layer's rows start at norm 0.077-0.085),
        # so the constraint is compared too. D's lr is half G's (the recipe's rule, make_config), and the
        # recipe's simultaneous update is compared.
        opts["lr"], opts["max_norm"] = 0.01, 0.06
    cfg = make_config(**opts)
    trainer = Trainer(cfg, progress=False)
    masks, eps = [], []
    drawn = record(trainer, monkeypatch, masks, eps)
    G, D = Twin(trainer.G, masks), Twin(trainer.D, masks)
    twin = TorchAlgorithm1(cfg, G, D, drawn, eps)
    drift = {}
    for step in range(1, STEPS + 1):
        row = trainer.train_step()
        loss_d, loss_g = twin.step(trainer.optD.lr, trainer.optG.lr, getattr(trainer.optD, "momentum", None))
        agree("loss_D", step, row["loss_D"], loss_d)
        agree("loss_G", step, row["loss_G"], loss_g)
        for key in ("d_out", "g_out"):              # D's losses and logits, G's outputs, call by call
            mine, theirs = drawn[key], twin.out[key]
            assert len(mine) == len(theirs), f"step {step}: {key} calls {len(mine)} vs {len(theirs)}"
            for a, b in zip(mine, theirs):
                for i, (u, v) in enumerate(zip(a, b) if key == "d_out" else [(a, b)]):
                    agree(f"{key}[{i}]", step, u, v)
            mine.clear()
            theirs.clear()
        compare_state(step, "G", trainer.G, G, drift)
        compare_state(step, "D", trainer.D, D, drift)
    for key in ("real", "noise", "labels"):
        assert not drawn[key], f"{key}: drawn by minigan but not used by the twin"
    assert not masks and not eps
