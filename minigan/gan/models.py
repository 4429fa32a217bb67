"""The generators and discriminators: the GAN paper's MLP, DCGAN-28, DCGAN-32/64, toy MLPs.

Every model takes an optional ``labels`` argument: with ``n_classes`` set the
model is conditional (Mirza & Osindero 2014): the one-hot label is appended to
z for G, and to x for D (as extra input features for an MLP, as constant extra
image channels for a convnet). D returns one logit per sample, shape (N, 1).
"""
import numpy as np

from .. import backend, nn
from ..backend import get_array_module
from ..ops import cat
from ..tensor import Tensor


def one_hot(labels, n_classes, like):
    """(N,) integer labels -> (N, n_classes) one-hot Tensor on ``like``'s device and dtype."""
    xp = get_array_module(like.data)
    lab = xp.asarray(labels.data if isinstance(labels, Tensor) else labels).astype(np.int64)
    out = xp.zeros((lab.shape[0], n_classes), dtype=like.dtype)
    out[xp.arange(lab.shape[0]), lab] = 1
    return Tensor(out)


class Conditional(nn.Module):
    """Base: holds ``n_classes`` and appends labels to a flat or image input."""

    n_classes = 0

    def _with_labels(self, x, labels):
        if not self.n_classes:
            return x
        if labels is None:
            raise ValueError(f"{type(self).__name__}: this model is conditional on {self.n_classes} classes; "
                             "pass labels")
        y = one_hot(labels, self.n_classes, x)                      # (N, K)
        if x.ndim == 2:
            return cat([x, y], dim=1)                               # (N, F + K)
        n, _, h, w = x.shape
        planes = y.reshape(n, self.n_classes, 1, 1).expand(n, self.n_classes, h, w)
        return cat([x, planes], dim=1)                              # (N, C + K, H, W)


# ---------------------------------------------------------------- the GAN paper's MNIST MLP
class MLPGenerator(Conditional):
    """Goodfellow et al. 2014, MNIST: z(100) -> 1200 ReLU -> 1200 ReLU -> 784 sigmoid."""

    def __init__(self, z_dim=100, hidden=1200, image_shape=(1, 28, 28), n_classes=0):
        super().__init__()
        self.n_classes, self.image_shape = n_classes, tuple(image_shape)
        self.net = nn.Sequential(
            nn.Linear(z_dim + n_classes, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, int(np.prod(image_shape))), nn.Sigmoid())

    def forward(self, z, labels=None):
        return self.net(self._with_labels(z, labels)).reshape((z.shape[0],) + self.image_shape)

    def output_bias_from(self, mean_image):
        """Set the sigmoid layer's bias to logit(mean pixel) so G starts at the data's mean image, as the
        paper's code did (pylearn2's init_sigmoid_bias_from_marginals); ``mean_image`` in [0, 1]."""
        m = np.clip(np.asarray(mean_image, dtype=np.float64).reshape(-1), 1e-3, 1 - 1e-3)
        bias = self.net[-2].bias
        bias.data[...] = backend.to_device(np.log(m / (1 - m)).astype(bias.dtype), bias.device)
        return self


class MLPDiscriminator(Conditional):
    """Maxout 240x5 -> maxout 240x5 -> 1 logit; dropout keeps 0.8 of the input, 0.5 of hidden units."""

    def __init__(self, image_shape=(1, 28, 28), hidden=240, pieces=5, n_classes=0):
        super().__init__()
        self.n_classes = n_classes
        self.net = nn.Sequential(
            nn.Dropout(0.2), nn.Maxout(int(np.prod(image_shape)) + n_classes, hidden, pieces),
            nn.Dropout(0.5), nn.Maxout(hidden, hidden, pieces),
            nn.Dropout(0.5), nn.Linear(hidden, 1))

    def forward(self, x, labels=None):
        return self.net(self._with_labels(x.reshape(x.shape[0], -1), labels))


# ---------------------------------------------------------------- DCGAN for 28x28 images
class DCGAN28Generator(Conditional):
    """z(100) -> Linear(7*7*128) -> BN -> ReLU -> (128,7,7) -> ConvT(128,64,4,2,1) -> BN -> ReLU
    -> ConvT(64,1,4,2,1) -> tanh: (N, 1, 28, 28)."""

    def __init__(self, z_dim=100, channels=1, n_classes=0):
        super().__init__()
        self.n_classes = n_classes
        self.net = nn.Sequential(
            nn.Linear(z_dim + n_classes, 7 * 7 * 128), nn.BatchNorm1d(7 * 7 * 128), nn.ReLU(),
            nn.Unflatten(1, (128, 7, 7)),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),   # (N, 64, 14, 14)
            nn.ConvTranspose2d(64, channels, 4, 2, 1), nn.Tanh())                 # (N, C, 28, 28)

    # net[:FEATURES] maps z to the projected (N, 128, 7, 7) features, net[FEATURES:] those to the image: the
    # inpainting search can move the features instead of z (minigan.inpaint.search, space "features").
    FEATURES = 4

    def forward(self, z, labels=None):
        return self.net(self._with_labels(z, labels))


class DCGAN28Discriminator(Conditional):
    """Conv(1,64,4,2,1) -> LeakyReLU(0.2) -> Conv(64,128,4,2,1) -> BN -> LeakyReLU(0.2) -> Linear(6272,1)."""

    def __init__(self, channels=1, n_classes=0):
        super().__init__()
        self.n_classes = n_classes
        self.net = nn.Sequential(
            nn.Conv2d(channels + n_classes, 64, 4, 2, 1), nn.LeakyReLU(0.2),           # (N, 64, 14, 14)
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),      # (N, 128, 7, 7)
            nn.Flatten(), nn.Linear(128 * 7 * 7, 1))

    def forward(self, x, labels=None):
        return self.net(self._with_labels(x, labels))


# ---------------------------------------------------------------- DCGAN for 32 / 64 pixels
class DCGANGenerator(Conditional):
    """Radford et al.: z as (nz,1,1) -> ConvT(4,1,0) -> [ConvT(4,2,1), BN, ReLU]* -> ConvT -> tanh."""

    def __init__(self, z_dim=100, image_size=64, channels=3, ngf=64, n_classes=0):
        super().__init__()
        if image_size not in (32, 64):
            raise ValueError(f"DCGANGenerator: image_size must be 32 or 64, got {image_size}")
        self.n_classes = n_classes
        mult = image_size // 8                                      # 4 for 32 px, 8 for 64 px
        layers = [nn.Unflatten(1, (z_dim + n_classes, 1, 1)),
                  nn.ConvTranspose2d(z_dim + n_classes, ngf * mult, 4, 1, 0), nn.BatchNorm2d(ngf * mult),
                  nn.ReLU()]                                        # (N, ngf*mult, 4, 4)
        while mult > 1:
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1),
                       nn.BatchNorm2d(ngf * mult // 2), nn.ReLU()]  # doubles H and W
            mult //= 2
        layers += [nn.ConvTranspose2d(ngf, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z, labels=None):
        return self.net(self._with_labels(z, labels))


class DCGANDiscriminator(Conditional):
    """Conv(4,2,1) LeakyReLU, then [Conv(4,2,1), BN, LeakyReLU]*, then Conv(4,1,0) to one logit."""

    def __init__(self, image_size=64, channels=3, ndf=64, n_classes=0):
        super().__init__()
        if image_size not in (32, 64):
            raise ValueError(f"DCGANDiscriminator: image_size must be 32 or 64, got {image_size}")
        self.n_classes = n_classes
        layers = [nn.Conv2d(channels + n_classes, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        mult, size = 1, image_size // 2
        while size > 4:
            layers += [nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1), nn.BatchNorm2d(ndf * mult * 2),
                       nn.LeakyReLU(0.2)]
            mult, size = mult * 2, size // 2
        layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 0), nn.Flatten()]  # (N, 1)
        self.net = nn.Sequential(*layers)

    def forward(self, x, labels=None):
        return self.net(self._with_labels(x, labels))


# ---------------------------------------------------------------- toy MLPs for 1-D and 2-D data
class ToyGenerator(Conditional):
    """z -> [Linear, ReLU] x depth -> Linear(dim).

    ``activation="tanh"`` makes G smooth: a ReLU G is piecewise linear in z, so a uniform z gives a piecewise
    constant p_g; a tanh G gives a smooth one (demos/figure1_1d.py).
    """

    def __init__(self, z_dim=2, dim=2, hidden=128, depth=3, n_classes=0, activation="relu"):
        super().__init__()
        acts = {"relu": nn.ReLU, "tanh": nn.Tanh}
        if activation not in acts:
            raise ValueError(f"ToyGenerator: activation must be one of {', '.join(acts)}; got {activation!r}")
        self.n_classes = n_classes
        layers, width = [], z_dim + n_classes
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), acts[activation]()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, dim))

    def forward(self, z, labels=None):
        return self.net(self._with_labels(z, labels))


class ToyDiscriminator(Conditional):
    """x -> [Linear, LeakyReLU(0.2)] x depth -> 1 logit. ``pack`` > 1: D judges packs of samples (PacGAN)."""

    def __init__(self, dim=2, hidden=128, depth=3, pack=1, n_classes=0):
        super().__init__()
        self.n_classes, self.pack = n_classes, pack
        layers, width = [], (dim + n_classes) * pack
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, x, labels=None):
        x = self._with_labels(x, labels)
        if self.pack > 1:                                           # (N, F) -> (N/pack, pack*F)
            if x.shape[0] % self.pack:
                raise ValueError(f"ToyDiscriminator: batch {x.shape[0]} is not a multiple of pack {self.pack}")
            x = x.reshape(x.shape[0] // self.pack, -1)
        return self.net(x)


def paper_init(module, irange):
    """The GAN paper's code (pylearn2's ``irange``): every weight ~ U(-irange, irange), every bias 0. It used
    0.05 for G and 0.005 for D: D starts near D = 1/2 everywhere, so neither player runs away at lr 0.1."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Maxout)):
            nn.init.uniform_(m.weight, -irange, irange)
            nn.init.zeros_(m.bias)
    return module


def dcgan_init(module):
    """DCGAN's recipe: conv / linear weights ~ N(0, 0.02), biases 0; BatchNorm weight ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module
