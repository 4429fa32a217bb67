"""Kernel launches per training step on the GPU path, counted without a GPU by the strict CuPy stand-in.

    python benchmarks/launches.py              # DCGAN-28 and the MLP GAN at batch 64
    python benchmarks/launches.py --by-line    # and where in minigan each launch comes from

The stand-in (tests/strict_cupy) counts every CuPy function, method or operator that would launch a kernel
(a fused function counts one). A step is the trainer's own ``Trainer.train_step`` (minigan/cli/bench.py),
counted after two steps have made the optimizers' state. The count does not depend on the batch size. Each
GPU trick of minigan.tricks is then switched off in turn, and all of them together.
"""
import argparse
import collections
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests", "strict_cupy"), ROOT]      # the stand-in is the cupy imported

import cupy  # noqa: E402

from minigan import tricks  # noqa: E402
from minigan.cli.bench import STEPS  # noqa: E402

GPU_TRICKS = ("fused_elementwise", "flat_optimizer", "scatter_col2im")


def launches(name, batch=64, off=(), sites=False):
    """Launches of one step of ``name`` ("dcgan" or "mlp") with the tricks ``off`` switched off (and by site)."""
    saved = dict(tricks.ON)
    try:
        for t in off:
            tricks.ON[t] = False
        step = STEPS[name](batch, "cuda")
        step()
        step()
        cupy.reset_counters()
        cupy.record_launch_sites(sites)
        step()
        return cupy.kernel_launches(), cupy.launch_sites()
    finally:
        tricks.ON.update(saved)
        cupy.record_launch_sites(False)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--by-line", action="store_true", help="also list the busiest lines of minigan")
    a = p.parse_args(argv)
    assert getattr(cupy, "_STRICT", False), "benchmarks/launches.py counts on the stand-in, not a real CuPy"
    columns = [()] + [(t,) for t in GPU_TRICKS] + [GPU_TRICKS]
    heads = ["all tricks on"] + [f"{t} off" for t in GPU_TRICKS] + ["all three off"]
    print("| model | " + " | ".join(heads) + " |")
    print("|---|" + "---:|" * len(heads))
    for name, label in (("dcgan", "DCGAN-28"), ("mlp", "MLP GAN")):
        print(f"| {label} | " + " | ".join(str(launches(name, a.batch_size, off)[0]) for off in columns) + " |")
    for name in ("dcgan", "mlp"):
        total, sites = launches(name, a.batch_size, sites=True)
        by_file = collections.Counter()
        for site, n in sites.items():
            by_file[site.rsplit(":", 1)[0]] += n
        print(f"\n{name}: {total} launches per step, by file: "
              + ", ".join(f"{f} {n}" for f, n in by_file.most_common()))
        if a.by_line:
            for site, n in sorted(sites.items(), key=lambda kv: -kv[1])[:25]:
                print(f"    {site:40s} {n:5d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
