"""The gradient by torch autograd, on the same forward pass as gd_torch.model.

torch is imported here and nowhere below, so that the numpy paths never load it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .. import _validate
from .._errors import GdTorchError, bad_value
from ..model import Activation, Loss
from . import _blas

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
    # softplus(z) = log(e^0 + e^z); torch.nn.functional.softplus would return z itself above its
    # threshold=20, making d/dz exactly 1 there instead of sigmoid(z) = 1 - e^-z
    "bce": lambda z, a, y: torch.logaddexp(z, torch.zeros_like(z)) - y * z,
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


#: L straight from (z, a, y) with torch's fused loss kernels: one node forward and one
#: backward instead of three (e = a - y, e * e, sum).  What grad_tensor differentiates;
#: ``forward`` keeps the step-by-step graph (gd_torch.explain walks it).  Same formulas:
#: sse = sum (a - y)^2, mse = mean (a - y)^2, bce = mean [softplus(z) - y z] from the logit.
FUSED_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "sse": lambda z, a, y: torch.nn.functional.mse_loss(a, y, reduction="sum"),
    "mse": lambda z, a, y: torch.nn.functional.mse_loss(a, y, reduction="mean"),
    "bce": lambda z, a, y: torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="mean"),
}


def grad_tensor(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, lo: Loss, act: Activation) -> torch.Tensor:
    """dL/dW by autograd on tensors already on their device (the benchmarks time this).

    Autograd records z = X W, a = f(z) and the loss (fused kernels, see FUSED_LOSSES) and
    runs the chain rule backwards: dL/dW = X^T (dL/da * da/dz).
    """
    Wt = W.detach().requires_grad_(True)
    z = matvec(X, Wt)  # z = X W, (N,)
    _finite(z)
    a = z if lo.name == "bce" else ACTIVATIONS[act.name](z)  # bce works from the logit z
    L = FUSED_LOSSES[lo.name](z, a, y)
    (g,) = torch.autograd.grad(L, Wt)
    return g


class _RowSplitMatVec(torch.autograd.Function):
    # z = X W and its backward dL/dW = X^T dL/dz on large CPU tensors, computed zero-copy
    # through numpy with the rows split between the cores (gd_torch.gradients._blas).
    # torch's own CPU matrix-vector product calls MKL's gemv, 2-2.5x slower than this on
    # AMD CPUs (benchmarks/); autograd records this node and calls its backward like any
    # other: only the kernel differs.

    @staticmethod
    def forward(ctx, X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(X)
        return torch.from_numpy(_blas.matvec(X.numpy(), W.detach().numpy(), _blas.workers()))

    @staticmethod
    def backward(ctx, dz: torch.Tensor) -> tuple[None, torch.Tensor]:
        (X,) = ctx.saved_tensors
        # dL/dW = X^T dL/dz
        return None, torch.from_numpy(_blas.rmatvec(X.numpy(), dz.detach().contiguous().numpy(), _blas.workers()))


#: from this many bytes of X on, the row-split product beats torch's own
_ROW_SPLIT_BYTES = 4 << 20


def _row_split(X: torch.Tensor, v: torch.Tensor) -> bool:
    # large dense float CPU tensors that do not need dL/dX take the row-split products
    return (
        X.device.type == "cpu"
        and X.dtype in (torch.float32, torch.float64)
        and X.dtype == v.dtype
        and X.numel() * X.element_size() >= _ROW_SPLIT_BYTES
        and not X.requires_grad
        and X.layout == torch.strided
    )


def matvec(X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """z = X W, shape (N,), recorded by autograd; large CPU problems use the row-split kernel."""
    return _RowSplitMatVec.apply(X, W) if _row_split(X, W) else X @ W


def rmatvec(X: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """X^T v, shape (D,), with the same kernel choice as :func:`matvec` (not recorded by autograd)."""
    if _row_split(X, v):
        return torch.from_numpy(_blas.rmatvec(X.numpy(), v.detach().contiguous().numpy(), _blas.workers()))
    return X.T @ v


def _finite(z: torch.Tensor) -> None:
    # one sum instead of torch.isfinite's four passes: NaN or inf in z makes it non-finite;
    # a sum that overflows from finite values goes to the exact check, which passes
    if not math.isfinite(z.detach().sum().item()):
        _validate.finite_z(z)


def grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, *, device: Any = "cpu") -> np.ndarray:
    """dL/dW by autograd; numpy in, numpy out, in the input's dtype (float32 stays float32)."""
    dev = resolve_device(device)
    to = {"device": dev}
    g = grad_tensor(torch.from_numpy(W).to(**to), torch.from_numpy(X).to(**to), torch.from_numpy(y).to(**to), lo, act)
    return g.detach().cpu().numpy()


def make(
    X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, *, device: Any = "cpu"
) -> Callable[[np.ndarray], np.ndarray]:
    """g(W) -> dL/dW for training loops: X and y become tensors on the device once, here."""
    dev = resolve_device(device)
    Xt, yt = torch.from_numpy(X).to(dev), torch.from_numpy(y).to(dev)

    def g(W: np.ndarray) -> np.ndarray:
        return grad_tensor(torch.from_numpy(W).to(dev), Xt, yt, lo, act).cpu().numpy()

    return g
