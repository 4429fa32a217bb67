"""A training run and its run directory, and the facts a run is used with afterwards.

    RUN_DIR/config.json      every option of the run (config.TRAIN), the device and data folder it used,
                             and what each resume changed ("changes")
    RUN_DIR/checkpoint.npz   G, D (and G's moving average), both optimizers, the RNG, the step and the data
                             order: all that a resume needs. Written atomically every epoch, at the end and
                             on Ctrl-C / SIGTERM (train.py), never with a NaN in it (watch.py)
    RUN_DIR/metrics.csv      a row per logged step (watch.py)
    RUN_DIR/samples/, progress.gif   the fixed-noise pictures (pictures.py)

This file reads and writes the run directory (``read_config``, ``write_json_atomic``, ``load_checkpoint``),
checks ``--out`` before work starts, makes the config of a resume (``resume_config``), and loads a finished
run (``load_run``). The facts sampling, evaluating and inpainting a run need are here too: its noise prior,
its output range, the images it held out.
"""
import json
import os

import numpy as np

from .. import backend, data
from ..serialization import load
from ..tensor import Tensor
from .algorithm1 import frozen  # noqa: F401  (minigan.inpaint.search imports it from here)
from .config import IMAGE_SETS, RESUME_MAY_CHANGE, build_models, complete, set_length, validate

RUN_FILES = ("config.json", "checkpoint.npz", "metrics.csv")
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
    """Write JSON to a temporary file next to ``path``, then rename it over ``path``."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def read_config(path, needs=("data",)):
    """A run's config.json, completed with the options it lacks (a run made before they existed), or a
    one-line error naming the file."""
    try:
        with open(path) as f:
            cfg = json.load(f)
        if not isinstance(cfg, dict) or not set(needs) <= set(cfg):
            raise ValueError("not a minigan training config")
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is damaged ({e})") from None
    return complete(cfg)


def load_checkpoint(path):
    """checkpoint.npz as a dict (``serialization.load`` refuses a damaged file, naming it)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    return load(path)


def holds_run(run_dir):
    """Whether ``run_dir`` holds (part of) a training run."""
    return any(os.path.exists(os.path.join(run_dir, f)) for f in RUN_FILES)


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


def resume_config(given):
    """The config of the run in ``given["out"]`` with the options a resume may change applied: (config, the
    changes). Any other option given must equal the run's."""
    run_dir = given.get("out")
    if not run_dir:
        raise ValueError("--resume needs --out RUN_DIR")
    cfg_path = os.path.join(run_dir, "config.json")
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"--resume: no run directory {run_dir}")
    if not os.path.exists(cfg_path):
        raise FileNotFoundError(f"--resume: {cfg_path} not found; {run_dir} holds no run to continue")
    try:
        cfg = read_config(cfg_path)
    except ValueError as e:
        raise ValueError(f"--resume: {e}") from None
    cfg["out"] = run_dir                                # the run lives where it is now, not where it was made
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
    env = os.environ.get("MINIGAN_DEVICE")
    if given.get("device") is None and env and env != cfg["device"]:
        changes.append({"option": "device", "from": cfg["device"], "to": env})   # --device, then $MINIGAN_DEVICE
        cfg["device"] = env
    validate(cfg)
    return cfg, changes


# ---------------------------------------------------------------- a finished run
def load_run(run_dir, device=None):
    """(config, G, D) from a run directory's config.json and checkpoint.npz, in eval mode.

    G is the generator the run samples from: the moving average of its weights for an --ema run."""
    cfg_path, ckpt_path = os.path.join(run_dir, "config.json"), os.path.join(run_dir, "checkpoint.npz")
    for p in (cfg_path, ckpt_path):
        if not os.path.exists(p):
            raise FileNotFoundError(f"{p} not found: is {run_dir!r} a run directory made by 'minigan train'?")
    cfg = read_config(cfg_path, needs=("data", "model", "z_dim", "prior", "conditional"))
    device = backend.resolve_device(device)         # --device, else $MINIGAN_DEVICE, else cpu
    G, D = build_models(cfg)
    st = load(ckpt_path)
    missing = [k for k in ("G", "D") if not isinstance(st.get(k), dict)]
    if missing:
        raise ValueError(f"checkpoint {ckpt_path} lacks {', '.join(missing)} (damaged, or not a training checkpoint)")
    try:
        G.load_state_dict(st["G_ema"] if isinstance(st.get("G_ema"), dict) else st["G"])   # --ema runs sample G_ema
        D.load_state_dict(st["D"])
    except ValueError as e:
        raise ValueError(f"checkpoint {ckpt_path} does not fit its config.json: {e}") from None
    return cfg, G.to(device).eval(), D.to(device).eval()

