"""The gradient by torch autograd, on the same forward pass as gd_torch.model.

torch is imported here and nowhere below, so that the numpy paths never load it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .. import _validate
from .._errors import GdTorchError, bad_value
from ..model import Activation, Loss

#: the forward pass in torch, keyed like gd_torch.model.ACTIVATIONS
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "identity": lambda z: z,
}


def _sq(z: torch.Tensor, a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    e = a - y
    return e * e


#: per-sample loss terms, keyed like gd_torch.model.LOSSES (bce from the logit z, as there)
TERMS: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "sse": _sq,
    "mse": _sq,
    "bce": lambda z, a, y: torch.nn.functional.softplus(z) - y * z,
}


def resolve_device(name: Any) -> torch.device:
    """Resolve 'cpu', 'cuda' or 'cuda:N', refusing a CUDA device that is not there."""
    if not isinstance(name, str | torch.device):
        raise bad_value("device", name, "'cpu', 'cuda' or 'cuda:N'")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise bad_value("device", name, "'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise bad_value("device", name, "'cpu', 'cuda' or 'cuda:N'")
    if not torch.cuda.is_available():
        raise GdTorchError(
            f"device must be available: got {str(name)!r}, but torch {torch.__version__} sees no CUDA device "
            f"here (torch.cuda.is_available() is False); use device='cpu'"
        )
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise bad_value("device", name, f"'cuda' or 'cuda:N' with N < {count} (CUDA devices here)")
    return dev


def forward(
    W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, lo: Loss, act: Activation
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """z = X W, a = f(z), L: the tensors autograd records (z and a are returned for hooks)."""
    z = X @ W
    a = ACTIVATIONS[act.name](z)
    terms = TERMS[lo.name](z, a, y)
    L = terms.sum() if lo.reduction == "sum" else terms.mean()
    return z, a, L


def grad_tensor(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, lo: Loss, act: Activation) -> torch.Tensor:
    """dL/dW by autograd on tensors already on their device (the benchmarks time this)."""
    Wt = W.detach().requires_grad_(True)
    z, _, L = forward(Wt, X, y, lo, act)
    _validate.finite_z(z)
    (g,) = torch.autograd.grad(L, Wt)
    return g


def grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, *, device: Any = "cpu") -> np.ndarray:
    """dL/dW by autograd; numpy in, numpy out, in the input's dtype (float32 stays float32)."""
    dev = resolve_device(device)
    to = {"device": dev}
    g = grad_tensor(torch.from_numpy(W).to(**to), torch.from_numpy(X).to(**to), torch.from_numpy(y).to(**to), lo, act)
    return g.detach().cpu().numpy()
