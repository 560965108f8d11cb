"""The tutorial's update direction, kept so that its disagreement can be shown.

    error = f(X @ W) - y
    gradient = X^T error / N

Whatever loss is asked for, this is the same vector.  With the sigmoid it is exactly the
gradient of the mean binary cross-entropy (dL/dz = (a - y) / N), not of the squared error
the tutorial prints: that one needs the factor 2 and the sigmoid's derivative a (1 - a).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..base import validate as _validate
from ..model.activations import Activation
from ..model.losses import Loss
from . import analytic

FORMULA = "X^T (f(X W) - y) / N"


#: what X^T (f(XW) - y) / N is the gradient of, per activation (the others: of no loss), and
#: the registered loss that is, if any
_OF: dict[str, tuple[str, str | None]] = {
    "sigmoid": ("the mean binary cross-entropy L = mean_i [-y_i log a_i - (1 - y_i) log(1 - a_i)]", "bce"),
    "identity": ("half the mean squared error L = mean_i (a_i - y_i)^2 / 2", None),
}


def gradient_of(lo: Loss, act: Activation) -> tuple[str, str | None]:
    """What this rule is the gradient of with the activation ``act``, whatever the loss ``lo``:
    the text, and the name of the registered loss it is (None: none)."""
    return _OF.get(act.name, (f"no loss: it leaves out the activation's derivative ({act.dformula})", None))


def grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation) -> np.ndarray:
    """X^T (f(X W) - y) / N, ignoring ``lo``.

    Beyond one row block, summed as analytic sums dL/dz (X_b^T (f(z_b) - y_b) / N over fixed
    groups of row blocks): the same bits on any number of threads.
    """
    if X.shape[0] > analytic._rows(X):
        return analytic.make(X, y, lo, act, d=partial(_error, act=act))(W)
    z = _validate.z_of(X, W)
    return from_z(X.T, z, act.f(z), y, lo, act)


def _error(z: np.ndarray, y: np.ndarray, act: Activation, n: int) -> np.ndarray:
    # the per-sample vector (f(z) - y) / N of one row block
    return (act.f(z) - y) / n


def from_z(XT: np.ndarray, z: np.ndarray, a: np.ndarray, y: np.ndarray, lo: Loss, act: Activation) -> np.ndarray:
    """X^T (a - y) / N from a = f(X W) the caller already has."""
    error = a - y
    return XT @ error / y.shape[0]
