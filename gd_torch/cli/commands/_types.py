"""The argparse types of the sub-commands: each turns one flag's text into a value or refuses it
with :class:`FlagRefused` (what the flag accepts, the text typed), which ``cli.app`` prints as
one line, "--flag must be ...; got '...'".

A flag that sets a library parameter takes its type from that parameter's constraint
(:func:`flag_type`, the constraints of ``gd_torch.base.validate``): the constraint's
``from_text`` parses the text, its ``admits`` holds the value to the same rule the library
holds it to, and its ``words`` say what is accepted.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any

from ...base.validate import SEED, Constraint, Integer, Number, Options
from . import _user_code


class FlagRefused(argparse.ArgumentTypeError):
    """A flag's text refused: ``accepted`` (what the flag takes, in words) and ``text`` (as typed).

    argparse reports it as ``argument --flag: must be ...; got '...'``; ``cli.app`` reads these
    attributes instead and prints ``--flag must be ...; got '...'``.
    """

    def __init__(self, accepted: str, text: str) -> None:
        super().__init__(f"must be {accepted}; got {text!r}")
        self.accepted = accepted
        self.text = text


def flag_type(constraint: Constraint) -> Callable[[str], Any]:
    """argparse type of a flag whose value ``constraint`` checks: the text parsed by
    ``constraint.from_text`` (plain ASCII decimals for numbers: '1_0', '５', '+3' and 'nan' are
    refused) and admitted by ``constraint.admits``; refused with ``constraint.words`` otherwise."""

    def parse(text: str) -> Any:
        value = constraint.from_text(text)
        if value is None or not constraint.admits(value):
            raise FlagRefused(constraint.words, text)
        return value

    parse.constraint = constraint  # type: ignore[attr-defined]
    return parse


#: argparse type: a positive integer; '1.5' and '0' are refused
positive_int = flag_type(Integer(minimum=1))
#: argparse type: an integer >= 0 (an index); '-1' and '1.5' are refused
non_negative_int = flag_type(Integer(minimum=0))
#: argparse type of every --seed and of --data-seed: gd_torch.base.validate.SEED
seed = flag_type(SEED)
#: argparse type: a finite number > 0
positive_float = flag_type(Number(above=0))
#: argparse type: a finite number
finite_float = flag_type(Number())


def one_of(names: Iterable[str]) -> Callable[[str], str]:
    """argparse type: one of ``names``."""
    return flag_type(Options(tuple(names)))


def one_of_or_file(names: Iterable[str]) -> Callable[[str], str]:
    """argparse type: one of ``names``, or FILE.py:NAME (your own, loaded by :func:`own_part`)."""
    options = Options(tuple(names))

    def parse(text: str) -> str:
        if not options.admits(text) and not _user_code.is_reference(text):
            raise FlagRefused(options.words + " or FILE.py:NAME (your own)", text)
        return text

    parse.constraint = options  # type: ignore[attr-defined]
    return parse


def list_of(item: Callable[[str], Any], what: str) -> Callable[[str], tuple]:
    """argparse type: a comma-separated list of distinct ``what``, each parsed by the type ``item``."""
    accepted = f"a comma-separated list of {what}"
    options = getattr(item, "constraint", None)
    if isinstance(options, Options):
        accepted += " from: " + ", ".join(options.options)

    def parse(text: str) -> tuple:
        parts = [t.strip() for t in text.split(",")]
        try:
            values = tuple(item(t) for t in parts)
        except argparse.ArgumentTypeError:
            raise FlagRefused(accepted, text) from None
        if len(set(values)) != len(values):  # the tables are keyed by value: a repeat would run twice
            raise FlagRefused(f"a comma-separated list of distinct {what}", text)
        return values

    return parse


def weight_pair(text: str) -> tuple[int, int]:
    """argparse type: 'i,j', two different weight indices (plain integers >= 0)."""
    words = "two different weight indices 'i,j', e.g. '1,2'"
    parts = [non_negative_int.constraint.from_text(t.strip()) for t in text.split(",")]  # type: ignore[attr-defined]
    if len(parts) != 2 or None in parts or parts[0] == parts[1]:
        raise FlagRefused(words, text)
    return parts[0], parts[1]
