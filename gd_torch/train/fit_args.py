"""The boundary checks of :func:`gd_torch.fit`, apart from the algorithm (as scipy's
``_derivative_iv``): one function that returns the validated arguments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import bad_value
from ..base import memory as _memory
from ..base import validate as _validate
from ..gradients import Method, lookup
from ..model.activations import Activation
from ..model.forward import check_labels, resolve
from ..model.losses import Loss


@dataclass(frozen=True)
class FitArgs:
    """fit's arguments, validated: arrays in their final dtype, names resolved to objects."""

    X: np.ndarray
    y: np.ndarray
    method: Method
    lo: Loss
    act: Activation
    alpha: float
    epochs: int
    batch_size: int | None
    tol: float | None
    patience: int | None
    init: str
    seed: int | None
    device: Any
    callback: Callable[[int, np.ndarray, float], bool | None] | None


def fit_args(X, y, method, loss, activation, alpha, epochs, batch_size, tol, patience, init, seed, device, callback):
    """Validate fit's arguments (see :func:`gd_torch.fit`); return them as a :class:`FitArgs`."""
    lo, act = resolve(loss, activation)
    m = lookup(method)
    _, X, y = _validate.problem(_validate.zero_weights(X), X, y)
    check_labels(lo, y)
    _validate.binary_labels(y, "fit trains a binary classifier; map the two classes to 0 and 1")
    n = X.shape[0]
    if batch_size is not None:
        batch_size = _validate.integer(
            "batch_size", batch_size, minimum=1, maximum=n, accepted=f"None or an integer from 1 to n_samples = {n}"
        )
    if callback is not None and not callable(callback):
        raise bad_value("callback", callback, "None or a callable callback(epoch, weights, loss)")
    m.ready(device, {}, _validate.zero_weights(X), act)  # device and the method's own checks
    args = FitArgs(
        X=X,
        y=y,
        method=m,
        lo=lo,
        act=act,
        alpha=_validate.number("alpha", alpha, above=0, accepted="a finite number > 0 (the learning rate)"),
        epochs=_validate.integer("epochs", epochs, minimum=1),
        batch_size=batch_size,
        tol=_validate.number(
            "tol", tol, none_ok=True, accepted="a finite number (stop once the loss is at or below it)"
        ),
        patience=_validate.integer(
            "patience", patience, minimum=1, none_ok=True, accepted="a positive integer (epochs without improvement)"
        ),
        init=init,
        seed=_validate.seed("seed", seed),
        device=device,
        callback=callback,
    )
    _history_fits(X, args.epochs)
    return args


def _history_fits(X: np.ndarray, epochs: int) -> None:
    # the history of weights, losses and accuracies: (epochs + 1) rows, grown by doubling up to
    # that (the old rows beside the new ones at the last growth: 1.5 times the final size)
    row = X.shape[1] * X.itemsize + np.dtype(np.float64).itemsize
    per_epoch = row + row // 2 + np.dtype(np.float64).itemsize
    what = f"the history of {X.shape[1]} {X.dtype} weights, a loss and an accuracy per epoch"
    _memory.at_most("epochs", epochs, per_epoch, what, fixed=per_epoch)
