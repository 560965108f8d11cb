"""gd-torch train: the tutorial's run by default (its data, its update rule, 100 epochs, alpha 0.01),
and every other gradient method, loss, activation and learning rate on request."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from .._errors import GdTorchError
from ..gradients import METHODS
from ..model import ACTIVATIONS, INITS, LOSSES
from ..train import FitResult, fit, predict_labels
from . import _launch
from ._common import add_data_arguments, load_data, positive_int

DEFAULT_SEED = 42
#: above this many epochs the loss is not printed every epoch: a progress bar runs instead
MANY_EPOCHS = 200


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data_arguments(p)
    add_training_arguments(p)
    p.add_argument("--epochs", type=positive_int, default=100, help="number of epochs, a positive integer (100)")
    p.add_argument("--alpha", type=float, default=0.01, help="learning rate, > 0 (0.01)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of W and of the shuffles ({DEFAULT_SEED})")
    p.add_argument(
        "--method",
        default="tutorial",
        help=f"gradient: one of {', '.join(METHODS)} (tutorial: its X^T (f(XW) - y) / N)",
    )
    p.add_argument(
        "--loss", default="sse", help=f"one of {', '.join(LOSSES)} (sse, the sum of squares the tutorial prints)"
    )
    p.add_argument("--batch-size", type=positive_int, default=None, help="mini-batch size (default: full batch)")
    p.add_argument("--tol", type=float, default=None, help="stop once the loss is at or below this")
    p.add_argument(
        "--patience", type=positive_int, default=None, help="stop after this many epochs without improvement"
    )
    p.add_argument(
        "--out", default=None, help="folder for the pictures (default: a fresh gd-torch-train-<time> folder)"
    )
    p.add_argument("--no-plots", action="store_true", help="write no pictures")
    p.add_argument("--quiet", action="store_true", help="print only the final result and the files written")
    _launch.add_arguments(p)


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """--activation, --init, --device (shared with gd-torch sweep)."""
    p.add_argument("--activation", default="sigmoid", help=f"one of {', '.join(ACTIVATIONS)} (sigmoid)")
    p.add_argument("--init", default="uniform", help=f"initial weights: one of {', '.join(INITS)} (uniform on [0, 1))")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (only --method autograd runs on CUDA)")


def describe_gradient(method: str, loss: str, activation: str) -> str:
    """One line: which gradient is followed, and what it is the gradient of."""
    lo, act = LOSSES[loss], ACTIVATIONS[activation]
    of = f"L = {lo.formula} with {act.formula}"
    if method == "tutorial":
        of_what = {
            "sigmoid": "the mean binary cross-entropy L = mean_i [-y_i log a_i - (1 - y_i) log(1 - a_i)]",
            "identity": "half the mean squared error L = mean_i (a_i - y_i)^2 / 2",
        }.get(activation)
        if of_what is None:
            of_what = f"no loss: it leaves out the activation's derivative ({act.dformula})"
        same = activation == "sigmoid" and loss == "bce"
        note = "the loss printed" if same else f"not of the loss printed ({loss}: {lo.formula})"
        return f"tutorial, X^T (f(X W) - y) / N with {act.formula}: the gradient of {of_what}, {note}"
    how = {
        "analytic": "the chain rule derived by hand (numpy)",
        "autograd": "torch autograd",
        "numeric": "central finite differences",
    }.get(method, METHODS[method].description)
    return f"{method}, dL/dW by {how}: the gradient of {of}, the loss printed"


def prepare_out(args: argparse.Namespace, prefix: str) -> tuple[Path | None, bool]:
    """The output folder, created if needed and checked writable before any work; (None, False)
    with --no-plots.  The flag says whether this run created it."""
    if args.no_plots:
        return None, False
    if args.out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for i in range(100):
            out = Path(f"{prefix}-{stamp}" + (f"-{i}" if i else ""))
            try:
                out.mkdir()
                return out, True
            except FileExistsError:
                continue
            except OSError as exc:
                raise GdTorchError(f"--out folder {str(out)!r} cannot be created: {exc.strerror or exc}") from None
        raise GdTorchError(f"--out: no fresh folder name {prefix}-{stamp}-N is free; pass --out")
    out = Path(args.out)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".gd-torch-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise GdTorchError(f"--out folder {str(out)!r} cannot be written: {exc.strerror or exc}") from None
    return out, created


@contextlib.contextmanager
def output_folder(args: argparse.Namespace, prefix: str):
    """prepare_out, and remove the folder again if this run created it and fails before writing in it."""
    out, created = prepare_out(args, prefix)
    try:
        yield out
    except BaseException:
        if created and out is not None and not any(out.iterdir()):
            shutil.rmtree(out, ignore_errors=True)
        raise


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
        print(file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if _launch.wanted(args):  # a dataset folder, --workers or torchrun
        return _launch.train(args)
    X, y, desc = load_data(args)
    with output_folder(args, "gd-torch-train") as out:
        many = args.epochs > MANY_EPOCHS
        progress = _Progress(args.epochs) if many and not args.quiet else None
        try:
            result = fit(
                X,
                y,
                method=args.method,
                loss=args.loss,
                activation=args.activation,
                alpha=args.alpha,
                epochs=args.epochs,
                batch_size=args.batch_size,
                tol=args.tol,
                patience=args.patience,
                init=args.init,
                seed=args.seed,
                device=args.device,
                callback=progress,
            )
        finally:
            if progress is not None:
                progress.close()
        _report(args, X, y, desc, result)
        if out is not None:
            _pictures(out, X, y, result)
    return 0


def _report(args: argparse.Namespace, X: np.ndarray, y: np.ndarray, desc: str, r: FitResult) -> None:
    n = X.shape[0]
    if not args.quiet:
        batch = "full batch" if r.batch_size is None else f"mini-batches of {r.batch_size}, reshuffled each epoch"
        print(f"data: {desc}")
        print(f"gradient: {describe_gradient(r.method, r.loss, r.activation)}")
        init = {"uniform": "uniform on [0, 1)", "normal": "normal (0, 1)"}.get(args.init, args.init)
        print(f"initial W: {init} with seed {args.seed}: {np.array2string(r.weights_history[0], precision=6)}")
        print(f"alpha={r.alpha:g}, epochs={args.epochs}, {batch}")
        # "epoch #k" shows the loss of the weights epoch k starts from, as the tutorial prints it
        stride = 1 if args.epochs <= MANY_EPOCHS else math.ceil(r.epochs_run / 20)
        if stride > 1:
            print(f"(loss every {stride} epochs)")
        for k in range(0, r.epochs_run, stride):
            print(f"epoch #{k + 1}, loss={r.loss_history[k]:.7f}")
        rng = np.random.default_rng(np.random.SeedSequence(args.seed, spawn_key=(2,)))
        picks = rng.choice(n, size=min(10, n), replace=False)
        a = ACTIVATIONS[r.activation].f(X[picks] @ r.weights)
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
    print(
        f"final: loss={r.final_loss:.7f} ({r.loss}), accuracy={r.final_accuracy:.4f} ({correct}/{n}; "
        f"label 1 where activation >= 0.5); {stop}"
    )


def _pictures(out: Path, X: np.ndarray, y: np.ndarray, r: FitResult) -> None:
    from .. import plots  # matplotlib only when pictures are wanted

    title = f"Training loss ({r.method} gradient, alpha={r.alpha:g})"
    plots.plot_loss(r.loss_history, out / "loss.png", title=title, ylabel=f"loss ({r.loss})")
    written = ["loss.png"]
    if X.shape[1] == 3:
        plots.plot_boundary(
            X, y, r.weights, out / "boundary.png", title=f"Decision boundary after {r.epochs_run} epochs"
        )
        stride, frames = plots.animate_boundary(X, y, r.weights_history, out / "boundary.gif", losses=r.loss_history)
        last = "" if r.epochs_run % stride == 0 else f" and {r.epochs_run}"
        written += [
            "boundary.png",
            f"boundary.gif ({frames} frames: epochs 0 to {r.epochs_run}, stride {stride}{last})",
        ]
    else:
        written.append(
            f"no boundary.png/boundary.gif: the data has {X.shape[1] - 1} features, the boundary is drawn for 2"
        )
    print(f"wrote into {out}/: " + ", ".join(written))
