"""A library error about a parameter, told in the command's flag: ``batch_size`` -> ``--batch-size``.

The parameter comes from the error itself (``GdTorchError.param``), never from its message;
the flag from the command's argument table: each argparse ``dest`` is the flag that sets it
(``batch_size`` -> ``--batch-size``), and a command module's ``FLAGS`` dict names the
library parameters that one of its flags sets under another name (check's ``scheme`` is
its ``--methods``).
"""

from __future__ import annotations

import argparse
import importlib

from .._errors import GdTorchError


def table(parser: argparse.ArgumentParser) -> dict[str, str]:
    """The parser's flags by the parameter (argparse ``dest``) they set: {'batch_size': '--batch-size', ...}."""
    return {a.dest: a.option_strings[-1] for a in parser._actions if a.option_strings and a.dest != "help"}


def flag_of(param: str | None, args: argparse.Namespace) -> str | None:
    """The flag of the command in ``args`` that sets the library parameter ``param``; None for none."""
    if param is None:
        return None
    renames = getattr(importlib.import_module(f"gd_torch.cli.commands.{args._module}"), "FLAGS", {})
    return renames.get(param) or args._flags.get(param)


def in_flags(exc: GdTorchError, args: argparse.Namespace) -> GdTorchError:
    """``exc`` with its parameter named by the flag that sets it; ``exc`` itself where no flag does
    (X, y, a CSV column: the data, not an option)."""
    flag = flag_of(exc.param, args)
    return exc if flag is None else exc.naming(flag)
