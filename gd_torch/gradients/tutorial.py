"""The tutorial's update direction, kept so that its disagreement can be shown.

    error = f(X @ W) - y
    gradient = X^T error / N

Whatever loss is asked for, this is the same vector.  With the sigmoid it is exactly the
gradient of the mean binary cross-entropy (dL/dz = (a - y) / N), not of the squared error
the tutorial prints: that one needs the factor 2 and the sigmoid's derivative a (1 - a).
"""

from __future__ import annotations

import numpy as np

from .. import _validate
from ..model import Activation, Loss

FORMULA = "X^T (f(X W) - y) / N"


def grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation) -> np.ndarray:
    """X^T (f(X W) - y) / N, ignoring ``lo``."""
    z = _validate.z_of(X, W)
    return from_z(X.T, z, act.f(z), y, lo, act)


def from_z(XT: np.ndarray, z: np.ndarray, a: np.ndarray, y: np.ndarray, lo: Loss, act: Activation) -> np.ndarray:
    """X^T (a - y) / N from a = f(X W) the caller already has."""
    error = a - y
    return XT @ error / y.shape[0]
