"""Watching a run: its metrics rows, the finiteness of everything it trains, and the memory it will need.

- ``metrics_row``: the numbers of one logged step, computed on the device and copied to the host in one
  transfer, with a flag that is finite exactly when every parameter and optimizer state is.
- ``Metrics``: metrics.csv, a row per logged step (every ``log_every`` steps and the last one).
- ``not_finite`` / ``TrainingDiverged``: which array is NaN or inf, and the one-line error that says so and
  what is on disk.
- ``check_memory``: a --batch-size or --z-dim whose step cannot fit in the free memory, refused before work.
"""
import csv
import math
import os
import time

import numpy as np

from .. import backend


class TrainingDiverged(RuntimeError):
    """A loss, a parameter or an optimizer state became NaN or infinite; the last good checkpoint is kept."""


FIELDS = ["step", "epoch", "loss_D", "loss_G", "D_x", "D_G_z", "grad_norm_D", "grad_norm_G", "seconds"]


def checked_arrays(G, D, optG, optD):
    """(name, array) of every parameter and every optimizer state array of G and D."""
    for tag, model, opt in (("G", G, optG), ("D", D, optD)):
        for name, p in model.named_parameters():
            yield f"{tag} parameter {name}", p.data
        for key, st in opt.state.items():
            for sname, v in st.items():
                if sname != "step":
                    yield f"{tag} optimizer state {sname} of {key}", v


def finite_flag(named_arrays):
    """A 0-d device array, finite exactly when every array is: the float64 sum of every array (a float32 array
    cannot overflow a float64 sum). Computed on the device, no host sync."""
    arrays = [a for _, a in named_arrays]
    xp = backend.get_array_module(arrays[0])
    return xp.stack([a.sum(dtype=xp.float64) for a in arrays]).sum()


def not_finite(named_arrays):
    """The name of the first array holding NaN or inf, or None (one host sync in all)."""
    named = list(named_arrays)
    if math.isfinite(float(finite_flag(named))):
        return None
    xp = backend.get_array_module(named[0][1])
    return next((n for n, a in named if not bool(xp.isfinite(a).all())), "a value")


def metrics_row(step, epoch, d, g, flag, wasserstein, t0):
    """The metrics row of a step (``d``: its last DStep, ``g``: its GStep; begun at ``time.perf_counter()``
    ``t0``) and the host value of ``flag``, in one device-to-host transfer. D_x and D_G_z are mean
    probabilities D(x), D(G(z)) (mean critic values for the Wasserstein losses)."""
    xp = backend.get_array_module(d.loss.data)
    score = (lambda l: l.data.mean()) if wasserstein else (lambda l: l.detach().sigmoid().data.mean())   # stable
    values = [d.loss.data, g.loss.data, score(d.real_logits), score(d.fake_logits), d.grad_norm, g.grad_norm, flag]
    host = backend.as_numpy(xp.stack([xp.asarray(v, dtype=np.float64) for v in values])).tolist()
    row = dict(step=step, epoch=epoch, loss_D=host[0], loss_G=host[1], D_x=host[2], D_G_z=host[3],
               grad_norm_D=host[4], grad_norm_G=host[5], seconds=time.perf_counter() - t0)
    return row, host[6]


def on_disk(ckpt_path, saved_step):
    """The truth about the checkpoint file."""
    if saved_step is None:
        return f"no checkpoint has been saved yet ({ckpt_path} does not exist)"
    return f"the last good checkpoint, step {saved_step}, is {ckpt_path}"


def diverged(what, step, run_dir, ckpt_path, saved_step, lr):
    """The TrainingDiverged error for ``what`` at ``step``: what is on disk, and how to go on (continue the
    checkpoint, or start over, with a tenth of the learning rate)."""
    disk, lower = on_disk(ckpt_path, saved_step), f"{lr / 10:g}"
    if saved_step is None:
        advice = f"start again with a lower learning rate: minigan train ... --out {run_dir} --force --lr {lower}"
    else:
        advice = f"continue it with a lower learning rate: minigan train --resume --out {run_dir} --lr {lower}"
    return TrainingDiverged(f"step {step}: {what}; training stopped. {disk[0].upper() + disk[1:]}; {advice}")


class Metrics:
    """metrics.csv: a row per logged step; on resume, the rows past the checkpoint's step are dropped."""

    def __init__(self, path, step):
        rows = []
        if step and os.path.exists(path):
            with open(path) as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        self.f = open(path, "w", newline="")
        self.w = csv.DictWriter(self.f, FIELDS)
        self.w.writeheader()
        self.w.writerows(rows)

    def write(self, row):
        self.w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        self.f.flush()                                  # so `tail -f metrics.csv` follows training

    def close(self):
        self.f.close()


def check_memory(cfg):
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
