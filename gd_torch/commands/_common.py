"""Options and data loading shared by the sub-commands."""

from __future__ import annotations

import argparse

import numpy as np

from .. import _validate
from .._errors import bad_value
from ..data import load_csv, tutorial_data
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
    """--dataset, --label, --n-samples, --n-features, --data-seed, --dtype."""
    g = p.add_argument_group("data")
    g.add_argument(
        "--dataset",
        default="blobs",
        help="'blobs' (the tutorial's make_blobs problem, default), 'breast-cancer' (scikit-learn's "
        "bundled set, standardised) or the path of a CSV file with a header row",
    )
    g.add_argument("--label", default=None, help="the label column of a CSV dataset")
    g.add_argument("--n-samples", type=positive_int, default=250, help="blobs: number of samples (250)")
    g.add_argument("--n-features", type=positive_int, default=2, help="blobs: number of features (2)")
    g.add_argument("--data-seed", type=non_negative_int, default=20, help="blobs: random_state of make_blobs (20)")
    g.add_argument("--dtype", default="float64", help="float64 (default) or float32")


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    """X with the bias column first, y, and a one-line description of the data."""
    dt = _validate.dtype("--dtype", args.dtype)
    if args.label is not None and not args.dataset.endswith(".csv"):  # it would be silently ignored
        raise bad_value(
            "--label", args.label, "given only with a CSV --dataset (blobs and breast-cancer bring their labels)"
        )
    if args.dataset == "blobs":
        X, y = tutorial_data(args.n_samples, args.n_features, seed=args.data_seed, dtype=dt)
        desc = f"make_blobs(n_samples={args.n_samples}, n_features={args.n_features}, centers=2, cluster_std=1.05, random_state={args.data_seed}), bias column first"
        return X, y, desc
    if args.dataset == "breast-cancer":
        from sklearn.datasets import load_breast_cancer
        from sklearn.preprocessing import StandardScaler

        raw, y = load_breast_cancer(return_X_y=True)
        X = add_bias(StandardScaler().fit_transform(raw)).astype(dt)
        return (
            X,
            y.astype(dt),
            f"breast cancer (scikit-learn), {raw.shape[0]} x {raw.shape[1]} standardised, bias column first",
        )
    if args.dataset.endswith(".csv"):
        if args.label is None:
            raise bad_value("--label", None, f"the name of the label column of {args.dataset}")
        X, y = load_csv(args.dataset, args.label, dtype=dt)
        return (
            add_bias(X).astype(dt),
            y,
            f"{args.dataset} ({X.shape[0]} x {X.shape[1]}, label {args.label!r}), bias column first",
        )
    raise bad_value("--dataset", args.dataset, f"one of {', '.join(DATASETS)} or a path ending in .csv")
