"""gd-torch check: compare gradient methods on one problem."""

from __future__ import annotations

import argparse

from ..check import DEFAULT_METHODS, check
from ..diagnose import diagnose
from ..model import ACTIVATIONS, LOSSES, init_weights
from . import _launch
from ._common import add_data_arguments, load_data


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data_arguments(p)
    p.add_argument("--loss", default="sse", help=f"one of {', '.join(LOSSES)} (sse)")
    p.add_argument("--activation", default="sigmoid", help=f"one of {', '.join(ACTIVATIONS)} (sigmoid)")
    p.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        help="comma-separated: analytic, autograd, numeric, numeric:forward, numeric:complex, "
        "numeric:richardson, tutorial (default: %(default)s)",
    )
    p.add_argument("--mode", default="full", help="'full' (every coordinate) or 'directional' (one random direction)")
    p.add_argument("--device", default="cpu", help="device for autograd: cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=0, help="seed of the uniform [0, 1) weights W checked at (0)")
    _launch.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    if _launch.wanted(args):  # a dataset folder, --workers or torchrun
        return _launch.check(args)
    X, y, desc = load_data(args)
    W = init_weights(X.shape[1], "uniform", args.seed, X.dtype)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    report = check(
        W,
        X,
        y,
        loss=args.loss,
        activation=args.activation,
        methods=methods,
        mode=args.mode,
        device=args.device,
        seed=args.seed,
    )
    print(f"data: {desc}")
    print(f"W: uniform [0, 1) with seed {args.seed}")
    print(report)
    if not report.ok:
        _print_diagnoses(report, W, X, y, args)
    return 0 if report.ok else 1


def _print_diagnoses(report, W, X, y, args: argparse.Namespace) -> None:
    # what each failing method's vector actually is (the odd one out, or every method in a failing pair)
    failing = [report.odd_one_out] if report.odd_one_out else report.failing()
    print("")
    if report.mode != "full":
        print("diagnosis: needs --mode full (the directional mode compares one number per method, not a gradient)")
        return
    for spec in failing:
        error = report.errors[spec] if spec.startswith("numeric") else None
        d = diagnose(report.gradients[spec], W, X, y, loss=args.loss, activation=args.activation, error=error)
        print(f"{spec} is {d.summary()}")
