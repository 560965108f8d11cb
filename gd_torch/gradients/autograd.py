"""The gradient by torch autograd, on the same forward pass as gd_torch.model.forward.

Every operation here is torch's own, on every size and device: z = X W, a = f(z) (the
activation's ``torch_f``), the loss (the loss's ``torch_terms``, or a fused torch kernel),
and the backward pass torch derives from them.  Nothing in the graph is shared with the
numpy methods, so that autograd is an independent witness of the hand-derived gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._errors import GdTorchError
from ..base import validate as _validate
from ..model.activations import Activation
from ..model.losses import Loss
from ._device import resolve as resolve_device

__all__ = ["forward", "grad", "grad_tensor", "make", "resolve_device"]


def _torch_parts(lo: Loss, act: Activation) -> tuple[Callable, Callable]:
    # a part without a torch forward cannot be differentiated by autograd: say so
    for part, fn, what in ((act, act.torch_f, "torch_f"), (lo, lo.torch_terms, "torch_terms")):
        if fn is None:
            kind = type(part).__name__.lower()
            raise GdTorchError(
                f"method='autograd' needs the {kind}'s torch forward: {kind} {part.name!r} has no {what}; "
                f"define it (a function of torch tensors) or use method='analytic' or 'numeric'"
            )
    return act.torch_f, lo.torch_terms


def forward(
    W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, lo: Loss, act: Activation
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """z = X W, a = f(z), L: the tensors autograd records (z and a are returned for hooks)."""
    f, terms = _torch_parts(lo, act)
    z = X @ W
    a = f(z)
    t = terms(z, a, y)
    L = t.sum() if lo.reduction == "sum" else t.mean()
    return z, a, L


#: L straight from (z, a, y) with torch's fused loss kernels, where torch has one: one node
#: forward and one backward instead of three (e = a - y, e * e, sum).  Same formulas as the
#: losses' torch_terms: sse = sum (a - y)^2, mse = mean (a - y)^2, bce = mean [softplus(z) - y z].
#: A loss not listed here (a user's own) goes through ``forward``'s terms.
FUSED_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "sse": lambda z, a, y: torch.nn.functional.mse_loss(a, y, reduction="sum"),
    "mse": lambda z, a, y: torch.nn.functional.mse_loss(a, y, reduction="mean"),
    "bce": lambda z, a, y: torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="mean"),
}


def _loss(lo: Loss, act: Activation, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    from ..model.losses import LOSSES

    f, terms = _torch_parts(lo, act)
    if LOSSES.get(lo.name) is lo and lo.name in FUSED_LOSSES:  # a built-in loss: its fused kernel
        a = z if lo.dL_dz is not None else f(z)  # bce works from the logit z
        return FUSED_LOSSES[lo.name](z, a, y)
    t = terms(z, f(z), y)
    return t.sum() if lo.reduction == "sum" else t.mean()


def grad_tensor(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, lo: Loss, act: Activation) -> torch.Tensor:
    """dL/dW by autograd on tensors already on their device (the benchmarks time this).

    Autograd records z = X W, a = f(z) and the loss and runs the chain rule backwards:
    dL/dW = X^T (dL/da * da/dz).
    """
    Wt = W.detach().requires_grad_(True)
    z = X @ Wt  # z = X W, (N,)
    _finite(z)
    (g,) = torch.autograd.grad(_loss(lo, act, z, y), Wt)
    return g


def _finite(z: torch.Tensor) -> None:
    # one sum instead of torch.isfinite's passes: NaN or inf in z makes it non-finite;
    # a sum that overflows from finite values goes to the exact check, which passes
    if not math.isfinite(z.detach().sum().item()):
        _validate.finite_z(z)


def _tensor(a: np.ndarray, dev: Any) -> torch.Tensor:
    # torch.from_numpy shares memory and warns on a read-only array; such an array is copied
    return torch.from_numpy(a if a.flags.writeable else a.copy()).to(dev)


def grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, *, device: Any = "cpu") -> np.ndarray:
    """dL/dW by autograd; numpy in, numpy out, in the input's dtype (float32 stays float32)."""
    dev = resolve_device(device)
    g = grad_tensor(_tensor(W, dev), _tensor(X, dev), _tensor(y, dev), lo, act)
    return g.detach().cpu().numpy()


def make(
    X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, *, device: Any = "cpu"
) -> Callable[[np.ndarray], np.ndarray]:
    """g(W) -> dL/dW for training loops: X and y become tensors on the device once, here."""
    dev = resolve_device(device)
    _torch_parts(lo, act)
    Xt, yt = _tensor(X, dev), _tensor(y, dev)

    def g(W: np.ndarray) -> np.ndarray:
        return grad_tensor(_tensor(W, dev), Xt, yt, lo, act).cpu().numpy()

    return g
