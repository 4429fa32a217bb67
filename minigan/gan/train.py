"""Algorithm 1 (Goodfellow et al. 2014): k discriminator steps, then one generator step.

    for each training iteration:
        for k steps:
            sample m noise vectors z and m data points x
            update D by ascending  1/m sum [log D(x) + log(1 - D(G(z)))]      -> Trainer.d_step
        sample m fresh noise vectors z
        update G by descending 1/m sum log(1 - D(G(z)))  (or the variants)   -> Trainer.g_step

A run directory holds config.json, checkpoint.npz (model + optimizers + RNG +
step, written atomically every epoch, at the end and on Ctrl-C), metrics.csv,
samples/*.png (a fixed-noise grid every ``sample_every`` steps) and progress.gif.
"""
import csv
import json
import math
import os
import signal
import sys
import time

import numpy as np

from .. import backend, data, nn, optim
from ..serialization import load, save
from ..tensor import Tensor, no_grad
from . import losses, models, unrolled, viz

IMAGE_SETS = ("mnist", "fashion-mnist")
HELD_OUT = 1000      # the last 1,000 training images are never trained on: Parzen's sigma is chosen on them


def sample_prior(prior, m, z_dim, rng):
    """m draws of p_z as float32 (m, z_dim): N(0, I) ("normal") or U(-1, 1)^z_dim ("uniform")."""
    if prior == "normal":
        return rng.standard_normal((m, z_dim), dtype=np.float32)
    return rng.uniform(-1, 1, (m, z_dim)).astype(np.float32)


def pad_to_32(x, background=-1.0):
    """(N, C, 28, 28) images -> (N, C, 32, 32): two pixels of background (-1 in tanh scale) on each side."""
    return np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=background)


def crop_to_28(x):
    """The inverse of pad_to_32 for a (N, C, 32, 32) batch: its centre 28x28 (what the data set compares to)."""
    return x[..., 2:30, 2:30]


def held_out(n):
    """How many of n training images are held out (1,000, or a fifth of a small set)."""
    return min(HELD_OUT, n // 5)
POINT_SETS = ("gaussian1d", "ring", "grid")

# The defaults for each data set: the best recipe found (docs/theory.md, docs/demos.md).
RECIPES = {
    "gaussian1d": dict(model="toy", loss="nonsaturating", optimizer="adam", lr=1e-3, beta1=0.5, batch_size=256,
                       steps=3000, z_dim=1, prior="uniform", hidden=32, depth=2, sample_every=100),
    "ring": dict(model="toy", loss="nonsaturating", optimizer="adam", lr=1e-3, beta1=0.5, batch_size=1024,
                 steps=8000, z_dim=2, prior="normal", hidden=128, depth=3, pack=4, sample_every=500),
    "grid": dict(model="toy", loss="nonsaturating", optimizer="adam", lr=1e-3, beta1=0.5, batch_size=1024,
                 steps=20000, z_dim=2, prior="normal", hidden=128, depth=3, pack=2, sample_every=1000),
    "mnist": dict(model="dcgan", loss="nonsaturating", optimizer="adam", lr=2e-4, beta1=0.5, batch_size=64,
                  epochs=5, z_dim=100, prior="normal", sample_every=200),
    "fashion-mnist": dict(model="dcgan", loss="nonsaturating", optimizer="adam", lr=2e-4, beta1=0.5,
                          batch_size=64, epochs=5, z_dim=100, prior="normal", sample_every=200),
}
# The GAN paper's MLP recipe (``--model mlp``): SGD, momentum rising 0.5 -> 0.7, batch 100, U(-1, 1) noise.
# max_norm: each maxout piece's incoming weight vector is kept within norm 1.9365 (pylearn2's max_col_norm,
# the value of the maxout paper's MNIST configuration; see docs/theory.md).
MLP_RECIPE = dict(loss="nonsaturating", optimizer="sgd", lr=0.1, momentum=0.5, final_momentum=0.7,
                  lr_decay=1.000004, batch_size=100, z_dim=100, prior="uniform", max_norm=1.9365)
# The all-convolutional DCGAN (Radford et al.) on images zero-padded to 32x32 (``--model dcgan32``).
DCGAN32_RECIPE = dict(optimizer="adam", lr=2e-4, beta1=0.5, batch_size=64, z_dim=100, prior="normal", ngf=32, ndf=32)
# WGAN's recipe (Arjovsky et al.): RMSprop 5e-5, clip 0.01, 5 critic steps; WGAN-GP: Adam 1e-4 (0, 0.9), lambda 10.
WASSERSTEIN = dict(optimizer="rmsprop", lr=5e-5, k=5, clip=0.01)
WASSERSTEIN_GP = dict(optimizer="adam", lr=1e-4, beta1=0.0, beta2=0.9, k=5, gp_lambda=10.0)

DEFAULTS = dict(model=None, data="ring", loss=None, k=1, epochs=None, steps=None, batch_size=None, lr=None,
                beta1=None, beta2=0.999, optimizer=None, momentum=0.0, final_momentum=None, lr_decay=1.0,
                device="cpu", seed=0, conditional=False, z_dim=None, prior=None, hidden=128, depth=3, pack=1,
                clip=0.01, gp_lambda=10.0, ngf=64, ndf=64, sample_every=None, data_dir=None, out=None, unroll=0,
                max_norm=None)
MODELS = ("mlp", "dcgan", "dcgan32", "toy")


def make_config(**options):
    """Fill a training config: explicit options > loss recipe > model recipe > data-set recipe > defaults."""
    options = {k: v for k, v in options.items() if v is not None}
    name = options.get("data", DEFAULTS["data"])
    if name not in RECIPES:
        raise ValueError(f"--data must be one of {', '.join(RECIPES)}; got {name!r}")
    cfg = dict(DEFAULTS)
    cfg.update(RECIPES[name])
    if options.get("model") == "mlp":
        cfg.update(MLP_RECIPE)
    elif options.get("model") == "dcgan32":
        cfg.update(DCGAN32_RECIPE)
    loss = options.get("loss", cfg["loss"])
    if loss == "wasserstein":
        cfg.update(WASSERSTEIN)
    elif loss == "wasserstein-gp":
        cfg.update(WASSERSTEIN_GP)
    if "steps" in options:
        cfg["epochs"] = None
    if "epochs" in options:
        cfg["steps"] = None
    cfg.update(options)
    _validate(cfg)
    return cfg


def _validate(cfg):
    checks = [("model", MODELS), ("loss", losses.LOSSES), ("optimizer", ("sgd", "adam", "rmsprop")),
              ("prior", ("normal", "uniform"))]
    for key, allowed in checks:
        if cfg[key] not in allowed:
            raise ValueError(f"--{key} must be one of {', '.join(allowed)}; got {cfg[key]!r}")
    image = cfg["data"] in IMAGE_SETS
    if image and cfg["model"] == "toy":
        raise ValueError(f"--model toy is for the 1-D / 2-D sets, not {cfg['data']}; use mlp or dcgan")
    if not image and cfg["model"] != "toy":
        raise ValueError(f"--model {cfg['model']} needs images; {cfg['data']} is {'1' if cfg['data'] == 'gaussian1d' else '2'}-D: use --model toy")
    if cfg["conditional"] and not image:
        raise ValueError(f"--conditional needs a labelled image set (mnist, fashion-mnist), not {cfg['data']}")
    for key in ("k", "batch_size", "z_dim", "pack", "sample_every"):
        if int(cfg[key]) < 1:
            raise ValueError(f"--{key.replace('_', '-')} must be >= 1; got {cfg[key]}")
    if cfg["batch_size"] % cfg["pack"]:
        raise ValueError(f"--batch-size {cfg['batch_size']} must be a multiple of --pack {cfg['pack']}")
    if (cfg["steps"] is None) == (cfg["epochs"] is None):
        raise ValueError("give exactly one of --epochs and --steps")
    if cfg["lr"] <= 0:
        raise ValueError(f"--lr must be > 0; got {cfg['lr']}")
    _validate_unroll(cfg)


def _validate_unroll(cfg):
    """--unroll, --momentum, --clip, --gp-lambda, --max-norm: numbers in range (issue 15's options)."""
    if int(cfg.get("unroll") or 0) < 0:
        raise ValueError(f"--unroll must be >= 0; got {cfg['unroll']}")
    if cfg.get("unroll") and cfg["loss"] == "wasserstein-gp":
        raise ValueError("--unroll is not implemented with --loss wasserstein-gp (it would need third "
                         "derivatives of D); use minimax, nonsaturating or wasserstein")
    if not 0 <= cfg["momentum"] < 1:
        raise ValueError(f"--momentum must be in [0, 1); got {cfg['momentum']}")
    for key in ("clip", "gp_lambda"):
        if not cfg[key] > 0:
            raise ValueError(f"--{key.replace('_', '-')} must be > 0; got {cfg[key]}")
    if cfg.get("max_norm") is not None and not cfg["max_norm"] >= 0:
        raise ValueError(f"--max-norm must be >= 0 (0: no constraint); got {cfg['max_norm']}")


def build_models(cfg, n_classes=0):
    """G and D for a config (on the CPU; the trainer moves them)."""
    nc = n_classes if cfg["conditional"] else 0
    if cfg["model"] == "toy":
        dim = 1 if cfg["data"] == "gaussian1d" else 2
        G = models.ToyGenerator(cfg["z_dim"], dim, cfg["hidden"], cfg["depth"])
        D = models.ToyDiscriminator(dim, cfg["hidden"], cfg["depth"], cfg["pack"])
    elif cfg["model"] == "mlp":
        G = models.MLPGenerator(cfg["z_dim"], n_classes=nc)
        D = models.MLPDiscriminator(n_classes=nc)
    elif cfg["model"] == "dcgan32":                                     # 28x28 images padded to 32x32
        G = models.dcgan_init(models.DCGANGenerator(cfg["z_dim"], 32, 1, cfg["ngf"], n_classes=nc))
        D = models.dcgan_init(models.DCGANDiscriminator(32, 1, cfg["ndf"], n_classes=nc))
    else:
        G = models.dcgan_init(models.DCGAN28Generator(cfg["z_dim"], n_classes=nc))
        D = models.dcgan_init(models.DCGAN28Discriminator(n_classes=nc))
    return G, D


def make_optimizer(cfg, module):
    """The optimizer a config names, over ``module``'s parameters."""
    params = module.named_parameters()
    if cfg["optimizer"] == "sgd":
        opt = optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"])
    elif cfg["optimizer"] == "rmsprop":
        opt = optim.RMSprop(params, lr=cfg["lr"])
    else:
        opt = optim.Adam(params, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]))
    if cfg.get("max_norm"):                                   # the maxout layers' weight vectors (MLP recipe)
        opt.constraints = [optim.MaxNorm(m.weight, cfg["max_norm"]) for m in module.modules()
                           if isinstance(m, nn.Maxout)]
    return opt


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class Trainer:
    """Runs Algorithm 1 for one config in one run directory."""

    def __init__(self, cfg, resume=False, progress=True):
        self.cfg, self.progress = cfg, progress
        self.run_dir = cfg["out"] or os.path.join("runs", cfg["data"])
        self.ckpt_path = os.path.join(self.run_dir, "checkpoint.npz")
        self.device = backend.check_device(cfg["device"])
        backend.manual_seed(cfg["seed"])
        self.rng = backend.rng("cpu")         # every random draw of training comes from here
        self._load_data()
        G, D = build_models(cfg, self.n_classes)
        self.G, self.D = G.to(self.device), D.to(self.device)
        self.optG, self.optD = make_optimizer(cfg, self.G), make_optimizer(cfg, self.D)
        self.step, self.perm, self.pos = 0, None, 0
        n_fixed = 10 * 8 if cfg["conditional"] else (64 if self.kind == "images" else 2500)
        self.fixed_z = self.noise(n_fixed)
        self.fixed_labels = np.repeat(np.arange(10), 8) if cfg["conditional"] else None
        if resume:
            self._restore()
        else:
            os.makedirs(os.path.join(self.run_dir, "samples"), exist_ok=True)
            with open(os.path.join(self.run_dir, "config.json"), "w") as f:
                json.dump(cfg, f, indent=2)

    # ------------------------------------------------------------------ data and noise
    def _load_data(self):
        cfg = self.cfg
        if cfg["data"] in IMAGE_SETS:
            self.kind = "images"
            scale = "sigmoid" if cfg["model"] == "mlp" else "tanh"
            x, y = data.load_images(cfg["data"], "train", cfg["data_dir"], scale=scale)
            if cfg["model"] == "dcgan32":
                x = pad_to_32(x)
            x, y = x[:len(x) - held_out(len(x))], y[:len(x) - held_out(len(x))]
            self.images = backend.to_device(x, self.device)            # (N, 1, 28, 28), on the device
            self.labels = y
            self.n_classes = 10
            per_epoch = len(x) // (cfg["batch_size"] * cfg["k"])
        else:
            self.kind = "points"
            self.n_classes = 0
            per_epoch = 1000                                           # "epoch" = 1000 steps for toy sets
        self.steps_per_epoch = max(1, per_epoch)
        self.total_steps = cfg["steps"] or cfg["epochs"] * self.steps_per_epoch

    def real_batch(self, m):
        """m fresh data points (and their labels): the next slice of a shuffled epoch, or fresh samples."""
        if self.kind == "points":
            x = getattr(data, self.cfg["data"])(m, self.rng)
            return Tensor(backend.to_device(x, self.device)), None
        if self.perm is None or self.pos + m > len(self.perm):
            self.perm, self.pos = self.rng.permutation(len(self.labels)), 0
        idx = self.perm[self.pos:self.pos + m]
        self.pos += m
        return Tensor(self.images[backend.to_device(idx, self.device)]), self.labels[idx]

    def noise(self, m):
        """m samples of the prior p_z: N(0, I) or U(-1, 1)^z_dim."""
        z = sample_prior(self.cfg["prior"], m, self.cfg["z_dim"], self.rng)
        return Tensor(backend.to_device(z, self.device))

    def fake_labels(self, m):
        return self.rng.integers(0, self.n_classes, m) if self.cfg["conditional"] else None

    # ------------------------------------------------------------------ Algorithm 1
    def d_step(self):
        """One discriminator update on m real and m generated samples."""
        cfg, m = self.cfg, self.cfg["batch_size"]
        x, y = self.real_batch(m)
        z, yz = self.noise(m), self.fake_labels(m)
        with no_grad():                                                 # G is fixed here
            fake = self.G(z, yz)
        real_logits, fake_logits = self.D(x, y), self.D(fake, yz)
        loss = losses.discriminator_loss(real_logits, fake_logits, cfg["loss"])
        if cfg["loss"] == "wasserstein-gp":
            loss = loss + cfg["gp_lambda"] * losses.gradient_penalty(self.D, x, fake, self.rng, *(
                [y] if y is not None else []))
        self.optD.zero_grad()
        loss.backward()
        gnorm = _grad_norm(self.D)
        self.optD.step()
        if cfg["loss"] == "wasserstein":                                # keep the critic K-Lipschitz
            for p in self.D.parameters():
                xp = backend.get_array_module(p.data)
                xp.clip(p.data, -cfg["clip"], cfg["clip"], out=p.data)
        return loss, real_logits, fake_logits, gnorm

    def g_step(self):
        """One generator update on m fresh noise samples (D's weights are not updated)."""
        m = self.cfg["batch_size"]
        z, yz = self.noise(m), self.fake_labels(m)
        for p in self.D.parameters():                                   # no gradient wasted on D
            p.requires_grad = False
        try:
            if self.cfg.get("unroll"):                                  # Metz et al.: G against D K steps ahead
                loss = self.unrolled_loss(z, yz)
            else:
                loss = losses.generator_loss(self.D(self.G(z, yz), yz), self.cfg["loss"])
            self.optG.zero_grad()
            loss.backward()
        finally:
            for p in self.D.parameters():
                p.requires_grad = True
        gnorm = _grad_norm(self.G)
        self.optG.step()
        return loss, gnorm

    def unrolled_loss(self, z, yz):
        """G's loss against D advanced ``unroll`` steps of its optimizer (minigan.gan.unrolled)."""
        m, batches = self.cfg["batch_size"], []
        for _ in range(self.cfg["unroll"]):
            x, y = self.real_batch(m)
            batches.append((x, y, self.noise(m), self.fake_labels(m)))
        clip = self.cfg["clip"] if self.cfg["loss"] == "wasserstein" else None
        return unrolled.unrolled_generator_loss(self.G, self.D, self.optD, z, yz, batches, self.cfg["loss"], clip)

    def schedule(self):
        """The MLP recipe's hyper-parameters over training: momentum 0.5 -> 0.7, lr decayed per step."""
        cfg = self.cfg
        if cfg["optimizer"] == "sgd":
            frac = min(1.0, self.step / max(1, self.total_steps))
            final = cfg["final_momentum"] if cfg["final_momentum"] is not None else cfg["momentum"]
            mom = cfg["momentum"] + (final - cfg["momentum"]) * frac
            lr = max(cfg["lr"] / cfg["lr_decay"] ** self.step, 1e-6)
            for opt in (self.optD, self.optG):
                opt.momentum, opt.lr = mom, lr

    def train_step(self):
        """k D steps then one G step; returns the metrics row."""
        t0 = time.perf_counter()
        self.G.train()
        self.D.train()
        self.schedule()
        for _ in range(self.cfg["k"]):
            loss_d, real_logits, fake_logits, gn_d = self.d_step()
        loss_g, gn_g = self.g_step()
        wasser = self.cfg["loss"].startswith("wasserstein")
        score = (lambda l: float(l.data.mean())) if wasser else (lambda l: float((1 / (1 + np.exp(-l.numpy()))).mean()))
        row = dict(step=self.step + 1, epoch=self.step // self.steps_per_epoch, loss_D=float(loss_d.data),
                   loss_G=float(loss_g.data), D_x=score(real_logits), D_G_z=score(fake_logits),
                   grad_norm_D=gn_d, grad_norm_G=gn_g, seconds=time.perf_counter() - t0)
        for key in ("loss_D", "loss_G"):
            if not math.isfinite(row[key]):
                raise TrainingDiverged(
                    f"step {row['step']}: {key} is {row[key]}; training stopped. The last good checkpoint "
                    f"({self.ckpt_path}) is kept: lower --lr, or resume it with --resume.")
        self.step += 1
        return row

    # ------------------------------------------------------------------ the loop
    def run(self):
        """Train to the configured number of steps; returns the run directory."""
        from tqdm import tqdm
        stop = {"now": False}

        def on_sigint(signum, frame):                   # finish the step, save, then stop
            if stop["now"]:
                raise KeyboardInterrupt
            stop["now"] = True
        old = signal.signal(signal.SIGINT, on_sigint) if _main_thread() else None
        metrics = _Metrics(os.path.join(self.run_dir, "metrics.csv"), self.step)
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not self.progress, unit="step",
                   dynamic_ncols=True, desc=f"{self.cfg['model']} on {self.cfg['data']}")
        try:
            if self.step == 0:
                self.save_samples()
            while self.step < self.total_steps and not stop["now"]:
                row = self.train_step()
                metrics.write(row)
                bar.update(1)
                bar.set_postfix(loss_D=f"{row['loss_D']:.3f}", loss_G=f"{row['loss_G']:.3f}",
                                D_x=f"{row['D_x']:.2f}", D_G_z=f"{row['D_G_z']:.2f}", refresh=False)
                if self.step % self.cfg["sample_every"] == 0 or self.step == self.total_steps:
                    self.save_samples()
                if self.step % self.steps_per_epoch == 0:
                    self.save_checkpoint()
            self.save_checkpoint()
            if stop["now"]:
                print(f"\nInterrupted at step {self.step}: checkpoint saved to {self.ckpt_path}; "
                      f"continue with --resume.", file=sys.stderr)
        finally:
            bar.close()
            metrics.close()
            if old is not None:
                signal.signal(signal.SIGINT, old)
            self.write_gif()
        return self.run_dir

    # ------------------------------------------------------------------ outputs
    def sample(self, z, labels=None):
        """G(z) as a NumPy array, G in eval mode, no graph."""
        self.G.eval()
        with no_grad():
            out = self.G(z, labels).numpy()
        self.G.train()
        return out

    def save_samples(self):
        """The fixed-noise picture for this step: samples/step_XXXXXXX.png."""
        path = os.path.join(self.run_dir, "samples", f"step_{self.step:07d}.png")
        out = self.sample(self.fixed_z, self.fixed_labels)
        title = f"step {self.step}"
        if self.kind == "images":
            if self.cfg["model"] != "mlp":
                out = (out + 1) / 2                                    # tanh range -> [0, 1]
            viz.save_image_grid(out, path, nrow=8)
        elif self.cfg["data"] == "gaussian1d":
            xs = np.linspace(-1, 9, 200, dtype=np.float32)[:, None]
            with no_grad():
                self.D.eval()
                d = 1 / (1 + np.exp(-self.D(Tensor(backend.to_device(xs, self.device))).numpy()))
                self.D.train()
            real = data.gaussian1d(len(out), np.random.default_rng(0))
            viz.save_png(viz.histogram_frame(out, real, xs.ravel(), d.ravel(), title), path)
        else:
            real = getattr(data, self.cfg["data"])(len(out), np.random.default_rng(0))
            lim = 1.5 if self.cfg["data"] == "ring" else 5.5
            viz.save_png(viz.points_frame(out, real, title, lim), path)

    def write_gif(self):
        """progress.gif from every saved sample picture."""
        folder = os.path.join(self.run_dir, "samples")
        if os.path.isdir(folder):
            frames = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.startswith("step_"))
            viz.write_gif(frames, os.path.join(self.run_dir, "progress.gif"))

    # ------------------------------------------------------------------ checkpoints
    def state(self):
        """Everything needed to continue exactly: models, optimizers, RNG, step, data order."""
        return {"G": self.G.state_dict(), "D": self.D.state_dict(), "optG": self.optG.state_dict(),
                "optD": self.optD.state_dict(), "step": self.step, "rng": backend.rng_state(),
                "perm": self.perm if self.perm is not None else np.zeros(0, np.int64), "pos": self.pos,
                "fixed_z": self.fixed_z.numpy(), "config": json.dumps(self.cfg)}

    def save_checkpoint(self):
        """Atomically write checkpoint.npz (the previous one stays valid until the rename)."""
        save(self.state(), self.ckpt_path)

    def _restore(self):
        if not os.path.exists(self.ckpt_path):
            raise FileNotFoundError(f"--resume: no checkpoint at {self.ckpt_path}")
        st = load(self.ckpt_path)
        self.G.load_state_dict(st["G"])
        self.D.load_state_dict(st["D"])
        self.optG.load_state_dict(st["optG"])
        self.optD.load_state_dict(st["optD"])
        self.step = int(st["step"])
        backend.set_rng_state(st["rng"])
        self.perm = st["perm"] if len(st["perm"]) else None
        self.pos = int(st["pos"])
        self.fixed_z = Tensor(backend.to_device(np.asarray(st["fixed_z"]), self.device))


def _grad_norm(module):
    """||grad||_2 over all parameters of ``module`` (a float)."""
    total = 0.0
    for p in module.parameters():
        if p.grad is not None:
            total += float((p.grad.data.astype(np.float64) ** 2).sum())
    return math.sqrt(total)


def _main_thread():
    import threading
    return threading.current_thread() is threading.main_thread()


class _Metrics:
    """metrics.csv, one row per step; on resume, rows past the checkpoint's step are dropped."""

    FIELDS = ["step", "epoch", "loss_D", "loss_G", "D_x", "D_G_z", "grad_norm_D", "grad_norm_G", "seconds"]

    def __init__(self, path, step):
        rows = []
        if step and os.path.exists(path):
            with open(path) as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        self.f = open(path, "w", newline="")
        self.w = csv.DictWriter(self.f, self.FIELDS)
        self.w.writeheader()
        self.w.writerows(rows)

    def write(self, row):
        self.w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        self.f.flush()                                  # so `tail -f metrics.csv` follows training

    def close(self):
        self.f.close()


def train(**options):
    """Make a config from options and train it; returns the run directory."""
    resume, progress = options.pop("resume", False), options.pop("progress", True)
    if resume:
        run_dir = options.get("out")
        if not run_dir:
            raise ValueError("--resume needs --out RUN_DIR")
        with open(os.path.join(run_dir, "config.json")) as f:
            cfg = json.load(f)
        for key in ("steps", "epochs", "device"):        # a resumed run may be extended or moved
            if options.get(key) is not None:
                cfg[key] = options[key]
                if key == "steps":
                    cfg["epochs"] = None
                elif key == "epochs":
                    cfg["steps"] = None
        return Trainer(cfg, resume=True, progress=progress).run()
    return Trainer(make_config(**options), progress=progress).run()
