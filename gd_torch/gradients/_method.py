"""What a gradient method is: a value that carries its behaviour.

A method computes dL/dW for one neuron (z = X W, a = f(z), L = loss(a, y)) on validated
input.  Everything a caller needs to know about it is here, so that no caller compares
method names: how to compute g once, how to make g(W) for a training loop, the devices it
runs on, the text that describes it, whether it brings its own error estimate (else it is
held to the rounding error of the exact formula, ``errormodel.ErrorModel.exact``), and the
dL/dW-from-z shortcut a training loop can use when it already has z = X W and a = f(z), what
its result is a sum over (its ``reduction``), and the finite-difference scheme it evaluates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._errors import GdTorchError
from . import _device

if TYPE_CHECKING:
    from .schemes import Scheme

GradFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Estimate:
    """One method's gradient for a check: the values, their predicted absolute error, and the
    finite-difference steps taken (None for a method that takes none); shape (D,) in full mode
    and (1,) in directional mode (v . g)."""

    grad: np.ndarray
    error: np.ndarray
    steps: np.ndarray | None = None


@dataclass(frozen=True)
class Method:
    """A way of computing dL/dW; see the module docstring.

    ``grad(W, X, y, lo, act, **options)`` returns an array of W's shape and dtype.
    ``make(X, y, lo, act, **options)``, when given, returns g(W) with per-problem work done
    once (the default wraps ``grad``).  ``estimate(W, X, y, lo, act, model, v, **options)``,
    when given, returns an :class:`Estimate` with the method's own error (v: None for every
    coordinate, or a unit direction).  ``from_z(XT, z, a, y, lo, act)`` is dL/dW from a z the
    caller has.  ``fixed`` are options this entry always passes (a finite-difference scheme);
    ``options`` the keyword options a caller may add.
    """

    name: str
    description: str
    formula: str
    grad: Callable[..., np.ndarray]
    make: Callable[..., GradFn] | None = None
    estimate: Callable[..., Estimate] | None = None
    from_z: Callable[..., np.ndarray] | None = None
    #: validate(W, act, **options) refuses bad options before any work (None: nothing to check)
    validate: Callable[..., Any] | None = None
    #: gradient_of(lo, act) -> (text, loss name or None): what the method's vector is the
    #: gradient of, where that need not be the loss asked for (the tutorial's rule); None: the loss itself
    gradient_of: Callable[[Any, Any], tuple[str, str | None]] | None = None
    devices: tuple[str, ...] = ("cpu",)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    options: tuple[str, ...] = ()
    #: the finite-difference scheme the method evaluates (gd_torch.gradients.schemes), None for another method
    scheme: Scheme | None = None

    @property
    def exact(self) -> bool:
        """True when the method evaluates the gradient's formula up to rounding (no estimate of its own)."""
        return self.estimate is None

    @property
    def reduction(self) -> Literal["gradient", "loss"] | None:
        """What the method sums over the rows of X, so that it splits over row blocks and ranks
        (gd_torch.distributed): 'loss' for a finite-difference scheme (values of L, each a sum
        over rows, added before they are differenced), 'gradient' for an exact method (its dL/dW
        a sum or mean over rows, each block's share added), None for a method with an error
        estimate of its own that is no scheme (it needs X in memory)."""
        if self.scheme is not None:
            return "loss"
        return "gradient" if self.exact else None

    def bind(self, device: Any, options: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments every call of this method gets: its fixed options, the caller's,
        and the device for a method that runs on more than the CPU."""
        kw = {**self.fixed, **options}
        if len(self.devices) > 1:
            kw["device"] = device
        return kw

    def ready(
        self, device: Any, options: Mapping[str, Any], W: np.ndarray, act: Any, spelt: str = ""
    ) -> dict[str, Any]:
        """:meth:`bind`'s keyword arguments, after the boundary checks that come before any work:
        options this method does not take, a device it does not run on or that is not here, and
        its own checks of the option values on W and the activation (``validate``).  ``spelt``:
        the method's name as the caller wrote it (an alias), for the messages."""
        spelt = spelt or self.name
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            accepted = ", ".join(self.options) or "none"
            hint = " (a finite-difference scheme is part of the method's name, e.g. 'numeric:complex')" * (
                "scheme" in unknown
            )
            raise GdTorchError(f"options {unknown} are not accepted by method={spelt!r}; accepted: {accepted}{hint}")
        _device.check(device, spelt, self.devices)  # an absent CUDA device is refused now, not at the first call
        kw = self.bind(device, options)
        if self.validate is not None:  # the method's own options (a step, a batch)
            self.validate(W, act, **kw)
        return kw

    def function(self, X: np.ndarray, y: np.ndarray, lo: Any, act: Any, **kw: Any) -> GradFn:
        """g(W) on fixed, validated X and y."""
        if self.make is not None:
            return self.make(X, y, lo, act, **kw)
        return partial(_call, self.grad, X, y, lo, act, kw)


def _call(grad, X, y, lo, act, kw, W):
    return grad(W, X, y, lo, act, **kw)
