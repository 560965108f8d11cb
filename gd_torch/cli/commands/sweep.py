"""gd-torch sweep: final loss and accuracy over gradient methods x losses x learning rates x seeds
(gd_torch.train.sweep), printed as tables, with a heatmap."""

from __future__ import annotations

import argparse
import math

from ...model.forward import resolve
from ...model.losses import LOSSES
from ...train.fit_args import FIT_PARAMS
from ...train.sweep import TRAINED, SweepResult, sweep
from . import _common
from ._types import flag_type, list_of, one_of, positive_int

#: the files this command writes into --out
FILES = ("heatmap.png",)
#: the library's parameters that are this command's flags under another name (see gd_torch.cli.flags)
FLAGS = {"method": "--methods", "loss": "--losses"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    _common.add_data_arguments(p)
    _common.add_training_arguments(p)
    p.add_argument(
        "--methods",
        type=list_of(one_of(_common.method_names()), "gradient methods"),
        default=("tutorial", "analytic"),
        metavar="M1,M2,...",
        help=f"gradient methods, comma-separated, from: {', '.join(_common.method_names())} (tutorial,analytic)",
    )
    p.add_argument(
        "--losses",
        type=list_of(one_of(LOSSES), "losses"),
        default=("sse",),
        metavar="L1,L2,...",
        help=f"losses, comma-separated, from: {', '.join(LOSSES)}; every method runs with every loss, "
        "which it follows (the tutorial's rule ignores it) and which is reported (sse)",
    )
    p.add_argument(
        "--alphas",
        type=list_of(flag_type(FIT_PARAMS["alpha"]), "learning rates > 0"),
        default=(0.001, 0.01, 0.1, 1.0),
        metavar="A1,A2,...",
        help="learning rates, comma-separated (0.001,0.01,0.1,1)",
    )
    p.add_argument("--seeds", type=positive_int, default=10, help="seeds 0 .. N-1 of the initial weights (10)")
    p.add_argument("--epochs", type=flag_type(FIT_PARAMS["epochs"]), default=100, help="epochs per run (100)")
    _common.add_batch_size_argument(p)
    _common.add_out_argument(p, "sweep", FILES, "a fresh gd-torch-sweep-<time> folder")
    p.add_argument("--no-plots", action="store_true", help="write no heatmap (given --out, its old one is removed)")


def run(args: argparse.Namespace) -> int:
    _common.use_parts(args)
    X, y, desc = _common.load_data(args)
    _common.check_against_data(args, X)
    grid = {"methods": args.methods, "losses": args.losses, "alphas": args.alphas, "seeds": range(args.seeds)}
    options = {"activation": args.activation, "epochs": args.epochs, "batch_size": args.batch_size}
    options |= {"init": args.init, "device": args.device}
    with _common.output_folder(args, "sweep", FILES, writes=not args.no_plots) as out:
        result = sweep(X, y, **grid, **options)
        _print(result, desc)
        if not args.no_plots:
            from ...train.plots import plot_sweep

            plot_sweep(result, out.file("heatmap.png"))
    _common.print_written(out)
    return 0


def _print(r: SweepResult, desc: str) -> None:
    print(f"data: {desc}")
    act = resolve("sse", r.activation)[1]  # a name or the user's own (--activation FILE.py:NAME)
    print(f"{r.epochs} epochs, init {r.init} with seeds {r.seeds[0]}..{r.seeds[-1]}, activation {act.name}")
    print("each row: a gradient method and the loss it follows and reports (the tutorial's rule follows none)")
    slopes = "  ".join(f"{s}:{v:.3f}" for s, v in zip(r.seeds, r.initial_slopes, strict=True))
    print(f"f'(z) of {act.name}: {act.dformula}")
    print(f"mean f'(z) over the data at the initial W, per seed: {slopes}")
    print(_table(r, "final accuracy", lambda c: f"{c.accuracy:.2f}"))
    print(_table(r, "final loss", lambda c: f"{c.final_loss:.3g}"))
    print(_table(r, "f'(z) on the errors", lambda c: "-" if math.isnan(c.slope) else f"{c.slope:.4f}"))
    print(
        "(f'(z) on the errors: the mean of the activation's derivative over the misclassified samples at the "
        "final W; near 0, their terms of the exact gradient vanish and training is stuck)"
    )
    for f in r.findings():
        print(
            f"alpha={f.alpha:g}: {' '.join(f.worse)} stays below accuracy {TRAINED} for seeds {list(f.seeds)} where "
            f"{' '.join(f.better)} trains ({f.n_better}/{len(r.seeds)} vs {f.n_worse}/{len(r.seeds)} seeds trained)"
        )


def _table(r: SweepResult, what: str, fmt) -> str:
    mw = max(len("method"), *(len(m) for m in r.methods))
    lw = max(len("loss"), *(len(lo) for lo in r.losses))
    cells = {
        (method, loss, alpha): [r.cell(method, loss, alpha, s) for s in r.seeds]
        for method, loss in r.rows
        for alpha in r.alphas
    }
    texts = {key: ["div" if c.diverged_at else fmt(c) for c in row] for key, row in cells.items()}
    width = max(8, 1 + max(len(t) for row in texts.values() for t in row))  # a space between any two cells
    head = (
        f"{what}\n{'method':<{mw}}  {'loss':<{lw}}{'alpha':>8} | "
        + "".join(f"{'s' + str(s):>{width}}" for s in r.seeds)
        + f" | trained (acc >= {TRAINED})"
    )
    lines = [head, "-" * len(head.splitlines()[1])]
    for (method, loss, alpha), row in cells.items():
        text = "".join(f"{t:>{width}}" for t in texts[method, loss, alpha])
        trained = sum(c.trained for c in row)
        lines.append(f"{method:<{mw}}  {loss:<{lw}}{alpha:>8g} | {text} | {trained}/{len(row)}")
    return "\n".join(lines)
