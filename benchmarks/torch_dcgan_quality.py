"""The PyTorch reference for minigan's DCGAN-28 quality figure: same recipe, same data, same Parzen protocol.

    python benchmarks/torch_dcgan_quality.py                      # Fashion-MNIST, 5 epochs, seed 0
    python benchmarks/torch_dcgan_quality.py --epochs 1 --out runs/torch-dcgan

``minigan train --data fashion-mnist`` followed by ``minigan evaluate`` gives a Parzen
log-likelihood; this script trains PyTorch's DCGAN-28 (the twin of minigan's model, from
benchmarks/bench.py) with the identical recipe — Adam 2e-4 (0.5, 0.999), batch 64, the
non-saturating loss, k = 1, N(0, 0.02) init, images in [-1, 1], the last 1,000 training images
held out, a fresh shuffle per epoch — and scores it with minigan's own evaluation functions
(sigma chosen on the held-out images, 10,000 samples of G in eval mode, the 10,000 test images).
It also reports the classifier-based FID, Inception-style score and class balance of ``minigan
evaluate`` (minigan.gan.quality.evaluate_quality, the same function on the same kind of array).
So the two numbers differ only by the library that trained the model (and the seeds).
PyTorch is only used here, never by minigan.
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, ".."), HERE]

import numpy as np  # noqa: E402

from minigan import data  # noqa: E402
from minigan.gan.evaluate import parzen_score  # noqa: E402
from minigan.gan.quality import evaluate_quality  # noqa: E402
from minigan.gan.run import split_held_out  # noqa: E402


def train(x, epochs, batch, seed, device, progress=True):
    """Train PyTorch's DCGAN-28 on x (N, 1, 28, 28) in [-1, 1] with the GAN issue's recipe; return G."""
    import torch
    from torch.nn import functional as F
    from tqdm import tqdm

    from bench import torch_dcgan  # benchmarks/bench.py: the same model the speed benchmark times
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    G, D = torch_dcgan()
    G, D = G.to(device), D.to(device)
    optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    images = torch.from_numpy(x).to(device)
    steps = epochs * (len(x) // batch)
    perm, pos = None, 0
    for _ in tqdm(range(steps), disable=not progress, unit="step", desc="PyTorch DCGAN-28"):
        if perm is None or pos + batch > len(perm):
            perm, pos = rng.permutation(len(x)), 0
        real, pos = images[torch.from_numpy(perm[pos:pos + batch]).to(device)], pos + batch
        with torch.no_grad():
            fake = G(torch.randn(batch, 100, device=device))
        loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()     # -log D(x) - log(1 - D(G(z)))
        optD.zero_grad()
        loss_d.backward()
        optD.step()
        for p in D.parameters():
            p.requires_grad_(False)
        loss_g = F.softplus(-D(G(torch.randn(batch, 100, device=device)))).mean()   # -log D(G(z))
        optG.zero_grad()
        loss_g.backward()
        optG.step()
        for p in D.parameters():
            p.requires_grad_(True)
    return G.eval()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion-mnist", choices=["fashion-mnist", "mnist"])
    p.add_argument("--data-dir", default=None, help="where the IDX files are (default: minigan's search order)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=10000, help="samples of G for the Parzen window (default 10000)")
    p.add_argument("--device", default="cpu", help="PyTorch device (default cpu)")
    p.add_argument("--out", default=None, help="also write the result as JSON into this directory")
    a = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        p.error("this reference needs PyTorch (pip install torch); minigan itself never does")
    try:
        train_x, _ = data.load_images(a.data, "train", a.data_dir, scale="tanh")
    except (FileNotFoundError, ValueError) as err:
        p.error(str(err))
    train_x = split_held_out(train_x)[0]                                         # as minigan's trainer
    t0 = time.time()
    G = train(train_x, a.epochs, a.batch_size, a.seed, a.device)
    minutes = (time.time() - t0) / 60
    torch.manual_seed(a.seed + 1234)
    with torch.no_grad():
        samples = np.concatenate([G(torch.randn(min(500, a.samples - i), 100, device=a.device)).cpu().numpy()
                                  for i in range(0, a.samples, 500)])
    samples = ((samples + 1) / 2).astype(np.float32)                            # [-1, 1] -> [0, 1]
    scores, _ = parzen_score(samples, a.data, a.data_dir)                       # as `minigan evaluate`
    scores.update(evaluate_quality(samples, a.data))                           # FID, IS, class balance
    result = dict(library=f"PyTorch {torch.__version__}", data=a.data, epochs=a.epochs, seed=a.seed,
                  train_minutes=round(minutes, 1), **scores)
    print(json.dumps(result, indent=2))
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "torch_evaluation.json"), "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
