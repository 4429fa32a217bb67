"""minigan against PyTorch eager: the same GAN training step, interleaved.

    python benchmarks/bench.py                         # DCGAN-28 and MLP-GAN, batch 64, CPU
    python benchmarks/bench.py --device cuda --batch-size 64 256 1024
    python benchmarks/bench.py --profile               # and where minigan's time goes

For each model and batch size: build minigan's step (minigan/cli/bench.py) and the
identical PyTorch step, run a warm-up of each, then alternate blocks of a few
minigan steps and a few PyTorch steps, so both see the same machine load; report
the medians and their ratio (minigan / PyTorch). PyTorch is timed twice: in a
process of its own, as its users run it, and in minigan's process, where it also
gets the allocator setting minigan makes for itself (tricks.reuse_freed_memory),
which speeds PyTorch up too. PyTorch is only used here, never by minigan.
"""
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from minigan import get_num_threads, tricks  # noqa: E402
from minigan.cli.bench import STEPS, parse_args, parser, peak_memory, profile_step  # noqa: E402
from minigan.cli.bench import sync as minigan_sync
from minigan.cli.common import use_threads  # noqa: E402


def torch_dcgan():
    """PyTorch's DCGAN-28 (G, D): minigan.gan.models.DCGAN28Generator / DCGAN28Discriminator, layer for layer,
    with the DCGAN init (weights N(0, 0.02), BN scales N(1, 0.02), biases 0)."""
    from torch import nn
    G = nn.Sequential(nn.Linear(100, 7 * 7 * 128), nn.BatchNorm1d(7 * 7 * 128), nn.ReLU(),
                      nn.Unflatten(1, (128, 7, 7)), nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64),
                      nn.ReLU(), nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, 1),
                      nn.BatchNorm2d(128), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
    for m in list(G.modules()) + list(D.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1, 0.02)
            nn.init.zeros_(m.bias)
    return G, D


def torch_step(name, batch, device, seed=0):
    """The PyTorch twin of minigan.cli.bench.dcgan_step / mlp_step (same layers, init recipe, optimizers; the
    learning rates, which do not change the time of a step, are the papers')."""
    import torch
    from torch import nn
    F = nn.functional
    torch.manual_seed(seed)
    dev = torch.device(device)
    if name == "dcgan":
        G, D = torch_dcgan()
        make_opt = lambda ps: torch.optim.Adam(ps, lr=2e-4, betas=(0.5, 0.999))  # noqa: E731
        real = torch.rand(batch, 1, 28, 28) * 2 - 1
        noise = lambda: torch.randn(batch, 100, device=dev)  # noqa: E731
    else:
        class Maxout(nn.Module):
            def __init__(self, i, o, k):
                super().__init__()
                self.lin, self.o, self.k = nn.Linear(i, o * k), o, k

            def forward(self, x):
                return self.lin(x).view(x.shape[0], self.o, self.k).amax(2)
        G = nn.Sequential(nn.Linear(100, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(), nn.Linear(1200, 784),
                          nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))
        D = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), Maxout(784, 240, 5), nn.Dropout(0.5), Maxout(240, 240, 5),
                          nn.Dropout(0.5), nn.Linear(240, 1))
        make_opt = lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.5)  # noqa: E731
        real = torch.rand(batch, 1, 28, 28)
        noise = lambda: torch.rand(batch, 100, device=dev) * 2 - 1  # noqa: E731
    G, D, real = G.to(dev), D.to(dev), real.to(dev)
    optG, optD = make_opt(G.parameters()), make_opt(D.parameters())

    def step():
        with torch.no_grad():
            fake = G(noise())
        loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        optD.zero_grad()
        loss_d.backward()
        optD.step()
        for p in D.parameters():
            p.requires_grad_(False)
        loss_g = F.softplus(-D(G(noise()))).mean()
        optG.zero_grad()
        loss_g.backward()
        optG.step()
        for p in D.parameters():
            p.requires_grad_(True)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    return step, sync


def local(step, sync):
    """A block runner in this process: ``run(k)`` makes one untimed step, then k timed ones, and returns their
    (wall, CPU) seconds as two lists."""
    def run(k):
        step()
        sync()
        walls, cpus = [], []
        for _ in range(k):
            t0, c0 = time.perf_counter(), time.process_time()
            step()
            sync()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        return walls, cpus
    return run


class OwnProcess:
    """A block runner for PyTorch's step in a Python process of its own (this script with --pytorch-child):
    nothing minigan sets for its own process (glibc's allocator, its thread pool) reaches it. ``run(k)`` as
    ``local``'s, through the child's stdin and stdout."""

    def __init__(self, name, batch, device, threads):
        cmd = [sys.executable, os.path.abspath(__file__), "--pytorch-child", name, str(batch), device,
               str(threads or 0)]
        self.child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __call__(self, k):
        self.child.stdin.write(f"{k}\n")
        self.child.stdin.flush()
        for line in self.child.stdout:                  # other lines (a library's warnings) are passed over
            if line.startswith("times "):
                walls, cpus = json.loads(line[6:])
                return walls, cpus
        raise RuntimeError(f"the PyTorch process ended (exit status {self.child.wait()}); its error is above")

    def close(self):
        self.child.stdin.close()
        self.child.wait()


def pytorch_child(name, batch, device, threads):
    """The other end of OwnProcess: build PyTorch's step, then answer each block size read from stdin."""
    import torch
    if int(threads):
        torch.set_num_threads(int(threads))
    run = local(*torch_step(name, int(batch), device))
    for line in sys.stdin:
        print("times " + json.dumps(run(int(line))), flush=True)
    return 0


def interleaved(runners, n, warmup, block=5, pause=0.5):
    """{name: (median wall, median CPU) seconds} over n timed steps of each block runner in ``runners``
    ({name: run}, run as ``local`` makes it), taken in alternating blocks.

    Blocks, not single steps: each library's thread pool (OpenBLAS's, PyTorch's
    OpenMP) keeps spinning for a while after its last call and steals the cores
    from the other one, which made step-by-step alternation slow PyTorch down by
    up to 2x on this 2-core machine. So each block starts with a pause and one
    untimed step, then times ``block`` steps; blocks alternate, so every runner
    still sees the same machine load. The CPU time (all threads of the runner's process) is
    steadier than the wall time on a shared machine; on an idle one, quote the wall time.
    """
    for run in runners.values():
        if warmup:
            run(warmup - 1)                             # run(k) makes k + 1 steps
    times = {key: ([], []) for key in runners}
    while any(len(w) < n for w, _ in times.values()):
        for key, run in runners.items():
            time.sleep(pause)
            walls, cpus = run(min(block, n - len(times[key][0])))
            times[key][0].extend(walls)
            times[key][1].extend(cpus)
    return {k: (statistics.median(w), statistics.median(c)) for k, (w, c) in times.items()}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--pytorch-child"]:                 # the PyTorch process OwnProcess starts
        return pytorch_child(*argv[1:])
    p = parser(prog="benchmarks/bench.py", description=__doc__.splitlines()[0])
    p.add_argument("--no-malloc-tuning", action="store_true",
                   help="leave glibc's allocator as it is in minigan's process (see minigan.tricks.reuse_freed_memory)")
    a = parse_args(p, argv)
    device = a.device
    if not a.no_malloc_tuning:
        tricks.reuse_freed_memory()        # as the minigan command does (docs/performance.md)
    use_threads(a.threads)
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed: timing minigan alone (pip install torch for the comparison)")
    if torch is not None:
        if a.threads:
            torch.set_num_threads(a.threads)                # both libraries on the same number of threads
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} CPU threads; NumPy {np.__version__}, "
              f"minigan {get_num_threads()} threads")
        print("PyTorch: in a process of its own, as its users run it; PyTorch*: in minigan's process"
              + ("" if a.no_malloc_tuning else ", with minigan's allocator setting"))
    mg_sync = lambda: minigan_sync(device)  # noqa: E731
    print(f"{'model':6s} {'batch':>5s} {'minigan ms':>11s} {'PyTorch ms':>11s} {'ratio':>6s} {'PyTorch* ms':>12s} "
          f"{'ratio*':>6s}   {'(CPU time: minigan':>19s} {'PyTorch':>8s} {'ratio)':>7s}")
    for name in (["dcgan", "mlp"] if a.model == "both" else [a.model]):
        for b in a.batch_size:
            mg = STEPS[name](b, device)
            if torch is None:
                from minigan.cli.bench import time_step
                t = statistics.median(time_step(mg, device, a.steps, a.warmup))
                print(f"{name:6s} {b:5d} {1000 * t:11.1f} {'-':>11s} {'-':>6s}")
            else:
                own = OwnProcess(name, b, device, a.threads)
                try:
                    med = interleaved({"mg": local(mg, mg_sync), "pt": own, "pt*": local(*torch_step(name, b, device))},
                                      a.steps, a.warmup)
                finally:
                    own.close()
                (tm, cm), (tp, cp), (ts, _) = med["mg"], med["pt"], med["pt*"]
                print(f"{name:6s} {b:5d} {1000 * tm:11.1f} {1000 * tp:11.1f} {tm / tp:6.2f} {1000 * ts:12.1f} "
                      f"{tm / ts:6.2f}   {1000 * cm:19.1f} {1000 * cp:8.1f} {cm / cp:7.2f}")
            if a.profile:
                print(profile_step(mg, device))
    print(peak_memory(device) + " (minigan's process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
