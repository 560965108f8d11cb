"""Where check_function's values come from: the user's f, the user's gradient, torch autograd.

Each is wrapped as a function of the flat parameter vector x (see gd_torch.verdict.params) whose
output is validated here, at the boundary: f must return one real number (one per row with
``batched=True``), a gradient must have the parameters' shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from .params import Layout, values_of

#: bytes of perturbed parameters handed to a batched f at once
_BATCH_BYTES = 32 << 20


class Evaluator:
    """f on flat points: ``one(x)`` -> float, ``self(points (B, n))`` -> (B,) float64; counts calls of f."""

    def __init__(self, f: Callable[[Any], Any], layout: Layout, batched: bool) -> None:
        self.f, self.layout, self.batched = f, layout, batched
        self.evaluations = 0

    def one(self, x: np.ndarray) -> float:
        self.evaluations += 1
        return _scalar(self.f(self.layout.unflatten(x.copy())), "f")

    def __call__(self, points: np.ndarray) -> np.ndarray:
        # points are the caller's temporaries: handed over without a copy.  A perturbed point may
        # leave f's domain (log of a negative number): the NaN is the caller's to handle (a smaller
        # step), so numpy's warning about it is not raised to the user
        with np.errstate(all="ignore"):
            if not self.batched:
                self.evaluations += points.shape[0]
                return np.array([_scalar(self.f(self.layout.unflatten(r)), "f") for r in points], dtype=np.float64)
            rows = max(1, _BATCH_BYTES // max(1, points.shape[1] * points.itemsize))
            return np.concatenate([self._batch(points[s : s + rows]) for s in range(0, points.shape[0], rows)])

    def _batch(self, points: np.ndarray) -> np.ndarray:
        self.evaluations += points.shape[0]
        out = _array(self.f(self.layout.unflatten_batch(points)))
        if out.shape != (points.shape[0],) or out.dtype.kind not in "biuf":
            raise bad_value(
                "f",
                f"an array of shape {out.shape} and dtype {out.dtype} for {points.shape[0]} stacked parameter sets",
                f"with batched=True, a function returning one real value per leading index: shape ({points.shape[0]},)",
            )
        return out.astype(np.float64)


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _scalar(value: Any, name: str) -> float:
    a = _array(value)
    if a.size != 1 or a.dtype.kind not in "biuf":
        raise bad_value(
            name, f"{type(value).__name__} of shape {a.shape} and dtype {a.dtype}", "a real scalar (one number)"
        )
    return float(a.reshape(()))


@dataclass(frozen=True)
class Exact:
    """A gradient exact up to rounding: the user's or autograd's, as flat float64 values at x."""

    name: str
    description: str
    values: np.ndarray
    #: the gradient at another flat point (None for a gradient given as arrays)
    at: Callable[[np.ndarray], np.ndarray] | None


def user_gradient(grad: Any, layout: Layout, x: np.ndarray) -> Exact:
    """The user's gradient: a callable grad(params) -> array(s), or the arrays themselves."""
    if not callable(grad):
        return Exact("grad", "your gradient, given as arrays", values_of(layout, grad, "grad"), None)
    name = getattr(grad, "__name__", "grad")
    name = "grad" if not name.isidentifier() or name in ("autograd", "numeric") else name

    def at(point: np.ndarray) -> np.ndarray:
        return values_of(layout, grad(layout.unflatten(point.copy())), f"the value of grad ({name})")

    return Exact(name, f"your gradient: {name}(params)", at(x), at)


def autograd(torch_f: Callable[[Any], Any], layout: Layout, x: np.ndarray) -> tuple[Exact, float]:
    """torch.autograd.grad of torch_f (given tensors of params' shapes and dtype) at x, and torch_f(x)."""
    import torch  # only here: check_function without torch_f never loads torch

    def value_and_grad(point: np.ndarray) -> tuple[float, np.ndarray]:
        leaves = [torch.tensor(point[s].reshape(shape), requires_grad=True) for s, shape in _parts(layout)]
        out = torch_f(leaves[0] if layout.single else dict(zip(layout.names, leaves, strict=True)))
        if not isinstance(out, torch.Tensor) or out.numel() != 1 or not out.is_floating_point():
            raise bad_value("torch_f", _describe(out), "a function returning a floating-point torch scalar")
        if not out.requires_grad:
            raise GdTorchError(
                "torch_f must compute its result from the tensors it is given (the result does not depend on them: "
                "was the input converted to numpy, or detached?)"
            )
        grads = torch.autograd.grad(out.reshape(()), leaves, allow_unused=True)
        flat = [
            np.zeros(leaf.numel()) if g is None else g.detach().cpu().numpy().ravel()
            for leaf, g in zip(leaves, grads, strict=True)
        ]
        return float(out.detach()), np.concatenate(flat).astype(np.float64)

    value, g = value_and_grad(x)
    return Exact("autograd", "torch.autograd of torch_f", g, lambda p: value_and_grad(p)[1]), value


def _parts(layout: Layout) -> list[tuple[slice, tuple[int, ...]]]:
    return list(zip(layout.slices(), layout.shapes, strict=True))


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")
