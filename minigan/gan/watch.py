"""Watching a run: its metrics rows, the finiteness of everything it trains, and the memory it will need.

- ``metrics_row``: the numbers of one logged step, computed on the device and copied to the host in one
  transfer, with a flag that is finite exactly when every parameter and optimizer state is.
- ``Metrics``: metrics.csv, a row per logged step (every ``log_every`` steps and the last one).
- ``not_finite`` / ``TrainingDiverged``: which array is NaN or inf, and the one-line error that says so and
  what is on disk.
- ``check_memory``: a --batch-size or --z-dim whose step cannot fit in the free memory, refused before work.
"""
import math
import os
import time

import numpy as np

from .. import backend, files


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


HEADER = ",".join(FIELDS)
EOL = "\r\n"                                            # the csv module's line ending, which older runs have


def _row(line):
    """The values of one line of metrics.csv, or the reason it is not a row."""
    values = line.split(",")
    if len(values) != len(FIELDS):
        return f"{len(values)} values where a row has {len(FIELDS)} ({HEADER})"
    try:
        step, epoch = int(values[0]), int(values[1])
        numbers = [float(v) for v in values[2:]]
    except ValueError as e:
        return str(e)
    if step < 0 or epoch < 0:
        return "a negative step or epoch"
    return dict(zip(FIELDS, [step, epoch] + numbers))


def replay(rows):
    """The rows of the run as it stands, from the rows of metrics.csv in file order (``None``: a header line).

    metrics.csv only grows. A run killed after its last checkpoint leaves rows past the checkpoint's step; the
    resumed run trains those steps again and appends their rows again. So, reading in order, a row whose step is
    not past the row before it replaces the rows from its step on, and a repeated header line replaces all."""
    kept = []
    for row in rows:
        if row is None:
            kept.clear()
            continue
        while kept and kept[-1]["step"] >= row["step"]:
            kept.pop()
        kept.append(row)
    return kept


def read_metrics(path):
    """The rows of a run's metrics.csv as dicts of numbers, as the run stands (``replay``)."""
    return replay(Metrics(path, 0).rows)


class Metrics:
    """metrics.csv, append-only: a row per logged step (every ``log_every`` steps and the last one).

    ``Metrics(path, step)`` reads and checks the file a run (resumed at ``step``) will append to, and writes
    nothing: a line that is not a row is an error naming the file and the line. ``open()`` then appends, and
    no byte already written is ever changed, with two exceptions that are not rows: a last line cut short (the
    write of a process killed, or a full disk) is cut off, and a resume whose file holds rows past ``step``
    first appends again the last row at or before ``step`` (or the header, when there is none) so that
    ``replay`` knows the rows after it are the ones that count."""

    def __init__(self, path, step):
        self.path, self.step, self.f, self.rows = path, step, None, []
        self.keep, self.marker = 0, None                  # the bytes to keep; the line to append first
        if not os.path.exists(path):
            return
        files.regular_file(path)
        with open(path, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{path} is damaged: not text ({e})") from None
        lines = text.split("\n")
        whole = lines[:-1]                                # a last piece without its line ending is a torn write
        self.keep = len(raw) - len(lines[-1].encode("utf-8"))
        first = whole[0].rstrip("\r") if whole else HEADER
        if first != HEADER:
            raise ValueError(f"{path} is not minigan's metrics file: its first line is {first[:80]!r}, not {HEADER!r}")
        texts = {}
        for number, line in enumerate(whole[1:], 2):
            line = line.rstrip("\r")
            row = None if line == HEADER else _row(line)
            if isinstance(row, str):
                raise ValueError(f"{path}, line {number}, is not a row of metrics ({row}): {line[:80]!r}; "
                                 "repair or remove that line")
            self.rows.append(row)
            if row is not None:
                texts[id(row)] = line
        run = replay(self.rows)
        if step and run and run[-1]["step"] > step:       # rows past the checkpoint: mark where the resume begins
            before = [r for r in run if r["step"] <= step]
            self.marker = texts[id(before[-1])] if before else HEADER

    def open(self):
        """Start appending: the header of a new file, or the cut of a torn last line and the resume's marker."""
        try:
            if self.keep == 0:                            # no file, an empty one, or half a header
                self.f = open(self.path, "wb", buffering=0)
                self._line(HEADER)
                return self
            self.f = open(self.path, "r+b", buffering=0)
            if self.f.seek(0, os.SEEK_END) != self.keep:
                self.f.truncate(self.keep)                # a torn last line: not a row
                self.f.seek(self.keep)
            if self.marker is not None:
                self._line(self.marker)
        except OSError as e:
            raise OSError(e.errno, e.strerror, self.path) from e
        return self

    def _line(self, text):
        data = (text + EOL).encode("utf-8")               # unbuffered: `tail -f metrics.csv` follows training
        while data:
            data = data[self.f.write(data):]

    def write(self, row):
        """Append one row (a full disk is an error naming metrics.csv)."""
        try:
            self._line(",".join(f"{row[k]:.6g}" if isinstance(row[k], float) else str(row[k]) for k in FIELDS))
        except OSError as e:
            raise OSError(e.errno, e.strerror, self.path) from e

    def close(self):
        if self.f is not None:
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
