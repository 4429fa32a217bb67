"""Small helpers of the 1-D demos (figure1_1d.py, saturation.py), which drive Algorithm 1's steps
(minigan.gan.algorithm1.d_step / g_step) one at a time: train D alone, make exactly one G update, compare two
generator losses from one start.
"""
import numpy as np

from minigan import backend
from minigan.tensor import Tensor, no_grad


def tensor(a, device):
    """A float32 NumPy array as a Tensor on ``device``."""
    return Tensor(backend.to_device(np.asarray(a, np.float32), device))


def uniform_z(m, z_dim, rng, device):
    """m draws of U(-1, 1)^z_dim as a Tensor."""
    return tensor(rng.uniform(-1, 1, (m, z_dim)), device)


def forward(module, x, device):
    """module(x) as a float64 NumPy array, no graph, module in eval mode (x a NumPy array)."""
    module.eval()
    with no_grad():
        out = module(tensor(x, device)).numpy()
    module.train()
    return np.asarray(out, np.float64)
