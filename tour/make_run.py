"""Make the small run the tour ships (tour/dcgan28-fashion-mnist) from a full ``minigan train`` run.

    minigan train --data fashion-mnist --out runs/fashion-mnist     # the default recipe: 12 epochs, seed 0
    python tour/make_run.py runs/fashion-mnist                      # writes tour/dcgan28-fashion-mnist/

A training checkpoint holds G, D, both optimizers' states (Adam's two moments: twice the weights again), the
random generators' states and the data order: 11.6 MB for DCGAN-28. The tour needs only the two models, so the
shipped checkpoint keeps G and D, the step and the config, with the floating-point weights stored in half
precision (float16): 1.9 MB. ``load_state_dict`` copies them into the float32 models, so
``minigan.gan.run.load_run`` reads the folder as it reads any run, and so do ``minigan sample``, ``minigan
evaluate`` and ``minigan inpaint --run``. Rounding the weights to float16 moves the classifier FID by less than
0.05 (tour/README.md gives both numbers).
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from minigan import load, save  # noqa: E402
from minigan.gan.run import check_checkpoint, read_config  # noqa: E402

OUT = os.path.join(HERE, "dcgan28-fashion-mnist")


def half(state):
    """A state dict with its floating-point arrays as float16 (integers, such as batch norm's step count, kept)."""
    return {k: v.astype(np.float16) if v.dtype.kind == "f" else v for k, v in state.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", help="a finished run of `minigan train --data fashion-mnist` (DCGAN-28)")
    p.add_argument("--out", default=OUT, help=f"the folder to write (default {os.path.relpath(OUT)})")
    p.add_argument("--float32", action="store_true", help="keep the weights in float32 (3.7 MB)")
    a = p.parse_args(argv)
    cfg = read_config(os.path.join(a.run, "config.json"), needs=("data", "model", "z_dim", "prior"))
    if (cfg["data"], cfg["model"], cfg["conditional"]) != ("fashion-mnist", "dcgan", False):
        raise SystemExit(f"{a.run} is a {cfg['model']} on {cfg['data']}; the tour needs an unconditional DCGAN-28 "
                         "on fashion-mnist")
    st = load(os.path.join(a.run, "checkpoint.npz"))
    step = check_checkpoint(st, cfg, a.run, ("G", "D", "config"))
    G = st.get("G_ema", st["G"])                        # the generator the run samples from
    cfg.update(out=os.path.relpath(a.out, os.path.dirname(HERE)), data_dir=None)  # found where the reader has it
    keep = (lambda s: s) if a.float32 else half
    os.makedirs(a.out, exist_ok=True)
    save({"G": keep(G), "D": keep(st["D"]), "step": step, "config": json.dumps(cfg)},
         os.path.join(a.out, "checkpoint.npz"))
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    size = os.path.getsize(os.path.join(a.out, "checkpoint.npz"))
    print(f"{a.out}: G and D after {step} steps, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
