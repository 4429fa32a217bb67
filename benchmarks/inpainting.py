"""Inpainting on accuracy and realism, every mask, with `minigan inpaint`'s defaults, against the copy-based baselines.

For each mask: --n test images (the first ones, or from --start on) are masked and filled by minigan (the search
from the run's encoder's codes of the nearest training images, every setting as `minigan inpaint` chooses it; the
encoder is trained first if the run has none) and by the baselines (the mean training image, the nearest training
image on the known pixels, the mean of its 8 nearest); every fill is scored by hole PSNR and L1 (pooled over all
missing pixels), KID against 2,000 real test images that were not inpainted (the shipped classifier's features,
x 1000) and the share of images whose class the classifier keeps. Also measured: real against real KID (the noise
floor at this n) and, with --variants, the other points minigan offers (--combine best; --residual none, G's drawing
without the starting images' detail; the search from the encoder's code of the damaged image alone; the search from
random codes, Yeh et al.'s method) and, to show what the search adds to the training images it starts from, the
mean of those images copied (the 4 nearest of the vote's class, as the search starts from them).

    python benchmarks/inpainting.py --run runs/fashion-mnist                 # 256 images, 13 masks
    python benchmarks/inpainting.py --run R --masks center left box:2,11,14,14 --n 64 --variants
    python benchmarks/inpainting.py --run R --start 256 --n 384                # other images than the default's

Writes (under --out): results.md (the table, the times), results.json, pareto.png (hole PSNR against KID, a
panel per mask), and prints the table.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from minigan import data
from minigan.gan.run import load_run
from minigan.inpaint import encoder_for, get_mask, inpaint
from minigan.inpaint.encoder import training_images
from minigan.inpaint.evaluate import Judge, baselines, paired_difference, table
from minigan.inpaint.figure import pareto_figure

# The masks of the evaluation: the four of earlier versions, the other halves, an off-centre box, a disc,
# random fractions from 50 to 95 % missing, finer and coarser grids.
MASKS = ("center", "left", "right", "top", "bottom", "box:2,11,14,14", "disc.png", "random:0.5", "random:0.8",
         "random:0.95", "grid:2", "grid", "grid:6")
N_REAL = 2000
BASELINES = ("mean training image", "nearest training image", "mean of 8 nearest")   # the three


def disc_mask(folder):
    """A user's PNG mask: a disc of radius 7 centred at (17, 10), written once as <folder>/disc.png."""
    from minigan.inpaint import save_mask
    yy, xx = np.mgrid[:28, :28]
    path = os.path.join(folder, "disc.png")
    save_mask(((yy - 17) ** 2 + (xx - 10) ** 2 >= 49).astype(np.float32), path)
    return path


def starting_copies(x, m, train, labels, k=4):
    """The mean of the k training images the search starts from (the nearest on the known pixels, of the class
    most of the 8 nearest share), pasted: the copy-based fill nearest to minigan's, without G."""
    from minigan.inpaint.blend import compose
    from minigan.inpaint.encoder import neighbours
    return compose(x, neighbours(x, m, train, k, labels).reshape((k,) + x.shape).mean(axis=0), m)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run directory of a DCGAN on Fashion-MNIST")
    p.add_argument("--n", type=int, default=256, help="test images per mask (default 256)")
    p.add_argument("--start", type=int, default=0, help="the first test image used (default 0)")
    p.add_argument("--masks", nargs="+", default=list(MASKS), help="mask specs, as minigan inpaint --mask takes "
                   "them (default: the 13 above); 'disc.png' is a PNG mask this script writes")
    p.add_argument("--variants", action="store_true", help="also --combine best, --residual none, the search from "
                   "the encoder's code alone and from random codes, and the mean of the 4 starting images copied")
    p.add_argument("--out", default="benchmarks/out/inpainting", help="folder for results.md / .json / pareto.png")
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    cfg, G, D = load_run(a.run, a.device)
    test = data.load_images(cfg["data"], "test", cfg.get("data_dir"), scale="sigmoid")[0]
    train, labels = training_images(cfg)
    if a.n < 2 or a.start < 0 or a.start + a.n > len(test) - N_REAL:
        p.error(f"--start {a.start} --n {a.n}: the images must lie in test[0:{len(test) - N_REAL}], before the "
                f"{N_REAL} real images KID compares with, and be at least 2")
    x, real = test[a.start:a.start + a.n], test[-N_REAL:]
    judge = Judge(real, x, cfg["data"], a.device or "cpu")
    noise = [judge(test[a.start + a.n * (i + 1):a.start + a.n * (i + 2)], np.zeros((1, 1, 28, 28)))["kid"]
             if a.start + a.n * (i + 2) <= len(test) - N_REAL else np.nan for i in range(8)]
    noise_sd = float(np.nanstd(noise))
    t = time.perf_counter()
    E = encoder_for(a.run, cfg, G, progress=True)
    seconds = {"encoder (once per run)": time.perf_counter() - t}
    scores, kept = {}, {}
    for spec in a.masks:
        path = disc_mask(a.out) if spec == "disc.png" else spec
        m = get_mask(path, x.shape, rng=a.seed)
        name = spec.replace(".png", "")
        fills = baselines(x, m, train)
        t = time.perf_counter()
        r = inpaint(G, D, x, m, cfg, encoder=E, references=train, reference_labels=labels, seed=a.seed, progress=True)
        fills["minigan"], seconds[name] = r["blended"], time.perf_counter() - t
        if a.variants:
            for opt, kw in (("--combine best", dict(combine="best")), ("--residual none", dict(residual="none"))):
                fills[f"minigan {opt}"] = inpaint(G, D, x, m, cfg, encoder=E, references=train,
                                                  reference_labels=labels, seed=a.seed, **kw)["blended"]
            fills["minigan from the encoder's code alone"] = inpaint(G, D, x, m, cfg, encoder=E,
                                                                     seed=a.seed)["blended"]
            fills["minigan from random codes"] = inpaint(G, D, x, m, cfg, seed=a.seed, progress=True)["blended"]
            fills["the 4 starting images' mean, copied"] = starting_copies(x, m, train, labels)
        judged = {k: judge(f, m, per_image=True) for k, f in fills.items()}
        kept[name] = {k: v.pop("kept") for k, v in judged.items()}
        scores[name] = judged
        print(f"{name}: " + ", ".join(f"{k} {v['psnr']:.2f} dB / KID {v['kid']:.1f}" for k, v in scores[name].items()),
              flush=True)
    lines = [f"{a.n} test images per mask (test[{a.start}:{a.start + a.n}]); run {a.run}; KID x 1000 against "
             f"{N_REAL} real test images that were not inpainted; real against real at n = {a.n}: mean "
             f"{np.nanmean(noise):.1f}, sd {noise_sd:.1f} ({np.sum(~np.isnan(noise))} disjoint sets).", "",
             table(scores), "",
             "| mask | minigan vs nearest (dB) | vs mean of 8 (dB) | KID below the mean of 8's | class kept vs best "
             "baseline (points ± standard error) | search seconds |",
             "|---|---:|---:|---|---:|---:|"]
    for name, s in scores.items():
        mg, nn, m8 = s["minigan"], s["nearest training image"], s["mean of 8 nearest"]
        best = max(BASELINES, key=lambda k: s[k]["class_kept"])
        diff, se = paired_difference(kept[name]["minigan"], kept[name][best])   # on the same images: paired
        lines.append(f"| {name} | {mg['psnr'] - nn['psnr']:+.2f} | {mg['psnr'] - m8['psnr']:+.2f} | "
                     f"{'yes' if mg['kid'] < m8['kid'] else 'no'} | {100 * diff:+.1f} ± {100 * se:.1f} | "
                     f"{seconds[name]:.0f} |")
    lines += ["", f"encoder: {seconds['encoder (once per run)']:.0f} s (0 when the run already has one)"]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(dict(scores=scores, seconds=seconds, real_noise=noise, n=a.n, start=a.start), f,
                  indent=1)
    pareto_figure(scores, os.path.join(a.out, "pareto.png"), real_noise=noise_sd)
    print(f"wrote {a.out}/results.md, results.json, pareto.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
