"""model: the one-neuron model's math, the bottom layer: z = X W, a = f(z), L = loss(a, y).

The activations (:mod:`.activations`) and losses (:mod:`.losses`) are objects that carry their
formulas, hand-written derivatives and rounding constants, in registries keyed by name; the
forward pass, dL/dz and the problem's boundary checks are in :mod:`.forward`; the checks on a
user's own parts in :mod:`.parts`.

The names in ``__all__`` are the package's public face; everything else in it is internal.
"""

from .activations import ACTIVATIONS, Activation, identity, relu, sigmoid, softplus, tanh
from .forward import add_bias, init_weights, objective
from .losses import LOSSES, Loss

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "Activation",
    "Loss",
    "add_bias",
    "identity",
    "init_weights",
    "objective",
    "relu",
    "sigmoid",
    "softplus",
    "tanh",
]
