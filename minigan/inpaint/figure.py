"""The inpainting figure of the slides: rows original / masked / G(z_hat) (or the restarts' mean) / blended."""
import numpy as np

from ..gan import viz

HOLE_COLOUR = (0.25, 0.45, 0.85)      # how missing pixels are shown in the "masked" row


def _rgb(images):
    x = np.asarray(images, np.float32)
    return np.repeat(x, 3, axis=1) if x.shape[1] == 1 else x[:, :3]


def show_masked(images, mask):
    """RGB copies of the images with the missing pixels painted HOLE_COLOUR, for figures."""
    x = _rgb(images)
    hole = np.broadcast_to(np.asarray(mask) == 0, (x.shape[0], 1) + x.shape[2:])
    colour = np.array(HOLE_COLOUR, np.float32)[None, :, None, None]
    return np.where(hole, colour, x)


def inpainting_figure(original, mask, generated, blended, path, ncol=16, scale=2):
    """The slides' figure: rows original / masked / G(z_hat) / blended, ``ncol`` images a block, as a PNG."""
    rows = [_rgb(original), show_masked(original, mask), _rgb(generated), _rgb(blended)]
    n = len(original)
    ncol = max(1, min(ncol, n))
    blank = np.ones((1,) + rows[0].shape[1:], np.float32)
    tiles = []
    for start in range(0, n, ncol):
        for r in rows:
            part = r[start:start + ncol]
            tiles += [part, np.repeat(blank, ncol - len(part), axis=0)]
    viz.save_image_grid(np.concatenate(tiles), path, nrow=ncol, scale=scale)
