"""Draw docs/img/graph.png: the graph of ``y = conv2d(x, w); loss = (y * y).mean()`` and its backward.

Run from anywhere: ``python docs/img/make_graph_figure.py``. The function names and the
backward order are read off a real minigan graph (``_topological_order``), so the picture
follows the code if the code changes.
"""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

import minigan  # noqa: E402
from minigan import functional as F  # noqa: E402
from minigan.tensor import _topological_order  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def traced_order():
    """Names of the Functions in the order _backprop visits them, from a real graph."""
    x = minigan.randn(2, 3, 5, 5, requires_grad=True)
    w = minigan.randn(4, 3, 3, 3, requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    loss = (y * y).mean()
    return [type(f).__name__ for f in _topological_order([loss])]


def main():
    order = traced_order()                      # ['Mul', 'Sum', 'Mul', 'Conv2d']
    fig, ax = plt.subplots(figsize=(11, 4.6))
    ax.set_xlim(-0.6, 13.2)
    ax.set_ylim(-0.3, 5.3)
    ax.axis("off")

    def tensor(xy, text, leaf=False):
        ax.add_patch(plt.Circle(xy, 0.38, fc="#dbe9f6" if not leaf else "#c7e9c0", ec="k", lw=1.2, zorder=3))
        ax.text(*xy, text, ha="center", va="center", fontsize=11, zorder=4)

    def function(xy, text, step):
        x0, y0 = xy
        ax.add_patch(FancyBboxPatch((x0 - 0.75, y0 - 0.32), 1.5, 0.64, boxstyle="round,pad=0.04",
                                    fc="#fde0c5", ec="k", lw=1.2, zorder=3))
        ax.text(x0, y0, text, ha="center", va="center", fontsize=10, zorder=4)
        ax.text(x0 + 0.72, y0 + 0.42, f"({step})", ha="center", va="center", fontsize=8, color="#b2182b")

    def arrow(a, b, color="k", style="-|>", ls="-", rad=0.0, lw=1.2):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=12, color=color, ls=ls, lw=lw,
                                     connectionstyle=f"arc3,rad={rad}", zorder=2, shrinkA=2, shrinkB=2))

    top = 3.6
    tensor((0.0, 4.5), "x", leaf=True)
    tensor((0.0, 2.7), "w", leaf=True)
    function((1.9, top), order[3], 4)
    tensor((3.7, top), "y")
    function((5.5, top), order[2], 3)
    tensor((7.2, top), "y²")
    function((8.8, top), order[1], 2)
    tensor((10.3, top), "s")
    function((11.8, top), order[0] + " 1/n", 1)
    tensor((11.8, 2.65), "loss")

    # forward edges: Function.inputs (strong references) and the creator links
    arrow((0.35, 4.35), (1.15, 3.75))
    arrow((0.35, 2.85), (1.15, 3.45))
    arrow((2.65, top), (3.32, top))
    arrow((4.08, top + 0.1), (4.75, top + 0.15), rad=-0.25)
    arrow((4.08, top - 0.1), (4.75, top - 0.15), rad=0.25)
    arrow((6.25, top), (6.82, top))
    arrow((7.58, top), (8.05, top))
    arrow((9.55, top), (9.92, top))
    arrow((10.68, top), (11.05, top))
    arrow((11.8, top - 0.33), (11.8, 3.03))

    # backward: red, dashed, right to left; under each tensor, the gradient it receives
    red = "#b2182b"
    low = 1.75

    def grad_box(x0, text):
        ax.text(x0, low, text, ha="center", va="center", fontsize=9, color=red, zorder=4,
                bbox=dict(boxstyle="round,pad=0.3", fc="white", ec=red, lw=1.0))

    grad_box(11.8, "d loss = 1")
    grad_box(10.3, "d s = 1/n")
    grad_box(7.2, "d y² = 1/n")
    grad_box(3.7, "d y = y/n + y/n")
    grad_box(0.0, "x.grad, w.grad")
    for (a, b), text in [((11.05, 10.95), "(1) Mul"), ((9.65, 7.9), "(2) Sum:\nbroadcast"),
                         ((6.55, 4.65), "(3) Mul: two entries\nfor y, _accumulate adds"),
                         ((2.75, 0.85), "(4) Conv2d: x <- ConvTranspose2d(g, w)\n"
                                        "w <- Conv2dGradW(x, g)")]:
        arrow((a, low), (b, low), color=red, ls="--")
        ax.text((a + b) / 2, low - 0.55, text, ha="center", va="top", fontsize=8.5, color=red)
    arrow((11.8, 2.28), (11.8, 2.02), color=red, style="-", ls=":")
    ax.text(6.3, 5.0, "forward: Function.__call__ runs forward on arrays, keeps inputs (strong) "
            "and output (weakref); y.creator = the Function", ha="center", fontsize=9)
    ax.text(6.3, 0.05, "backward: _topological_order gives (1)..(4), outputs first; each backward "
            "uses Tensor ops, so with create_graph=True it records a graph too",
            ha="center", fontsize=9, color=red)
    fig.tight_layout()
    out = os.path.join(HERE, "graph.png")
    fig.savefig(out, dpi=90)
    print(f"wrote {out} ({os.path.getsize(out) // 1024} KB)")


if __name__ == "__main__":
    main()
