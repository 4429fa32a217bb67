"""Pictures: image grids, 1-D / 2-D sample plots, and the training GIF.

Everything here takes NumPy arrays and writes PNG / GIF files; nothing here
touches the autodiff engine.
"""
import io

import numpy as np

from .. import files


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")                       # files only, no window
    import matplotlib.pyplot as plt
    return plt


def image_grid(images, nrow=8, pad=2, pad_value=1.0):
    """(N, C, H, W) in [0, 1] -> one (rows*H', nrow*W', 3) uint8 image with ``pad`` pixels between tiles."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"image_grid: expected (N, C, H, W), got shape {images.shape}")
    n, c, h, w = images.shape
    if c == 1:
        images = np.repeat(images, 3, axis=1)
    nrow = max(1, min(nrow, n))
    rows = -(-n // nrow)
    grid = np.full((3, rows * (h + pad) + pad, nrow * (w + pad) + pad), pad_value, dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad):pad + r * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = \
            images[i, :3]
    return (np.clip(grid.transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)


def save_png(array, path, scale=1):
    """Write a uint8 (H, W, 3) array as a PNG, each pixel ``scale`` x ``scale``."""
    from PIL import Image  # Pillow comes with matplotlib
    if scale > 1:
        array = np.repeat(np.repeat(array, scale, axis=0), scale, axis=1)
    _atomic(path, lambda f: Image.fromarray(array).save(f, format="PNG"))


def save_image_grid(images, path, nrow=8, scale=2):
    """``image_grid`` straight to a PNG file."""
    save_png(image_grid(images, nrow), path, scale)


def figure_to_array(fig):
    """Render a matplotlib figure to a uint8 (H, W, 3) array and close it."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    from PIL import Image
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def points_frame(samples, real=None, title="", lim=None):
    """A scatter plot of 2-D samples (blue) over real data (grey), as an image array."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4, 4))
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=2, c="0.6", label="data")
    ax.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:blue", alpha=0.6, label="G(z)")
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    fig.tight_layout()
    return figure_to_array(fig)


def histogram_frame(samples, real=None, xs=None, d_of_x=None, title=""):
    """1-D: histograms of samples and data, and D(x) as a curve, as an image array."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3))
    lo = min(samples.min(), real.min() if real is not None else samples.min()) - 0.5
    hi = max(samples.max(), real.max() if real is not None else samples.max()) + 0.5
    bins = np.linspace(lo, hi, 60)
    if real is not None:
        ax.hist(real.ravel(), bins=bins, density=True, color="0.2", histtype="step", label="p_data")
    ax.hist(samples.ravel(), bins=bins, density=True, color="tab:green", alpha=0.5, label="p_g")
    if xs is not None and d_of_x is not None:
        ax.plot(xs, d_of_x, "b--", label="D(x)")
    ax.set_ylim(0, 1.5)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return figure_to_array(fig)


def write_gif(frame_paths, path, ms_per_frame=200):
    """Assemble PNG files (in order) into an animated GIF; a no-op for no frames."""
    from PIL import Image
    frames = [Image.open(p).convert("RGB") for p in frame_paths]
    if not frames:
        return
    size = frames[0].size
    frames = [f if f.size == size else f.resize(size) for f in frames]
    _atomic(path, lambda f: frames[0].save(f, format="GIF", save_all=True, append_images=frames[1:],
                                           duration=ms_per_frame, loop=0))


def _atomic(path, write):
    """Write through a temporary file and rename, so readers never see half a file (files.write_atomic)."""
    files.write_atomic(path, write)
