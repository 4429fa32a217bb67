"""Amortised inversion: an encoder that reads a damaged image and proposes the code z to start the search from.

The latent search alone sees only the known pixels: many codes fit them, and the one it finds has, in the hole,
whatever that code happens to draw (docs/inpainting.md measures it: the code fitted to the *whole* test image
fills the hole 4-5 dB better than the code fitted to its known pixels, so the generator can draw the answer;
the search cannot tell which one it is). The encoder learns which one, from the training images:

    E(x * M, M) = z,    trained so that G(z) matches the whole image x, hole included:
    minimise  mean over a batch of  sum_p w_p (G(E(x * M, M))_p - x_p)^2 + mu ||z||^2,
              w_p = 1 in the hole, ``known_weight`` on the known pixels,

over training images x and masks M drawn from a broad family (``masks.training_masks``: boxes anywhere,
halves, random pixels, grids, discs), with G fixed. The squared error makes G(E(...)) the generator's best
single guess of the conditional mean of the hole given the known pixels (the image in G's range nearest to it),
which PSNR rewards and which hedges where the known pixels leave the hole uncertain. The same encoder reads whole
images (mask all ones) too: ``neighbour_codes`` gives the codes of the training images nearest to a damaged one on
its known pixels, sharp guesses of the hole, and the search (search.py) starts from those by default (from
G(z_E) where no training images are given).

The encoder is trained once per generator and kept beside the run's checkpoint (``encoder_for``), with a
fingerprint of G's weights: a new checkpoint means a new encoder.
"""
import hashlib
import os

import numpy as np

from .. import backend, files, nn, optim
from ..ops import cat
from ..serialization import load, save
from ..tensor import Tensor
from .masks import training_masks

FILE = "inpaint_encoder.npz"


class Encoder(nn.Module):
    """(x * M in [-1, 1] with 0 where missing, M): (N, 2C... ) -> z (N, z_dim).

    Conv(4, 2, 1) -> LeakyReLU -> Conv(4, 2, 1) -> BN -> LeakyReLU -> Conv(3, 1, 1) -> BN -> LeakyReLU -> Linear.
    """

    def __init__(self, z_dim=100, image_shape=(1, 28, 28), width=64):
        super().__init__()
        c, h, w = image_shape
        self.image_shape, self.width = tuple(image_shape), int(width)
        self.net = nn.Sequential(
            nn.Conv2d(c + 1, width, 4, 2, 1), nn.LeakyReLU(0.2),                           # (N, 64, H/2, W/2)
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),  # (N, 128, H/4, W/4)
            nn.Conv2d(2 * width, 2 * width, 3, 1, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), z_dim))             # (N, z_dim)

    def forward(self, x, mask):
        """x: images in [0, 1] (N, C, H, W) (missing pixels may hold anything); mask: (N, 1, H, W), 1 = known."""
        return self.net(cat([(x * 2 - 1) * mask, mask], dim=1))


def fingerprint(G):
    """A short hash of G's weights and buffers: the encoder belongs to exactly this generator."""
    h = hashlib.sha256()
    for name, value in G.state_dict().items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(backend.as_numpy(getattr(value, "data", value))).tobytes())
    return h.hexdigest()[:16]


# Measured on Fashion-MNIST with the default generator (docs/inpainting.md, "The encoder").
TRAINING = dict(steps=12000, batch=64, lr=1e-3, known_weight=1.0, code_weight=1e-3, cooldown=0.3)


def train_encoder(G, images, cfg=None, *, labels=None, steps=TRAINING["steps"], batch=TRAINING["batch"],
                  lr=TRAINING["lr"], known_weight=TRAINING["known_weight"], code_weight=TRAINING["code_weight"],
                  cooldown=TRAINING["cooldown"], seed=0, progress=False, z_dim=None, scale=None):
    """Train an ``Encoder`` for the fixed generator G on ``images`` (N, C, H, W) in [0, 1] (its training set).

    Each step draws ``batch`` images and as many masks (``masks.training_masks``) and takes one Adam step
    (lr ``lr``, falling linearly to 0 over the last ``cooldown`` of the steps) on
    mean_i [ sum_p w_p (G(E(x_i * M_i, M_i))_p - x_ip)^2 + code_weight ||z_i||^2 ], w = 1 in the hole,
    ``known_weight`` on the known pixels. ``labels`` (N,): a conditional G's classes. Returns E in eval mode,
    on G's device.
    """
    from tqdm import tqdm

    from ..gan.algorithm1 import frozen
    from .objective import call, to_unit
    from .search import check_images, eval_mode, generator_facts
    z_dim, _, scale = generator_facts(cfg, z_dim, None, scale)
    x_all = check_images(images)
    if len(x_all) == 0:
        raise ValueError("train_encoder: got no images")
    if int(steps) < 1:
        raise ValueError(f"train_encoder: steps must be >= 1, got {steps}")
    params = list(G.parameters())
    device, dtype = (params[0].device, params[0].dtype) if params else ("cpu", np.float32)
    rng = np.random.default_rng(seed)
    E = Encoder(z_dim, x_all.shape[1:]).to(device)
    opt = optim.Adam(E.parameters(), lr=lr, betas=(0.5, 0.999))

    def tensor(a):
        return Tensor(backend.to_device(np.asarray(a, dtype=dtype), device))
    with eval_mode(G), frozen(G), tqdm(total=int(steps), disable=not progress, unit="step",
                                       desc="training the inpainting encoder", dynamic_ncols=True) as bar:
        for step in range(int(steps)):
            opt.lr = lr * min(1.0, (steps - step) / (cooldown * steps)) if cooldown else lr
            idx = rng.integers(0, len(x_all), batch)
            x, m = tensor(x_all[idx]), tensor(training_masks(batch, rng, *x_all.shape[2:]))
            z = E(x, m)
            y = None if labels is None else backend.to_device(np.asarray(labels)[idx], device)
            err = to_unit(call(G, z, y), scale) - x
            w = m * known_weight + (1 - m) if known_weight != 1 else 1
            loss = (err * err * w).sum(axis=(1, 2, 3)).mean() + (z * z).sum(axis=1).mean() * code_weight
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.update(1)
            if progress and (step + 1) % 100 == 0:
                bar.set_postfix(loss=f"{float(loss.numpy()):.2f}", refresh=False)
    return E.eval()


def encode(E, images, mask, batch=512):
    """E's codes (N, z_dim) for images (N, C, H, W) in [0, 1] and their masks (N or 1, 1, H, W), no graph."""
    from ..tensor import no_grad
    p = next(iter(E.parameters()))
    out = []
    with no_grad():
        for i in range(0, len(images), batch):
            x = np.asarray(images[i:i + batch], dtype=p.dtype)
            m = np.broadcast_to(mask if len(mask) == 1 else mask[i:i + batch], (len(x), 1) + x.shape[2:])
            out.append(E(Tensor(backend.to_device(x, p.device)),
                         Tensor(backend.to_device(np.ascontiguousarray(m, dtype=p.dtype), p.device))).data)
    xp = backend.get_array_module(out[0])
    return xp.concatenate(out)


VOTE = 8                       # with labels, the starts are of the class most of this many nearest share


def neighbour_codes(E, images, mask, references, k, labels=None):
    """E's codes of the ``k`` reference images (e.g. the training set) nearest to each image on its known pixels,
    each read whole (mask all ones), and those images: (k * N, z_dim) and (k * N, C, H, W), row j * N + i for the
    (j + 1)-th nearest of image i (``neighbours``).

    A damaged image's own code z_E is G's best single guess of the hole; the codes of its nearest whole
    images are sharp guesses of what could be there, of the class the known pixels suggest."""
    chosen = neighbours(images, mask, references, k, labels)
    return encode(E, chosen, np.ones((1, 1) + chosen.shape[2:], np.float32)), chosen


def neighbours(images, mask, references, k, labels=None):
    """The ``k`` reference images nearest to each image on its known pixels, (k * N, C, H, W), row j * N + i for
    the (j + 1)-th nearest of image i. With the references' ``labels`` (M,), the k nearest of the class most of
    the ``VOTE`` nearest share (``vote``)."""
    from ..gan.evaluate import nearest
    from .search import check_references
    x = np.asarray(images, np.float32)
    m = np.broadcast_to(np.asarray(mask, np.float32), (len(x), 1) + x.shape[2:])
    ref = check_references(references, x.shape)
    V = int(k) if labels is None else min(max(int(k), VOTE), len(ref))
    idx = nearest(x, ref, weights=np.broadcast_to(m, x.shape), k=V)[0].reshape(len(x), V)
    idx = idx if labels is None else vote(idx, np.asarray(labels)[idx], int(k))
    return ref[idx.T.reshape(-1)]


def vote(idx, labels, k):
    """Of each row of neighbours ``idx`` (N, V), nearest first, with their ``labels`` (N, V): the k nearest of
    the label most of them share (a tie goes to the label of the nearer one), then, if that label has fewer
    than k, the nearest of the others. (N, k)."""
    n, V = idx.shape
    count = (labels[:, :, None] == labels[:, None, :]).sum(2)                      # (N, V): how many share j's
    first = np.argmax(count * (V + 1) - np.arange(V), axis=1)                      # the winner's nearest position
    other = labels != labels[np.arange(n), first][:, None]                         # False for the winner's label
    order = np.argsort(other, axis=1, kind="stable")[:, :k]                        # the winner's, nearest first
    return np.take_along_axis(idx, order, axis=1)


def save_encoder(E, G, path):
    """Write E with G's fingerprint (atomically)."""
    save({"E": E.state_dict(), "generator": fingerprint(G), "z_dim": int(E.net[-1].weight.shape[0]),
          "image_shape": np.asarray(E.image_shape), "width": E.width}, path)


def load_encoder(path, G, device=None):
    """The encoder saved at ``path`` for exactly this G, or None when the file is absent or made for another G."""
    if not os.path.isfile(path):
        return None
    st = load(files.regular_file(path, "the inpainting encoder"))
    if st.get("generator") != fingerprint(G):
        return None
    E = Encoder(int(st["z_dim"]), tuple(int(v) for v in st["image_shape"]), int(st["width"]))
    E.load_state_dict(st["E"])
    params = list(G.parameters())
    return E.to(device or (params[0].device if params else "cpu")).eval()


def training_images(cfg, data_dir=None):
    """The run's training images in [0, 1] and their labels, the images its trainer held out excluded (raises
    ``data.DataError`` where the data set's files are absent)."""
    from .. import data
    from ..gan.run import split_held_out
    images, labels = data.load_images(cfg["data"], "train", data_dir or cfg.get("data_dir"), scale="sigmoid")
    return split_held_out(images)[0], split_held_out(labels)[0]


def encoder_for(run_dir, cfg, G, *, steps=TRAINING["steps"], data_dir=None, progress=False, say=print):
    """The encoder of the run in ``run_dir`` for its generator G: loaded from RUN/inpaint_encoder.npz when that
    file was made for exactly this G, else trained on the run's training images (``steps`` steps; the
    held-out images excluded) and saved there, under the run's lock. ``steps=0``: no encoder (None)."""
    if not steps:
        return None
    from ..gan.run import RunLock
    path = os.path.join(run_dir, FILE)
    E = load_encoder(path, G)
    if E is not None:
        return E
    images, labels = training_images(cfg, data_dir)
    say(f"training the inpainting encoder of {run_dir} ({steps} steps, once per checkpoint; saved as {path})")
    E = train_encoder(G, images, cfg, labels=labels if cfg.get("conditional") else None, steps=steps,
                      progress=progress)
    with RunLock(run_dir):
        save_encoder(E, G, path)
    return E
