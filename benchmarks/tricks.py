"""What each speed trick of minigan.tricks buys on the DCGAN-28 training step (and what the old ones bought).

    python benchmarks/tricks.py                 # 5 rounds, batch 64 and 256
    python benchmarks/tricks.py --rounds 3 --batch-size 64

Each variant runs in its own process: the trainer's step (minigan.cli.bench.dcgan_step) with one trick
switched off (tricks.ON[name] = False; for reuse_freed_memory, glibc's allocator left as it is). The variants
alternate, round after round, so they see the same machine load; the median per variant is reported
with its change against all tricks on. Run it on an otherwise idle machine, and, where
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set, with both unset for this command alone.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CHILD = r"""
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from minigan import tricks
off, batches, n = sys.argv[2], [int(b) for b in sys.argv[3].split(",")], int(sys.argv[4])
if off in tricks.ON:
    tricks.ON[off] = False
tricks.reuse_freed_memory()
from minigan.cli.bench import dcgan_step
out = {}
for b in batches:
    step = dcgan_step(b, "cpu")
    for _ in range(2):
        step()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    out[b] = statistics.median(times)
print(json.dumps(out))
"""


def main(argv=None):
    sys.path.insert(0, ROOT)
    from minigan import tricks
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="rounds over all variants (default 5)")
    p.add_argument("--batch-size", type=int, nargs="+", default=[64, 256])
    p.add_argument("--steps", type=int, default=8, help="timed steps per batch size and process (default 8)")
    p.add_argument("--root", default=ROOT, help="the checkout whose minigan is timed (default: this one)")
    a = p.parse_args(argv)
    variants = ["all on"] + list(tricks.ON)
    times = {v: {b: [] for b in a.batch_size} for v in variants}
    for r in range(a.rounds):
        for v in variants:
            res = subprocess.run([sys.executable, "-c", CHILD, a.root, v, ",".join(map(str, a.batch_size)),
                                  str(a.steps)], capture_output=True, text=True, check=True)
            for b, t in json.loads(res.stdout).items():
                times[v][int(b)].append(t)
        print(f"round {r + 1} of {a.rounds} done", file=sys.stderr)
    base = {b: statistics.median(times["all on"][b]) for b in a.batch_size}
    print(f"{'switched off':26s}" + "".join(f"{'batch ' + str(b) + ' ms':>14s} {'change':>8s}" for b in a.batch_size))
    for v in variants:
        cells = ""
        for b in a.batch_size:
            m = statistics.median(times[v][b])
            cells += f"{1000 * m:14.1f} {100 * (m / base[b] - 1):+7.1f}%"
        print(f"{'(nothing)' if v == 'all on' else v:26s}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
