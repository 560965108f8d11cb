"""The boundary with the user's own code: checks shared by the Activation and Loss constructors
(a user's own parts arrive here), and :func:`call_user`, through which every call of a user's
function goes (a gradient g(W, X, y), a part's f, df, terms, ...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import numpy as np

from ._errors import GdTorchError, bad_value


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


def read_only(value: Any) -> Any:
    """A read-only view of an ndarray (no copy: the caller's array stays writeable); anything else as is."""
    if isinstance(value, np.ndarray):
        value = value.view()
        value.flags.writeable = False
    return value


def call_user(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` with read-only views of the array arguments, so that the user's code cannot
    change the caller's data.  Anything it raises (a write into an argument is numpy's
    ValueError "... is read-only"), or a ``sys.exit``, becomes one GdTorchError naming ``what``
    (e.g. "your gradient f(W, X, y)") with the exception's type and message, chained ``from``
    it so that a Python caller still sees the user's traceback."""
    try:
        return fn(*(read_only(a) for a in args))
    except (Exception, SystemExit) as exc:
        raise GdTorchError(f"{what} {failure_text(exc)}") from exc


def failure_text(exc: BaseException) -> str:
    """'raised TypeError: ...' on one line, or 'exited with status N' for a sys.exit."""
    if isinstance(exc, SystemExit):
        return f"exited with status {exc.code!r} (sys.exit) instead of returning"
    message = " ".join(str(exc).split())
    message = message if len(message) <= 300 else message[:297] + "..."
    hint = ""
    if isinstance(exc, ValueError) and "read-only" in message:
        hint = " (its array arguments are read-only, so that it cannot change the caller's data: work on a copy)"
    return f"raised {type(exc).__name__}: {message}{hint}"
