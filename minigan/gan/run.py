"""A training run and its run directory, and the facts a run is used with afterwards.

    RUN_DIR/config.json      every option of the run (config.TRAIN), the device and data folder it used,
                             and what each resume changed ("changes")
    RUN_DIR/checkpoint.npz   G, D (and G's moving average), both optimizers, the RNG, the step, the data
                             order and the run's config: all that a resume needs. Written atomically every epoch,
                             at the end and on Ctrl-C / SIGTERM (train.py), never with a NaN in it (watch.py)
    RUN_DIR/metrics.csv      a row per logged step, append-only (watch.py)
    RUN_DIR/samples/, progress.gif   the fixed-noise pictures (pictures.py)
    RUN_DIR/lock             held (flock) by the one process that writes the run; it holds that process's pid

This file reads and writes the run directory (``read_config``, ``write_json_atomic``, ``load_checkpoint``),
checks what it reads before it is trusted (``read_config`` against the table, ``check_checkpoint``: finite,
in range, the run's own), keeps one writer per run (``RunLock``), checks ``--out`` before work starts, makes
the config of a resume (``resume_config``), and loads a finished run (``load_run``). The facts sampling,
evaluating and inpainting a run need are here too: its noise prior, its output range, the images it held out.
"""
import errno
import json
import os
import re
import sys

import numpy as np

from .. import backend, data, files, options
from ..serialization import CheckpointError, load
from ..tensor import Tensor
from .algorithm1 import frozen  # noqa: F401  (minigan.inpaint.search imports it from here)
from .config import IMAGE_SETS, RESUME_MAY_CHANGE, TRAIN, build_models, complete, set_length, validate

try:
    import fcntl  # POSIX: flock, for one writer per run
except ImportError:                                 # Windows
    fcntl = None

RUN_FILES = ("config.json", "checkpoint.npz", "metrics.csv")
# The other files a run directory holds: the writer's lock, the pictures, what `minigan evaluate` writes.
LOCK = "lock"
OWN_FILES = (LOCK, "progress.gif", "evaluation.json", "nearest_neighbours.png")
HELD_OUT = 1000      # the last 1,000 training images are never trained on: Parzen's sigma is chosen on them


# ---------------------------------------------------------------- what a run draws and makes
def sample_prior(prior, m, z_dim, rng):
    """m draws of p_z as float32 (m, z_dim): N(0, I) ("normal") or U(-1, 1)^z_dim ("uniform")."""
    if prior == "normal":
        return rng.standard_normal((m, z_dim), dtype=np.float32)
    return rng.uniform(-1, 1, (m, z_dim)).astype(np.float32)


def noise(cfg, n, rng, device="cpu"):
    """n draws of the run's noise z ~ p_z (its ``prior``), as a Tensor on ``device``."""
    z = sample_prior(cfg["prior"], n, cfg["z_dim"], rng)
    return Tensor(backend.to_device(z, device))


def output_range(cfg):
    """G's output range: "sigmoid" ([0, 1]) for the paper's MLP, "tanh" ([-1, 1]) for the DCGANs; None for points."""
    if cfg["data"] not in IMAGE_SETS:
        return None
    return "sigmoid" if cfg["model"] == "mlp" else "tanh"


def to_unit_range(cfg, out):
    """Generator outputs -> images in [0, 1] (tanh generators give [-1, 1]); points unchanged."""
    return (out + 1) / 2 if output_range(cfg) == "tanh" else out


def pad_to_32(x, background=-1.0):
    """(N, C, 28, 28) images -> (N, C, 32, 32): two pixels of background (-1 in tanh scale) on each side."""
    return np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=background)


def crop_to_28(x):
    """The inverse of pad_to_32 for a (N, C, 32, 32) batch: its centre 28x28 (what the data set compares to)."""
    return x[..., 2:30, 2:30]


def held_out(n):
    """How many of n training images are held out (1,000, or a fifth of a small set)."""
    return min(HELD_OUT, n // 5)


def split_held_out(x):
    """(the training part, the held-out part) of a training set's array: the held-out images are its last ones."""
    cut = len(x) - held_out(len(x))
    return x[:cut], x[cut:]


# ---------------------------------------------------------------- the run directory
def write_json_atomic(obj, path):
    """Write JSON through a temporary file next to ``path``, renamed over it (``files.write_atomic``)."""
    files.write_atomic(path, lambda f: f.write(json.dumps(obj, indent=2)), mode="w")


def read_config(path, needs=("data",)):
    """A run's config.json, completed with the options it lacks (a run made before they existed) and checked
    against the table: a damaged or edited file is a one-line error naming it, never a command-line option."""
    files.regular_file(path)
    try:
        with open(path) as f:
            cfg = json.load(f)
        if not isinstance(cfg, dict) or not set(needs) <= set(cfg):
            raise ValueError("not a minigan training config")
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is damaged ({e})") from None
    cfg = complete(cfg)
    validate(cfg, source=path)
    return cfg


def load_checkpoint(path):
    """checkpoint.npz as a dict (``serialization.load`` refuses a damaged file, naming it)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    return load(path)


def whole_number(value):
    """``value`` as a Python int if it is a whole number (an int, a NumPy integer or a 0-d integer array), else
    None (a float, a bool, text, ...)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def not_finite(tree, prefix=""):
    """The name of the first floating-point array of a nested dict holding NaN or inf, or None."""
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict):
            bad = not_finite(value, name)
            if bad:
                return bad
        elif isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.isfinite(value).all():
            return name
    return None


# The options that say which run a checkpoint belongs to: all but those a resume may change, and where the
# run and its data live.
IDENTITY = tuple(opt.name for opt in TRAIN if opt.name not in RESUME_MAY_CHANGE + ("out", "data_dir"))


def check_checkpoint(st, cfg, path, needs):
    """Trust a checkpoint only once it is checked (as PyTorch's ``load_state_dict`` checks keys and shapes
    before copying): it holds ``needs``, its step is a whole number >= 0, every array of the models and
    optimizers is finite, and the config it was saved with is the run's (``cfg``, from config.json) on every
    option that says which run it is (data set, model, loss, prior, seed, ...). Raises CheckpointError."""
    def refuse(what):
        return CheckpointError(f"checkpoint {path} {what}")
    missing = [k for k in needs if k not in st]
    if missing:
        raise refuse(f"lacks {', '.join(missing)} (damaged, or not a training checkpoint)")
    for key in needs:
        if key in ("G", "D", "G_ema", "optG", "optD", "rng") and not isinstance(st[key], dict):
            raise refuse(f"holds {type(st[key]).__name__} for {key}, not a state dict (damaged?)")
    step = whole_number(st.get("step", 0))
    if step is None or step < 0:
        raise refuse(f"has step {st['step']!r}: a step is a whole number >= 0 (damaged?)")
    try:
        saved = complete(json.loads(st["config"])) if "config" in needs else None
        if saved is not None and not isinstance(saved, dict):
            raise ValueError("not a dict")
    except (TypeError, ValueError, AttributeError) as e:
        raise refuse(f"holds a damaged copy of its config ({e})") from None
    if saved is not None:
        differ = [k for k in IDENTITY if saved.get(k) != cfg.get(k)]
        if differ:
            was = ", ".join(f"{k} {saved.get(k)!r}" for k in differ)
            now = ", ".join(f"{k} {cfg.get(k)!r}" for k in differ)
            raise refuse(f"was saved by a run with {was}, but its config.json says {now}: the checkpoint comes "
                         "from another run, or config.json was edited")
    bad = not_finite({k: st[k] for k in ("G", "D", "G_ema", "optG", "optD", "fixed_z") if k in st})
    if bad:
        raise refuse(f"holds NaN or inf in {bad}: it is damaged (minigan train never saves a non-finite value)")
    return step


def holds_run(run_dir):
    """Whether ``run_dir`` holds (part of) a training run."""
    return any(os.path.exists(os.path.join(run_dir, f)) for f in RUN_FILES)


def run_of_file(path):
    """The run directory ``path`` belongs to, if it names a file a training run writes (config.json,
    checkpoint.npz, metrics.csv, lock, progress.gif, samples/step_*.png, evaluation.json,
    nearest_neighbours.png) in a folder that holds a run; else None. Such a file is no place for another
    command's output."""
    folder, name = os.path.split(path)
    if os.path.basename(os.path.abspath(folder)) == "samples" and name.startswith("step_"):
        folder = os.path.join(folder, "..") if folder in ("", ".") else os.path.dirname(folder)
    elif name not in RUN_FILES + OWN_FILES:
        return None
    return (folder or ".") if holds_run(folder or ".") else None


def check_out(run_dir):
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


def remove_temporary_files(run_dir):
    """Remove what a writer of this run killed mid-write (``kill -9``) left: the temporary files of its
    checkpoint, config.json, progress.gif and pictures. Only the run's one writer may call it (RunLock)."""
    owned = files.temporary_files(run_dir, lambda name: name in RUN_FILES + OWN_FILES)
    owned += files.temporary_files(os.path.join(run_dir, "samples"), lambda name: name.startswith("step_"))
    for path in owned:
        try:
            os.remove(path)
        except OSError:
            pass


class RunLock:
    """One writer per run: an exclusive ``flock`` on RUN_DIR/lock, held while a process writes the run (as
    SQLite and git lock their files). The kernel drops it when the process ends, however it ends (``kill -9``
    too), so a lock is never stale and never needs removing. The file holds the pid of the process that took
    it last, for the message a second writer gets. ``with lock:`` nests (the same object, the same process).

    Where fcntl is missing (Windows) or the file system cannot lock, nothing stops a second writer; that is
    said once, on stderr."""

    def __init__(self, run_dir):
        self.run_dir, self.path, self.fd, self.depth = run_dir, os.path.join(run_dir, LOCK), None, 0

    def __enter__(self):
        if self.depth == 0:
            self.acquire()
        self.depth += 1
        return self

    def __exit__(self, *exc):
        self.depth -= 1
        if self.depth == 0:
            self.release()

    def acquire(self):
        """Take the lock, or raise RunInUse naming the process that holds it."""
        if fcntl is None:
            return _cannot_lock(self.run_dir, "this platform has no fcntl")
        os.makedirs(self.run_dir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        if not self._try(fd):
            return
        mine = f"{os.getpid()}\n".encode()
        if os.pread(fd, 32, 0) != mine:                  # the pid, for the message a second writer gets
            os.ftruncate(fd, 0)
            os.pwrite(fd, mine, 0)
        self.fd = fd

    def check_free(self):
        """Raise RunInUse if another process holds the lock; take nothing, write nothing."""
        if fcntl is None or not os.path.isfile(self.path):
            return
        fd = os.open(self.path, os.O_RDONLY)
        if self._try(fd):
            os.close(fd)                                 # free: let it go at once

    def _try(self, fd):
        """Lock ``fd`` (True), or close it and raise RunInUse (or warn and give False: locks unsupported)."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as e:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                _cannot_lock(self.run_dir, e.strerror)
                return False
            who = "this process" if holder == str(os.getpid()) else f"process {holder}"
            raise RunInUse(f"--out {self.run_dir} is being trained by {who} (it holds {self.path}); one run has "
                           "one writer: wait for it to finish, stop it, or train into another --out") from None

    def release(self):
        if self.fd is not None:
            os.close(self.fd)                            # closing the file drops the lock
            self.fd = None


class RunInUse(ValueError):
    """Another process is writing the run directory (it holds RUN_DIR/lock)."""


_warned = set()


def _cannot_lock(run_dir, why):
    if why not in _warned:
        _warned.add(why)
        print(f"minigan: warning: cannot lock {run_dir} ({why}); nothing stops a second process from training "
              "into it at the same time", file=sys.stderr)


def resume_dir(given):
    """The run directory a --resume names, once it is known to hold a config.json (nothing is read yet)."""
    run_dir = given.get("out")
    if not run_dir:
        raise ValueError("--resume needs --out RUN_DIR")
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"--resume: no run directory {run_dir}")
    cfg_path = os.path.join(run_dir, "config.json")
    if not os.path.lexists(cfg_path):
        raise FileNotFoundError(f"--resume: {cfg_path} not found; {run_dir} holds no run to continue")
    return run_dir


def device_of_run(cfg, given, cfg_path):
    """The device a resumed run continues on, checked where it comes from: --device, else $MINIGAN_DEVICE, else
    the one config.json recorded (a GPU run resumed on a machine without one says so, naming config.json)."""
    if given.get("device") is not None:
        return given["device"]                           # checked as --device by the Trainer
    env = os.environ.get("MINIGAN_DEVICE")
    if env or cfg["device"] is None:                     # (a run made before config.json recorded its device)
        return backend.resolve_device(None)              # an error names $MINIGAN_DEVICE
    try:
        backend.check_device(cfg["device"])
    except (ValueError, RuntimeError) as e:
        raise ValueError(f"{cfg_path} records device {cfg['device']!r}: {e}; give --device to continue the run "
                         "on another one") from None
    return cfg["device"]


def resume_config(given):
    """The config of the run in ``given["out"]`` with the options a resume may change applied: (config, the
    changes). Any other option given must equal the run's. Reads config.json, writes nothing."""
    run_dir = resume_dir(given)
    options.check(given, TRAIN)                         # the values typed, each as its flag
    cfg_path = os.path.join(run_dir, "config.json")
    try:
        cfg = read_config(cfg_path)
    except ValueError as e:
        raise ValueError(f"--resume: {e}") from None
    cfg["out"] = run_dir                                # the run lives where it is now, not where it was made
    if cfg["device"] is not None and not re.fullmatch(r"cpu|cuda(:\d+)?", str(cfg["device"])):
        raise ValueError(f"{cfg_path} records device {cfg['device']!r}, which is not cpu, cuda or cuda:N "
                         "(config.json was edited?)")       # refused whatever device runs the resume
    options.refuse_unused({k: v for k, v in given.items() if v is not None and v is not False and k != "out"},
                          cfg, TRAIN)
    changes = []
    for key, value in given.items():
        if value is None or key == "out" or (key == "conditional" and value == cfg[key]):
            continue
        old = cfg[key]
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
    device = device_of_run(cfg, given, cfg_path)
    if device != cfg["device"] and given.get("device") is None:
        changes.append({"option": "device", "from": cfg["device"], "to": device})   # $MINIGAN_DEVICE's
        cfg["device"] = device
    validate(cfg)
    return cfg, changes


# ---------------------------------------------------------------- a finished run
def load_run(run_dir, device=None):
    """(config, G, D) from a run directory's config.json and checkpoint.npz, in eval mode, each checked before
    it is used (``read_config``, ``check_checkpoint``).

    G is the generator the run samples from: the moving average of its weights for an --ema run."""
    cfg_path, ckpt_path = os.path.join(run_dir, "config.json"), os.path.join(run_dir, "checkpoint.npz")
    for p in (cfg_path, ckpt_path):
        if not os.path.exists(p):
            raise FileNotFoundError(f"{p} not found: is {run_dir!r} a run directory made by 'minigan train'?")
    cfg = read_config(cfg_path, needs=("data", "model", "z_dim", "prior", "conditional"))
    device = backend.resolve_device(device)         # --device, else $MINIGAN_DEVICE, else cpu
    G, D = build_models(cfg)
    st = load(ckpt_path)
    check_checkpoint(st, cfg, ckpt_path, ("G", "D", "config"))
    if "G_ema" in st and not isinstance(st["G_ema"], dict):
        raise CheckpointError(f"checkpoint {ckpt_path} holds {type(st['G_ema']).__name__} for G_ema, not a state "
                              "dict (damaged?)")
    try:
        G.load_state_dict(st.get("G_ema", st["G"]))     # --ema runs sample G_ema
        D.load_state_dict(st["D"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"checkpoint {ckpt_path} does not fit its config.json: {e}") from None
    return cfg, G.to(device).eval(), D.to(device).eval()
