"""gd-torch train: the tutorial's run by default (its data, its update rule, 100 epochs, alpha 0.01),
and every other gradient method, loss, activation and learning rate on request."""

from __future__ import annotations

import argparse

import numpy as np

from ...base.files import OutputFolder
from ...model.forward import resolve
from ...train.fit_args import FIT_PARAMS
from ...train.loop import FitResult, epoch_label, fit, predict_labels
from . import _common, _launch, _train_run
from ._types import flag_type

#: parameters of the library named by another flag here (cli names a refused parameter by its flag)
FLAGS = {"scheme": "--method"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    _common.add_data_arguments(p)
    _common.add_training_arguments(p)
    p.add_argument(
        "--epochs", type=flag_type(FIT_PARAMS["epochs"]), default=100, help="number of epochs, a positive integer (100)"
    )
    p.add_argument("--alpha", type=flag_type(FIT_PARAMS["alpha"]), default=0.01, help="learning rate, > 0 (0.01)")
    _common.add_seed_argument(p, "the initial W and of the mini-batch shuffles")
    _common.add_method_argument(p, "gradient: one of {names} (tutorial: its X^T (f(XW) - y) / N)")
    _common.add_loss_argument(p, "one of {names} (sse, the sum of squares the tutorial prints)")
    _common.add_batch_size_argument(p)
    p.add_argument(
        "--tol", type=flag_type(FIT_PARAMS["tol"]), default=None, help="stop once the loss is at or below this"
    )
    p.add_argument(
        "--patience",
        type=flag_type(FIT_PARAMS["patience"]),
        default=None,
        help="stop after this many epochs without improvement",
    )
    _common.add_out_argument(p, "train", _train_run.FILES, "a fresh gd-torch-train-<time> folder")
    p.add_argument("--no-plots", action="store_true", help="write no pictures (given --out, its old ones are removed)")
    p.add_argument("--quiet", action="store_true", help="print only the final result and the files written")
    _launch.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    if _launch.wanted(args):  # a dataset folder, --workers or torchrun
        return _launch.train(args)
    _common.use_parts(args)
    X, y, desc = _common.load_data(args)
    _common.check_against_data(args, X)
    with _common.output_folder(args, "train", _train_run.FILES, writes=not args.no_plots) as out:
        many = args.epochs > _train_run.MANY_EPOCHS
        progress = _train_run.Progress(args.epochs) if many and not args.quiet else None
        try:
            result = fit(X, y, **_common.fit_options(args), callback=progress)
        finally:
            if progress is not None:
                progress.close()
        _report(args, X, y, desc, result)
        notes = {} if args.no_plots else _pictures(out, X, y, result)
    _common.print_written(out, notes)
    return 0


def _report(args: argparse.Namespace, X: np.ndarray, y: np.ndarray, desc: str, r: FitResult) -> None:
    n = X.shape[0]
    if not args.quiet:
        batch = "full batch" if r.batch_size is None else f"mini-batches of {r.batch_size}, reshuffled each epoch"
        _train_run.print_run(args, desc, r, batch)
        rng = np.random.default_rng(np.random.SeedSequence(args.seed, spawn_key=(2,)))
        picks = rng.choice(n, size=min(10, n), replace=False)
        a = resolve(args.loss, args.activation)[1].f(X[picks] @ r.weights)
        print(f"{len(picks)} samples chosen with seed {args.seed}:")
        for i, ai, pi in zip(picks, a, predict_labels(a), strict=True):
            print(f"  sample {i:4d}: activation={ai:.4f}; predicted_label={pi}, true_label={y[i]:g}")
    if r.stop_reason == "tol":
        stop = f"stopped after {r.epochs_run} epochs: loss <= tol={args.tol:g}"
    elif r.stop_reason == "patience":
        stop = f"stopped after {r.epochs_run} epochs: no improvement for {args.patience} epochs"
    else:
        stop = f"ran all {r.epochs_run} epochs"
    correct = round(r.final_accuracy * n)
    after = epoch_label(r.epochs_run, r.epochs_run)
    print(
        f"final: loss={r.final_loss:.7f} ({r.loss}) {after}, accuracy={r.final_accuracy:.4f} ({correct}/{n}; "
        f"label 1 where activation >= 0.5); {stop}"
    )
    if r.stall is not None:
        print(r.stall)


def _pictures(out: OutputFolder, X: np.ndarray, y: np.ndarray, r: FitResult) -> dict[str, str]:
    # the loss curve, and for two features the boundary and its animation; returns notes per file
    from ...train import plots  # matplotlib only when pictures are wanted

    title = f"Training loss ({r.method} gradient, alpha={r.alpha:g})"
    plots.plot_loss(r.loss_history, out.file("loss.png"), title=title, ylabel=f"loss ({r.loss})")
    if X.shape[1] != 3:
        print(f"no boundary.png/boundary.gif: the data has {X.shape[1] - 1} features, the boundary is drawn for 2")
        return {}
    title = f"Decision boundary after {r.epochs_run} epochs"
    plots.plot_boundary(X, y, r.weights, out.file("boundary.png"), activation=r.act, title=title)
    gif = out.file("boundary.gif")
    stride, frames = plots.animate_boundary(X, y, r.weights_history, gif, losses=r.loss_history, activation=r.act)
    return {"boundary.gif": f"{frames} frame{'s' * (frames != 1)}: {_frames_text(r.epochs_run, stride)}"}


def _frames_text(n: int, stride: int) -> str:
    # the GIF's frames named as the epoch lines are (epoch_label): rows 0, stride, ... below n, then n
    if n == 0:
        return epoch_label(0, 0)
    first, last = epoch_label(0, n), epoch_label((n - 1) // stride * stride, n)
    every = f" every {stride}" if stride > 1 else ""
    span = first if first == last else f"{first} to {last.removeprefix('epoch ')}{every}"
    return f"{span}, then {epoch_label(n, n)}"
