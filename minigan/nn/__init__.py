"""Layers and the Module machinery, as ``torch.nn`` (``from minigan import nn``)."""
from . import init
from .functional_call import functional_call, substitute_parameters
from .layers import (
                     BatchNorm1d,
                     BatchNorm2d,
                     Conv2d,
                     ConvTranspose2d,
                     Dropout,
                     Flatten,
                     LeakyReLU,
                     Linear,
                     Maxout,
                     ReLU,
                     Sigmoid,
                     Tanh,
                     Unflatten,
)
from .module import IncompatibleKeys, Module, Parameter, Sequential, StateDictError

__all__ = ["BatchNorm1d", "BatchNorm2d", "Conv2d", "ConvTranspose2d", "Dropout", "Flatten", "IncompatibleKeys",
           "LeakyReLU", "Linear", "Maxout", "Module", "Parameter", "ReLU", "Sequential", "Sigmoid",
           "StateDictError", "Tanh", "Unflatten", "functional_call", "init", "substitute_parameters"]
