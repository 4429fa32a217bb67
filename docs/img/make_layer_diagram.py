"""Print minigan's import layers, read from the import-linter contract in pyproject.toml.

    python docs/img/make_layer_diagram.py

docs/architecture.md shows this output (tests/test_layers.py checks that it still does). A module may
import only from the layers below its own; "|" joins modules of one layer that must not import each other.
"""
import os
import sys

try:
    import tomllib
except ImportError:                                     # Python 3.10
    import tomli as tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

WHAT = {  # one line per package or module: what it holds
    "minigan.cli": "the minigan command: train | sample | evaluate | inpaint | bench",
    "minigan.inpaint": "masks, contextual + perceptual loss, the latent search, blending",
    "minigan.gan": "Algorithm 1 (algorithm1.py), losses, models, options (config.py), the trainer, evaluation",
    "minigan.data": "synthetic 1-D / 2-D sets and mode counts; IDX files; finding and loading image sets",
    "minigan.profiler": "time per op: wraps Function / Optimizer methods while a profile records",
    "minigan.nn": "Module, Parameter, layers, init, functional_call",
    "minigan.optim": "SGD, Adam, RMSprop, MaxNorm",
    "minigan.serialization": ".npz save / load of nested state",
    "minigan.gradcheck": "gradcheck / gradgradcheck against central differences",
    "minigan.functional": "linear, batch_norm, dropout, the losses; PyTorch's names for the ops",
    "minigan.ops": "arithmetic and element-wise Functions; Tensor's operators and methods",
    "minigan.conv": "conv2d / conv_transpose2d: plain im2col, and the Functions",
    "minigan.shapes": "broadcasting, reductions, reshapes, indexing, joins, casts, device moves",
    "minigan.tensor": "Tensor, Function, backward and grad",
    "minigan.tricks": "the speed tricks: stand-ins for a few forwards / backwards, each with a switch",
    "minigan.backend": "NumPy or CuPy, devices, seeded generators",
    "minigan.options": "Option: a command's options as one table (parser, --help, defaults, checks)",
    "minigan.files": "regular files or a clear error; atomic writes that name the file",
}


def layers():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        contract = tomllib.load(f)["tool"]["importlinter"]["contracts"][0]
    return [[m.strip() for m in layer.split("|")] for layer in contract["layers"]]


def diagram():
    lines = []
    for i, layer in enumerate(layers()):
        for j, module in enumerate(layer):
            name = module.replace("minigan.", "")
            lines.append(f"{name + (' |' if j < len(layer) - 1 else ''):16s} {WHAT.get(module, '')}".rstrip())
        if i < len(layers()) - 1:
            lines.append("   │")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(diagram() + "\n")
