"""gd-torch train: the tutorial's run by default (its data, its update rule, 100 epochs, alpha 0.01),
and every other gradient method, loss, activation and learning rate on request."""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from ...base.files import OutputFolder
from ...gradients import lookup
from ...model.forward import resolve
from ...train.loop import FitResult, epoch_label, fit, predict_labels
from . import _common, _launch
from ._types import finite_float, positive_float, positive_int

#: parameters of the library named by another flag here (cli names a refused parameter by its flag)
FLAGS = {"scheme": "--method"}

#: above this many epochs the loss is not printed every epoch: a progress bar runs instead
MANY_EPOCHS = 200
#: the files this command writes into --out
FILES = ("loss.png", "boundary.png", "boundary.gif")


def add_arguments(p: argparse.ArgumentParser) -> None:
    _common.add_data_arguments(p)
    _common.add_training_arguments(p)
    p.add_argument("--epochs", type=positive_int, default=100, help="number of epochs, a positive integer (100)")
    p.add_argument("--alpha", type=positive_float, default=0.01, help="learning rate, > 0 (0.01)")
    _common.add_seed_argument(p, "the initial W and of the mini-batch shuffles")
    _common.add_method_argument(p, "gradient: one of {names} (tutorial: its X^T (f(XW) - y) / N)")
    _common.add_loss_argument(p, "one of {names} (sse, the sum of squares the tutorial prints)")
    _common.add_batch_size_argument(p)
    p.add_argument("--tol", type=finite_float, default=None, help="stop once the loss is at or below this")
    p.add_argument(
        "--patience", type=positive_int, default=None, help="stop after this many epochs without improvement"
    )
    _common.add_out_argument(p, "train", FILES, "a fresh gd-torch-train-<time> folder")
    p.add_argument("--no-plots", action="store_true", help="write no pictures (given --out, its old ones are removed)")
    p.add_argument("--quiet", action="store_true", help="print only the final result and the files written")
    _launch.add_arguments(p)


def describe_gradient(method: str, loss: str, activation: str) -> str:
    """One line: which gradient is followed, and what it is the gradient of."""
    lo, act = resolve(loss, activation)
    m = lookup(method)
    if m.gradient_of is None:
        return f"{method}, dL/dW by {m.description}: the gradient of {lo.formula} with {act.formula}, the loss printed"
    of_what, of_loss = m.gradient_of(lo, act)
    note = "the loss printed" if of_loss == lo.name else f"not of the loss printed ({lo.name}: {lo.formula})"
    return f"{method}, {m.formula} with {act.formula}: the gradient of {of_what}, {note}"


class _Progress:
    """A carriage-return bar on stderr, redrawn when the percentage changes."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.shown = -1

    def __call__(self, k: int, W: np.ndarray, L: float) -> None:
        pct = (100 * k) // self.total
        if pct != self.shown:
            self.shown = pct
            bar = "#" * (pct // 4)
            print(f"\r[{bar:<25}] {pct:3d}%  epoch {k}/{self.total}  loss={L:.7f}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown >= 0:  # end the bar's line; nothing drawn (refused before epoch 0): nothing to end
            print(file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if _launch.wanted(args):  # a dataset folder, --workers or torchrun
        return _launch.train(args)
    _common.use_parts(args)
    X, y, desc = _common.load_data(args)
    _common.check_against_data(args, X)
    with _common.output_folder(args, "train", FILES, writes=not args.no_plots) as out:
        many = args.epochs > MANY_EPOCHS
        progress = _Progress(args.epochs) if many and not args.quiet else None
        try:
            result = fit(X, y, **_common.fit_options(args), callback=progress)
        finally:
            if progress is not None:
                progress.close()
        _report(args, X, y, desc, result)
        notes = {} if args.no_plots else _pictures(out, X, y, result)
    _common.print_written(out, notes)
    return 0


def print_run(args: argparse.Namespace, desc: str, r: FitResult, batch: str) -> None:
    """The run's header and its epoch lines (shared with the run on ranks, cli/commands/_launch.py)."""
    print(f"data: {desc}")
    print(f"gradient: {describe_gradient(args.method, args.loss, args.activation)}")
    init = {"uniform": "uniform on [0, 1)", "normal": "normal (0, 1)"}.get(args.init, args.init)
    print(f"initial W: {init} with seed {args.seed}: {np.array2string(r.weights_history[0], precision=6)}")
    print(f"alpha={args.alpha:g}, epochs={args.epochs}, {batch}")
    # "epoch #k" shows the loss of the weights epoch k starts from, as the tutorial prints it
    stride = 1 if args.epochs <= MANY_EPOCHS else math.ceil(r.epochs_run / 20)
    if r.epochs_run:
        every = f", every {stride} epochs" if stride > 1 else ""
        print(f"(epoch #k, loss=...: the loss before epoch k's update, as the tutorial prints it{every})")
    for k in range(0, r.epochs_run, stride):
        print(f"{epoch_label(k, r.epochs_run)}, loss={r.loss_history[k]:.7f}")


def _report(args: argparse.Namespace, X: np.ndarray, y: np.ndarray, desc: str, r: FitResult) -> None:
    n = X.shape[0]
    if not args.quiet:
        batch = "full batch" if r.batch_size is None else f"mini-batches of {r.batch_size}, reshuffled each epoch"
        print_run(args, desc, r, batch)
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
