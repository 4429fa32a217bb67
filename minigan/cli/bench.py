"""``minigan bench``: time full GAN training steps, and show where the time goes.

A step is the trainer's own ``Trainer.train_step`` (Algorithm 1 with k = 1, algorithm1.train_step: one D
update on m real + m generated samples, then one G update on fresh noise, with the optimizers' updates), on
a fixed random set of images held in memory, so no data set is needed and nothing is written.
``benchmarks/bench.py`` runs the same steps beside PyTorch in one process and prints the ratio;
this module is minigan's half of it.
"""
import argparse
import resource
import statistics
import time

import numpy as np

from .. import backend, profiler
from ..gan.config import make_config
from ..gan.train import Trainer
from .common import add_threads_argument, use_threads


def sync(device):
    if device == "cuda":
        backend.xp_of("cuda").cuda.Device().synchronize()


def trainer_step(batch, device=None, seed=0, **options):
    """``Trainer.train_step`` of the fashion-mnist recipe (with ``options``) on 4 batches of random images.

    Metrics rows (one device-to-host copy each) are not made: the benchmark times the step's work alone."""
    device = backend.resolve_device(device)
    cfg = make_config(data="fashion-mnist", batch_size=batch, device=device, seed=seed, steps=10 ** 9,
                      log_every=10 ** 9, **options)
    lo = 0.0 if cfg["model"] == "mlp" else -1.0                       # the generator's output range
    x = np.random.default_rng(seed).uniform(lo, 1, (4 * batch, 1, 28, 28)).astype(np.float32)
    trainer = Trainer(cfg, progress=False, images=(x, np.zeros(len(x), np.int64)))
    return trainer.train_step


def dcgan_step(batch, device=None, seed=0):
    """The DCGAN-28 step of the fashion-mnist recipe (Adam, N(0, 0.02) init), batch ``batch``."""
    return trainer_step(batch, device, seed)


def mlp_step(batch, device=None, seed=0):
    """The GAN paper's MLP step: maxout D with dropout and max-norm, SGD lr 0.1 with momentum, U(-1, 1) noise."""
    return trainer_step(batch, device, seed, model="mlp")


STEPS = {"dcgan": dcgan_step, "mlp": mlp_step}


def time_step(step, device, n=10, warmup=3):
    """Seconds per call of ``step`` (each synchronised), after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    sync(device)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        sync(device)
        out.append(time.perf_counter() - t0)
    return out


def peak_memory(device):
    """A short description of peak memory: the process's peak RSS, and CuPy's pool on the GPU."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024          # KiB on Linux -> MiB
    text = f"peak RSS {rss:.0f} MiB"
    if device == "cuda":
        pool = backend.xp_of("cuda").get_default_memory_pool()
        text += f", CuPy pool {pool.total_bytes() / 2 ** 20:.0f} MiB held"
    return text


def profile_step(step, device, n=5):
    """Run ``step`` n times under the profiler; return the table (ms per step)."""
    step()
    with profiler.profile(device) as prof:
        for _ in range(n):
            step()
    return prof.table(steps=n)


def _count(minimum):
    def parse(text):
        n = int(text)
        if n < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {n}")
        return n
    return parse


def parser(prog="minigan bench", description="Time minigan's GAN training steps "
           "(benchmarks/bench.py also times PyTorch beside it and prints the ratio)."):
    """The options of ``minigan bench``; benchmarks/bench.py adds its own to the same parser."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--model", choices=["dcgan", "mlp", "both"], default="both",
                   help="DCGAN-28 (Adam), the GAN paper's MLP (SGD), or both (default)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda or cuda:N (default: $MINIGAN_DEVICE, else cpu; cuda needs CuPy)")
    p.add_argument("--batch-size", type=_count(1), nargs="+", default=[64], help="one or more batch sizes")
    p.add_argument("--steps", type=_count(1), default=10, help="timed steps (median reported; default 10)")
    p.add_argument("--warmup", type=_count(0), default=3, help="untimed steps first (default 3)")
    p.add_argument("--profile", action="store_true", help="show where minigan's time goes, per op")
    add_threads_argument(p)
    return p


def parse_args(p, argv):
    """Parse, and check the device up front: a missing CuPy is one line of error (exit 2), not a traceback."""
    a = p.parse_args(argv)
    try:
        a.device = backend.resolve_device(a.device)
    except (ValueError, RuntimeError) as err:
        p.error(str(err))
    return a


def main(argv=None):
    """Parse ``argv`` with ``parser()`` and time the steps it names (the tests call this)."""
    return time_steps(parse_args(parser(), argv))


def time_steps(a):
    """Time (and with --profile, profile) the steps the parsed options ``a`` name; returns 0."""
    device = a.device = backend.resolve_device(a.device)
    use_threads(a.threads)
    for name in (["dcgan", "mlp"] if a.model == "both" else [a.model]):
        for b in a.batch_size:
            step = STEPS[name](b, device)
            t = time_step(step, device, a.steps, a.warmup)
            print(f"{name:6s} batch {b:5d} on {device}: {1000 * statistics.median(t):8.1f} ms/step "
                  f"(median of {a.steps}; {peak_memory(device)})")
            if a.profile:
                print(profile_step(step, device))
    return 0
