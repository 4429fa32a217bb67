"""A training config: the options of ``minigan train``, written once (``TRAIN``), and the recipes that choose
the ones left out.

``TRAIN`` is a table of ``minigan.options.Option`` rows (name, type, default, help, choices, bounds, whether a
resume may change it, which runs use it). From it come the command's parser and ``--help`` (cli), every
default, the check of every value (``validate``), the options a resume may change (``RESUME_MAY_CHANGE``),
the refusal of an option the run does not use, the completion of an old run's config.json, and
docs/options.md. A config is a dict holding every option of the table: code reads ``cfg["x"]``.

``make_config`` layers, last wins: the table's defaults < the data set's recipe (``RECIPES``) < the model's
< ``--unroll``'s (1-D / 2-D sets) < the loss's < the options given.
"""
from .. import options
from ..options import Option
from . import losses, models

IMAGE_SETS = ("mnist", "fashion-mnist")
N_CLASSES = 10       # both image sets have ten classes (digits, garments)
MODELS = ("mlp", "dcgan", "dcgan32", "toy")

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
# The GAN paper's MLP recipe (``--model mlp``), as its code (pylearn2, mnist.yaml) trained it: SGD lr 0.1
# divided by 1.000004 each step, momentum rising 0.5 -> 0.7 over 250 epochs, batch 100, U(-1, 1) noise, both
# players updated simultaneously, and (build_models, the Trainer) weights U(-0.05, 0.05) for G, U(-0.005, 0.005)
# for D, G's output bias from the pixel means. Its D objective is the mean of the two cross-entropies, half of
# ours: under SGD that is D's lr halved (make_config sets lr_d to half of lr, unless --lr-d is given; other
# optimizers keep one lr). Ours, not the paper's: samples come from a moving average of G's weights
# (ema 0.999; training is unchanged), which removes most of the raw G's speckle; and 25 epochs, the length
# docs/demos.md (section 3) measured it at.
MLP_RECIPE = dict(loss="nonsaturating", optimizer="sgd", lr=0.1, momentum=0.5, final_momentum=0.7,
                  momentum_epochs=250, lr_decay=1.000004, batch_size=100, epochs=25, z_dim=100, prior="uniform",
                  update="simultaneous", ema=0.999)
# The all-convolutional DCGAN (Radford et al.) on images zero-padded to 32x32 (``--model dcgan32``).
DCGAN32_RECIPE = dict(optimizer="adam", lr=2e-4, beta1=0.5, batch_size=64, z_dim=100, prior="normal")
# WGAN's recipe (Arjovsky et al.): RMSprop 5e-5, 5 critic steps (and --clip's 0.01); WGAN-GP: Adam 1e-4
# (0, 0.9), 5 critic steps (and --gp-lambda's 10).
WASSERSTEIN = dict(optimizer="rmsprop", lr=5e-5, k=5)
WASSERSTEIN_GP = dict(optimizer="adam", lr=1e-4, beta1=0.0, beta2=0.9, k=5)
# ``--unroll K`` (K > 0) on the 1-D / 2-D sets: the unrolled-GAN paper's batch of 512, 3,000 steps, D's Adam at 1e-4
# (G keeps the recipe's 1e-3; the rates of Metz et al.'s code) and both rates falling linearly to 0 over the
# last 30 % of the run. At D's rate 1e-3 unrolling drives G into collapse; without the cooldown the samples
# cover every mode but only about 70 % of them are sharp (docs/demos.md, "Mode hopping and the unrolled GAN").
UNROLLED_RECIPE = dict(batch_size=512, steps=3000, lr_d=1e-4, cooldown=0.3)

OVERRIDES = {"--recipe paper": (PAPER_RECIPE, " (image sets)"), "--model mlp": (MLP_RECIPE, ""),
             "--model dcgan32": (DCGAN32_RECIPE, ""),
             "--unroll K": (UNROLLED_RECIPE, " (1-D / 2-D sets, cross-entropy losses)"),
             "--loss wasserstein": (WASSERSTEIN, ""), "--loss wasserstein-gp": (WASSERSTEIN_GP, "")}
RECIPE_KEYS = {k for r in list(RECIPES.values()) + [r for r, _ in OVERRIDES.values()] for k in r}

CROSS_ENTROPY = ("minimax", "nonsaturating")
DEVICE_HELP = "cpu, cuda or cuda:N (default: $MINIGAN_DEVICE, else cpu; cuda needs CuPy)"
THREADS_HELP = ("CPU threads for minigan's loops and OpenBLAS's matrix products (default: $OPENBLAS_NUM_THREADS, "
                "else $OMP_NUM_THREADS, else all cores); two jobs on the same cores spin against each other, so "
                "beside another job use --threads 1")

# ``minigan train``'s options. ``when``: the option is used only by such runs; given to another, it is refused.
TRAIN = (
    Option("data", str, "ring", "training data", choices=tuple(RECIPES)),
    Option("recipe", str, "default", "default: the best recipe measured for the data set; paper: for images, the "
           "DCGAN papers' 5-epoch recipe (see the recipes below)", choices=("default", "paper")),
    Option("model", str, None, "mlp: the GAN paper's maxout MLP; dcgan: DCGAN-28; dcgan32: the all-convolutional "
           "DCGAN on images padded to 32x32; toy: small MLPs for 1-D / 2-D data", choices=MODELS),
    Option("loss", str, None, "generator / critic objective", choices=losses.LOSSES),
    Option("k", int, 1, "discriminator steps per generator step", bounds=">= 1"),
    Option("epochs", int, None, "passes over the training images", bounds=">= 1", resume=True, group="length"),
    Option("steps", int, None, "generator steps (instead of --epochs)", bounds=">= 1", resume=True,
           group="length"),
    Option("batch_size", int, None, "minibatch size m", bounds=">= 1"),
    Option("lr", float, None, "learning rate (both players unless --lr-d)", bounds="(0, inf)", resume=True),
    Option("lr_d", float, None, "D's learning rate when it differs from G's (two time-scales; the MLP recipe: "
           "half of --lr)", bounds="(0, inf)", resume=True),
    Option("cooldown", float, 0.0, "let the learning rates fall linearly to 0 over this last fraction of the run, "
           "e.g. 0.25 (0: constant)", bounds="[0, 1]", resume=True),
    Option("optimizer", str, None, "the optimizer of both players", choices=("sgd", "adam", "rmsprop")),
    Option("beta1", float, 0.9, "Adam's beta1 (DCGAN: 0.5)", bounds="[0, 1)", when=("optimizer", "adam")),
    Option("beta2", float, 0.999, "Adam's beta2", bounds="[0, 1)", when=("optimizer", "adam")),
    Option("momentum", float, 0.0, "SGD's momentum (the MLP recipe: 0.5, rising to --final-momentum)",
           bounds="[0, 1)", when=("optimizer", "sgd")),
    Option("final_momentum", float, None, "the momentum reached after --momentum-epochs (default: --momentum)",
           bounds="[0, 1)", when=("optimizer", "sgd")),
    Option("momentum_epochs", int, None, "epochs over which the momentum rises (default: the whole run)",
           bounds=">= 1", when=("optimizer", "sgd")),
    Option("lr_decay", float, 1.0, "SGD's learning rate is divided by this at every step", bounds="[1, inf)",
           when=("optimizer", "sgd")),
    Option("z_dim", int, None, "size of the noise vector z", bounds=">= 1"),
    Option("prior", str, None, "noise p_z: N(0, I) or U(-1, 1)^z_dim", choices=("normal", "uniform")),
    Option("hidden", int, 128, "units per hidden layer of the toy MLPs", bounds=">= 1", when=("model", "toy")),
    Option("depth", int, 3, "hidden layers of the toy MLPs", bounds=">= 1", when=("model", "toy")),
    Option("pack", int, 1, "PacGAN packing: D judges this many samples at once", bounds=">= 1",
           when=("model", "toy")),
    Option("ngf", int, 32, "G's width: channels of its last hidden layer", bounds=">= 1", when=("model", "dcgan32")),
    Option("ndf", int, 32, "D's width: channels of its first layer", bounds=">= 1", when=("model", "dcgan32")),
    Option("max_norm", float, None, "cap on the norm of each maxout unit's weight vector (0: none; the maxout "
           "paper used 1.9365)", bounds=">= 0", when=("model", "mlp")),
    Option("conditional", bool, False, "feed the class label to G and D", when=("data", IMAGE_SETS)),
    Option("clip", float, 0.01, "WGAN's weight clipping bound c", bounds="(0, inf)", when=("loss", "wasserstein")),
    Option("gp_lambda", float, 10.0, "WGAN-GP's penalty weight lambda", bounds="[0, inf)",
           when=("loss", "wasserstein-gp")),
    Option("smooth", float, 1.0, "one-sided label smoothing: D's target for real images (1: none; 0.9 is common)",
           bounds="(0.5, 1]", when=("loss", CROSS_ENTROPY)),
    Option("unroll", int, 0, "unrolled GAN (Metz et al.): G's loss against D advanced K optimizer steps, "
           "differentiated through them (0: off; on the 1-D / 2-D sets it brings its own recipe, below)",
           bounds=">= 0", metavar="K"),
    Option("update", str, "alternating", "alternating: Algorithm 1, G steps against the D just updated; "
           "simultaneous: both gradients at the same G and D, then both steps, as the GAN paper's code",
           choices=("alternating", "simultaneous")),
    Option("reuse_fake", bool, False, "the G step reuses the D step's noise, as PyTorch's DCGAN example does "
           "(default: fresh noise, as Algorithm 1)", when=("update", "alternating")),
    Option("ema", float, 0.0, "sample from a moving average of G's weights with this decay, e.g. 0.999 (0: off)",
           bounds="[0, 1)"),
    Option("sample_every", int, None, "save the fixed-noise picture every N steps", bounds=">= 1", resume=True,
           metavar="N"),
    Option("log_every", int, 1, "write a metrics.csv row (one device-to-host copy) every N steps; NaN losses "
           "are caught on logged steps", bounds=">= 1", resume=True, metavar="N"),
    Option("seed", int, 0, "random seed (same seed, same result on the CPU)", bounds=">= 0"),
    Option("device", str, None, DEVICE_HELP, resume=True),
    Option("threads", int, None, THREADS_HELP, bounds=">= 1", resume=True, metavar="N"),
    Option("data_dir", str, None, "folder with the IDX files (else $MINIGAN_DATA, ~/.cache/minigan, "
           "/usr/share/datasets)", when=("data", IMAGE_SETS), metavar="DIR"),
    Option("out", str, None, "run directory (default runs/DATA)", metavar="RUN_DIR"),
)
OPTIONS = {opt.name: opt for opt in TRAIN}
# What ``minigan train --resume`` may change; every other option is fixed by the run's config.json.
RESUME_MAY_CHANGE = options.may_change_on_resume(TRAIN)


def set_length(cfg, key, value):
    """Set --steps or --epochs (``key``) to ``value``; the other one is then unset: a run has one length."""
    cfg[key], cfg["epochs" if key == "steps" else "steps"] = value, None


def make_config(**given):
    """A complete training config from the options given (None: not given). An option given that the run
    would not use is refused, by name."""
    given = {k: v for k, v in given.items() if v is not None}
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown training option(s): {', '.join(unknown)}")
    name = given.get("data", OPTIONS["data"].default)
    if name not in RECIPES:
        raise ValueError(f"--data must be one of {', '.join(RECIPES)}; got {name!r}")
    if given.get("recipe") == "paper" and name not in IMAGE_SETS:
        raise ValueError(f"--recipe paper is the DCGAN papers' recipe, for the image sets; {name} has one recipe: "
                         "leave --recipe out")
    cfg = options.defaults(TRAIN)
    cfg.update(RECIPES[name])
    if given.get("recipe") == "paper":
        cfg.update(PAPER_RECIPE)
    if given.get("model") == "mlp":
        cfg.update(MLP_RECIPE)
    elif given.get("model") == "dcgan32":
        cfg.update(DCGAN32_RECIPE)
    loss = given.get("loss", cfg["loss"])
    if given.get("unroll") and name not in IMAGE_SETS and loss in CROSS_ENTROPY:
        cfg.update(UNROLLED_RECIPE)
    if loss == "wasserstein":
        cfg.update(WASSERSTEIN)
    elif loss == "wasserstein-gp":
        cfg.update(WASSERSTEIN_GP)
    for key in ("steps", "epochs"):
        if key in given:
            set_length(cfg, key, given[key])
    cfg.update(given)
    if cfg["model"] == "mlp" and "lr_d" not in given:  # the paper's D objective is half of ours: under SGD
        cfg["lr_d"] = cfg["lr"] / 2 if cfg["optimizer"] == "sgd" else None     # half the step; not Adam's
    validate(cfg)
    options.refuse_unused({k: v for k, v in given.items() if v is not False}, cfg, TRAIN)
    return cfg


def complete(cfg):
    """``cfg`` (in place) with every option it lacks at its default: a run made before the option existed."""
    return options.complete(cfg, TRAIN)


def validate(cfg, source=None):
    """Every value of its type, choices and bounds (the table), and the options that must agree. ``source``:
    the file the values were read from (a run's config.json), which the error then names."""
    options.check(cfg, TRAIN, source)
    try:
        agree(cfg)
    except ValueError as e:
        if source is None:
            raise
        raise ValueError(f"{source} holds a run no option could make: {e}") from None


def agree(cfg):
    """Refuse options that do not go together (each value already checked on its own)."""
    image = cfg["data"] in IMAGE_SETS
    if image and cfg["model"] == "toy":
        raise ValueError(f"--model toy is for the 1-D / 2-D sets, not {cfg['data']}; use mlp or dcgan")
    if not image and cfg["model"] != "toy":
        dims = "1" if cfg["data"] == "gaussian1d" else "2"
        raise ValueError(f"--model {cfg['model']} needs images; {cfg['data']} is {dims}-D: use --model toy")
    if cfg["batch_size"] % cfg["pack"]:
        raise ValueError(f"--batch-size {cfg['batch_size']} must be a multiple of --pack {cfg['pack']}")
    if (cfg["steps"] is None) == (cfg["epochs"] is None):
        raise ValueError("give exactly one of --epochs and --steps")
    if cfg["unroll"] and cfg["loss"] == "wasserstein-gp":
        raise ValueError("--unroll is not implemented with --loss wasserstein-gp (it would need third "
                         "derivatives of D); use minimax, nonsaturating or wasserstein")


def recipes_text():
    """The recipes as ``minigan train --help`` shows them: one line per data set or override."""
    def line(name, recipe):
        return f"  {name:22s} " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in recipe.items())
    lines = ["recipes (minigan.gan.config):"] + [line(n, r) for n, r in RECIPES.items()]
    lines += [line(name, recipe) + note for name, (recipe, note) in OVERRIDES.items()]
    return "\n".join(lines)


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
