"""Checks shared by the Activation and Loss constructors (a user's own parts arrive here)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ._errors import bad_value


def check_part(part: Any, callables: tuple[str, ...], optional: tuple[str, ...], texts: tuple[str, ...]) -> None:
    """Refuse a part whose name is not a non-empty string, whose required functions are not
    callable, whose optional ones are neither None nor callable, or whose formulas are not text."""
    kind = type(part).__name__
    if not isinstance(part.name, str) or not part.name:
        raise bad_value(f"{kind}.name", part.name, "a non-empty string")
    for f in fields(part):
        value = getattr(part, f.name)
        if f.name in callables and not callable(value):
            raise bad_value(f"{kind}.{f.name}", value, "a callable")
        if f.name in optional and value is not None and not callable(value):
            raise bad_value(f"{kind}.{f.name}", value, "None or a callable")
        if f.name in texts and not isinstance(value, str):
            raise bad_value(f"{kind}.{f.name}", value, "a string (the formula, for reports)")
