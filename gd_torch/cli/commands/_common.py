"""Options and data loading shared by the sub-commands."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from typing import Any

import numpy as np

from ..._errors import bad_value
from ...base import files as _io
from ...base import memory as _memory
from ...base import validate as _validate
from ...data.datasets import TUTORIAL_DATA_PARAMS, blobs_bytes, load_csv, standardize, tutorial_data
from ...gradients import ALIASES, METHODS
from ...model.activations import ACTIVATIONS
from ...model.forward import INITS, add_bias
from ...model.losses import LOSSES
from ...train.fit_args import FIT_PARAMS
from . import _user_code
from ._types import flag_type, one_of, one_of_or_file, seed

DATASETS = ("blobs", "breast-cancer")


#: the seed every command draws W (and its shuffles) with unless --seed says otherwise: one
#: default, so that `landscape` and `check` look at the weights `train` starts from
DEFAULT_SEED = 42


def own_part(text: str, flag: str, kind: type) -> Any:
    """``text`` as given (a registered name), or the ``kind`` object FILE.py:NAME defines."""
    if not _user_code.is_reference(text):
        return text
    return _user_code.load(text, flag, kind, f"a gd_torch.{kind.__name__}")


def parts(args: argparse.Namespace) -> tuple[Any, Any]:
    """The run's (loss, activation): --loss and --activation as given (registered names), or the
    gd_torch.Loss / gd_torch.Activation objects their FILE.py:NAME define."""
    from ...model.activations import Activation
    from ...model.losses import Loss

    return own_part(args.loss, "--loss", Loss), own_part(args.activation, "--activation", Activation)


def use_parts(args: argparse.Namespace) -> None:
    """Replace args.loss and args.activation (where the command has them and they are given)
    by :func:`parts`' objects: the user's own from FILE.py:NAME, a registered name as it is."""
    from ...model.activations import Activation
    from ...model.losses import Loss

    if getattr(args, "loss", None) is not None:
        args.loss = own_part(args.loss, "--loss", Loss)
    if getattr(args, "activation", None) is not None:
        args.activation = own_part(args.activation, "--activation", Activation)


def method_names() -> tuple[str, ...]:
    """The gradient method names every command accepts (check --methods, train and landscape
    --method, sweep --methods): the registry's names and their aliases ('numeric')."""
    return (*METHODS, *ALIASES)


def add_seed_argument(p: argparse.ArgumentParser, what: str) -> None:
    """--seed, the same type and default in every command."""
    p.add_argument("--seed", type=seed, default=DEFAULT_SEED, help=f"seed of {what}, an integer >= 0 ({DEFAULT_SEED})")


def add_method_argument(p: argparse.ArgumentParser, help: str) -> None:
    """--method, one gradient method (tutorial); ``{names}`` in ``help`` lists :func:`method_names`."""
    names = method_names()
    p.add_argument("--method", type=one_of(names), default="tutorial", help=help.format(names=", ".join(names)))


def add_loss_argument(p: argparse.ArgumentParser, help: str) -> None:
    """--loss (sse): a registered loss or FILE.py:NAME, a gd_torch.Loss of the user's (loaded by
    :func:`use_parts`); ``{names}`` in ``help`` lists the registered ones."""
    help = help.format(names=", ".join(LOSSES)) + "; or FILE.py:NAME, a gd_torch.Loss of your own"
    p.add_argument("--loss", type=one_of_or_file(LOSSES), default="sse", help=help)


def add_activation_argument(p: argparse.ArgumentParser, help: str, *, default: str | None = "sigmoid") -> None:
    """--activation: a registered activation or FILE.py:NAME, a gd_torch.Activation of the user's
    (loaded by :func:`use_parts`); ``{names}`` in ``help`` lists the registered ones."""
    help = help.format(names=", ".join(ACTIVATIONS)) + "; or FILE.py:NAME, a gd_torch.Activation of your own"
    p.add_argument("--activation", type=one_of_or_file(ACTIVATIONS), default=default, help=help)


def add_init_argument(p: argparse.ArgumentParser, what: str = "initial weights") -> None:
    """--init, the distribution W is drawn from (uniform on [0, 1), as the tutorial), in every command."""
    p.add_argument(
        "--init",
        type=one_of(INITS),
        default="uniform",
        help=f"{what}: one of {', '.join(INITS)} (uniform on [0, 1))",
    )


#: how the commands name W's distribution (drawn with --seed, except zeros)
INIT_TEXT = {"uniform": "uniform [0, 1) with seed {seed}", "normal": "normal (0, 1) with seed {seed}", "zeros": "zeros"}


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """--activation, --init, --device: how a training run (train, sweep) is set up."""
    add_activation_argument(p, "one of {names} (sigmoid)")
    add_init_argument(p)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (only --method autograd runs on CUDA)")


def add_batch_size_argument(p: argparse.ArgumentParser) -> None:
    """--batch-size, full batch by default."""
    p.add_argument(
        "--batch-size",
        type=flag_type(FIT_PARAMS["batch_size"]),
        default=None,
        help="mini-batch size (default: full batch)",
    )


#: gd_torch.train.loop.fit's keywords that are flags of the same name
_FIT_FLAGS = (
    "method",
    "loss",
    "activation",
    "alpha",
    "epochs",
    "batch_size",
    "tol",
    "patience",
    "init",
    "seed",
    "device",
)


def fit_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of :func:`gd_torch.train.loop.fit` this command has flags for (the others keep fit's defaults)."""
    return {k: getattr(args, k) for k in _FIT_FLAGS if hasattr(args, k)}


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
    """The run's --out folder (:func:`gd_torch.base.files.output_folder`); a null context giving None
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
    g.add_argument(
        "--n-samples",
        type=flag_type(TUTORIAL_DATA_PARAMS["n_samples"]),
        default=250,
        help="blobs: number of samples (250)",
    )
    g.add_argument(
        "--n-features",
        type=flag_type(TUTORIAL_DATA_PARAMS["n_features"]),
        default=2,
        help="blobs: number of features (2)",
    )
    g.add_argument("--data-seed", type=seed, default=20, help="blobs: random_state of make_blobs (20)")
    g.add_argument("--dtype", default="float64", help="float64 (default) or float32")


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    """X with the bias column first, y, and a one-line description of the data.

    Every refusal names its flag: sizes are checked against the memory available
    before make_blobs allocates; errors of load_csv about the label, dropped columns or
    standardizing carry the parameter ``label``, ``drop`` or ``standardize``, which the command
    line names by its flag (gd_torch.cli.flags).
    """
    dt = _validate.dtype("--dtype", args.dtype)
    is_csv = args.dataset.endswith(".csv")
    why = {"--label": " (blobs and breast-cancer bring their labels)", "--drop": ""}
    for flag, value in (("--label", args.label), ("--drop", args.drop)):
        if value is not None and not is_csv:  # it would be silently ignored
            raise bad_value(flag, value, "given only with a CSV --dataset" + why[flag])
    if not is_csv and args.dataset not in DATASETS:
        raise bad_value("--dataset", args.dataset, f"one of {', '.join(DATASETS)} or a path ending in .csv")
    X, y, desc = _load(args, dt)
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
        # tutorial_data's own seed bounds, in words of the bounds (its 'seed' would be --seed, not --data-seed)
        seed = dataclasses.replace(TUTORIAL_DATA_PARAMS["seed"], text="")("--data-seed", args.data_seed)
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
