"""The facts about a training run, in one place: its recipes and defaults, the config they make,
the models it builds, its noise prior, its output range, its held-out images, and how a finished
run is loaded back. The trainer, ``evaluate``, ``sample``, ``inpaint`` and the CLI's --help all
read them from here.
"""
import contextlib
import json
import math
import os

import numpy as np

from .. import backend
from ..serialization import load
from ..tensor import Tensor
from . import losses, models

IMAGE_SETS = ("mnist", "fashion-mnist")
N_CLASSES = 10       # both image sets have ten classes (digits, garments)
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


def split_held_out(x):
    """(the training part, the held-out part) of a training set's array: the held-out images are its last ones."""
    cut = len(x) - held_out(len(x))
    return x[:cut], x[cut:]


def output_range(cfg):
    """G's output range: "sigmoid" ([0, 1]) for the paper's MLP, "tanh" ([-1, 1]) for the DCGANs; None for points."""
    if cfg["data"] not in IMAGE_SETS:
        return None
    return "sigmoid" if cfg["model"] == "mlp" else "tanh"


def to_unit_range(cfg, out):
    """Generator outputs -> images in [0, 1] (tanh generators give [-1, 1]); points unchanged."""
    return (out + 1) / 2 if output_range(cfg) == "tanh" else out

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
    "fashion-mnist": dict(model="dcgan", loss="nonsaturating", optimizer="adam", lr=1.2e-3, beta1=0.5,
                          batch_size=64, epochs=12, z_dim=100, prior="normal", sample_every=200),
}
# ``--recipe paper`` for the image sets: the DCGAN recipe as the papers train it, Adam 2e-4 for 5 epochs. The
# fashion-mnist default trains 12 epochs (15-30 minutes on 2 CPU cores) at six times that rate, the two levers that
# helped in docs/demos.md ("A stronger default"); mnist keeps the paper's recipe until it is measured.
PAPER_RECIPE = dict(epochs=5, lr=2e-4, ema=0.0)
RECIPE_NAMES = ("default", "paper")
# The GAN paper's MLP recipe (``--model mlp``), as its code (pylearn2, mnist.yaml) trained it: SGD lr 0.1
# divided by 1.000004 each step, momentum rising 0.5 -> 0.7 over 250 epochs, batch 100, U(-1, 1) noise, both
# players updated simultaneously, and (build_models, Trainer) weights U(-0.05, 0.05) for G, U(-0.005, 0.005)
# for D, G's output bias from the pixel means. Its D objective is the mean of the two cross-entropies, half of
# ours: under SGD that is D's lr halved (make_config sets lr_d to half of lr, unless --lr-d is given; other
# optimizers keep one lr). Ours, not the paper's: samples come from a moving average of G's weights
# (ema 0.999; training is unchanged), which removes most of the raw G's speckle (docs/demos.md, section 3).
MLP_RECIPE = dict(loss="nonsaturating", optimizer="sgd", lr=0.1, momentum=0.5, final_momentum=0.7,
                  momentum_epochs=250, lr_decay=1.000004, batch_size=100, z_dim=100, prior="uniform",
                  update="simultaneous", ema=0.999)
# The all-convolutional DCGAN (Radford et al.) on images zero-padded to 32x32 (``--model dcgan32``).
DCGAN32_RECIPE = dict(optimizer="adam", lr=2e-4, beta1=0.5, batch_size=64, z_dim=100, prior="normal", ngf=32, ndf=32)
# WGAN's recipe (Arjovsky et al.): RMSprop 5e-5, clip 0.01, 5 critic steps; WGAN-GP: Adam 1e-4 (0, 0.9), lambda 10.
WASSERSTEIN = dict(optimizer="rmsprop", lr=5e-5, k=5, clip=0.01)
WASSERSTEIN_GP = dict(optimizer="adam", lr=1e-4, beta1=0.0, beta2=0.9, k=5, gp_lambda=10.0)

# ``--unroll K`` (K > 0) on the 1-D / 2-D sets: the unrolled-GAN paper's batch of 512, 3,000 steps, D's Adam at 1e-4
# (G keeps the recipe's 1e-3; the rates of Metz et al.'s code) and both rates falling linearly to 0 over the
# last 30 % of the run. At D's rate 1e-3 unrolling drives G into collapse; without the cooldown the samples
# cover every mode but only about 70 % of them are sharp (docs/demos.md, "Mode hopping and the unrolled GAN").
UNROLLED_RECIPE = dict(batch_size=512, steps=3000, lr_d=1e-4, cooldown=0.3)

# What ``minigan train --resume`` may change; every other option is fixed by the run's config.json.
RESUME_MAY_CHANGE = ("lr", "lr_d", "steps", "epochs", "cooldown", "device", "sample_every", "log_every")


def set_length(cfg, key, value):
    """Set --steps or --epochs (``key``) to ``value``; the other one is then unset: a run has one length."""
    cfg[key], cfg["epochs" if key == "steps" else "steps"] = value, None


def recipes_text():
    """The recipes as ``minigan train --help`` shows them: one line per data set or override."""
    def line(name, recipe):
        return f"  {name:16s} " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in recipe.items())
    lines = ["recipes (minigan.gan.run):"] + [line(n, r) for n, r in RECIPES.items()]
    lines += [line("--recipe paper", PAPER_RECIPE) + " (image sets)", line("--model mlp", MLP_RECIPE),
              line("--model dcgan32", DCGAN32_RECIPE),
              line("--unroll K", UNROLLED_RECIPE) + " (1-D / 2-D sets, cross-entropy losses)",
              line("--loss wasserstein", WASSERSTEIN), line("--loss wasserstein-gp", WASSERSTEIN_GP)]
    return "\n".join(lines)


DEFAULTS = dict(model=None, data="ring", loss=None, k=1, epochs=None, steps=None, batch_size=None, lr=None,
                beta1=None, beta2=0.999, optimizer=None, momentum=0.0, final_momentum=None, lr_decay=1.0,
                device=None, seed=0, conditional=False, z_dim=None, prior=None, hidden=128, depth=3, pack=1,
                clip=0.01, gp_lambda=10.0, sample_every=None, data_dir=None, out=None,
                log_every=1, reuse_fake=False, unroll=0, max_norm=None, ema=0.0, lr_d=None, smooth=1.0,
                cooldown=0.0, recipe="default", update="alternating", momentum_epochs=None)
MODELS = ("mlp", "dcgan", "dcgan32", "toy")
# alternating: Algorithm 1, G's step against the D just updated; simultaneous: the paper's code, both gradients
# at the same (G, D), then both steps.
UPDATES = ("alternating", "simultaneous")


def make_config(**options):
    """Fill a training config: explicit options > loss recipe > unrolled recipe (--unroll on the 1-D / 2-D sets)
    > model recipe > data-set recipe > defaults."""
    options = {k: v for k, v in options.items() if v is not None}
    name = options.get("data", DEFAULTS["data"])
    if name not in RECIPES:
        raise ValueError(f"--data must be one of {', '.join(RECIPES)}; got {name!r}")
    cfg = dict(DEFAULTS)
    cfg.update(RECIPES[name])
    if options.get("recipe") == "paper" and name in IMAGE_SETS:
        cfg.update(PAPER_RECIPE)
    if options.get("model") == "mlp":
        cfg.update(MLP_RECIPE)
    elif options.get("model") == "dcgan32":
        cfg.update(DCGAN32_RECIPE)
    loss = options.get("loss", cfg["loss"])
    if options.get("unroll") and name not in IMAGE_SETS and loss in ("minimax", "nonsaturating"):
        cfg.update(UNROLLED_RECIPE)
    if loss == "wasserstein":
        cfg.update(WASSERSTEIN)
    elif loss == "wasserstein-gp":
        cfg.update(WASSERSTEIN_GP)
    for key in ("steps", "epochs"):
        if key in options:
            set_length(cfg, key, options[key])
    cfg.update(options)
    if cfg["model"] == "mlp" and "lr_d" not in options:  # the paper's D objective is half of ours: under SGD
        cfg["lr_d"] = cfg["lr"] / 2 if cfg["optimizer"] == "sgd" else None     # half the step; not Adam's
    validate(cfg)
    return cfg


def validate(cfg):
    checks = [("recipe", RECIPE_NAMES), ("model", MODELS), ("loss", losses.LOSSES),
              ("optimizer", ("sgd", "adam", "rmsprop")), ("prior", ("normal", "uniform")), ("update", UPDATES)]
    for key, allowed in checks:
        value = cfg.setdefault(key, DEFAULTS[key])            # a run made before the option existed: its default
        if value not in allowed:
            raise ValueError(f"--{key} must be one of {', '.join(allowed)}; got {value!r}")
    image = cfg["data"] in IMAGE_SETS
    if image and cfg["model"] == "toy":
        raise ValueError(f"--model toy is for the 1-D / 2-D sets, not {cfg['data']}; use mlp or dcgan")
    if not image and cfg["model"] != "toy":
        dims = "1" if cfg["data"] == "gaussian1d" else "2"
        raise ValueError(f"--model {cfg['model']} needs images; {cfg['data']} is {dims}-D: use --model toy")
    if cfg["conditional"] and not image:
        raise ValueError(f"--conditional needs a labelled image set (mnist, fashion-mnist), not {cfg['data']}")
    for key in ("k", "batch_size", "z_dim", "pack", "sample_every", "hidden", "depth", "steps", "epochs",
                "log_every", "momentum_epochs"):
        if cfg.get(key) is not None and (isinstance(cfg[key], bool) or not isinstance(cfg[key], (int, np.integer))
                                         or cfg[key] < 1):
            raise ValueError(f"--{key.replace('_', '-')} must be >= 1 (a whole number); got {cfg[key]!r}")
    _check_reals(cfg)
    if isinstance(cfg["seed"], bool) or not isinstance(cfg["seed"], (int, np.integer)) or cfg["seed"] < 0:
        raise ValueError(f"--seed must be a whole number >= 0; got {cfg['seed']!r}")
    if cfg["batch_size"] % cfg["pack"]:
        raise ValueError(f"--batch-size {cfg['batch_size']} must be a multiple of --pack {cfg['pack']}")
    if (cfg["steps"] is None) == (cfg["epochs"] is None):
        raise ValueError("give exactly one of --epochs and --steps")
    _validate_unroll(cfg)


# Real-valued options: (lowest, highest, whether the lowest itself is allowed[, whether the highest is]).
# NaN and inf are always refused.
REAL_RANGES = {"lr": (0.0, math.inf, False), "beta1": (0.0, 1.0, True), "beta2": (0.0, 1.0, True),
               "momentum": (0.0, 1.0, True), "final_momentum": (0.0, 1.0, True), "lr_decay": (1.0, math.inf, True),
               "clip": (0.0, math.inf, False), "gp_lambda": (0.0, math.inf, True), "ema": (0.0, 1.0, True),
               "lr_d": (0.0, math.inf, False), "smooth": (0.5, 1.0, False, True),
               "cooldown": (0.0, 1.0, True, True)}


def _check_reals(cfg):
    """Refuse non-finite, non-numeric and out-of-range real options up front (``nan <= 0`` is False)."""
    for key, (lo, hi, lo_ok, *hi_ok) in REAL_RANGES.items():
        v = cfg.get(key)
        if v is None:
            continue
        name = f"--{key.replace('_', '-')}"
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name} must be a number; got {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number; got {v}")
        if v < lo or (v == lo and not lo_ok) or v > hi or (v == hi and not hi_ok):
            interval = f"{'[' if lo_ok else '('}{lo:g}, {hi:g}{']' if hi_ok else ')'}"
            raise ValueError(f"{name} must be in {interval}; got {v}")


def _validate_unroll(cfg):
    """--unroll and --max-norm in range (the other real options are checked by _check_reals)."""
    if int(cfg.get("unroll") or 0) < 0:
        raise ValueError(f"--unroll must be >= 0; got {cfg['unroll']}")
    if cfg.get("unroll") and cfg["loss"] == "wasserstein-gp":
        raise ValueError("--unroll is not implemented with --loss wasserstein-gp (it would need third "
                         "derivatives of D); use minimax, nonsaturating or wasserstein")
    if cfg.get("max_norm") is not None and not cfg["max_norm"] >= 0:
        raise ValueError(f"--max-norm must be >= 0 (0: no constraint); got {cfg['max_norm']}")


def build_models(cfg):
    """G and D for a config (on the CPU; the trainer moves them)."""
    nc = N_CLASSES if cfg["conditional"] else 0
    if cfg["model"] == "toy":
        dim = 1 if cfg["data"] == "gaussian1d" else 2
        G = models.ToyGenerator(cfg["z_dim"], dim, cfg["hidden"], cfg["depth"])
        D = models.ToyDiscriminator(dim, cfg["hidden"], cfg["depth"], cfg["pack"])
    elif cfg["model"] == "mlp":
        G = models.paper_init(models.MLPGenerator(cfg["z_dim"], n_classes=nc), 0.05)
        D = models.paper_init(models.MLPDiscriminator(n_classes=nc), 0.005)
    elif cfg["model"] == "dcgan32":                                     # 28x28 images padded to 32x32
        G = models.dcgan_init(models.DCGANGenerator(cfg["z_dim"], 32, 1, cfg["ngf"], n_classes=nc))
        D = models.dcgan_init(models.DCGANDiscriminator(32, 1, cfg["ndf"], n_classes=nc))
    else:
        G = models.dcgan_init(models.DCGAN28Generator(cfg["z_dim"], n_classes=nc))
        D = models.dcgan_init(models.DCGAN28Discriminator(n_classes=nc))
    return G, D


def load_run(run_dir, device=None):
    """(config, G, D) from a run directory's config.json and checkpoint.npz, in eval mode.

    G is the generator the run samples from: the moving average of its weights for an --ema run."""
    cfg_path, ckpt_path = os.path.join(run_dir, "config.json"), os.path.join(run_dir, "checkpoint.npz")
    for p in (cfg_path, ckpt_path):
        if not os.path.exists(p):
            raise FileNotFoundError(f"{p} not found: is {run_dir!r} a run directory made by 'minigan train'?")
    cfg = _read_config(cfg_path)
    device = backend.resolve_device(device)         # --device, else $MINIGAN_DEVICE, else cpu
    G, D = build_models(cfg)
    st = load(ckpt_path)
    _load_models(ckpt_path, st, G, D)
    return cfg, G.to(device).eval(), D.to(device).eval()


def _read_config(cfg_path):
    """config.json of a run, or a one-line error naming the file."""
    try:
        with open(cfg_path) as f:
            cfg = json.load(f)
        if not isinstance(cfg, dict) or not {"data", "model", "z_dim", "prior", "conditional"} <= set(cfg):
            raise ValueError("not a minigan training config")
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{cfg_path} is damaged ({e})") from None
    return cfg


def _load_models(ckpt_path, st, G, D):
    """G's and D's weights from a loaded checkpoint, or an error naming the file."""
    missing = [k for k in ("G", "D") if not isinstance(st.get(k), dict)]
    if missing:
        raise ValueError(f"checkpoint {ckpt_path} lacks {', '.join(missing)} (damaged, or not a training checkpoint)")
    try:
        G.load_state_dict(st["G_ema"] if isinstance(st.get("G_ema"), dict) else st["G"])   # --ema runs sample G_ema
        D.load_state_dict(st["D"])
    except ValueError as e:
        raise ValueError(f"checkpoint {ckpt_path} does not fit its config.json: {e}") from None


def prior(cfg, n, rng, device="cpu"):
    """n draws of the run's noise prior p_z, as a Tensor on ``device``."""
    z = sample_prior(cfg["prior"], n, cfg["z_dim"], rng)
    return Tensor(backend.to_device(z, device))


@contextlib.contextmanager
def frozen(*modules):
    """Within the block, the modules' parameters ask for no gradient (their values are fixed, the inputs
    still get gradients through them); afterwards each parameter's requires_grad is as it was."""
    params = [p for m in modules if hasattr(m, "parameters") for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad = False
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad = flag
