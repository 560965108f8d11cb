"""gd-torch landscape: the loss surface over two weights, squared error beside cross-entropy,
with the descent path of a training run (gd_torch.train.loop.fit) drawn on it."""

from __future__ import annotations

import argparse

from ...model.forward import objective, resolve
from ...model.losses import LOSSES
from ...teach.landscape import landscape, plot
from ...train.fit_args import FIT_PARAMS
from ...train.loop import fit
from . import _common
from ._types import flag_type, list_of, one_of, positive_int, weight_pair

#: the files this command writes into --out
FILES = ("landscape.png",)
#: the library's parameters that are this command's flags under another name (see gd_torch.cli.flags)
FLAGS = {"losses": "--surfaces", "i": "--weights", "j": "--weights"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    _common.add_data_arguments(p)
    _common.add_method_argument(p, "gradient the path descends with: {names} (tutorial)")
    _common.add_loss_argument(p, "loss the path is trained on: {names} (sse)")
    _common.add_activation_argument(p, "one of {names} (sigmoid)")
    p.add_argument("--alpha", type=flag_type(FIT_PARAMS["alpha"]), default=0.01, help="learning rate (0.01)")
    p.add_argument("--epochs", type=flag_type(FIT_PARAMS["epochs"]), default=100, help="epochs (100)")
    _common.add_seed_argument(p, "the uniform [0, 1) initial weights")
    p.add_argument(
        "--weights",
        type=weight_pair,
        default=(1, 2),
        help="the two weight indices to vary, 'i,j' (1,2: the feature weights)",
    )
    p.add_argument(
        "--surfaces",
        type=list_of(one_of(LOSSES), "losses"),
        default=("sse", "bce"),
        help="losses drawn side by side (sse,bce)",
    )
    p.add_argument("--resolution", type=positive_int, default=121, help="grid points per axis, 8 to 1001 (121)")
    _common.add_out_argument(p, "landscape", FILES, "a fresh gd-torch-landscape-<time> folder")


def run(args: argparse.Namespace) -> int:
    _common.use_parts(args)
    X, y, desc = _common.load_data(args)
    _common.check_against_data(args, X)
    i, j = args.weights
    for name in args.surfaces:  # refuse an undefined pair before spending the training run
        resolve(name, args.activation)
    with _common.output_folder(args, "landscape", FILES) as out:
        result = fit(X, y, **_common.fit_options(args))
        label = f"{args.method}, loss={resolve(args.loss, args.activation)[0].name}, alpha={args.alpha:g}, {args.epochs} epochs"
        scape = landscape(
            result.weights_history,
            X,
            y,
            i=i,
            j=j,
            losses=args.surfaces,
            activation=args.activation,
            resolution=args.resolution,
            label=label,
        )
        plot(scape, out.file("landscape.png"), title=f"{desc}")
        start, end = result.weights_history[0], result.weights_history[-1]
        print(f"data: {desc}")
        print(f"path: {label}, W from {start.tolist()} to {end.tolist()}")
        print(
            f"map: w{i} in [{scape.grid_i[0]:.3g}, {scape.grid_i[-1]:.3g}], w{j} in [{scape.grid_j[0]:.3g}, {scape.grid_j[-1]:.3g}], {args.resolution}x{args.resolution} points"
        )
        for name, S in scape.surfaces.items():
            print(
                f"{name}: min {S.min():.4g}, max {S.max():.4g}, at the path's end {objective(end, X, y, loss=name, activation=args.activation):.4g}; "
                f"plateau (flat and high) on {100 * scape.plateau_fraction(name):.1f}% of the map"
            )
    _common.print_written(out)
    return 0
