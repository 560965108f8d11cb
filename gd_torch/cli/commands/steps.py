"""gd-torch steps: why the finite-difference step h cannot go to 0, as a table and a log-log picture."""

from __future__ import annotations

import argparse

from ...base import validate as _validate
from ...data.datasets import tutorial_data
from ...model.forward import init_weights, resolve
from ...teach.steps import step_sweep
from ...teach.steps_plot import plot_steps
from . import _common
from ._common import add_out_argument, add_seed_argument, output_folder, print_written
from ._types import non_negative_int

#: the files this command writes into --out
FILES = ("steps.png",)

#: --dtype values and the dtypes they sweep
DTYPE_CHOICES = {"both": ("float64", "float32"), "float64": ("float64",), "float32": ("float32",)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_out_argument(p, "steps", FILES, "a fresh gd-torch-steps-<time> folder")
    add_seed_argument(p, "the uniform [0, 1) weights W")
    p.add_argument("--dtype", default="both", help="float64, float32 or both side by side (both)")
    p.add_argument("--coordinate", type=non_negative_int, default=0, metavar="J", help="the weight W_j (0: the bias)")
    _common.add_loss_argument(p, "one of {names} (sse)")
    _common.add_activation_argument(p, "one of {names} (sigmoid)")


def run(args: argparse.Namespace) -> int:
    dtypes = DTYPE_CHOICES[_validate.choice("--dtype", args.dtype, DTYPE_CHOICES)]
    _common.use_parts(args)
    resolve(args.loss, args.activation)
    X, y = tutorial_data()
    W = init_weights(X.shape[1], seed=args.seed)
    with output_folder(args, "steps", FILES) as out:  # opened first: an unwritable folder fails with nothing done
        result = step_sweep(
            W, X, y, coordinate=args.coordinate, loss=args.loss, activation=args.activation, dtypes=dtypes
        )
        plot_steps(result, out.file("steps.png"))
    print("data: the tutorial's make_blobs problem (250 x 2, bias column first)")
    print(f"W: uniform [0, 1) with seed {args.seed}: {W.tolist()}")
    print(result.table())
    print("")
    print_written(out)
    return 0
