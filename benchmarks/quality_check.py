"""Check the quality metric of ``minigan evaluate`` on real images, or score any array of samples with it.

    python benchmarks/quality_check.py                      # the test set, then spoilt copies, against the training set
    python benchmarks/quality_check.py --samples s.npy      # any (N, 1, 28, 28) array in [0, 1] (e.g. minigan sample)

The first form scores the 10,000 test images against the training set's feature statistics (shipped with the
classifier): they come from the same distribution, so their FID should be near 0 and their Inception-style score
near the top (10). Then it spoils the test images (Gaussian pixel noise, a box blur, one class left out, a
single class) to show that FID moves and by how much. Nothing is downloaded.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402


def box_blur(x, k):
    """Mean over a k x k window (edges replicated)."""
    p = k // 2
    pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="edge")
    out = np.zeros_like(x)
    for dy in range(k):
        for dx in range(k):
            out += pad[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]
    return out / (k * k)


def variants(test_x, test_y, rng):
    """(name, images) pairs: the test set and spoilt copies."""
    yield "test set (10,000)", test_x
    yield "first 1,000 test images", test_x[:1000]
    for s in (0.05, 0.1, 0.2):
        yield f"test + N(0, {s}^2) pixel noise", np.clip(test_x + s * rng.standard_normal(test_x.shape), 0, 1)
    for k in (3, 5):
        yield f"test, {k}x{k} box blur", box_blur(test_x, k)
    yield "test without class 0", test_x[test_y != 0]
    yield "test, class 7 only", test_x[test_y == 7]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python benchmarks/quality_check.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["fashion-mnist", "mnist"], default="fashion-mnist",
                   help="whose classifier and data (default fashion-mnist)")
    p.add_argument("--data-dir", default=None, help="folder holding the four IDX files")
    p.add_argument("--samples", default=None, help="a .npy of images (N, 1, 28, 28) in [0, 1] to score instead")
    p.add_argument("--splits", type=int, default=10, help="splits of the Inception-style score (default 10)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.splits < 1:
        p.error(f"--splits must be >= 1, got {a.splits}")

    from minigan import data
    from minigan.gan import quality
    try:
        clf = quality.load_classifier(a.data)
    except quality.MissingClassifier as e:
        raise SystemExit(f"quality_check.py: {e}")
    print(f"classifier {clf[1]['path']}: test accuracy {100 * clf[1]['test_accuracy']:.2f}%")
    if a.samples:
        try:
            x = np.load(a.samples, allow_pickle=False)
            r = quality.score_samples(x, a.data, classifier=clf, splits=min(a.splits, len(x)))
        except (OSError, ValueError) as e:
            raise SystemExit(f"quality_check.py: --samples {a.samples!r}: {e}")
        print(json.dumps(r, indent=2))
        return [r]
    try:
        test_x, test_y = data.load_images(a.data, "test", a.data_dir, scale="sigmoid", download_missing=False)
    except data.DataError as e:
        raise SystemExit(f"quality_check.py: {e}")
    rng = np.random.default_rng(a.seed)
    rows = []
    print(f"| images scored against the {a.data} training set | FID | IS ({a.splits} splits) | class entropy "
          f"| max/min | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, x in variants(test_x, test_y, rng):
        t0 = time.perf_counter()
        r = quality.score_samples(x.astype(np.float32), a.data, classifier=clf, splits=a.splits)
        ratio = r["class_max_min_ratio"]
        print(f"| {name} | {r['fid']:.3f} | {r['is_mean']:.2f} +- {r['is_std']:.2f} | {r['class_entropy']:.3f} "
              f"| {'inf' if ratio is None else f'{ratio:.2f}'} | {time.perf_counter() - t0:.1f} |", flush=True)
        rows.append(dict(r, name=name))
    return rows


if __name__ == "__main__":
    main()
