"""Data sets: the tutorial's blobs and CSV files, and z-scoring of features.

CSV files are read by :func:`load_csv` (strict: regular UTF-8 files of plain decimal
numbers, parsed in blocks of rows straight into the final arrays; see ``_csv.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from ..base import memory as _memory
from ..base import validate as _validate
from ..model.forward import add_bias
from . import csv_read as _csv

#: what tutorial_data accepts (gd-torch's --n-samples and --n-features parse with these constraints)
TUTORIAL_DATA_PARAMS: dict[str, _validate.Constraint] = {
    "n_samples": _validate.Integer(minimum=1),
    "n_features": _validate.Integer(minimum=1),
    "cluster_std": _validate.Number(minimum=0.0),
    "dtype": _validate.FloatDtype(),
    "seed": _validate.Integer(minimum=0, maximum=2**32 - 1, text="a non-negative integer < 2**32"),
}


def tutorial_data(
    n_samples: int = 250, n_features: int = 2, *, seed: int = 20, cluster_std: float = 1.05, dtype: Any = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's problem: two Gaussian blobs (scikit-learn's make_blobs), bias column first.

    With the defaults this is exactly the tutorial's data: 250 samples, 2 features, 2 centres,
    cluster_std 1.05, random_state 20.  Returns X of shape (n_samples, n_features + 1) and
    y of shape (n_samples,) with labels 0 and 1, both in ``dtype``.

    Every argument is checked here (GdTorchError, never scikit-learn's own error): positive
    integer sizes whose arrays fit in the memory available (see :func:`blobs_bytes`), a seed
    in [0, 2**32 - 1] (numpy's RandomState range), a finite ``cluster_std`` >= 0 small enough
    for the samples to be finite in ``dtype``.
    """
    n_samples, n_features, cluster_std, dtype, seed = _validate.params(
        TUTORIAL_DATA_PARAMS,
        n_samples=n_samples,
        n_features=n_features,
        cluster_std=cluster_std,
        dtype=dtype,
        seed=seed,
    ).values()
    what = f"the blobs (X of {n_samples} x {n_features + 1} {dtype} and y)"
    _memory.require(blobs_bytes(n_samples, n_features), what, "n_samples or n_features")
    return _blobs(n_samples, n_features, seed, cluster_std, dtype)


def blobs_bytes(n_samples: int, n_features: int) -> int:
    """Peak bytes of :func:`tutorial_data`: make_blobs' samples and their stacked copy, the biased X, y.

    Callers that know the sizes early (the CLI's --n-samples, --n-features) pass this to
    ``_memory.require`` before anything is allocated.
    """
    return _memory.array_bytes((n_samples, 3 * (n_features + 1) + 2), np.float64)


def _blobs(n_samples: int, n_features: int, seed: int, cluster_std: float, dtype: np.dtype):
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=n_samples, n_features=n_features, centers=2, cluster_std=cluster_std, random_state=seed)
    biggest = float(np.abs(X).max())  # +-10 (the centre box) + cluster_std times a normal draw
    if not biggest <= float(np.finfo(dtype).max):
        raise bad_value(
            "cluster_std", cluster_std, f"small enough that every sample is finite in {dtype} (one is {biggest:.3g})"
        )
    return add_bias(X).astype(dtype, copy=False), y.astype(dtype)


#: what load_csv's standardize and dtype accept (path, label and drop: csv_read.check_arguments)
LOAD_CSV_PARAMS: dict[str, _validate.Constraint] = {"standardize": _validate.Bool(), "dtype": _validate.FloatDtype()}


def load_csv(
    path: str | Path,
    label: str,
    *,
    dtype: Any = np.float64,
    drop: Sequence[str] = (),
    standardize: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV with a header row: every column but ``label`` and those in ``drop`` is a feature.

    Parameters
    ----------
    path : a regular file of UTF-8 text (a byte-order mark is skipped); FIFOs, devices and
        directories are refused before anything is read
    label : the header name of the label column y
    dtype : 'float64' (default) or 'float32'
    drop : header names of columns to ignore (an id, a text column); they may hold anything
    standardize : z-score every feature column, see :func:`standardize`

    Returns
    -------
    X : ndarray of shape (n_rows, n_columns - 1 - len(drop)), without a bias column (see add_bias)
    y : ndarray of shape (n_rows,)

    Every other cell must be a plain decimal number (``-1.5``, ``2e-3``, ``.5``): no ``1_000``,
    no non-ASCII digits, no ``nan`` or ``inf`` words, no value beyond ``dtype``'s range.
    Header names must be distinct.  Blank lines are skipped.  Any problem is a GdTorchError
    naming the file, the line and the column.
    """
    names = _csv.check_arguments(path, label, drop)
    standardize, dt = _validate.params(LOAD_CSV_PARAMS, standardize=standardize, dtype=dtype).values()
    header, X, y = _csv.read(Path(path), names[0], names[1:], dt)
    if standardize:
        X = _standardize(X, [h for h in header if h != label and h not in names[1:]])
    return X, y


def standardize(X: Any, names: Sequence[str] | None = None) -> np.ndarray:
    r"""Z-score each column: :math:`(x_j - \mathrm{mean}(x_j)) / \mathrm{std}(x_j)`.

    X : array of shape (n_samples, n_features), float32 or float64, finite, without the bias
        column (it is constant).  Returns a new array of X's shape and dtype.
    names : column names for the error message (default: the column index).

    A constant column (its std is 0) is an error naming it: it carries no information
    and cannot be scaled; drop it.  The statistics are taken in float64 on each column
    divided by its largest |value| first, so that values up to 1e308 do not overflow.
    """
    X = _validate.array("X", X)
    if X.ndim != 2 or X.shape[0] == 0 or X.dtype not in _validate.FLOAT_DTYPES:
        raise bad_value("X", f"an array of shape {X.shape} and dtype {X.dtype}", "2-D, non-empty, float32 or float64")
    if not np.isfinite(X).all():
        raise bad_value("X", "an array holding NaN or inf", "finite")
    return _standardize(X, names)


def _standardize(X: np.ndarray, names: Sequence[str] | None) -> np.ndarray:
    constant = np.flatnonzero(X.max(axis=0) == X.min(axis=0))
    if constant.size:
        j = int(constant[0])
        name = repr(names[j]) if names is not None else str(j)
        raise GdTorchError(
            f"standardize needs no constant column: column {name} holds {float(X[0, j])!r} in every row "
            "(its standard deviation is 0); drop it",
            param="standardize",
        )
    scale = np.abs(X).max(axis=0).astype(np.float64)  # > 0: a column of zeros is constant
    Z = X / scale  # |Z| <= 1: the squares below cannot overflow
    Z -= Z.mean(axis=0)
    Z /= np.sqrt(np.einsum("ij,ij->j", Z, Z) / Z.shape[0])  # std_j = sqrt(mean_i Z_ij^2)
    return Z.astype(X.dtype, copy=False)
