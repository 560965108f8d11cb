"""What gd-torch train prints of a run, in memory (``train.py``) or on row blocks and ranks
(``_launch.py``): the header and epoch lines, the progress bar, the files it writes."""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from ...gradients import lookup
from ...model.forward import resolve
from ...train.loop import FitResult, epoch_label

#: above this many epochs the loss is not printed every epoch: a progress bar runs instead
MANY_EPOCHS = 200
#: the files this command writes into --out
FILES = ("loss.png", "boundary.png", "boundary.gif")


def describe_gradient(method: str, loss: str, activation: str) -> str:
    """One line: which gradient is followed, and what it is the gradient of."""
    lo, act = resolve(loss, activation)
    m = lookup(method)
    if m.gradient_of is None:
        return f"{method}, dL/dW by {m.description}: the gradient of {lo.formula} with {act.formula}, the loss printed"
    of_what, of_loss = m.gradient_of(lo, act)
    note = "the loss printed" if of_loss == lo.name else f"not of the loss printed ({lo.name}: {lo.formula})"
    return f"{method}, {m.formula} with {act.formula}: the gradient of {of_what}, {note}"


class Progress:
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
