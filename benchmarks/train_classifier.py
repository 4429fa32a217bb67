"""Train the quality classifier of ``minigan evaluate`` (FID, Inception-style score, class balance) with minigan.

    python benchmarks/train_classifier.py --data fashion-mnist   # writes minigan/gan/classifier_fashion-mnist.npz

The network is ``minigan.gan.quality.Classifier`` (three strided convolutions, a 128-unit feature layer,
10 logits), trained with Adam and a cosine learning-rate decay on the 60,000 training images, each batch
shifted at random by up to --shift pixels. Then its weights are rounded to float16 (the file stays small)
and, with those rounded weights, it measures its accuracy on the 10,000 test images and the mean and
covariance of its features over the training images (the reference of FID). All go into one .npz written
with ``minigan.save``. The data must be on disk (see minigan.data.find_files); nothing is downloaded.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:                 # `python benchmarks/x.py` from a checkout
    sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python benchmarks/train_classifier.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["fashion-mnist", "mnist"], default="fashion-mnist",
                   help="image set (default fashion-mnist)")
    p.add_argument("--data-dir", default=None, help="folder holding the four IDX files (default: the usual search)")
    p.add_argument("--epochs", type=int, default=8, help="passes over the training images (default 8)")
    p.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam's initial learning rate (default 2e-3), "
                                                          "decayed to 0 on a cosine")
    p.add_argument("--shift", type=int, default=2, help="random translation of each training image by up to "
                                                        "this many pixels (default 2; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--out", default=None, help="the .npz to write (default minigan/gan/classifier_<data>.npz, "
                                               "where minigan evaluate looks)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    for name, v, lo in (("--epochs", a.epochs, 1), ("--batch", a.batch, 2), ("--shift", a.shift, 0)):
        if v < lo:
            p.error(f"{name} must be >= {lo}, got {v}")
    if not (a.lr > 0 and math.isfinite(a.lr)):
        p.error(f"--lr must be a positive number, got {a.lr}")
    if a.shift > 8:
        p.error(f"--shift must be <= 8 pixels, got {a.shift}")
    return a


def shift_batch(x, s, rng):
    """Each image moved by a random (dy, dx) in [-s, s]^2, zeros shifted in."""
    if s == 0:
        return x
    n, _, h, w = x.shape
    pad = np.pad(x, ((0, 0), (0, 0), (s, s), (s, s)))
    dy, dx = rng.integers(0, 2 * s + 1, (2, n))
    rows = dy[:, None] + np.arange(h)[None, :]                       # (n, h)
    cols = dx[:, None] + np.arange(w)[None, :]                       # (n, w)
    return pad[np.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]][:, None]


def accuracy(model, x, y, device):
    from minigan.gan import quality
    _, probs = quality.classify(model, x, device=device)
    return float((probs.argmax(1) == y).mean())


def main(argv=None):
    a = parse_args(argv)
    from tqdm import tqdm

    import minigan.functional as F
    from minigan import backend, data, optim, save
    from minigan.gan import quality
    from minigan.tensor import Tensor

    device = backend.check_device(a.device)
    backend.manual_seed(a.seed)
    out = a.out or quality.weights_path(a.data)
    try:
        train_x, train_y = data.load_images(a.data, "train", a.data_dir, scale="sigmoid", download_missing=False)
        test_x, test_y = data.load_images(a.data, "test", a.data_dir, scale="sigmoid", download_missing=False)
    except data.DataError as e:
        raise SystemExit(f"train_classifier.py: {e}")
    if a.batch > len(train_x):
        raise SystemExit(f"train_classifier.py: --batch {a.batch} is larger than the {len(train_x)} training images")
    rng = np.random.default_rng(a.seed)
    model = quality.Classifier().to(device).train()
    opt = optim.Adam(model.parameters(), lr=a.lr)
    per_epoch = len(train_x) // a.batch
    batches = (perm[i * a.batch:(i + 1) * a.batch] for _ in range(a.epochs)
               for perm in [rng.permutation(len(train_x))] for i in range(per_epoch))   # a fresh shuffle per epoch
    total = a.epochs * per_epoch
    t0 = time.perf_counter()
    bar = tqdm(total=total, disable=a.no_progress, unit="step", desc=f"classifier on {a.data}")
    ema = None
    for step in range(total):
        idx = next(batches)
        xb = Tensor(backend.to_device(shift_batch(train_x[idx], a.shift, rng), device))
        opt.lr = a.lr * 0.5 * (1 + math.cos(math.pi * step / total))
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), train_y[idx])
        loss.backward()
        opt.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        bar.update(1)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{ema:.3f}", epoch=step // per_epoch + 1)
    bar.close()
    train_s = time.perf_counter() - t0
    model.eval()
    # round the weights to float16 (what the file holds) and measure with the rounded weights
    state = {}
    for k, v in model.state_dict().items():
        v = np.asarray(backend.as_numpy(v.data if isinstance(v, Tensor) else v))
        state[k] = v.astype(np.float16) if v.dtype.kind == "f" else v
    model.load_state_dict(state)
    test_acc = accuracy(model, test_x, test_y, device)
    train_feats, train_probs = quality.classify(model, train_x, device=device)
    train_acc = float((train_probs.argmax(1) == train_y).mean())
    mu, cov = quality.feature_stats(train_feats)
    save({"model": state, "train_mu": mu, "train_cov": cov.astype(np.float32), "test_accuracy": test_acc,
          "train_accuracy": train_acc, "data": a.data, "epochs": a.epochs, "seed": a.seed,
          "train_seconds": round(train_s, 1), "n_train": len(train_x), "n_test": len(test_x)}, out)
    report = {"out": out, "bytes": os.path.getsize(out), "test_accuracy": test_acc, "train_accuracy": train_acc,
              "epochs": a.epochs, "train_seconds": round(train_s, 1)}
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
