"""The trainer: Algorithm 1 (algorithm1.py) for one config, in one run directory.

    Trainer(cfg)        builds what the config names: the minibatches (Batches), G and D, their optimizers,
                        G's moving average (--ema) and the fixed noise of the pictures
    Trainer.train_step  one iteration of Algorithm 1 (algorithm1.train_step) at the learning rates of this
                        step (``schedule``, a pure function of the step); a metrics row every log_every steps
    Trainer.fit         train_step to the last step, with a picture every sample_every steps and a checkpoint
                        every epoch, at the end and on Ctrl-C / SIGTERM
    train(**options)    makes the config (config.py), or reads it back with --resume (run.py), and fits

The bookkeeping of a run lives in rooms named for it: run.py (the run directory: config.json, checkpoints,
resume, --out / --force), watch.py (metrics.csv, NaN and inf, the memory check), pictures.py (samples/ and
progress.gif).
"""
import copy
import json
import math
import os
import signal
import sys
import threading
import time

import numpy as np

from .. import backend, data, nn, optim, tricks
from ..serialization import CheckpointError, save
from ..tensor import Tensor
from . import algorithm1, pictures, run, watch
from .config import IMAGE_SETS, N_CLASSES, build_models, complete, make_config
from .watch import TrainingDiverged  # noqa: F401  (train's callers catch it)


# ---------------------------------------------------------------- optimizers and their schedule
def base_lr(cfg, net):
    """The learning rate of G ("G") or D ("D"): --lr, and --lr-d for D when given (two time-scales)."""
    return cfg["lr_d"] if net == "D" and cfg["lr_d"] else cfg["lr"]


def make_optimizer(cfg, module, net="G"):
    """The optimizer a config names, over ``module``'s parameters (``net``: "G" or "D", for its lr)."""
    params, lr = module.named_parameters(), base_lr(cfg, net)
    if cfg["optimizer"] == "sgd":
        opt = optim.SGD(params, lr=lr, momentum=cfg["momentum"])
    elif cfg["optimizer"] == "rmsprop":
        opt = optim.RMSprop(params, lr=lr)
    else:
        opt = optim.Adam(params, lr=lr, betas=(cfg["beta1"], cfg["beta2"]))
    if cfg["max_norm"]:                                   # the maxout layers' weight vectors (MLP recipe)
        opt.constraints = [optim.MaxNorm(m.weight, cfg["max_norm"]) for m in module.modules()
                           if isinstance(m, nn.Maxout)]
    return opt


def schedule(cfg, step, total_steps, steps_per_epoch):
    """(G's learning rate, D's, SGD's momentum or None) at ``step``: a pure function of the step, as nanoGPT's
    ``get_lr(it)``; the trainer sets them on the optimizers before each step.

    --cooldown lets both rates fall linearly to 0 over the last fraction of the run; under SGD (the MLP
    recipe) each rate is also divided by lr_decay at every step, and the momentum rises linearly from
    --momentum to final_momentum over momentum_epochs (else over the run)."""
    factor = 1.0
    if cfg["cooldown"]:                            # 1 until the cooldown starts, then down to 1 / its length
        factor = min(1.0, (total_steps - step) / (cfg["cooldown"] * total_steps))
    lrs, momentum = [base_lr(cfg, "G"), base_lr(cfg, "D")], None
    if cfg["optimizer"] == "sgd":
        final = cfg["final_momentum"] if cfg["final_momentum"] is not None else cfg["momentum"]
        span = cfg["momentum_epochs"] * steps_per_epoch if cfg["momentum_epochs"] else total_steps
        momentum = cfg["momentum"] + (final - cfg["momentum"]) * min(1.0, step / span)
        lrs = [max(lr / cfg["lr_decay"] ** step, 1e-6) for lr in lrs]
    return lrs[0] * factor, lrs[1] * factor, momentum


# ---------------------------------------------------------------- the minibatches
class Batches:
    """Where Algorithm 1's minibatches come from, all drawn from one generator, ``rng``: m examples x ~ p_data
    (the next slice of a shuffled pass over the training images, or fresh draws of a 1-D / 2-D set) and m
    noise samples z ~ p_z (with, for a conditional run, the labels G is asked to make).

    ``images``: (x, labels) arrays to use instead of the data set's files, with x as the generator makes it.
    """

    def __init__(self, cfg, device, images=None):
        self.cfg, self.device, self.rng = cfg, device, backend.rng("cpu")
        self.perm, self.pos = None, 0                  # the order of this pass over the images, and where it is
        self.kind = "images" if images is not None or cfg["data"] in IMAGE_SETS else "points"
        self.images = self.labels = None
        if self.kind == "points":
            return
        if images is None:
            folder = data.find_files(cfg["data"], cfg["data_dir"])["train_images"].parent
            cfg["data_dir"] = str(folder.resolve())                     # config.json: the folder actually read
            x, y = data.load_images(cfg["data"], "train", cfg["data_dir"], scale=run.output_range(cfg))
            if cfg["model"] == "dcgan32":
                x = run.pad_to_32(x)
            (x, _), (y, _) = run.split_held_out(x), run.split_held_out(y)
        else:
            x, y = images
        if cfg["batch_size"] > len(x):
            raise ValueError(f"--batch-size {cfg['batch_size']} is larger than the {len(x)} training images "
                             f"of {cfg['data']} in {cfg['data_dir']}; use --batch-size {len(x)} or less")
        self.images, self.labels = backend.to_device(x, device), y      # (N, 1, 28, 28), on the device

    def real(self, m):
        """m examples and their labels (None unless conditional)."""
        if self.kind == "points":
            x = getattr(data, self.cfg["data"])(m, self.rng)
            return Tensor(backend.to_device(x, self.device)), None
        if self.perm is None or self.pos + m > len(self.perm):
            self.perm, self.pos = self.rng.permutation(len(self.labels)), 0
        idx = self.perm[self.pos:self.pos + m]
        self.pos += m
        y = backend.to_device(self.labels[idx], self.device) if self.cfg["conditional"] else None
        return Tensor(self.images[backend.to_device(idx, self.device)]), y

    def noise(self, m):
        """m noise samples z ~ p_z and the labels to make (None unless conditional), on the device."""
        z = run.noise(self.cfg, m, self.rng, self.device)
        y = backend.to_device(self.rng.integers(0, N_CLASSES, m), self.device) if self.cfg["conditional"] else None
        return z, y


# ---------------------------------------------------------------- the trainer
class Trainer:
    """Algorithm 1 for one config in one run directory (nothing is written until ``fit`` when ``images`` are
    given: the benchmark times ``train_step`` that way).

    ``images``: (x, labels) arrays to train on instead of the data set's files, with x as the generator makes it.

    Two settings of the whole process are made here, so that the library trains as fast as the command:
    ``minigan.set_num_threads`` (``--threads``, else every core or the environment's count: minigan's own
    threads run the loops and the matrix products, OpenBLAS one thread) and ``reuse_freed_memory()`` (glibc
    keeps freed blocks for the next step; MINIGAN_REUSE_FREED_MEMORY=0 leaves the allocator alone).
    """

    def __init__(self, cfg, resume=False, progress=True, images=None, lock=None):
        self.cfg = cfg = complete(cfg)                 # a config.json of an older run lacks the newer options
        self.progress, self.interrupted = progress, None   # the signal that stopped fit()
        self.run_dir = cfg["out"] or os.path.join("runs", cfg["data"])
        self.ckpt_path, self.saved_step = os.path.join(self.run_dir, "checkpoint.npz"), None
        self.lock = lock or run.RunLock(self.run_dir)  # held by fit(): one writer per run
        self.resumed, self.started, self.changes = resume, images is not None, []
        cfg["device"] = self.device = backend.resolve_device(cfg["device"])    # config.json records the device
        tricks.set_num_threads(cfg["threads"])        # minigan's own threads (--threads, else the default)
        tricks.reuse_freed_memory()                    # as the minigan command does: the library is as fast
        backend.manual_seed(cfg["seed"])
        self.batches = Batches(cfg, self.device, images)
        self.kind = self.batches.kind
        per_epoch = len(self.batches.labels) // (cfg["batch_size"] * cfg["k"]) if self.kind == "images" else 1000
        self.steps_per_epoch = max(1, per_epoch)       # an "epoch" of a 1-D / 2-D set is 1,000 steps
        self.total_steps = cfg["steps"] or cfg["epochs"] * self.steps_per_epoch
        G, D = build_models(cfg)
        if cfg["model"] == "mlp":                                 # G starts at the data's mean image
            G.output_bias_from(backend.as_numpy(self.batches.images.mean(axis=0)))
        self.G, self.D = G.to(self.device), D.to(self.device)
        self.optG, self.optD = make_optimizer(cfg, self.G, "G"), make_optimizer(cfg, self.D, "D")
        # --ema: a moving average of G's weights samples; a copy, no random draw: training is unchanged
        self.G_ema = copy.deepcopy(self.G).eval() if cfg["ema"] else None
        self.settings = algorithm1.Settings.of(cfg)
        self.step = 0
        n_fixed = N_CLASSES * 8 if cfg["conditional"] else (64 if self.kind == "images" else 2500)
        self.fixed_z = run.noise(cfg, n_fixed, self.batches.rng, self.device)
        self.fixed_labels = np.repeat(np.arange(N_CLASSES), 8) if cfg["conditional"] else None
        if resume:
            self._restore()

    def start(self):
        """The first write of the run, once everything has been checked: a new run makes its directory and
        writes config.json (refused if another run got there first); a resumed run records its changes in
        config.json. Nothing before this writes a byte (``__init__`` only reads)."""
        if self.started:
            return
        cfg_path = os.path.join(self.run_dir, "config.json")
        if not self.resumed:
            if run.holds_run(self.run_dir):
                raise ValueError(f"--out {self.run_dir} already holds a run; continue it with --resume, or start "
                                 f"over with --force (the old run is moved to {self.run_dir.rstrip('/')}.old)")
            os.makedirs(os.path.join(self.run_dir, "samples"), exist_ok=True)
            run.write_json_atomic(self.cfg, cfg_path)
        elif self.changes:
            self.cfg.setdefault("changes", []).extend(self.changes)
            run.write_json_atomic(self.cfg, cfg_path)
        self.started = True

    def train_step(self):
        """One iteration of Algorithm 1 at this step's learning rates; returns the metrics row, or None on a
        step that is not logged (every ``log_every``-th step is, and the last). The row's numbers come to the
        host in one transfer with a flag that is finite when every parameter and optimizer state is."""
        t0 = time.perf_counter()
        self.G.train()
        self.D.train()
        lr_g, lr_d, momentum = schedule(self.cfg, self.step, self.total_steps, self.steps_per_epoch)
        for opt, lr in ((self.optG, lr_g), (self.optD, lr_d)):
            opt.lr = lr
            if momentum is not None:
                opt.momentum = momentum
        d, g = algorithm1.train_step(self.G, self.D, self.optG, self.optD, self.batches, self.settings,
                                     self.G_ema, self.step)
        self.step += 1
        if self.step % self.cfg["log_every"] and self.step != self.total_steps:
            return None
        row, flag = watch.metrics_row(self.step, (self.step - 1) // self.steps_per_epoch, d, g,
                                      watch.finite_flag(self._arrays()), self.cfg["loss"].startswith("wasserstein"),
                                      t0)
        for key in ("loss_D", "loss_G"):
            if not math.isfinite(row[key]):
                raise self._diverged(f"{key} is {row[key]}")
        if not math.isfinite(flag):
            self.check_finite()                                 # names the first non-finite array, raises
        return row

    def fit(self):
        """Train to the configured number of steps; returns the run directory. Ctrl-C or SIGTERM: the step in
        progress finishes, the checkpoint is saved and ``interrupted`` holds the signal; a second one stops
        at once (the checkpoint on disk stays intact). Holds the run's lock throughout; checks metrics.csv
        before the run's first write (``start``)."""
        stop = []

        def on_signal(signum, frame):                   # finish the step, save, then stop
            if stop:                                    # a second signal: stop at once
                raise StopNow(signum, f"{signal.Signals(signum).name} again: stopped at once at step "
                                      f"{self.step}; " + watch.on_disk(self.ckpt_path, self.saved_step))
            stop.append(signum)
            self.interrupted = signum
        with self.lock:                                 # one writer: a second process is refused, naming us
            if not self.resumed:
                self.start()                            # a new run: refused if another run got there first
            metrics = watch.Metrics(os.path.join(self.run_dir, "metrics.csv"), self.step)   # checked, not written
            self.start()                                # a resume's changes, once metrics.csv is checked
            run.remove_temporary_files(self.run_dir)    # what a writer killed mid-write left
            metrics.open()
            main_thread = threading.current_thread() is threading.main_thread()
            old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
            try:
                self._loop(metrics, stop)
            finally:
                metrics.close()
                for s, handler in old.items():
                    signal.signal(s, handler)
                pictures.write_gif(self.run_dir)
        return self.run_dir

    def _loop(self, metrics, stop):
        from tqdm import tqdm
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not self.progress, unit="step",
                   dynamic_ncols=True, desc=f"{self.cfg['model']} on {self.cfg['data']}")
        try:
            if self.step == 0:
                self.save_samples()
            while self.step < self.total_steps and not stop:
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
            if stop:
                print(f"\n{signal.Signals(self.interrupted).name}: stopped at step {self.step}; checkpoint saved "
                      f"to {self.ckpt_path}; continue with: minigan train --resume --out {self.run_dir}",
                      file=sys.stderr)
        finally:
            bar.close()

    # ------------------------------------------------------------ pictures
    def sample(self, z, labels=None):
        """G(z) as a NumPy array from the generator that samples (G's moving average with --ema), no graph."""
        return pictures.sample(self.G if self.G_ema is None else self.G_ema, z, labels)

    def save_samples(self):
        """The fixed-noise picture of this step: samples/step_XXXXXXX.png."""
        self.start()
        path = os.path.join(self.run_dir, "samples", f"step_{self.step:07d}.png")
        pictures.save_samples(path, self.cfg, self.sample(self.fixed_z, self.fixed_labels), self.step, self.D)

    # ------------------------------------------------------------ checkpoints
    def state(self):
        """Everything needed to continue exactly: models, optimizers, RNG, step, data order."""
        b = self.batches
        st = {"G": self.G.state_dict(), "D": self.D.state_dict(), "optG": self.optG.state_dict(),
              "optD": self.optD.state_dict(), "step": self.step, "rng": backend.rng_state(),
              "perm": b.perm if b.perm is not None else np.zeros(0, np.int64), "pos": b.pos,
              "fixed_z": self.fixed_z.numpy(), "config": json.dumps(self.cfg)}
        if self.G_ema is not None:
            st["G_ema"] = self.G_ema.state_dict()
        return st

    def save_checkpoint(self):
        """Atomically write checkpoint.npz (the previous one stays valid until the rename); never a non-finite one."""
        self.check_finite()
        self.start()
        save(self.state(), self.ckpt_path)
        self.saved_step = self.step

    def check_finite(self):
        """Raise TrainingDiverged if a parameter or optimizer state holds NaN / inf (one host sync)."""
        bad = watch.not_finite(self._arrays())
        if bad is not None:
            raise self._diverged(f"{bad} is not finite (NaN or inf)")

    def _arrays(self):
        return watch.checked_arrays(self.G, self.D, self.optG, self.optD)

    def _diverged(self, what):
        return watch.diverged(what, self.step, self.run_dir, self.ckpt_path, self.saved_step, self.cfg["lr"])

    def _restore(self):
        """Load checkpoint.npz, once every part of it is checked (run.check_checkpoint: keys, step, finite
        values, the config it was saved with; here: the data order, the fixed noise, the generator state)."""
        st = run.load_checkpoint(self.ckpt_path)
        needs = ("G", "D", "optG", "optD", "step", "rng", "perm", "pos", "fixed_z", "config")
        try:
            self.step = run.check_checkpoint(st, self.cfg, self.ckpt_path, needs)
            perm, pos = st["perm"], run.whole_number(st["pos"])
            n = len(self.batches.labels) if self.kind == "images" else 0
            if not (isinstance(perm, np.ndarray) and perm.dtype.kind in "iu" and perm.ndim == 1 and
                    (len(perm) == 0 or np.array_equal(np.sort(perm), np.arange(n)))):
                raise ValueError(f"its data order (perm) is not an order of the {n} training images")
            if pos is None or not 0 <= pos <= len(perm):
                raise ValueError(f"its place in the data (pos {st['pos']!r}) is outside 0..{len(perm)}")
            z = st["fixed_z"]
            if not (isinstance(z, np.ndarray) and z.shape == self.fixed_z.shape and z.dtype == np.float32):
                raise ValueError(f"its fixed noise (fixed_z) is {getattr(z, 'dtype', type(z).__name__)} of shape "
                                 f"{getattr(z, 'shape', ())}, not float32 of shape {self.fixed_z.shape}")
            try:                                                    # refused here, before anything changes
                np.random.Generator(np.random.PCG64()).bit_generator.state = st["rng"].get("cpu", st["rng"])
            except (TypeError, ValueError, KeyError) as e:
                raise ValueError(f"its random generator state (rng) is damaged ({type(e).__name__}: {e})") from None
            if "G_ema" in st and not isinstance(st["G_ema"], dict):
                raise ValueError("its G_ema is not a state dict")
            # every check passed: now load (the loads check names and shapes before copying)
            self.G.load_state_dict(st["G"])
            self.D.load_state_dict(st["D"])
            self.optG.load_state_dict(st["optG"])
            self.optD.load_state_dict(st["optD"])
            if self.G_ema is not None:
                self.G_ema.load_state_dict(st["G_ema"] if "G_ema" in st else st["G"])
            rng = st["rng"] if self.device != "cpu" else {"cpu": st["rng"].get("cpu", st["rng"])}
            backend.set_rng_state(rng)                  # a GPU run resumed on the CPU: the GPU's state is not used
            self.batches.perm = perm if len(perm) else None
            self.batches.pos = pos
            self.fixed_z = Tensor(backend.to_device(np.asarray(z), self.device))
        except CheckpointError as e:
            raise CheckpointError(f"--resume: {e}") from e
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
            raise CheckpointError(f"--resume: checkpoint {self.ckpt_path} does not fit this run: {e}") from e
        self.saved_step = self.step

    def apply_changes(self, changes):
        """After a resume: the changed options take effect now; ``start`` records each in config.json, with
        its step, once everything is checked."""
        self.changes = [dict(ch, step=self.step) for ch in changes]


class StopNow(KeyboardInterrupt):
    """A second SIGINT / SIGTERM during training: stop at once (the checkpoint on disk is intact)."""

    def __init__(self, signum, message):
        super().__init__(message)
        self.signum = signum


def train(**options):
    """Make a config from options and train it; returns the run directory.

    ``resume=True`` continues the run in ``out`` (which may change only config.RESUME_MAY_CHANGE);
    ``force=True`` starts over in an ``out`` that holds a run, after moving the old run to ``out.old``.
    ``return_trainer=True`` returns the Trainer instead (its ``interrupted`` is the signal that stopped it).

    Everything is checked before anything is written (the options, --out, the memory, the data, config.json,
    the checkpoint, metrics.csv), and the run is written by one process at a time (run.RunLock): a resume
    takes the lock before it reads the run, --force before it moves the old run aside.
    """
    resume, progress = options.pop("resume", False), options.pop("progress", True)
    force, return_trainer = options.pop("force", False), options.pop("return_trainer", False)
    if resume and force:
        raise ValueError("--resume and --force exclude each other: continue the run, or start it over")
    if resume:
        lock = run.RunLock(run.resume_dir(options))
        with lock:
            cfg, changes = run.resume_config(options)
            trainer = Trainer(cfg, resume=True, progress=progress, lock=lock)
            if trainer.step >= trainer.total_steps:
                raise ValueError(f"--resume: {trainer.run_dir} is already at step {trainer.step} (its --steps / "
                                 f"--epochs make {trainer.total_steps}); give --steps greater than {trainer.step} "
                                 "to train on")
            trainer.apply_changes(changes)
            trainer.fit()
    else:
        cfg = make_config(**options)
        run_dir = cfg["out"] = cfg["out"] or os.path.join("runs", cfg["data"])
        run.check_out(run_dir)
        watch.check_memory(cfg)
        if run.holds_run(run_dir) and not force:
            run.RunLock(run_dir).check_free()           # another process trains it: say so, by its pid
            raise ValueError(f"--out {run_dir} already holds a run; continue it with --resume, or start over "
                             f"with --force (the old run is moved to {run_dir.rstrip('/')}.old)")
        trainer = Trainer(cfg, progress=progress)       # reads the data and builds the models: nothing written
        if run.holds_run(run_dir):                      # --force, now that everything is checked
            with run.RunLock(run_dir):                  # not while another process trains it
                print(f"--force: moved the old run in {run_dir} to {run.move_aside(run_dir)}", file=sys.stderr)
        trainer.fit()
    return trainer if return_trainer else trainer.run_dir
