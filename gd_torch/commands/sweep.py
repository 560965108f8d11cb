"""gd-torch sweep: final loss and accuracy over learning rates x gradient rules x seeds.

Its default grid shows what the tutorial's "alpha will cause you many headaches" hides:
with the uniform [0, 1) start on the blobs, |z| = |X W| is large for many seeds, the
sigmoid saturates, and the exact squared-error gradient 2 (a - y) a (1 - a) vanishes with
a (1 - a): at alpha 0.01 it stays stuck where the tutorial's rule (a - y) / N, which has no
a (1 - a) factor, trains.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import GdTorchError, bad_value
from .._validate import choice
from ..gradients import METHODS
from ..model import ACTIVATIONS, LOSSES, init_weights, resolve
from ..train import fit
from ._common import add_data_arguments, load_data, positive_int
from .train import add_training_arguments, output_folder

#: a run counts as trained when its final accuracy reaches this
TRAINED = 0.9


@dataclass(frozen=True)
class Cell:
    """One run of the sweep (loss and accuracy are NaN when it diverged)."""

    rule: str
    alpha: float
    seed: int
    loss: float
    accuracy: float
    #: mean f'(z) over the misclassified samples at the final weights (NaN if none): near 0 when
    #: the activation is saturated where the errors are, so that they no longer move W
    slope: float
    diverged_at: int | None


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data_arguments(p)
    add_training_arguments(p)
    p.add_argument("--alphas", default="0.001,0.01,0.1,1", help="comma-separated learning rates (%(default)s)")
    p.add_argument(
        "--rules",
        default="tutorial,analytic",
        help="comma-separated gradient rules METHOD or METHOD:LOSS, e.g. analytic:bce; "
        "LOSS defaults to --loss (%(default)s)",
    )
    p.add_argument(
        "--loss",
        default="sse",
        help=f"loss reported (and followed by the exact methods): one of {', '.join(LOSSES)} (sse)",
    )
    p.add_argument("--seeds", type=positive_int, default=10, help="seeds 0 .. N-1 of the initial weights (10)")
    p.add_argument("--epochs", type=positive_int, default=100, help="epochs per run (100)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="mini-batch size (default: full batch)")
    p.add_argument("--out", default=None, help="folder for heatmap.png (default: a fresh gd-torch-sweep-<time> folder)")
    p.add_argument("--no-plots", action="store_true", help="print the table only")


def parse_rules(text: str, default_loss: str) -> list[tuple[str, str]]:
    """'tutorial,analytic:bce' -> [('tutorial', default_loss), ('analytic', 'bce')]."""
    rules = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        method, _, loss = item.partition(":")
        choice("--rules method", method, METHODS)
        choice("--rules loss", loss or default_loss, LOSSES)
        rule = (method, loss or default_loss)
        if rule in rules:  # the tables and findings are keyed by rule: a repeat would print twice
            raise bad_value("--rules", text, f"distinct rules ({':'.join(rule)} is given twice)")
        rules.append(rule)
    if not rules:
        raise bad_value("--rules", text, "a comma-separated list of METHOD or METHOD:LOSS")
    return rules


def parse_alphas(text: str) -> list[float]:
    try:
        alphas = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        alphas = []
    if not alphas or not all(math.isfinite(a) and a > 0 for a in alphas):
        raise bad_value("--alphas", text, "a comma-separated list of finite learning rates > 0")
    if len(set(alphas)) != len(alphas):  # a repeated alpha would run, and print, every rule twice
        raise bad_value("--alphas", text, "distinct learning rates")
    return alphas


def sweep(X, y, rules, alphas, seeds, *, activation, epochs, batch_size, init, device) -> list[Cell]:
    """Every (rule, alpha, seed) run; a diverging run is recorded, not raised."""
    cells = []
    for method, loss in rules:
        for alpha in alphas:
            for seed in seeds:
                try:
                    r = fit(
                        X, y, method=method, loss=loss, activation=activation, alpha=alpha, epochs=epochs,
                        batch_size=batch_size, init=init, seed=seed, device=device,
                    )  # fmt: skip
                    slope = _mean_slope(X, r.weights, activation, y)
                    cells.append(Cell(f"{method}:{loss}", alpha, seed, r.final_loss, r.final_accuracy, slope, None))
                except GdTorchError as exc:
                    if not hasattr(exc, "epoch"):
                        raise
                    cells.append(Cell(f"{method}:{loss}", alpha, seed, math.nan, math.nan, math.nan, exc.epoch))
    return cells


def run(args: argparse.Namespace) -> int:
    X, y, desc = load_data(args)
    rules = parse_rules(args.rules, args.loss)
    for _, loss in rules:
        resolve(loss, args.activation)  # refuse an undefined pair before any run
    alphas = parse_alphas(args.alphas)
    seeds = list(range(args.seeds))
    with output_folder(args, "gd-torch-sweep") as out:
        cells = sweep(
            X, y, rules, alphas, seeds, activation=args.activation, epochs=args.epochs,
            batch_size=args.batch_size, init=args.init, device=args.device,
        )  # fmt: skip
        print(f"data: {desc}")
        print(f"{args.epochs} epochs, init {args.init} with seeds 0..{args.seeds - 1}, activation {args.activation}")
        print(
            "rule = METHOD:LOSS, the loss reported (and, for the exact methods, followed; the tutorial's rule ignores it)"
        )
        print(_saturation(X, seeds, args))
        print(_table(cells, rules, alphas, seeds, "final accuracy", lambda c: f"{c.accuracy:.2f}"))
        print(_table(cells, rules, alphas, seeds, "final loss", lambda c: f"{c.loss:.3g}"))
        print(
            _table(
                cells,
                rules,
                alphas,
                seeds,
                "f'(z) on the errors",
                lambda c: "-" if math.isnan(c.slope) else f"{c.slope:.4f}",
            )
        )
        print(
            "(f'(z) on the errors: the mean of the activation's derivative over the misclassified samples at the "
            "final W; near 0, their terms of the exact gradient vanish and training is stuck)"
        )
        for line in _findings(cells, rules, alphas):
            print(line)
        if out is not None:
            path = _heatmap(cells, rules, alphas, seeds, out / "heatmap.png", args)
            print(f"wrote {path}")
    return 0


def _mean_slope(X: np.ndarray, W: np.ndarray, activation: str, y: np.ndarray | None = None) -> float:
    # how saturated the activation is at W: the mean of f'(z), z = X W, over the data, or with y
    # over the misclassified samples only (NaN when there are none)
    act = ACTIVATIONS[activation]
    with np.errstate(over="ignore"):
        z = X @ W
        a = act.f(z)
        d = act.df(z, a)
    if y is not None:
        d = d[(a >= 0.5) != y]
    return float(np.mean(d)) if d.size else math.nan


def _saturation(X: np.ndarray, seeds: list[int], args: argparse.Namespace) -> str:
    act = ACTIVATIONS[args.activation]
    vals = [_mean_slope(X, init_weights(X.shape[1], args.init, seed, X.dtype), args.activation) for seed in seeds]
    head = f"mean f'(z) ({act.dformula.split('=')[1].strip()}) over the data at the initial W, per seed:"
    return head + " " + "  ".join(f"{s}:{v:.3f}" for s, v in zip(seeds, vals, strict=True))


def _table(cells, rules, alphas, seeds, what, fmt) -> str:
    by = {(c.rule, c.alpha, c.seed): c for c in cells}
    width = 8
    head = (
        f"{what:<24}{'alpha':>8} | "
        + "".join(f"{'s' + str(s):>{width}}" for s in seeds)
        + f" | trained (acc >= {TRAINED})"
    )
    lines = [head, "-" * len(head)]
    for method, loss in rules:
        rule = f"{method}:{loss}"
        for alpha in alphas:
            row = [by[(rule, alpha, s)] for s in seeds]
            text = "".join(f"{'div' if c.diverged_at else fmt(c):>{width}}" for c in row)
            trained = sum(c.accuracy >= TRAINED for c in row if c.diverged_at is None)
            lines.append(f"{rule:<24}{alpha:>8g} | {text} | {trained}/{len(row)}")
    return "\n".join(lines)


def _findings(cells, rules, alphas) -> list[str]:
    # the seeds where one rule trains and another does not, at the same alpha: measured, not assumed
    out = []
    names = [f"{m}:{lo}" for m, lo in rules]
    for alpha in alphas:
        ok = {r: {c.seed for c in cells if c.rule == r and c.alpha == alpha and c.accuracy >= TRAINED} for r in names}
        every = {c.seed for c in cells if c.alpha == alpha}
        for a in names:
            for b in names:
                stuck = sorted(ok[a] - ok[b])
                if a != b and stuck:
                    out.append(
                        f"alpha={alpha:g}: {b} stays below accuracy {TRAINED} for seeds {stuck} "
                        f"where {a} trains ({len(ok[a])}/{len(every)} vs {len(ok[b])}/{len(every)} seeds trained)"
                    )
    return out


def _heatmap(cells, rules, alphas, seeds, path: Path, args: argparse.Namespace) -> Path:
    from matplotlib.figure import Figure

    from ..plots import save_figure

    by = {(c.rule, c.alpha, c.seed): c for c in cells}
    width = max(6.4, 1.8 + 0.55 * len(seeds))
    height = 0.8 + len(rules) * (0.9 + 0.32 * len(alphas))
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(len(rules), 1, squeeze=False)[:, 0]
    for ax, (method, loss) in zip(axes, rules, strict=True):
        rule = f"{method}:{loss}"
        acc = np.array([[by[(rule, a, s)].accuracy for s in seeds] for a in alphas])
        im = ax.imshow(acc, vmin=0.5, vmax=1.0, cmap="RdYlGn", aspect="auto")
        for i in range(len(alphas)):
            for j in range(len(seeds)):
                ax.text(
                    j, i, "div" if np.isnan(acc[i, j]) else f"{acc[i, j]:.2f}", ha="center", va="center", fontsize=7
                )
        ax.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas])
        ax.set_xticks(range(len(seeds)), [str(s) for s in seeds])
        ax.set_ylabel("alpha")
        ax.set_title(f"{method} gradient, loss {loss}", fontsize=9)
    axes[-1].set_xlabel("seed of the initial weights")
    fig.suptitle(f"final accuracy after {args.epochs} epochs", fontsize=10)
    fig.colorbar(im, ax=list(axes), label="accuracy")
    return save_figure(fig, path)
