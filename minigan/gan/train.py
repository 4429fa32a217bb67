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
import copy
import csv
import json
import math
import os
import signal
import sys
import time

import numpy as np

from .. import backend, data, nn, optim
from ..serialization import CheckpointError, load, save
from ..tensor import Tensor, no_grad
from . import losses, unrolled, viz
from .run import (
    IMAGE_SETS,
    N_CLASSES,
    RESUME_MAY_CHANGE,
    build_models,
    frozen,
    make_config,
    output_range,
    pad_to_32,
    prior,
    set_length,
    split_held_out,
    to_unit_range,
    validate,
)


def base_lr(cfg, net):
    """The learning rate of G ("G") or D ("D"): --lr, and --lr-d for D when given (two time-scales)."""
    return cfg["lr_d"] if net == "D" and cfg.get("lr_d") else cfg["lr"]


def make_optimizer(cfg, module, net="G"):
    """The optimizer a config names, over ``module``'s parameters (``net``: "G" or "D", for its lr)."""
    params, lr = module.named_parameters(), base_lr(cfg, net)
    if cfg["optimizer"] == "sgd":
        opt = optim.SGD(params, lr=lr, momentum=cfg["momentum"])
    elif cfg["optimizer"] == "rmsprop":
        opt = optim.RMSprop(params, lr=lr)
    else:
        opt = optim.Adam(params, lr=lr, betas=(cfg["beta1"], cfg["beta2"]))
    if cfg.get("max_norm"):                                   # the maxout layers' weight vectors (MLP recipe)
        opt.constraints = [optim.MaxNorm(m.weight, cfg["max_norm"]) for m in module.modules()
                           if isinstance(m, nn.Maxout)]
    return opt


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class Trainer:
    """Runs Algorithm 1 for one config in one run directory.

    ``images``: (x, labels) arrays to train on instead of the data set's files, with x as the generator
    makes it; nothing is written to disk until ``run`` (the benchmark times ``train_step`` this way).
    """

    def __init__(self, cfg, resume=False, progress=True, images=None):
        self.cfg, self.progress = cfg, progress
        self.saved_step, self.interrupted = None, None     # step of the checkpoint on disk; signal that stopped us
        self.run_dir = cfg["out"] or os.path.join("runs", cfg["data"])
        self.ckpt_path = os.path.join(self.run_dir, "checkpoint.npz")
        # --device, else $MINIGAN_DEVICE, else cpu; config.json records the device the run used
        cfg["device"] = self.device = backend.resolve_device(cfg.get("device"))
        cfg.setdefault("log_every", 1)
        backend.manual_seed(cfg["seed"])
        self.rng = backend.rng("cpu")         # every random draw of training comes from here
        self._load_data(images)
        G, D = build_models(cfg)
        if cfg["model"] == "mlp":                                 # G starts at the data's mean image
            G.output_bias_from(backend.as_numpy(self.images.mean(axis=0)))
        self.G, self.D = G.to(self.device), D.to(self.device)
        self.optG, self.optD = make_optimizer(cfg, self.G, "G"), make_optimizer(cfg, self.D, "D")
        self.G_ema = None                     # --ema: a moving average of G's weights, the generator that samples
        if cfg.get("ema"):
            self.G_ema = copy.deepcopy(self.G).eval()      # a copy: no random draw, so --ema leaves training as it is
        self.step, self.perm, self.pos = 0, None, 0
        n_fixed = N_CLASSES * 8 if cfg["conditional"] else (64 if self.kind == "images" else 2500)
        self.fixed_z = self.noise(n_fixed)
        self.fixed_labels = np.repeat(np.arange(N_CLASSES), 8) if cfg["conditional"] else None
        if resume:
            self._restore()
        elif images is None:
            os.makedirs(os.path.join(self.run_dir, "samples"), exist_ok=True)
            with open(os.path.join(self.run_dir, "config.json"), "w") as f:
                json.dump(cfg, f, indent=2)

    # ------------------------------------------------------------------ data and noise
    def _load_data(self, images=None):
        cfg = self.cfg
        self.kind = "images" if images is not None or cfg["data"] in IMAGE_SETS else "points"
        if images is not None:
            x, y = images
        elif self.kind == "images":
            folder = data.find_files(cfg["data"], cfg["data_dir"])["train_images"].parent
            cfg["data_dir"] = str(folder.resolve())                     # config.json: the folder actually read
            x, y = data.load_images(cfg["data"], "train", cfg["data_dir"], scale=output_range(cfg))
            if cfg["model"] == "dcgan32":
                x = pad_to_32(x)
            (x, _), (y, _) = split_held_out(x), split_held_out(y)
        if self.kind == "images":
            if cfg["batch_size"] > len(x):
                raise ValueError(f"--batch-size {cfg['batch_size']} is larger than the {len(x)} training images "
                                 f"of {cfg['data']} in {cfg['data_dir']}; use --batch-size {len(x)} or less")
            self.images = backend.to_device(x, self.device)            # (N, 1, 28, 28), on the device
            self.labels = y
            per_epoch = len(x) // (cfg["batch_size"] * cfg["k"])
        else:
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
        y = self.labels[idx]
        if self.cfg["conditional"]:                                    # moved once, not at every use
            y = backend.to_device(self.labels[idx], self.device)
        return Tensor(self.images[backend.to_device(idx, self.device)]), y

    def noise(self, m):
        """m samples of the prior p_z: N(0, I) or U(-1, 1)^z_dim."""
        return prior(self.cfg, m, self.rng, self.device)

    def fake_labels(self, m):
        return backend.to_device(self.rng.integers(0, N_CLASSES, m), self.device) if self.cfg["conditional"] else None

    # ------------------------------------------------------------------ Algorithm 1
    def d_step(self):
        """One discriminator update on m real and m generated samples."""
        cfg, m = self.cfg, self.cfg["batch_size"]
        x, y = self.real_batch(m)
        z, yz = self.noise(m), self.fake_labels(m)
        self.last_fake_noise = z, yz                                    # for --reuse-fake
        with no_grad():                                                 # G is fixed here
            fake = self.G(z, yz)
        real_logits, fake_logits = self.D(x, y), self.D(fake, yz)
        loss = losses.discriminator_loss(real_logits, fake_logits, cfg["loss"], cfg.get("smooth", 1.0))
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

    def g_step(self, update=True):
        """One generator update on m fresh noise samples (D's weights are not updated).

        Algorithm 1 samples fresh noise for the G step. With ``reuse_fake`` the G step reuses the noise (and
        labels) of the last D step instead, as PyTorch's DCGAN example reuses its fake batch. ``update=False``
        leaves the gradient in G's ``.grad`` for a later ``g_update`` (``--update simultaneous``).
        """
        m = self.cfg["batch_size"]
        if self.cfg.get("reuse_fake"):
            z, yz = self.last_fake_noise
        else:
            z, yz = self.noise(m), self.fake_labels(m)
        with frozen(self.D):                                            # no gradient wasted on D's weights
            if self.cfg.get("unroll"):                                  # Metz et al.: G against D K steps ahead
                loss = self.unrolled_loss(z, yz)
            else:
                loss = losses.generator_loss(self.D(self.G(z, yz), yz), self.cfg["loss"])
            self.optG.zero_grad()
            loss.backward()
        gnorm = _grad_norm(self.G)
        if update:
            self.g_update()
        return loss, gnorm

    def g_update(self):
        self.optG.step()
        if self.G_ema is not None:
            self.update_ema()

    def update_ema(self):
        """G_ema <- d G_ema + (1 - d) G, with d = min(ema, (1 + t) / (10 + t)) so the first steps are not
        averaged with the initial weights for long; batch-norm running statistics are copied from G."""
        t = self.step
        d = min(self.cfg["ema"], (1 + t) / (10 + t))
        for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
            pe.data *= pe.data.dtype.type(d)
            pe.data += p.data * pe.data.dtype.type(1 - d)
        for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
            be.data[...] = b.data

    def unrolled_loss(self, z, yz):
        """G's loss against D advanced ``unroll`` steps of its optimizer (minigan.gan.unrolled)."""
        m, batches = self.cfg["batch_size"], []
        for _ in range(self.cfg["unroll"]):
            x, y = self.real_batch(m)
            batches.append((x, y, self.noise(m), self.fake_labels(m)))
        clip = self.cfg["clip"] if self.cfg["loss"] == "wasserstein" else None
        return unrolled.unrolled_generator_loss(self.G, self.D, self.optD, z, yz, batches, self.cfg["loss"], clip)

    def schedule(self):
        """The learning rates and momentum for this step: --cooldown lets the rates fall linearly to 0 over
        the last fraction of the run; the MLP recipe's SGD has momentum 0.5 -> 0.7 (over momentum_epochs,
        else over the run) and lr decayed per step."""
        cfg = self.cfg
        factor = 1.0
        if cfg.get("cooldown"):                        # 1 until the cooldown starts, then down to 1 / its length
            factor = min(1.0, (self.total_steps - self.step) / (cfg["cooldown"] * self.total_steps))
        for opt, net in ((self.optD, "D"), (self.optG, "G")):
            lr = base_lr(cfg, net)
            if cfg["optimizer"] == "sgd":
                final = cfg["final_momentum"] if cfg["final_momentum"] is not None else cfg["momentum"]
                span = cfg["momentum_epochs"] * self.steps_per_epoch if cfg.get("momentum_epochs") else self.total_steps
                opt.momentum = cfg["momentum"] + (final - cfg["momentum"]) * min(1.0, self.step / span)
                lr = max(lr / cfg["lr_decay"] ** self.step, 1e-6)
            opt.lr = lr * factor

    def train_step(self):
        """k D steps then one G step; returns the metrics row, or None on a step that is not logged.

        The row's numbers are computed on the device and copied to the host in one transfer, every
        ``log_every`` steps (and at the last step); the NaN check reads that row.
        """
        t0 = time.perf_counter()
        self.G.train()
        self.D.train()
        self.schedule()
        simultaneous = self.cfg.get("update") == "simultaneous"
        if simultaneous:                        # the paper's code: G's gradient against D before D moves
            loss_g, gn_g = self.g_step(update=False)
        for _ in range(self.cfg["k"]):
            loss_d, real_logits, fake_logits, gn_d = self.d_step()
        if simultaneous:
            self.g_update()
        else:
            loss_g, gn_g = self.g_step()
        if (self.step + 1) % self.cfg.get("log_every", 1) and self.step + 1 != self.total_steps:
            self.step += 1
            return None
        wasser = self.cfg["loss"].startswith("wasserstein")
        xp = backend.get_array_module(loss_d.data)
        score = (lambda l: l.data.mean()) if wasser else (lambda l: l.detach().sigmoid().data.mean())   # stable
        values = [loss_d.data, loss_g.data, score(real_logits), score(fake_logits), gn_d, gn_g,
                  self._finite_total()]                      # the row and the finiteness flag: one transfer
        host = backend.as_numpy(xp.stack([xp.asarray(v, dtype=np.float64) for v in values])).tolist()
        row = dict(step=self.step + 1, epoch=self.step // self.steps_per_epoch, loss_D=host[0],
                   loss_G=host[1], D_x=host[2], D_G_z=host[3],
                   grad_norm_D=host[4], grad_norm_G=host[5], seconds=time.perf_counter() - t0)
        for key in ("loss_D", "loss_G"):
            if not math.isfinite(row[key]):
                raise TrainingDiverged(f"step {row['step']}: {key} is {row[key]}; training stopped. "
                                       + self._advice())
        self.step += 1
        if not math.isfinite(host[6]):
            self.check_finite()                                 # names the first non-finite array, raises
        return row

    # ------------------------------------------------------------------ the loop
    def run(self):
        """Train to the configured number of steps; returns the run directory."""
        from tqdm import tqdm
        stop = {"now": False}

        def on_sigint(signum, frame):                   # finish the step, save, then stop
            if stop["now"]:                             # a second signal: stop at once
                raise StopNow(signum, f"{signal.Signals(signum).name} again: stopped at once at step "
                                      f"{self.step}; " + self._on_disk())
            stop["now"] = True
            self.interrupted = signum
        old = {s: signal.signal(s, on_sigint) for s in (signal.SIGINT, signal.SIGTERM)} if _main_thread() else {}
        metrics = _Metrics(os.path.join(self.run_dir, "metrics.csv"), self.step)
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not self.progress, unit="step",
                   dynamic_ncols=True, desc=f"{self.cfg['model']} on {self.cfg['data']}")
        try:
            if self.step == 0:
                self.save_samples()
            while self.step < self.total_steps and not stop["now"]:
                row = self.train_step()
                bar.update(1)
                if row is not None:
                    metrics.write(row)
                    bar.set_postfix(loss_D=f"{row['loss_D']:.3f}", loss_G=f"{row['loss_G']:.3f}",
                                    D_x=f"{row['D_x']:.2f}", D_G_z=f"{row['D_G_z']:.2f}", refresh=False)
                if self.step % self.cfg["sample_every"] == 0 or self.step == self.total_steps:
                    self.save_samples()
                if self.step % self.steps_per_epoch == 0:
                    self.save_checkpoint()
            self.save_checkpoint()
            if stop["now"]:
                print(f"\n{signal.Signals(self.interrupted).name}: stopped at step {self.step}; checkpoint saved "
                      f"to {self.ckpt_path}; continue with: minigan train --resume --out {self.run_dir}",
                      file=sys.stderr)
        finally:
            bar.close()
            metrics.close()
            for s, handler in old.items():
                signal.signal(s, handler)
            self.write_gif()
        return self.run_dir

    # ------------------------------------------------------------------ outputs
    def sample(self, z, labels=None):
        """G(z) as a NumPy array, G (or its moving average, with --ema) in eval mode, no graph."""
        G = self.G_ema or self.G
        G.eval()
        with no_grad():
            out = G(z, labels).numpy()
        self.G.train()
        return out

    def save_samples(self):
        """The fixed-noise picture for this step: samples/step_XXXXXXX.png."""
        path = os.path.join(self.run_dir, "samples", f"step_{self.step:07d}.png")
        out = self.sample(self.fixed_z, self.fixed_labels)
        title = f"step {self.step}"
        if self.kind == "images":
            viz.save_image_grid(to_unit_range(self.cfg, out), path, nrow=8)
        elif self.cfg["data"] == "gaussian1d":
            xs = np.linspace(-1, 9, 200, dtype=np.float32)[:, None]
            with no_grad():
                self.D.eval()
                d = self.D(Tensor(backend.to_device(xs, self.device))).sigmoid().numpy()
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
        st = {"G": self.G.state_dict(), "D": self.D.state_dict(), "optG": self.optG.state_dict(),
              "optD": self.optD.state_dict(), "step": self.step, "rng": backend.rng_state(),
              "perm": self.perm if self.perm is not None else np.zeros(0, np.int64), "pos": self.pos,
              "fixed_z": self.fixed_z.numpy(), "config": json.dumps(self.cfg)}
        if self.G_ema is not None:
            st["G_ema"] = self.G_ema.state_dict()
        return st

    def save_checkpoint(self):
        """Atomically write checkpoint.npz (the previous one stays valid until the rename); never a non-finite one."""
        self.check_finite()
        save(self.state(), self.ckpt_path)
        self.saved_step = self.step

    # ------------------------------------------------------------------ divergence
    def _checked_arrays(self):
        """(name, array) of every parameter and every optimizer state array of G and D."""
        for tag, model, opt in (("G", self.G, self.optG), ("D", self.D, self.optD)):
            for name, p in model.named_parameters():
                yield f"{tag} parameter {name}", p.data
            for key, st in opt.state.items():
                for sname, v in st.items():
                    if sname != "step":
                        yield f"{tag} optimizer state {sname} of {key}", v

    def _finite_total(self):
        """A 0-d device array, finite exactly when every parameter and optimizer state value is (check_finite)."""
        arrays = [a for _, a in self._checked_arrays()]
        xp = backend.get_array_module(arrays[0])
        return xp.stack([a.sum(dtype=xp.float64) for a in arrays]).sum()

    def check_finite(self):
        """Raise TrainingDiverged if a parameter or optimizer state holds NaN / inf.

        One flag for everything, computed on the device: the float64 sum of every array is finite exactly when
        every value is (a float32 array cannot overflow a float64 sum), so there is one host sync per check.
        """
        if math.isfinite(float(self._finite_total())):
            return
        xp = backend.get_array_module(next(iter(self._checked_arrays()))[1])
        bad = next((n for n, a in self._checked_arrays() if not bool(xp.isfinite(a).all())), "a value")
        raise TrainingDiverged(f"step {self.step}: {bad} is not finite (NaN or inf); training stopped. "
                               + self._advice())

    def _on_disk(self):
        """The truth about the checkpoint file."""
        if self.saved_step is None:
            return f"no checkpoint has been saved yet ({self.ckpt_path} does not exist)"
        return f"the last good checkpoint, step {self.saved_step}, is {self.ckpt_path}"

    def _advice(self):
        """What to do after a divergence: resume the last good checkpoint, or start over, with a lower --lr."""
        lower, disk = f"{self.cfg['lr'] / 10:g}", self._on_disk()
        disk = disk[0].upper() + disk[1:]
        if self.saved_step is None:
            return (f"{disk}; start again with a lower learning rate: "
                    f"minigan train ... --out {self.run_dir} --force --lr {lower}")
        return (f"{disk}; continue it with a lower learning rate: "
                f"minigan train --resume --out {self.run_dir} --lr {lower}")

    def _restore(self):
        if not os.path.exists(self.ckpt_path):
            raise FileNotFoundError(f"--resume: no checkpoint at {self.ckpt_path}")
        st = load(self.ckpt_path)
        try:
            self._restore_state(st)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise CheckpointError(f"--resume: checkpoint {self.ckpt_path} does not fit this run: {e}") from e

    def _restore_state(self, st):
        missing = [k for k in ("G", "D", "optG", "optD", "step", "rng", "perm", "pos", "fixed_z") if k not in st]
        if missing:
            raise ValueError(f"it lacks {', '.join(missing)} (damaged, or not a training checkpoint)")
        self.G.load_state_dict(st["G"])
        self.D.load_state_dict(st["D"])
        self.optG.load_state_dict(st["optG"])
        self.optD.load_state_dict(st["optD"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(st["G_ema"] if "G_ema" in st else st["G"])
        self.step = int(st["step"])
        backend.set_rng_state(st["rng"])
        self.perm = st["perm"] if len(st["perm"]) else None
        self.pos = int(st["pos"])
        self.fixed_z = Tensor(backend.to_device(np.asarray(st["fixed_z"]), self.device))
        self.saved_step = self.step

    def _apply_changes(self, changes):
        """After a resume: the changed options take effect now; config.json records each with its step."""
        for ch in changes:
            ch["step"] = self.step
            if ch["option"] in ("lr", "lr_d"):         # the checkpoint restored the old lr into the optimizers
                self.optG.lr, self.optD.lr = base_lr(self.cfg, "G"), base_lr(self.cfg, "D")
        if changes:
            self.cfg.setdefault("changes", []).extend(changes)
            write_json_atomic(self.cfg, os.path.join(self.run_dir, "config.json"))


class StopNow(KeyboardInterrupt):
    """A second SIGINT / SIGTERM during training: stop at once (the checkpoint on disk is intact)."""

    def __init__(self, signum, message):
        super().__init__(message)
        self.signum = signum


def write_json_atomic(obj, path):
    """Write JSON to a temporary file next to ``path``, then rename it over ``path``."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def _grad_norm(module):
    """||grad||_2 over all parameters of ``module``, in float64, as a 0-d array on their device (no sync)."""
    total, xp = None, np
    for p in module.parameters():
        xp = backend.get_array_module(p.data)
        if p.grad is not None:
            s = (p.grad.data.astype(np.float64) ** 2).sum()
            total = s if total is None else total + s
    return xp.zeros(()) if total is None else xp.sqrt(total)


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


# Options a resume may change (they take effect at the checkpoint's step); every other option must match the run.
RUN_FILES = ("config.json", "checkpoint.npz", "metrics.csv")


def _check_memory(cfg):
    """Refuse a --batch-size or --z-dim whose training step cannot fit in the free memory (before any work).

    A rough lower bound: the floats of one sample's activations in G and D (forward and backward), times the
    k + 1 batches of a step, plus G's first layer (z_dim x its width) with Adam's two moments.
    """
    if backend.resolve_device(cfg["device"]) != "cpu":  # the step's memory is the GPU's, not the host's
        return
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    if cfg["model"] == "dcgan":                          # the outputs of G's and D's layers, one float each
        per_sample, width = 6272 + 12544 + 784 + 12544 + 6272, 6272
    elif cfg["model"] == "mlp":
        per_sample, width = 1200 * 5 + 784 + 240 * 5, 1200
    else:
        per_sample, width = cfg["hidden"] * cfg["depth"] * 2, cfg["hidden"]
    need = 4 * (per_sample * cfg["batch_size"] * (cfg["k"] + 1) + 3 * cfg["z_dim"] * width)
    if need > free:
        raise ValueError(f"--batch-size {cfg['batch_size']} with --z-dim {cfg['z_dim']}: one training step needs "
                         f"at least {need / 2**30:.1f} GiB of memory, more than the {free / 2**30:.1f} GiB free")


def holds_run(run_dir):
    """Whether ``run_dir`` holds (part of) a training run."""
    return any(os.path.exists(os.path.join(run_dir, f)) for f in RUN_FILES)


def _check_out(run_dir):
    """--out must be a directory we can create and write (checked before any work starts)."""
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise ValueError(f"--out {run_dir}: exists and is a file, not a run directory")
    parent = os.path.abspath(run_dir)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"--out {run_dir}: {parent} is a file, so no directory can be made under it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out {run_dir}: {parent} is not writable")


def move_aside(run_dir):
    """Move an old run to RUN_DIR.old (or .old-2, ...); returns the new name."""
    base = run_dir.rstrip("/\\") or run_dir
    dest, i = base + ".old", 1
    while os.path.exists(dest):
        i += 1
        dest = f"{base}.old-{i}"
    os.replace(run_dir, dest)
    return dest


def _resume_config(options):
    """The run's config with the options a resume may change applied; (config, list of changes)."""
    run_dir = options.get("out")
    if not run_dir:
        raise ValueError("--resume needs --out RUN_DIR")
    cfg_path = os.path.join(run_dir, "config.json")
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"--resume: no run directory {run_dir}")
    if not os.path.exists(cfg_path):
        raise FileNotFoundError(f"--resume: {cfg_path} not found; {run_dir} holds no run to continue")
    try:
        with open(cfg_path) as f:
            cfg = json.load(f)
        if not isinstance(cfg, dict) or "data" not in cfg:
            raise ValueError("not a minigan training config")
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"--resume: {cfg_path} is damaged ({e})") from None
    cfg["out"] = run_dir                                # the run lives where it is now, not where it was made
    changes = []
    for key, value in options.items():
        if value is None or key == "out" or (key == "conditional" and value == cfg.get(key)):
            continue
        old = cfg.get(key)
        if key == "data_dir" and old is None:           # a run made before config.json recorded its folder
            cfg[key] = value
            continue
        if key == "data_dir" and cfg["data"] in IMAGE_SETS:
            folder = data.find_files(cfg["data"], value, download_missing=False)["train_images"].parent
            if os.path.realpath(folder) == os.path.realpath(old):
                continue                                # the same folder, named another way
        if value == old:
            continue
        name = "--" + key.replace("_", "-")
        if key not in RESUME_MAY_CHANGE:
            allowed = ", ".join("--" + k.replace("_", "-") for k in RESUME_MAY_CHANGE)
            raise ValueError(f"--resume cannot change {name} (the run has {old!r}, got {value!r}); --resume may "
                             f"change only {allowed}; start a new run with another --out (or --force)")
        changes.append({"option": key, "from": old, "to": value})
        if key in ("steps", "epochs"):
            set_length(cfg, key, value)
        else:
            cfg[key] = value
    env = os.environ.get("MINIGAN_DEVICE")
    if options.get("device") is None and env and env != cfg.get("device"):
        changes.append({"option": "device", "from": cfg.get("device"), "to": env})   # --device, then $MINIGAN_DEVICE
        cfg["device"] = env
    validate(cfg)
    return cfg, changes


def train(**options):
    """Make a config from options and train it; returns the run directory.

    ``resume=True`` continues the run in ``out`` (which may change only RESUME_MAY_CHANGE); ``force=True``
    starts over in an ``out`` that holds a run, after moving the old run to ``out.old``.
    ``return_trainer=True`` returns the Trainer instead (its ``interrupted`` is the signal that stopped it).
    """
    resume, progress = options.pop("resume", False), options.pop("progress", True)
    force, return_trainer = options.pop("force", False), options.pop("return_trainer", False)
    if resume and force:
        raise ValueError("--resume and --force exclude each other: continue the run, or start it over")
    if resume:
        cfg, changes = _resume_config(options)
        trainer = Trainer(cfg, resume=True, progress=progress)
        if trainer.step >= trainer.total_steps:
            raise ValueError(f"--resume: {trainer.run_dir} is already at step {trainer.step} (its --steps / --epochs "
                             f"make {trainer.total_steps}); give --steps greater than {trainer.step} to train on")
        trainer._apply_changes(changes)
        trainer.run()
        return trainer if return_trainer else trainer.run_dir
    cfg = make_config(**options)
    run_dir = cfg["out"] = cfg["out"] or os.path.join("runs", cfg["data"])
    _check_out(run_dir)
    _check_memory(cfg)
    if holds_run(run_dir):
        if not force:
            raise ValueError(f"--out {run_dir} already holds a run; continue it with --resume, or start over "
                             f"with --force (the old run is moved to {run_dir.rstrip('/')}.old)")
        print(f"--force: moved the old run in {run_dir} to {move_aside(run_dir)}", file=sys.stderr)
    trainer = Trainer(cfg, progress=progress)
    trainer.run()
    return trainer if return_trainer else trainer.run_dir
