"""The argparse types of the sub-commands: each parses one flag's text or refuses it with
"must be ...; got '...'" (cli._Parser turns that into one line naming the flag)."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Iterable

from . import _user_code

_ASCII_INT = re.compile(r"[0-9]+")
_ASCII_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _refuse(accepted: str, text: str) -> argparse.ArgumentTypeError:
    # argparse prefixes "argument --flag: "; cli._Parser.error turns that into "--flag must be ...; got '...'"
    return argparse.ArgumentTypeError(f"must be {accepted}; got {text!r}")


def _int_at_least(minimum: int, words: str):
    # argparse type: a plain ASCII decimal integer >= minimum ('1.5', '1_0', '５', '+3' are refused)
    def parse(text: str) -> int:
        if not _ASCII_INT.fullmatch(text) or int(text) < minimum:
            raise _refuse(words, text)
        return int(text)

    return parse


#: argparse type: a positive integer; '1.5' and '0' are refused
positive_int = _int_at_least(1, "a positive integer")
#: argparse type: an integer >= 0 (a seed); '-1' and '1.5' are refused
non_negative_int = _int_at_least(0, "a non-negative integer")


def _float(text: str) -> float | None:
    # a plain ASCII decimal number, finite; None otherwise (float() also takes 'nan', '1_0', '１')
    return float(text) if _ASCII_FLOAT.fullmatch(text) and math.isfinite(float(text)) else None


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (a learning rate)."""
    value = _float(text)
    if value is None or value <= 0:
        raise _refuse("a finite number > 0", text)
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite number."""
    value = _float(text)
    if value is None:
        raise _refuse("a finite number", text)
    return value


def one_of(names: Iterable[str]):
    """argparse type: one of ``names``."""
    names = tuple(names)

    def parse(text: str) -> str:
        if text not in names:
            raise _refuse("one of " + ", ".join(names), text)
        return text

    parse.accepted = ", ".join(names)
    return parse


def one_of_or_file(names: Iterable[str]):
    """argparse type: one of ``names``, or FILE.py:NAME (your own, loaded by :func:`own_part`)."""
    names = tuple(names)

    def parse(text: str) -> str:
        if text not in names and not _user_code.is_reference(text):
            raise _refuse("one of " + ", ".join(names) + " or FILE.py:NAME (your own)", text)
        return text

    parse.accepted = ", ".join(names)
    return parse


def list_of(item, what: str):
    """argparse type: a comma-separated list of distinct ``what``, each parsed by the type ``item``."""
    accepted = f"a comma-separated list of {what}"
    if hasattr(item, "accepted"):
        accepted += f" from: {item.accepted}"

    def parse(text: str) -> tuple:
        parts = [t.strip() for t in text.split(",")]
        try:
            values = tuple(item(t) for t in parts)
        except argparse.ArgumentTypeError:
            raise _refuse(accepted, text) from None
        if len(set(values)) != len(values):  # the tables are keyed by value: a repeat would run twice
            raise _refuse(f"a comma-separated list of distinct {what}", text)
        return values

    return parse


def weight_pair(text: str) -> tuple[int, int]:
    """argparse type: 'i,j', two different weight indices (plain integers >= 0)."""
    parts = text.split(",")
    if len(parts) != 2 or not all(_ASCII_INT.fullmatch(t.strip()) for t in parts):
        raise _refuse("two different weight indices 'i,j', e.g. '1,2'", text)
    i, j = (int(t) for t in parts)
    if i == j:
        raise _refuse("two different weight indices 'i,j', e.g. '1,2'", text)
    return i, j
