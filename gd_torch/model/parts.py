"""The boundary with the user's own code: checks shared by the Activation and Loss constructors
(a user's own parts arrive here), and :func:`call_user`, through which every call of a user's
function goes (a gradient g(W, X, y), a part's f, df, terms, ...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value


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


#: a part's callables: their arguments, by name; the output has the shape of the first
#: (z or a).  A callable that takes y is called column by column on 2-D arrays (below).
SIGNATURES = {
    "f": ("z",),
    "df": ("z", "a"),
    "df_abs": ("z", "a"),
    "torch_f": ("z",),
    "limit_distance": ("z",),
    "terms": ("z", "a", "y"),
    "terms_abs": ("z", "a", "y"),
    "torch_terms": ("z", "a", "y"),
    "dL_da": ("a", "y", "n"),
    "dL_abs": ("a", "y", "n"),
    "dL_dz": ("a", "y", "n"),
}


def checked(part: Any) -> Any:
    """A user's Activation or Loss whose callables go through :func:`call_user` (read-only
    inputs, a failure named) and whose outputs are validated: of the input's shape, real numbers
    (complex only for complex input, the complex step), finite wherever the input is finite.
    A callable that takes y gets 1-D arrays only: on k weight vectors at once ((n, k) arrays)
    it is called once per column, so that ``a - y`` means what it says for every user's
    function.  The checks cost O(1) (shape, dtype) and one pass over the output (finiteness)."""
    wrapped = {
        name: _checked_callable(part, name, getattr(part, name), args)
        for name, args in SIGNATURES.items()
        if callable(getattr(part, name, None)) and not getattr(getattr(part, name), "_gd_torch_checked", False)
    }
    return replace(part, **wrapped) if wrapped else part


def _checked_callable(part: Any, name: str, fn: Callable[..., Any], args: tuple[str, ...]) -> Callable[..., Any]:
    what = f"your {type(part).__name__} {part.name!r}: its {name}({', '.join(args)})"
    columns = "y" in args

    def call(*values: Any) -> Any:
        like = values[0]
        if columns and getattr(like, "ndim", 0) == 2:
            cols = [call(*(v[:, j] if getattr(v, "ndim", 0) == 2 else v for v in values)) for j in range(like.shape[1])]
            return _stack(cols)
        return _output(what, call_user(what, fn, *values), values, args[0])

    call._gd_torch_checked = True  # type: ignore[attr-defined]
    return call


def _stack(cols: list[Any]) -> Any:
    if cols and hasattr(cols[0], "detach"):  # torch tensors
        import torch

        return torch.stack(cols, dim=1)
    return np.stack(cols, axis=1)


def _output(what: str, out: Any, values: tuple[Any, ...], first: str) -> Any:
    # the output of a user's part: of the first input's shape, real unless the input is complex,
    # finite wherever the inputs are
    like = values[0]
    shape = tuple(getattr(like, "shape", ()))
    if hasattr(like, "detach"):  # torch: a tensor of the input's shape (its values stay in the graph)
        if not hasattr(out, "detach") or tuple(out.shape) != shape:
            got = f"a tensor of shape {tuple(out.shape)}" if hasattr(out, "detach") else type(out).__name__
            raise GdTorchError(f"{what} must return a torch tensor of {first}'s shape {shape}; got {got}")
        _tracked(what, out, values, first)
        return out
    try:
        arr = np.asarray(out)
    except Exception as exc:  # a ragged list
        raise GdTorchError(f"{what} must return an array of {first}'s shape {shape}; got {type(out).__name__}") from exc
    if out is None or arr.shape != shape:
        got = "None" if out is None else f"an array of shape {arr.shape}"
        raise GdTorchError(f"{what} must return an array of {first}'s shape {shape}; got {got}")
    complex_in = any(np.iscomplexobj(v) for v in values if isinstance(v, np.ndarray))
    if arr.dtype.kind not in ("biufc" if complex_in else "biuf"):
        kinds = "numbers" if complex_in else "real numbers (complex only for complex input)"
        raise GdTorchError(f"{what} must return {kinds}; got an array of dtype {arr.dtype}")
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        _not_finite(what, arr, values, first)
    return arr if arr.flags.writeable else arr.copy()


def _tracked(what: str, out: Any, values: tuple[Any, ...], first: str) -> None:
    # autograd differentiates a torch part: where an input requires grad (and grad is enabled),
    # the output must too, or its derivative would read as zero (a tensor built through numpy)
    import torch

    tracked = [v for v in values if hasattr(v, "requires_grad") and v.requires_grad]
    if tracked and torch.is_grad_enabled() and not out.requires_grad:
        raise GdTorchError(
            f"{what} must return a tensor computed from {first} with torch operations, so that autograd can "
            "differentiate it; got one that does not require grad (computed through numpy, detached, or a "
            "new constant tensor?)"
        )


def _not_finite(what: str, arr: np.ndarray, values: tuple[Any, ...], first: str) -> None:
    # a NaN or inf where every input is finite is the user's function's; elsewhere it is passed on
    bad = ~np.isfinite(arr)
    for v in values:
        if isinstance(v, np.ndarray) and v.shape == arr.shape:
            bad &= np.isfinite(v)
    if bad.any():
        i = np.unravel_index(int(np.flatnonzero(bad)[0]), arr.shape)
        at = i[0] if arr.ndim == 1 else i
        raise GdTorchError(
            f"{what} must return finite values for finite input; got {arr[i]} at {first}[{at}] = {values[0][i]}"
        )
