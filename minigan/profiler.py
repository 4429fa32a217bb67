"""Where the time goes: per-op forward / backward times and named sections (im2col, GEMM, optimizer).

    with minigan.profiler.profile() as prof:
        train_step()
    print(prof.table())

While a profile is active, ``Function.__call__`` times each forward, ``_backprop``
each backward, and ``section("...")`` blocks (in conv and optim) time themselves.
On the GPU every timing synchronises the device first, so kernels are charged to
the op that launched them (this slows the run; use it to find hot spots, not to
measure speed). With no profile active the hooks cost one global lookup.
"""
import contextlib
import time
from collections import defaultdict

active = None          # the Profile being recorded, or None
time_source = time.perf_counter   # the clock (tests or benchmarks may swap in time.process_time)


class Profile:
    """Accumulated seconds and call counts per key ("Conv2d forward", "im2col", ...)."""

    def __init__(self, sync=None):
        self.seconds = defaultdict(float)
        self.calls = defaultdict(int)
        self.sync = sync or (lambda: None)
        self.stack = []        # time spent in nested sections, per open section

    def add(self, key, seconds):
        self.seconds[key] += seconds
        self.calls[key] += 1

    def table(self, top=25, steps=1):
        """A text table, slowest first, in ms per step (``steps`` steps were recorded)."""
        total = sum(self.seconds.values())
        rows = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:top]
        lines = [f"{'op / section (exclusive time)':36s} {'ms/step':>9s} {'calls':>7s} {'share':>7s}"]
        for k, v in rows:
            lines.append(f"{k:36s} {1000 * v / steps:9.2f} {self.calls[k] / steps:7.0f} {100 * v / total:6.1f}%")
        lines.append(f"{'total inside ops and sections':36s} {1000 * total / steps:9.2f}")
        return "\n".join(lines)


def _sync_for(device):
    if device == "cuda":
        from . import backend
        cp = backend.xp_of("cuda")
        return cp.cuda.Device().synchronize
    return None


@contextlib.contextmanager
def profile(device="cpu"):
    """Record a Profile while the block runs."""
    global active
    prof = Profile(_sync_for(device))
    old, active = active, prof
    try:
        yield prof
    finally:
        active = old


def timed(key, fn, *args):
    """Call fn(*args), charging its time to ``key`` when a profile is active."""
    if active is None:
        return fn(*args)
    with section(key):
        return fn(*args)


@contextlib.contextmanager
def section(key):
    """Time a block under ``key`` when a profile is active. Times are exclusive: a
    section inside another (GEMM inside Conv2d forward, ConvTranspose2d forward
    inside Conv2d backward) is charged to the inner key only."""
    prof = active
    if prof is None:
        yield
        return
    prof.sync()
    prof.stack.append(0.0)
    t0 = time_source()
    try:
        yield
    finally:
        prof.sync()
        elapsed = time_source() - t0
        inner = prof.stack.pop()
        prof.add(key, elapsed - inner)
        if prof.stack:
            prof.stack[-1] += elapsed
