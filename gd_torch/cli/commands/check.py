"""gd-torch check: compare gradient methods on one problem."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ..._errors import GdTorchError, bad_value
from ...gradients import ALIASES, METHODS
from ...model.forward import init_weights
from ...verdict.checker import CHECK_PARAMS, DEFAULT_METHODS, check
from ...verdict.diagnosis import diagnose
from . import _common, _launch, _user_code
from ._types import flag_type, list_of, one_of

#: the library's parameters that are this command's flags under another name (see gd_torch.cli.flags)
FLAGS = {"scheme": "--methods"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    _common.add_data_arguments(p)
    _common.add_loss_argument(p, "one of {names} (sse)")
    _common.add_activation_argument(p, "one of {names} (sigmoid)")
    p.add_argument(
        "--gradient",
        default=None,
        metavar="FILE.py:NAME",
        help="your own gradient: a numpy function NAME(W, X, y) -> dL/dW in FILE.py, checked against "
        "--methods (exit 0 when it agrees, 1 when not, with what it is the gradient of)",
    )
    p.add_argument(
        "--torch",
        default=None,
        metavar="FILE.py:NAME",
        help="check torch code instead: NAME(*inputs) in FILE.py (a custom autograd Function's apply, a "
        "kernel), whose FILE.py also defines inputs() -> the tuple of arguments and, optionally, reference "
        "(the same math in plain torch); gd_torch.check_torch with --seed (exit 0 OK, 1 not)",
    )
    p.add_argument(
        "--methods",
        type=list_of(one_of(_common.method_names()), "gradient methods"),
        default=DEFAULT_METHODS,
        metavar="M1,M2,...",
        help=f"gradient methods to compare, comma-separated, from: {', '.join(_common.method_names())} "
        f"(default: {','.join(DEFAULT_METHODS)})",
    )
    p.add_argument(
        "--mode",
        type=flag_type(CHECK_PARAMS["mode"]),
        default="full",
        help="'full' (every coordinate) or 'directional' (one random direction)",
    )
    p.add_argument("--device", default="cpu", help="device for autograd: cpu, cuda or cuda:N")
    _common.add_init_argument(p, "the weights W checked at (normal can put samples on both sides of a ReLU's kink)")
    _common.add_seed_argument(p, "the weights W checked at (and of the direction with --mode directional)")
    _launch.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    if args.torch is not None:
        return _run_torch(args.torch, args.seed)
    if _launch.wanted(args):  # a dataset folder, --workers or torchrun
        return _launch.check(args)
    loss, activation = _common.parts(args)
    methods: list = list(args.methods)
    if args.gradient is not None:
        methods.append(_user_code.load(args.gradient, "--gradient"))
    X, y, desc = _common.load_data(args)
    W = init_weights(X.shape[1], args.init, args.seed, X.dtype)
    report = check(
        W,
        X,
        y,
        loss=loss,
        activation=activation,
        methods=methods,
        mode=args.mode,
        device=args.device,
        seed=args.seed,
    )
    print(f"data: {desc}")
    print("W: " + _common.INIT_TEXT[args.init].format(seed=args.seed))
    print(report)
    if not report.agree:  # a failing method's vector (NOT VERIFIED has none failing)
        _print_diagnoses(report, W, X, y, loss, activation)
    return 0 if report.ok else 1


def _run_torch(reference: str, seed: int) -> int:
    # --torch FILE.py:NAME: NAME, inputs() and the optional reference of FILE.py, checked by check_torch
    from ...verdict.torch_checker import check_torch  # only here: gd-torch check never loads torch otherwise

    _user_code.load(reference, "--torch")  # NAME exists and is callable, or one line naming --torch
    path, _, name = reference.rpartition(":")
    make = _user_code.load(f"{path}:inputs", "--torch", what="inputs(), a function returning fn's arguments")
    module = sys.modules[make.__module__]  # the file as imported last: NAME, inputs, reference from it
    inputs = make()
    if not isinstance(inputs, tuple):
        got = type(inputs).__name__
        raise bad_value("--torch", reference, f"a file whose inputs() returns a tuple of fn's arguments; got {got}")
    fn, ref = getattr(module, name), getattr(module, "reference", None)
    try:
        report = check_torch(fn, *inputs, reference=ref, seed=seed)
    except GdTorchError as exc:
        raise GdTorchError(f"--torch: {exc}") from exc
    except Exception as exc:  # the user's code failed: one line, the flag and why
        raise GdTorchError(
            f"--torch: running {reference} failed: {type(exc).__name__}: {' '.join(str(exc).split())}"
        ) from exc
    print(report)
    return 0 if report.ok else 1


def _print_diagnoses(report, W, X, y, loss, activation) -> None:
    # what each failing method's vector actually is (the odd one out, or every method in a failing pair)
    failing = [report.odd_one_out] if report.odd_one_out else report.failing()
    print("")
    if report.mode != "full":
        print("diagnosis: needs --mode full (the directional mode compares one number per method, not a gradient)")
        return
    for spec in failing:
        error = report.errors[spec] if _own_estimate(spec) else None
        if not np.isfinite(report.gradients[spec]).all():
            print(f"{spec} is not finite: no diagnosis")
            continue
        if error is not None and not np.isfinite(error).all():
            print(f"{spec}'s error estimate is not finite: no diagnosis")
            continue
        d = diagnose(report.gradients[spec], W, X, y, loss=loss, activation=activation, error=error)
        print(f"{spec} is {d.summary()}")


def _own_estimate(spec: str) -> bool:
    # a registered method with an error estimate of its own (a finite difference); your gradient is not one
    m = METHODS.get(ALIASES.get(spec, spec))
    return m is not None and not m.exact
