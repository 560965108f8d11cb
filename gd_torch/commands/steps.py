"""gd-torch steps: why the finite-difference step h cannot go to 0, as a table and a log-log picture."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import _io, _validate
from .._errors import bad_value
from ..data import tutorial_data
from ..model import ACTIVATIONS, LOSSES, init_weights, resolve
from ..plots_steps import plot_steps
from ..steps import step_sweep
from ._common import non_negative_int

#: --dtype values and the dtypes they sweep
DTYPE_CHOICES = {"both": ("float64", "float32"), "float64": ("float64",), "float32": ("float32",)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="gd-torch-out", metavar="DIR", help="folder to write steps.png into (%(default)s)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the uniform [0, 1) weights W (0)")
    p.add_argument("--dtype", default="both", help="float64, float32 or both side by side (both)")
    p.add_argument("--coordinate", type=non_negative_int, default=0, metavar="J", help="the weight W_j (0: the bias)")
    p.add_argument("--loss", default="sse", help=f"one of {', '.join(LOSSES)} (sse)")
    p.add_argument("--activation", default="sigmoid", help=f"one of {', '.join(ACTIVATIONS)} (sigmoid)")


def run(args: argparse.Namespace) -> int:
    dtypes = DTYPE_CHOICES[_validate.choice("--dtype", args.dtype, DTYPE_CHOICES)]
    _validate.choice("--loss", args.loss, LOSSES)
    _validate.choice("--activation", args.activation, ACTIVATIONS)
    resolve(args.loss, args.activation)
    X, y = tutorial_data()
    if args.coordinate >= X.shape[1]:
        raise bad_value("--coordinate", args.coordinate, f"a weight index from 0 to {X.shape[1] - 1}")
    folder = _folder(args.out)  # before the sweep: an unwritable folder fails with nothing done
    W = init_weights(X.shape[1], seed=args.seed)
    result = step_sweep(W, X, y, coordinate=args.coordinate, loss=args.loss, activation=args.activation, dtypes=dtypes)
    path = plot_steps(result, folder / "steps.png")
    print("data: the tutorial's make_blobs problem (250 x 2, bias column first)")
    print(f"W: uniform [0, 1) with seed {args.seed}: {W.tolist()}")
    print(result.table())
    print(f"\nwrote {path}")
    return 0


def _folder(out: str) -> Path:
    # the output folder, created if needed; stale partial files of a killed run removed
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise bad_value("--out", out, f"a folder that can be created or written ({exc.strerror or exc})") from None
    _io.remove_stale_partials(folder)
    return folder
