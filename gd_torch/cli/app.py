"""The gd-torch command line: one sub-command per module in gd_torch.cli.commands.

Errors in the user's input print as one line, ``gd-torch: error: --flag must be ...; got '...'``,
and exit 2.  Values are checked by the argparse types of ``commands._types`` as they are
parsed; what only the library can refuse (a loss with an activation it is not defined for,
an absent device, labels that are not 0/1) arrives as a GdTorchError naming the library's
parameter, and :func:`_name_flag` puts the command's flag in its place.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence

from .. import __version__
from .._errors import GdTorchError

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

# "argument --epochs: must be ...; got '...'" (argparse's wording around commands._types' types)
_ARGPARSE_TYPE_ERROR = re.compile(r"^argument (?P<flag>[^:]+): (?=must be .*; got )")
# "batch_size must be ..." or "where: batch_size must be ..." (gd_torch._errors.bad_value)
_LIBRARY_ERROR = re.compile(r"^(?P<where>[^:]*: )?(?P<name>[A-Za-z_]\w*) must be ")


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)  # '--epoch' is not '--epochs'
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        # one line, no usage block and no program name (main prints "gd-torch: error: ")
        raise GdTorchError(_ARGPARSE_TYPE_ERROR.sub(r"\g<flag> ", message))


def version() -> str:
    """The package's version, ``gd_torch.__version__`` (the installed metadata is built from it)."""
    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gd-torch", description="Gradient checking, training and benchmarks for one neuron.")
    parser.add_argument("--version", action="version", version=f"gd-torch {version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module, _parser=p)
        importlib.import_module(f"gd_torch.cli.commands.{module}").add_arguments(p)
    return parser


def _name_flag(message: str, args: argparse.Namespace) -> str:
    """The library's parameter at the head of ``message`` replaced by the command's flag:
    the command module's FLAGS entry, else ``--name-with-dashes`` when the command has it."""
    m = _LIBRARY_ERROR.match(message)
    if m is None:
        return message
    module = importlib.import_module(f"gd_torch.cli.commands.{args._module}")
    name = m["name"]
    flag = getattr(module, "FLAGS", {}).get(name, "--" + name.replace("_", "-"))
    if flag not in args._parser._option_string_actions:
        return message  # not a flag's value: X, y, a CSV column, ...
    return f"{m['where'] or ''}{flag} must be " + message[m.end() :]


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
        message = str(exc) if args is None else _name_flag(str(exc), args)
        print(f"gd-torch: error: {message}", file=sys.stderr)
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
