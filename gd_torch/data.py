"""Data sets: the tutorial's blobs and CSV files, with the bias column first."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from . import _validate
from ._errors import GdTorchError, bad_value
from .model import add_bias


def tutorial_data(
    n_samples: int = 250, n_features: int = 2, *, seed: int = 20, cluster_std: float = 1.05, dtype: Any = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's problem: two Gaussian blobs (scikit-learn's make_blobs), bias column first.

    With the defaults this is exactly the tutorial's data: 250 samples, 2 features, 2 centres,
    cluster_std 1.05, random_state 20.  Returns X of shape (n_samples, n_features + 1) and
    y of shape (n_samples,) with labels 0 and 1, both in ``dtype``.
    """
    from sklearn.datasets import make_blobs

    for name, value in (("n_samples", n_samples), ("n_features", n_features)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
            raise bad_value(name, value, "a positive integer")
    dtype = _validate.dtype("dtype", dtype)
    seed = _validate.seed("seed", seed, none_ok=False)
    X, y = make_blobs(n_samples=n_samples, n_features=n_features, centers=2, cluster_std=cluster_std, random_state=seed)
    return add_bias(X).astype(dtype, copy=False), y.astype(dtype)


def load_csv(path: str | Path, label: str, *, dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV with a header row: every column but ``label`` is a feature.

    Returns X of shape (n_rows, n_columns - 1) without a bias column (see add_bias) and y.
    """
    dtype = _validate.dtype("dtype", dtype)
    path = Path(path)
    try:
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise GdTorchError(f"csv file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise GdTorchError(f"csv file {str(path)!r} cannot be read: it is not text") from None
    if len(rows) < 2:
        raise GdTorchError(f"csv file {str(path)!r} must have a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if label not in header:
        raise bad_value("label column", label, f"one of the csv header's columns {header}")
    k = header.index(label)
    values = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise GdTorchError(
                f"csv file {str(path)!r} must have {len(header)} values in every row (one per header column); "
                f"line {line} has {len(row)}"
            )
        try:
            values.append([float(v) for v in row])
        except ValueError:
            bad = next(c for c, v in enumerate(row) if not _is_number(v))
            raise GdTorchError(
                f"csv file {str(path)!r} must hold numbers only below its header; "
                f"line {line}, column {header[bad]!r} holds {row[bad]!r}"
            ) from None
    if not values:
        raise GdTorchError(f"csv file {str(path)!r} must have a header row and at least one data row")
    table = np.array(values, dtype=np.float64)
    X = np.delete(table, k, axis=1).astype(dtype)
    return X, table[:, k].astype(dtype)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
