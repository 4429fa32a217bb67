"""Where the time goes: exclusive time per op forward / backward and per optimizer step.

    with minigan.profiler.profile() as prof:
        train_step()
    print(prof.table())

While a profile is recording, the ``forward`` and ``backward`` of every Function class, every
speed trick standing in for one (charged to that Function: ``tricks.FORWARD`` / ``BACKWARD``) and the
``step`` of every optimizer are wrapped by a timer; when it ends they are put back, so the
engine itself has no profiling code. Times are exclusive: a ConvTranspose2d forward run
inside a Conv2d backward is charged to the inner one only. On the GPU every timing
synchronises the device first, so kernels are charged to the op that launched them (this
slows the run; use it to find hot spots, not to measure speed).
"""
import contextlib
import functools
import time
from collections import defaultdict

from . import tricks
from .optim import Optimizer
from .tensor import Function


class Profile:
    """Accumulated seconds and call counts per key ("Conv2d forward", "Adam step", ...)."""

    def __init__(self, sync=None):
        self.seconds = defaultdict(float)
        self.calls = defaultdict(int)
        self.sync = sync or (lambda: None)
        self.stack = []        # time spent in nested timed calls, per open call

    def timed(self, key, fn):
        """``fn`` wrapped so that each call adds its exclusive time to ``key``."""
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            self.sync()
            self.stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.sync()
                elapsed = time.perf_counter() - t0
                inner = self.stack.pop()
                self.seconds[key] += elapsed - inner
                self.calls[key] += 1
                if self.stack:
                    self.stack[-1] += elapsed
        return wrapper

    def table(self, top=25, steps=1):
        """A text table, slowest first, in ms per step (``steps`` steps were recorded)."""
        total = sum(self.seconds.values())
        rows = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:top]
        lines = [f"{'op (exclusive time)':36s} {'ms/step':>9s} {'calls':>7s} {'share':>7s}"]
        for k, v in rows:
            lines.append(f"{k:36s} {1000 * v / steps:9.2f} {self.calls[k] / steps:7.0f} {100 * v / total:6.1f}%")
        lines.append(f"{'total inside ops and optimizer steps':36s} {1000 * total / steps:9.2f}")
        return "\n".join(lines)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


@contextlib.contextmanager
def profile(device="cpu"):
    """Record a Profile while the block runs."""
    sync = None
    if device == "cuda":
        from . import backend
        sync = backend.xp_of("cuda").cuda.Device().synchronize
    prof = Profile(sync)
    originals = []
    targets = [(c, m) for c in _subclasses(Function) for m in ("forward", "backward")]
    targets += [(c, "step") for c in (Optimizer, *_subclasses(Optimizer))]
    for cls, name in targets:
        if name in vars(cls):                       # methods defined by this class, not inherited
            originals.append((cls, name, vars(cls)[name]))
            setattr(cls, name, prof.timed(f"{cls.__name__} {name}", vars(cls)[name]))
    saved_tricks = {which: dict(table) for which, table in (("forward", tricks.FORWARD), ("backward", tricks.BACKWARD))}
    for which, table in (("forward", tricks.FORWARD), ("backward", tricks.BACKWARD)):
        for (module, op), (switch, trick) in table.items():
            table[module, op] = (switch, prof.timed(f"{op} {which}", trick))
    try:
        yield prof
    finally:
        for cls, name, fn in originals:
            setattr(cls, name, fn)
        tricks.FORWARD.update(saved_tricks["forward"])
        tricks.BACKWARD.update(saved_tricks["backward"])
