"""Calling a Module with other parameter values: ``substitute_parameters`` and ``functional_call``.

A layer reads its parameters by attribute (``self.weight``), and a Module keeps
them in its ``_parameters`` registry. ``substitute_parameters(module, {name: t})``
puts the Tensors ``t`` in the registry in place of the Parameters for the
duration of a ``with`` block, and puts the Parameters back afterwards (also on
an exception). Inside the block the module computes with ``t``, so a loss is
differentiable with respect to ``t`` and to whatever ``t`` was computed from:
this is how the unrolled GAN (``minigan.gan.unrolled``) evaluates D at
parameters that are themselves functions of G's parameters.

The names are ``named_parameters()``'s dotted names; a name the module does not
have, or a Tensor of another shape, is refused before anything is swapped.
Buffers (BatchNorm's running statistics) are left alone: a forward pass in
training mode still updates them.
"""
from contextlib import contextmanager

from ..tensor import Tensor


def _owner(module, name):
    """(sub-module, attribute) holding the parameter with dotted name ``name``."""
    *path, attr = name.split(".")
    m = module
    for part in path:
        m = m._modules.get(part) if m is not None else None
    if m is None or m._parameters.get(attr) is None:
        raise KeyError(f"substitute_parameters: {type(module).__name__} has no parameter {name!r}")
    return m, attr


@contextmanager
def substitute_parameters(module, params):
    """Within the block, ``module`` computes with the Tensors of ``params`` (dotted name -> Tensor).

    Parameters not named keep their values. Example::

        w = model.weight * 2                      # any Tensor of the same shape
        with substitute_parameters(model, {"weight": w}):
            y = model(x)                          # y depends on w
    """
    swaps = []
    for name, t in params.items():
        m, attr = _owner(module, name)
        if not isinstance(t, Tensor):
            raise TypeError(f"substitute_parameters: {name!r} must be a Tensor, got {type(t).__name__}")
        if t.shape != m._parameters[attr].shape:
            raise ValueError(f"substitute_parameters: {name!r} has shape {t.shape}, the parameter "
                             f"{m._parameters[attr].shape}")
        swaps.append((m, attr, t))
    old = [(m, attr, m._parameters[attr]) for m, attr, _ in swaps]
    try:
        for m, attr, t in swaps:
            m._parameters[attr] = t            # the registry, not __setattr__ (which wants a Parameter)
        yield module
    finally:
        for m, attr, p in old:
            m._parameters[attr] = p


def functional_call(module, params, *args, **kwargs):
    """``module(*args, **kwargs)`` computed with the Tensors of ``params`` in place of its Parameters."""
    with substitute_parameters(module, params):
        return module(*args, **kwargs)
