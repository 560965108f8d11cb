"""The boundary checks of :func:`gd_torch.fit`, apart from the algorithm (as scipy's
``_derivative_iv``): the table of its numeric parameters' constraints (:data:`FIT_PARAMS`, read
by the command line's flags too) and one function that returns the validated arguments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._errors import bad_value
from ..base import memory as _memory
from ..base import validate as _validate
from ..base.validate import SEED, Integer, Number
from ..gradients import Method, lookup
from ..model.activations import Activation
from ..model.forward import check_labels, resolve
from ..model.losses import Loss

#: fit's numeric parameters and what each accepts; batch_size is also at most n_samples (see fit_args)
FIT_PARAMS = {
    "alpha": Number(above=0, note="the learning rate"),
    "epochs": Integer(minimum=1),
    "batch_size": Integer(minimum=1, none_ok=True),
    "tol": Number(none_ok=True, note="stop once the loss is at or below it"),
    "patience": Integer(minimum=1, none_ok=True, note="epochs without improvement"),
    "seed": SEED,
}


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
    batch = replace(FIT_PARAMS["batch_size"], maximum=n, text=f"an integer from 1 to n_samples = {n}")
    v = _validate.params(
        FIT_PARAMS | {"batch_size": batch},
        alpha=alpha,
        epochs=epochs,
        batch_size=batch_size,
        tol=tol,
        patience=patience,
        seed=seed,
    )
    if callback is not None and not callable(callback):
        raise bad_value("callback", callback, "None or a callable callback(epoch, weights, loss)")
    m.ready(device, {}, _validate.zero_weights(X), act)  # device and the method's own checks
    args = FitArgs(X=X, y=y, method=m, lo=lo, act=act, **v, init=init, device=device, callback=callback)
    _history_fits(X, args.epochs)
    return args


#: a history of at most this many bytes is not held to the memory available: reading that
#: (/proc/meminfo, tens of microseconds) would cost a short fit more than its epochs
HISTORY_UNCHECKED = 64 << 10


def _history_fits(X: np.ndarray, epochs: int) -> None:
    # the history of weights, losses and accuracies: (epochs + 1) rows, grown by doubling up to
    # that (the old rows beside the new ones at the last growth: 1.5 times the final size)
    row = X.shape[1] * X.itemsize + np.dtype(np.float64).itemsize
    per_epoch = row + row // 2 + np.dtype(np.float64).itemsize
    if (epochs + 1) * per_epoch <= HISTORY_UNCHECKED:
        return
    what = f"the history of {X.shape[1]} {X.dtype} weights, a loss and an accuracy per epoch"
    _memory.at_most("epochs", epochs, per_epoch, what, fixed=per_epoch)
