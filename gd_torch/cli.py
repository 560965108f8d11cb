"""The gd-torch command line: one sub-command per module in gd_torch.commands.

Errors in the user's input (GdTorchError, bad options) print as one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ._errors import GdTorchError

#: sub-command -> (module in gd_torch.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "bench": ("bench", "time every gradient method on CPU (and CUDA) against the machine's floor"),
    "check": ("check", "compare gradient methods on a problem; exit 1 if they disagree"),
    "explain": ("explain", "backpropagation stage by stage: by hand, by autograd, by finite differences; the graph"),
    "make-data": ("make_data", "write a synthetic separable problem of any size to disk, block by block (.npy shards)"),
    "landscape": ("landscape", "the loss surface over two weights, sse beside bce, with a descent path (PNG)"),
    "sweep": ("sweep", "final loss and accuracy over learning rates x gradient rules x seeds, table and heatmap"),
    "train": ("train", "gradient descent like the tutorial (default) or with any method, loss, activation"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # one line, no usage block: the same shape as every other input error
        raise GdTorchError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gd-torch", description="Gradient checking, training and benchmarks for one neuron.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(f"gd_torch.commands.{module}").add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 check failed, 2 bad input)."""
    try:
        args = build_parser().parse_args(argv)
        return int(importlib.import_module(f"gd_torch.commands.{args._module}").run(args))
    except GdTorchError as exc:
        print(f"gd-torch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gd-torch: interrupted", file=sys.stderr)
        return 130


def main_exit() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    main_exit()
