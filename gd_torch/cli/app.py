"""The gd-torch command line: one sub-command per module in gd_torch.cli.commands.

Errors in the user's input print as one line, ``gd-torch: error: --flag must be ...; got '...'``,
and exit 2.  A flag's text is parsed by its argparse type (``commands._types``), which holds it
to the constraint of the library parameter it sets and raises ``FlagRefused``; what only the
library can refuse (a loss with an activation it is not defined for, an absent device,
labels that are not 0/1) arrives as a GdTorchError carrying the library's parameter, and
:func:`gd_torch.cli.flags.in_flags` names the command's flag in its place.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from .. import __version__
from .._errors import GdTorchError
from . import flags
from .commands._types import FlagRefused

#: sub-command -> (module in gd_torch.cli.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "bench": ("bench", "time every gradient method on CPU (and CUDA) against the machine's floor"),
    "check": ("check", "compare gradient methods on a problem; exit 1 if they disagree"),
    "explain": ("explain", "backpropagation stage by stage: by hand, by autograd, by finite differences; the graph"),
    "make-data": ("make_data", "write a synthetic separable problem of any size to disk, block by block (.npy shards)"),
    "landscape": ("landscape", "the loss surface over two weights, sse beside bce, with a descent path (PNG)"),
    "steps": ("steps", "why the finite-difference step h cannot go to 0: error vs h per scheme, table and PNG"),
    "sweep": (
        "sweep",
        "final loss and accuracy over learning rates x gradient methods x losses x seeds, and a heatmap",
    ),
    "train": ("train", "gradient descent like the tutorial (default) or with any method, loss, activation"),
}


class _Parser(argparse.ArgumentParser):
    # refusals as GdTorchErrors of one line: no usage block, no program name (main prints "gd-torch: error: ")
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)  # '--epoch' is not '--epochs'
        kwargs.setdefault("exit_on_error", False)  # argparse's ArgumentError reaches parse_known_args below
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        try:
            return super().parse_known_args(args, namespace)
        except argparse.ArgumentError as exc:
            refused = exc.__context__  # what the argparse type raised
            if isinstance(refused, FlagRefused):
                flag = exc.argument_name or ""
                message = f"{flag} must be {refused.accepted}; got {refused.text!r}"
                raise GdTorchError(message, param=flag, value=refused.text, accepted=refused.accepted) from None
            raise GdTorchError(str(exc)) from None

    def error(self, message: str) -> None:  # type: ignore[override]
        raise GdTorchError(message)


def version() -> str:
    """The package's version, ``gd_torch.__version__`` (the installed metadata is built from it)."""
    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gd-torch", description="Gradient checking, training and benchmarks for one neuron.")
    parser.add_argument("--version", action="version", version=f"gd-torch {version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(f"gd_torch.cli.commands.{module}").add_arguments(p)
        p.set_defaults(_module=module, _flags=flags.table(p))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 check failed, 2 bad input, 130 interrupted)."""
    args = None
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help and --version print, then argparse exits 0
            return exc.code if isinstance(exc.code, int) else 0
        return int(importlib.import_module(f"gd_torch.cli.commands.{args._module}").run(args))
    except GdTorchError as exc:
        named = exc if args is None else flags.in_flags(exc, args)
        print(f"gd-torch: error: {named}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gd-torch: interrupted", file=sys.stderr)
        return 130


def main_exit() -> None:
    """Console-script entry point.  Output piped into a reader that stops early (``| head``)
    ends the program quietly, as other command-line tools do, instead of a BrokenPipeError."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would print the error again while flushing stdout at exit: point stdout at devnull
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141  # 128 + SIGPIPE, the shell's convention
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main_exit()
