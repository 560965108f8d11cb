"""Options and data loading shared by the sub-commands."""

from __future__ import annotations

import argparse
import contextlib
import math
import re
from collections.abc import Iterable

import numpy as np

from .. import _io, _memory, _validate
from .._errors import GdTorchError, bad_value
from ..data import blobs_bytes, load_csv, standardize, tutorial_data
from ..gradients import ALIASES, METHODS
from ..model import add_bias

DATASETS = ("blobs", "breast-cancer")


#: the seed every command draws W (and its shuffles) with unless --seed says otherwise: one
#: default, so that `landscape` and `check` look at the weights `train` starts from
DEFAULT_SEED = 42

_ASCII_INT = re.compile(r"[0-9]+")
_ASCII_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _refuse(accepted: str, text: str) -> argparse.ArgumentTypeError:
    # argparse prefixes "argument --flag: "; cli._Parser.error turns that into "--flag must be ...; got '...'"
    return argparse.ArgumentTypeError(f"must be {accepted}; got {text!r}")


def _int_at_least(minimum: int, words: str):
    # argparse type: a plain ASCII decimal integer >= minimum ('1.5', '1_0', '５', '+3' are refused)
    def parse(text: str) -> int:
        if not _ASCII_INT.fullmatch(text) or int(text) < minimum:
            raise _refuse(words, text)
        return int(text)

    return parse


#: argparse type: a positive integer; '1.5' and '0' are refused
positive_int = _int_at_least(1, "a positive integer")
#: argparse type: an integer >= 0 (a seed); '-1' and '1.5' are refused
non_negative_int = _int_at_least(0, "a non-negative integer")


def _float(text: str) -> float | None:
    # a plain ASCII decimal number, finite; None otherwise (float() also takes 'nan', '1_0', '１')
    return float(text) if _ASCII_FLOAT.fullmatch(text) and math.isfinite(float(text)) else None


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (a learning rate)."""
    value = _float(text)
    if value is None or value <= 0:
        raise _refuse("a finite number > 0", text)
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite number."""
    value = _float(text)
    if value is None:
        raise _refuse("a finite number", text)
    return value


def one_of(names: Iterable[str]):
    """argparse type: one of ``names``."""
    names = tuple(names)

    def parse(text: str) -> str:
        if text not in names:
            raise _refuse("one of " + ", ".join(names), text)
        return text

    parse.accepted = ", ".join(names)
    return parse


def list_of(item, what: str):
    """argparse type: a comma-separated list of distinct ``what``, each parsed by the type ``item``."""
    accepted = f"a comma-separated list of {what}"
    if hasattr(item, "accepted"):
        accepted += f" from: {item.accepted}"

    def parse(text: str) -> tuple:
        parts = [t.strip() for t in text.split(",")]
        try:
            values = tuple(item(t) for t in parts)
        except argparse.ArgumentTypeError:
            raise _refuse(accepted, text) from None
        if len(set(values)) != len(values):  # the tables are keyed by value: a repeat would run twice
            raise _refuse(f"a comma-separated list of distinct {what}", text)
        return values

    return parse


def weight_pair(text: str) -> tuple[int, int]:
    """argparse type: 'i,j', two different weight indices (plain integers >= 0)."""
    parts = text.split(",")
    if len(parts) != 2 or not all(_ASCII_INT.fullmatch(t.strip()) for t in parts):
        raise _refuse("two different weight indices 'i,j', e.g. '1,2'", text)
    i, j = (int(t) for t in parts)
    if i == j:
        raise _refuse("two different weight indices 'i,j', e.g. '1,2'", text)
    return i, j


def method_names() -> tuple[str, ...]:
    """The gradient method names every command accepts (check --methods, train and landscape
    --method, sweep --methods): the registry's names and their aliases ('numeric')."""
    return (*METHODS, *ALIASES)


def add_seed_argument(p: argparse.ArgumentParser, what: str) -> None:
    """--seed, the same type and default in every command."""
    p.add_argument(
        "--seed", type=non_negative_int, default=DEFAULT_SEED, help=f"seed of {what}, an integer >= 0 ({DEFAULT_SEED})"
    )


def add_out_argument(p: argparse.ArgumentParser, command: str, files: tuple[str, ...], default: str) -> None:
    """--out DIR, the same in every command that writes files."""
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help=f"folder to write {', '.join(files)} into, created if needed; a run replaces this command's files "
        f"there and removes those of them it does not write (default: {default})",
    )


def output_folder(args: argparse.Namespace, command: str, files: tuple[str, ...], writes: bool = True):
    """The run's --out folder (:func:`gd_torch._io.output_folder`); a null context giving None
    when the run writes nothing (``writes=False``) and no --out was given."""
    if not writes and args.out is None:
        return contextlib.nullcontext(None)
    return _io.output_folder(args.out, command, files)


def print_written(out: _io.OutputFolder | None, notes: dict[str, str] | None = None) -> None:
    """One line per file the run wrote (with its note) and per earlier file it removed."""
    if out is None:
        return
    for path in out.written:
        note = (notes or {}).get(path.name)
        print(f"wrote {path}" + (f" ({note})" if note else ""))
    for path in out.removed:
        print(f"removed {path} (an earlier run's; this run does not write it)")


def check_against_data(args: argparse.Namespace, X: np.ndarray) -> None:
    """The options bounded by the data, checked before any work: --batch-size at most the
    number of samples, --weights indices below the number of weights."""
    n, d = X.shape
    batch = getattr(args, "batch_size", None)
    if batch is not None and batch > n:
        raise bad_value("--batch-size", batch, f"at most the number of samples, {n}")
    pair = getattr(args, "weights", None)
    if pair is not None and max(pair) >= d:
        raise bad_value("--weights", ",".join(map(str, pair)), f"two weight indices from 0 to {d - 1}")


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
