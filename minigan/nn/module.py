"""Module, Parameter and Sequential: the containers that layers and models are made of.

A ``Module`` registers what is assigned to it: ``self.weight = Parameter(...)``
goes to ``_parameters``, ``self.block = Linear(...)`` to ``_modules``, and
``register_buffer`` adds non-trained state (BatchNorm's running statistics) to
``_buffers``. Everything is kept in insertion order, so ``named_parameters()``,
``state_dict()`` and the optimizers see the parameters in definition order with
PyTorch's dotted names (``"0.weight"``, ``"block.bn.running_mean"``).
"""
from collections import OrderedDict, namedtuple

import numpy as np

from .. import backend
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (``requires_grad=True`` by default)."""

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class StateDictError(ValueError, RuntimeError):
    """``load_state_dict`` refused a state dict (missing / unexpected keys, wrong shapes)."""


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _addindent(text, n):
    """Indent every line of ``text`` but the first by ``n`` spaces (for nested reprs)."""
    lines = text.split("\n")
    return lines[0] if len(lines) == 1 else "\n".join([lines[0]] + [" " * n + s for s in lines[1:]])


class Module:
    """Base class of layers and models: registers parameters, buffers and sub-modules by assignment."""

    training = True

    def __init__(self):
        d = self.__dict__
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_modules"] = OrderedDict()
        d["training"] = True

    # ------------------------------------------------------------ registration
    def _registries(self, kind):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call: "
                                 f"call super().__init__() first in {type(self).__name__}.__init__")
        return d["_parameters"], d["_buffers"], d["_modules"]

    def _forget(self, name):
        """Remove ``name`` from every registry and from the plain attributes."""
        for reg in ("_parameters", "_buffers", "_modules"):
            self.__dict__.get(reg, {}).pop(name, None)
        self.__dict__.pop(name, None)

    def __setattr__(self, name, value):
        d = self.__dict__
        params, buffers, modules = (d.get("_parameters", {}), d.get("_buffers", {}), d.get("_modules", {}))
        if isinstance(value, Parameter):
            self._registries("parameters")
            self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            self._registries("modules")
            self._forget(name)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} of "
                                f"{type(self).__name__} (minigan.nn.Parameter or None expected)")
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} of "
                                f"{type(self).__name__} (Module or None expected)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} of "
                                f"{type(self).__name__} (Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # only called when ordinary lookup fails: look in the registries
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            if name in d.get(reg, {}):
                return d[reg][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            if name in d.get(reg, {}):
                del d[reg][name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Add a Parameter (or None, a declared but absent parameter such as ``bias=False``)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}")
        params = self._registries("parameters")[0]
        self._forget(name)
        params[name] = param

    def register_buffer(self, name, tensor):
        """Add a buffer: state that is saved in ``state_dict`` but not trained (e.g. running_mean)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        if isinstance(tensor, Parameter):
            raise TypeError(f"register_buffer: {name!r} is a Parameter; assign it as an attribute instead")
        buffers = self._registries("buffers")[1]
        self._forget(name)
        buffers[name] = tensor

    def add_module(self, name, module):
        """Add a child module under ``name`` (None allowed)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module or None, got {type(module).__name__}")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"add_module: module name must be a non-empty string without '.', got {name!r}")
        modules = self._registries("modules")[2]
        self._forget(name)
        modules[name] = module

    # ------------------------------------------------------------ traversal
    def named_modules(self, prefix="", _memo=None):
        """(dotted name, module) for this module ('') and every descendant, depth first, each once."""
        memo = set() if _memo is None else _memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self):
        """This module and every descendant."""
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        """(name, module) for the direct sub-modules."""
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        """The direct sub-modules."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry, prefix="", recurse=True):
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_prefix, m in mods:
            for name, t in m.__dict__[registry].items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, Parameter) in definition order; a shared parameter is listed once."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        """The Parameters in definition order."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        """(dotted name, buffer Tensor) in definition order."""
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        """The buffer Tensors in definition order."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn(m)`` on every descendant then on self (as PyTorch; e.g. DCGAN's weights_init)."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ modes and devices
    def train(self, mode=True):
        """Set training mode (BatchNorm uses batch statistics, Dropout drops) here and below."""
        for m in self.modules():
            m.__dict__["training"] = bool(mode)
        return self

    def eval(self):
        """Set evaluation mode (``train(False)``)."""
        return self.train(False)

    def requires_grad_(self, flag=True):
        """Set ``requires_grad`` of every parameter (e.g. freeze D while training G)."""
        for p in self.parameters():
            p.requires_grad = bool(flag)
        return self

    def zero_grad(self):
        """Set every parameter's ``.grad`` to None."""
        for p in self.parameters():
            p.grad = None

    def to(self, device=None, dtype=None):
        """Move (and/or cast floating-point) parameters and buffers in place; returns self.

        The Parameter objects stay the same, so an optimizer built before ``to``
        keeps working. Integer buffers (num_batches_tracked) keep their dtype.
        """
        device = None if device is None else backend.check_device(device)
        dtype = None if dtype is None else np.dtype(dtype)
        for t in list(self.parameters()) + list(self.buffers()):
            for holder in (t, t.grad):
                if holder is None:
                    continue
                arr = holder.data
                if device is not None and backend.device_of(arr) != device:
                    arr = backend.to_device(arr, device)
                if dtype is not None and arr.dtype.kind == "f" and arr.dtype != dtype:
                    arr = arr.astype(dtype)
                holder.data = arr
        return self

    def cpu(self):
        """``to('cpu')``."""
        return self.to("cpu")

    def cuda(self):
        """``to('cuda')``."""
        return self.to("cuda")

    def double(self):
        """Cast floating-point parameters and buffers to float64 (for gradient checks)."""
        return self.to(dtype=np.float64)

    def float(self):
        """Cast floating-point parameters and buffers to float32."""
        return self.to(dtype=np.float32)

    # ------------------------------------------------------------ state dict
    def state_dict(self, prefix=""):
        """An ordered dict dotted name -> Tensor of every parameter and buffer (PyTorch's names).

        The Tensors share memory with the module (as PyTorch's): copy them for a
        snapshot that later training must not change (``minigan.save`` writes at once).
        """
        out = OrderedDict()
        for mod_prefix, m in self.named_modules(prefix):
            for name, t in list(m._parameters.items()) + list(m._buffers.items()):
                if t is not None:
                    out[f"{mod_prefix}.{name}" if mod_prefix else name] = t.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays (NumPy, CuPy or Tensors) from ``state_dict`` into this module's parameters and buffers.

        The values are copied into the existing arrays (on their device, in their
        dtype). Every key and shape is checked before anything is copied, so a
        refused state dict leaves the module unchanged.

        Args:
            state_dict: mapping dotted name -> array or Tensor.
            strict: refuse missing and unexpected keys (shape mismatches are always refused).
        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``.
        """
        own = OrderedDict()
        for mod_prefix, m in self.named_modules():
            for name, t in list(m._parameters.items()) + list(m._buffers.items()):
                if t is not None:
                    own[f"{mod_prefix}.{name}" if mod_prefix else name] = t
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and missing:
            errors.append("missing keys: " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            errors.append("unexpected keys: " + ", ".join(repr(k) for k in unexpected))
        copies = []
        for key, t in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = value.data if isinstance(value, Tensor) else value
            if not hasattr(value, "shape"):
                value = np.asarray(value)
            if value.dtype.kind not in "fbiu":          # None, text, objects: nothing to copy into a tensor
                errors.append(f"the value for {key!r} is {type(value).__name__} of dtype {value.dtype}, not numbers")
                continue
            if tuple(value.shape) != t.shape:
                errors.append(f"size mismatch for {key!r}: the checkpoint has shape {tuple(value.shape)}, "
                              f"the module has shape {t.shape}")
                continue
            copies.append((t, value))
        if errors:
            raise StateDictError(f"Error(s) in loading state_dict for {type(self).__name__}:\n  "
                                 + "\n  ".join(errors))
        for t, value in copies:
            t.data[...] = backend.to_device(value, t.device).astype(t.dtype, copy=False)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ calling and printing
    def forward(self, *args, **kwargs):
        """The computation; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self):
        """The one-line description inside the parentheses of ``repr`` (layers override it)."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): {_addindent(repr(m), 2)}" for name, m in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{type(self).__name__}({body})"


class Sequential(Module):
    """Modules applied one after the other; children named "0", "1", ... (or by an OrderedDict)."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                if not isinstance(m, Module):
                    raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
                self.add_module(str(i), m)

    def forward(self, x):
        """Apply each module in turn."""
        for m in self._modules.values():
            x = m(x)
        return x

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        if not -len(items) <= index < len(items):
            raise IndexError(f"Sequential: index {index} is out of range for {len(items)} modules")
        return items[index][1]
