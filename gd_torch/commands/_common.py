"""Options and data loading shared by the sub-commands."""

from __future__ import annotations

import argparse

import numpy as np

from .. import _memory, _validate
from .._errors import GdTorchError, bad_value
from ..data import blobs_bytes, load_csv, standardize, tutorial_data
from ..model import add_bias

DATASETS = ("blobs", "breast-cancer")


def _int_at_least(minimum: int, words: str):
    # argparse type: an integer >= minimum; '1.5' and smaller integers are refused
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be {words}, got {text!r}")
        return value

    return parse


#: argparse type: a positive integer; '1.5' and '0' are refused
positive_int = _int_at_least(1, "a positive integer")
#: argparse type: an integer >= 0 (a seed); '-1' and '1.5' are refused
non_negative_int = _int_at_least(0, "a non-negative integer")


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """--dataset, --label, --drop, --standardize, --n-samples, --n-features, --data-seed, --dtype."""
    g = p.add_argument_group("data")
    g.add_argument(
        "--dataset",
        default="blobs",
        help="'blobs' (the tutorial's make_blobs problem, default), 'breast-cancer' (scikit-learn's "
        "bundled set, standardised) or the path of a CSV file with a header row",
    )
    g.add_argument("--label", default=None, help="the label column of a CSV dataset")
    g.add_argument(
        "--drop", default=None, metavar="COL,...", help="CSV: columns to ignore, comma-separated (an id, a text column)"
    )
    g.add_argument(
        "--standardize",
        action="store_true",
        help="z-score every feature column, (x - mean) / std, before the bias column is added",
    )
    g.add_argument("--n-samples", type=positive_int, default=250, help="blobs: number of samples (250)")
    g.add_argument("--n-features", type=positive_int, default=2, help="blobs: number of features (2)")
    g.add_argument("--data-seed", type=non_negative_int, default=20, help="blobs: random_state of make_blobs (20)")
    g.add_argument("--dtype", default="float64", help="float64 (default) or float32")


#: load_csv's and standardize's parameters -> the flags that set them
_FLAGS = {"label": "--label", "drop": "--drop", "standardize": "--standardize"}


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    """X with the bias column first, y, and a one-line description of the data.

    Every refusal names its flag: sizes are checked against the memory available
    before make_blobs allocates; errors of load_csv about the label, dropped columns or
    standardizing are prefixed with --label, --drop or --standardize.
    """
    dt = _validate.dtype("--dtype", args.dtype)
    is_csv = args.dataset.endswith(".csv")
    why = {"--label": " (blobs and breast-cancer bring their labels)", "--drop": ""}
    for flag, value in (("--label", args.label), ("--drop", args.drop)):
        if value is not None and not is_csv:  # it would be silently ignored
            raise bad_value(flag, value, "given only with a CSV --dataset" + why[flag])
    if not is_csv and args.dataset not in DATASETS:
        raise bad_value("--dataset", args.dataset, f"one of {', '.join(DATASETS)} or a path ending in .csv")
    try:
        X, y, desc = _load(args, dt)
    except GdTorchError as exc:
        param = getattr(exc, "param", "")
        if param not in _FLAGS:
            raise
        text = str(exc)  # "drop must be ..." -> "--drop must be ..."; otherwise "--label: label column ..."
        text = _FLAGS[param] + text[len(param) :] if text.startswith(param + " ") else f"{_FLAGS[param]}: {text}"
        raise GdTorchError(text) from None
    if args.standardize and args.dataset == "blobs":  # load_csv standardizes (it knows the column names);
        X[:, 1:] = standardize(X[:, 1:])  # breast-cancer is standardized already
        desc += ", features standardized"
    return X, y, desc


def _load(args: argparse.Namespace, dt: np.dtype) -> tuple[np.ndarray, np.ndarray, str]:
    # the data set named by --dataset, bias column first
    if args.dataset == "blobs":
        n, d = args.n_samples, args.n_features
        what = f"the blobs (X of {n} x {d + 1} {dt} and y)"
        _memory.require(blobs_bytes(n, d), what, "--n-samples or --n-features")
        seed = _validate.integer("--data-seed", args.data_seed, minimum=0, maximum=2**32 - 1)
        X, y = tutorial_data(n, d, seed=seed, dtype=dt)
        desc = f"make_blobs(n_samples={n}, n_features={d}, centers=2, cluster_std=1.05, random_state={seed}), bias column first"
        return X, y, desc
    if args.dataset == "breast-cancer":
        from sklearn.datasets import load_breast_cancer
        from sklearn.preprocessing import StandardScaler

        raw, y = load_breast_cancer(return_X_y=True)
        X = add_bias(StandardScaler().fit_transform(raw)).astype(dt)
        desc = f"breast cancer (scikit-learn), {raw.shape[0]} x {raw.shape[1]} standardised, bias column first"
        return X, y.astype(dt), desc
    if args.label is None:
        raise bad_value("--label", None, f"the name of the label column of {args.dataset}")
    drop = [c.strip() for c in args.drop.split(",")] if args.drop is not None else []
    X, y = load_csv(args.dataset, args.label, dtype=dt, drop=drop, standardize=args.standardize)
    notes = (f", dropped {', '.join(drop)}" if drop else "") + (", features standardized" if args.standardize else "")
    desc = f"{args.dataset} ({X.shape[0]} x {X.shape[1]}, label {args.label!r}{notes}), bias column first"
    return add_bias(X), y, desc
