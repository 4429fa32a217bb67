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


def pareto_figure(scores, path, real_noise=None, ncol=4):
    """Accuracy against realism, one panel per mask: hole PSNR (up is better) against KID (left is better),
    every method a point; the methods on the Pareto front (no other method better on both) are joined.

    Args:
        scores: {mask name: {method name: dict(psnr=..., kid=...)}} (as ``evaluate.Judge`` returns).
        path: the PNG to write.
        real_noise: the standard deviation of KID between two real sets of this size, drawn as a band.
    """
    plt = viz._pyplot()
    masks = list(scores)
    ncol = max(1, min(ncol, len(masks)))
    nrow = -(-len(masks) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol, 3.0 * nrow), squeeze=False)
    methods = list(dict.fromkeys(k for s in scores.values() for k in s))
    colours = {m: plt.cm.tab10(i % 10) for i, m in enumerate(methods)}
    for ax, mask in zip(axes.flat, masks):
        pts = scores[mask]
        if real_noise:
            ax.axvspan(-2 * real_noise, 2 * real_noise, color="0.9", zorder=0)
        for name, s in pts.items():
            ax.scatter(s["kid"], s["psnr"], color=colours[name], s=28, zorder=3,
                       marker="*" if name.startswith("minigan") else "o")
        front = sorted((s["kid"], s["psnr"]) for n, s in pts.items()
                       if not any(o["kid"] <= s["kid"] and o["psnr"] >= s["psnr"] and o is not s
                                  and (o["kid"], o["psnr"]) != (s["kid"], s["psnr"]) for o in pts.values()))
        ax.plot(*zip(*front), color="0.5", lw=0.8, zorder=2)
        ax.set_xscale("symlog", linthresh=20)
        ax.set_title(mask, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(masks):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("hole PSNR (dB)", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("KID x 1000 (realism; lower is better)", fontsize=8)
    handles = [plt.Line2D([], [], marker="*" if m.startswith("minigan") else "o", ls="", color=colours[m], label=m)
               for m in methods]
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(methods)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * (len(methods) > 4), 1, 1))
    viz.save_png(viz.figure_to_array(fig), path)
