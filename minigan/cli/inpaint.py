"""``minigan inpaint``: its options (the table ``INPAINT``) and the work (``run_cli``)."""
import argparse
import time

import numpy as np

from .. import options
from ..gan.config import DEVICE_HELP, IMAGE_SETS, THREADS_HELP
from ..inpaint.encoder import TRAINING
from ..inpaint.masks import KINDS
from ..inpaint.objective import PERCEPTUAL
from ..inpaint.search import BLENDS, COMBINES, RESIDUALS, SPACES
from ..options import Option
from .common import check_not_empty, check_output_path, input_file, one_line, use_threads

CHOSEN = "chosen from the mask"
# ``minigan inpaint``'s options. The search's settings default to None: ``inpaint.search.settings`` chooses them
# from the mask (docs/inpainting.md says how and why); a value given here overrides that choice.
INPAINT = (
    Option("run", str, None, "run directory of an image GAN (minigan train)", required=True),
    Option("images", str, None, ".npy of float32 images (N, C, H, W) in [0, 1], the run's image size",
           group="source", required=True),
    Option("data", str, None, "take the first --n images of a data set's --split", choices=IMAGE_SETS,
           group="source"),
    Option("split", str, "test", "with --data: which part of the data set (train: each image is among the "
           "training images whose codes start the search, so its own code starts it)", choices=("train", "test")),
    Option("n", int, 64, "with --data: how many images", bounds=">= 1"),
    Option("data_dir", str, None, "with --data (and to train the encoder): folder with the IDX files"),
    Option("mask", str, "center", f"a kind, {', '.join(KINDS)} (random:P: the fraction P missing, default 0.8; "
           "grid:S: spacing S, default 4; box:Y,X,H,W: that rectangle missing), or a .npy / .png file "
           "(nonzero / white = known)"),
    Option("out", str, None, ".npy (the filled images, same layout, in [0, 1]) or .png (rows original / masked / "
           "the fill / filled)", required=True),
    Option("encoder_steps", int, TRAINING["steps"], "training steps of the run's inpainting encoder, trained "
           "the first time and kept as RUN/inpaint_encoder.npz (0: no encoder; the search starts from random "
           "codes)", bounds=">= 0"),
    Option("space", str, None, f"with an encoder: search G's projected 7x7 features near the encoder's "
           f"(features; DCGAN-28) or the code z itself (z) ({CHOSEN})", choices=SPACES),
    Option("iters", int, None, f"Adam steps of the search ({CHOSEN})", bounds=">= 1"),
    Option("restarts", int, None, f"codes searched per image: with an encoder, those it reads off the training "
           f"images nearest to each image on its known pixels, of the class most of the 8 nearest share "
           f"({CHOSEN})", bounds=">= 1"),
    Option("pool", int, None, f"with --combine mean: how many of the best-fitting codes' images are averaged "
           f"({CHOSEN})", bounds=">= 1"),
    Option("combine", str, None, f"the fill: the mean of the codes' images (mean: accuracy) or the best code's "
           f"(best: one sharp completion) ({CHOSEN})", choices=COMBINES),
    Option("residual", str, None, f"from the training images' codes: each code's image is the training image it "
           f"started from plus the change the search made to G's drawing of it (add: keeps the real image's "
           f"detail), or G's drawing alone (none) ({CHOSEN})", choices=RESIDUALS),
    Option("start_weight", float, None, f"with --combine mean and an encoder: the weight w of the encoder's "
           f"image G(z_E) in the fill w G(z_E) + (1 - w) G(z_hat) ({CHOSEN})", bounds="[0, 1]"),
    Option("lr", float, None, f"the search's Adam learning rate ({CHOSEN})", bounds="(0, inf)"),
    Option("lambda", float, None, f"the weight of D's perceptual loss ({CHOSEN})", bounds="[0, inf)"),
    Option("prior_weight", float, None, f"gamma, the weight of the penalty gamma ||z - c||^2 / 2, c the "
           f"encoder's code (or 0) ({CHOSEN})", bounds="[0, inf)"),
    Option("perceptual", str, None, f"log(1 - D(G(z))) or -log D(G(z)) ({CHOSEN})", choices=PERCEPTUAL),
    Option("weighted", bool, False, "importance-weighted contextual loss (Yeh et al.)"),
    Option("blend", str, None, f"how the fill joins the known pixels ({CHOSEN})", choices=BLENDS),
    Option("evaluate", bool, False, "also score the fill and the copy-based baselines: hole PSNR / L1, KID, "
           "class kept (needs the data set's classifier; docs/evaluation.md)"),
    Option("device", str, None, DEVICE_HELP),
    Option("threads", int, None, THREADS_HELP, bounds=">= 1", metavar="N"),
    Option("seed", int, 0, "seeds the starting codes and random masks", bounds=">= 0"),
    Option("quiet", bool, False, "no progress bar"),
)
# The search settings the table passes to ``inpaint.search.inpaint`` (its keyword for --lambda is ``lam``).
SEARCH = dict({k: k for k in ("space", "iters", "restarts", "pool", "combine", "start_weight", "lr", "prior_weight",
                              "perceptual", "weighted", "blend", "residual")}, **{"lambda": "lam"})


def add_parser(subparsers):
    """Add the ``inpaint`` sub-command, its options and help, from the table ``INPAINT``."""
    p = subparsers.add_parser(
        "inpaint", help="fill missing pixels with a trained GAN (Yeh et al. 2016)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Semantic inpainting: the run's encoder (trained once, the first time, and kept in the run "
                    "directory) reads the codes z of the training images nearest to each damaged image on its "
                    "known pixels; a short search from each moves G's 7x7 features (DCGAN-28; else z) so that G's "
                    "image matches the known pixels, and the mean of the best-fitting ones fills the hole. Without "
                    "the training images the search starts from the code the encoder reads off the damaged image. "
                    "Every search setting is chosen from the mask. See docs/inpainting.md.",
        epilog="examples:\n"
               "  minigan inpaint --run runs/fm --data fashion-mnist --n 16 --mask center --out filled.png\n"
               "  minigan inpaint --run runs/fm --data fashion-mnist --n 256 --mask random:0.9 --evaluate "
               "--out f.npy\n"
               "  minigan inpaint --run runs/fm --images damaged.npy --mask mask.png --out filled.npy\n"
               "Beside another job on the same cores, give each --threads 1: two multi-threaded jobs spin "
               "against each other.")
    options.add_arguments(p, INPAINT)
    return p


def _values(a):
    """The options given, checked, over the table's defaults (one dict, ``v["name"]``)."""
    given = options.given(a, INPAINT)
    v = dict(options.defaults(INPAINT), **given)
    options.check(v, INPAINT)
    check_not_empty(argparse.Namespace(**v), ("run", "images", "mask", "device", "data_dir"))
    for name in ("split", "n"):
        if name in given and v["images"] is not None:
            raise ValueError(f"--{name} is used only with --data; this call reads --images: leave --{name} out")
    return v


def _load_images(v, cfg):
    if v["images"] is not None:
        path = input_file(v["images"], "--images")
        if not path.endswith(".npy"):
            raise ValueError(f"--images must be a .npy file, got {path!r}")
        try:
            x = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise ValueError(f"--images {path}: not a readable .npy array ({one_line(e)})") from None
        if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiu":
            raise ValueError(f"--images {path}: holds {getattr(x, 'dtype', type(x).__name__)} values, "
                             "not numbers in [0, 1]")
        if x.ndim != 4:
            raise ValueError(f"--images must hold (N, C, H, W) images, got shape {x.shape}")
        return x, None
    from .. import data
    x, y = data.load_images(v["data"], v["split"], v["data_dir"] or cfg.get("data_dir"), scale="sigmoid")
    return x[:v["n"]], y[:v["n"]]


def run_cli(a):
    """Do ``minigan inpaint``: load the run and the images, search, write --out; returns the exit code."""
    from ..gan.run import load_run
    from ..inpaint.encoder import encoder_for
    from ..inpaint.masks import get_mask
    from ..inpaint.search import inpaint
    v = _values(a)
    mask_file = v["mask"] if v["mask"].lower().endswith((".npy", ".png")) else None
    check_output_path(v["out"], inputs={"--images": v["images"], "--mask": mask_file})
    if mask_file:
        input_file(mask_file, "--mask")
    use_threads(v["threads"])
    cfg, G, D = load_run(v["run"], v["device"])
    if cfg.get("model") == "dcgan32":
        raise ValueError(f"inpaint works on 28x28 generators; {v['run']} is a dcgan32 run (32x32, padded images): "
                         "train --model dcgan or mlp to inpaint")
    if cfg.get("model") not in ("dcgan", "mlp"):
        raise ValueError(f"inpaint works on 28x28 image generators (--model dcgan or mlp); {v['run']} is a "
                         f"{cfg.get('model')} model on {cfg.get('data')}")
    images, labels = _load_images(v, cfg)
    if cfg.get("conditional") and labels is None:
        raise ValueError(f"{v['run']} is a conditional run: its G needs class labels; use --data")
    mask = get_mask(v["mask"], images.shape, rng=v["seed"], where="--mask")
    refs, ref_labels = _references(v, cfg) if v["encoder_steps"] else (None, None)
    t0 = time.perf_counter()
    E = encoder_for(v["run"], cfg, G, steps=v["encoder_steps"], data_dir=v["data_dir"], progress=not v["quiet"])
    t1 = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):     # non-finite results are refused below
        r = inpaint(G, D, images, mask, cfg, encoder=E, references=refs, reference_labels=ref_labels,
                    seed=v["seed"], progress=not v["quiet"],
                    labels=labels if cfg.get("conditional") else None, **{kw: v[k] for k, kw in SEARCH.items()})
    t2 = time.perf_counter()
    if not all(np.isfinite(r[k]).all() for k in ("blended", "generated", "loss")):
        raise ValueError(f"inpaint: the search gave NaN / inf values (a diverged run {v['run']}, or a too large "
                         f"--lr / --lambda?); nothing written to {v['out']}")
    _write(v["out"], images, mask, r)
    st = r["settings"]
    start = "from random codes" if E is None else "from the encoder" if refs is None else \
        "from the nearest training images' codes"
    combined = f"mean of the best {min(st['pool'], st['restarts'])}" if st["combine"] == "mean" and st["pool"] \
        else st["combine"]
    if refs is not None and st["residual"] == "add":
        combined += " (the training images, edited)"
    print(f"wrote {v['out']}: {len(images)} images inpainted ({v['mask']} mask; {start}, {st['iters']} steps x "
          f"{st['restarts']} code(s), {st['space']} space, {combined}, {st['blend']} blend; search {t2 - t1:.0f} s"
          + (f", encoder {t1 - t0:.0f} s" if t1 - t0 > 1 else "") + ")")
    if v["evaluate"]:
        print(_evaluation(v, cfg, images, mask, r["blended"], refs))
    return 0


def _training_images(v, cfg):
    """The run's training images in [0, 1] and their labels, the held-out ones excluded (raises DataError when
    the files are absent)."""
    from ..inpaint.encoder import training_images
    return training_images(cfg, v["data_dir"])


def _references(v, cfg):
    """The training images (and labels) whose nearest ones start the search; (None, None) (said) when the data
    set's files are not here: the search then starts from the encoder's code alone."""
    from ..data import DataError
    try:
        return _training_images(v, cfg)
    except DataError as e:
        print(f"note: {cfg['data']}'s training images not found ({one_line(e)}); the search starts from the "
              "encoder's code alone (docs/inpainting.md: the nearest images' codes help)")
        return None, None


def _write(out, images, mask, r):
    from .. import files
    from ..inpaint.figure import inpainting_figure
    if out.endswith(".npy"):
        files.write_atomic(out, lambda f: np.save(f, r["blended"]))
    else:
        inpainting_figure(images, mask, r["generated"], r["blended"], out)


def _evaluation(v, cfg, images, mask, filled, train=None):
    """The table of ``--evaluate``: minigan's fill beside the copy-based baselines, on the run's data set."""
    from .. import data
    from ..inpaint.evaluate import Judge, baselines, compare, table
    train = _training_images(v, cfg)[0] if train is None else train
    test = data.load_images(cfg["data"], "test", v["data_dir"] or cfg.get("data_dir"), scale="sigmoid")[0]
    real = test[max(v["n"] if v["data"] and v["split"] == "test" else 0, len(test) - 2000):]
    if len(real) < 2:
        raise ValueError(f"--evaluate: KID needs real {cfg['data']} test images that were not inpainted; --n "
                         f"{v['n']} leaves {len(real)}")
    judge = Judge(real, images, cfg["data"], v["device"] or "cpu")
    scores = compare(dict(baselines(images, mask, train), minigan=filled), judge, mask)
    return (f"\n{len(images)} images, {v['mask']} mask; KID against {len(real)} real test images that were "
            f"not inpainted (x 1000; real against real: about 0, docs/evaluation.md):\n" + table({v["mask"]: scores}))


__all__ = ["INPAINT", "add_parser", "run_cli"]
