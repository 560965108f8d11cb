"""Boundary checks shared by every public function, and the constraint objects of their tables.

A public function declares its parameters' constraints once, in a table (parameter ->
:class:`Integer`, :class:`Number`, :class:`Options`, :class:`FloatDtype`, :class:`Bool`), as scikit-learn's ``validate_params``
does, and checks its arguments with :func:`params` at its top.  The command line reads the
same table: a flag that sets a parameter parses its text with the parameter's constraint
(``gd_torch.cli.commands._types.flag_type``), so a rule is written once for both.

Checks here are cheap: shapes, dtypes and names are O(1); the values of W and y are
O(D) and O(N).  X itself is never scanned: a NaN or inf anywhere in X makes the
corresponding entry of z = X @ W non-finite (NaN * 0 is NaN), so callers test the
N-vector z with :func:`finite_z` where they compute it anyway.

Arrays returned by :func:`problem` are safe for ``torch.from_numpy``: writeable and
with non-negative strides.  An input that is read-only (a memory map, ``np.broadcast_to``,
``flags.writeable = False``) or reversed (``X[::-1]``) is copied once, an O(size) copy in
time and memory; every other array is used as it is (never modified in place).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .._errors import GdTorchError, bad_value
from . import finite as _finite

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def choice(name: str, value: object, options: Mapping[str, Any] | tuple[str, ...]) -> str:
    """Return ``value`` if it names one of ``options``; raise naming the options otherwise."""
    names = tuple(options)
    if not isinstance(value, str) or value not in names:
        raise bad_value(name, value, "one of " + ", ".join(repr(n) for n in names))
    return value


def dtype(name: str, value: object) -> np.dtype:
    """Resolve a dtype spelled as a string or numpy dtype; only float32 and float64 pass."""
    # None is refused explicitly: np.dtype(None) is float64, and np.dtype('float64') == None
    # is True, so neither "np.dtype(value)" nor "in FLOAT_DTYPES" would catch it
    try:
        resolved = None if value is None else np.dtype(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, SyntaxError):  # np.dtype('f8,,') is a SyntaxError
        resolved = None
    if resolved is None or resolved not in FLOAT_DTYPES:
        raise bad_value(name, value, "'float32' or 'float64'")
    return resolved


def integer(
    name: str,
    value: object,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    none_ok: bool = False,
    accepted: str | None = None,
) -> int | None:
    """``value`` as a Python int in [minimum, maximum], or None where ``none_ok``.

    Accepted: int and numpy integers.  Refused: bool (True is not a count), floats even
    when integral (2.0), strings ('3'), numpy bools and floats, and everything else.
    ``accepted`` replaces the generated description ("a positive integer", ...) in the message.
    """
    if value is None and none_ok:
        return None
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        text = accepted or _integer_words(minimum, maximum)
        raise bad_value(name, value, ("None or " if none_ok else "") + text)
    return int(value)


def _integer_words(minimum: int | None, maximum: int | None) -> str:
    if maximum is not None:
        return f"an integer in [{minimum}, {maximum}]" if minimum is not None else f"an integer <= {maximum}"
    return {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
        minimum, f"an integer >= {minimum}"
    )


def number(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    none_ok: bool = False,
    accepted: str | None = None,
) -> float | None:
    """``value`` as a finite Python float with minimum <= value (above < value) <= maximum.

    Accepted: int, float and numpy integer and float scalars (np.float32(0.1) is a number).
    Refused: NaN and inf, bool, strings ('1e-3'), complex, arrays, and ints beyond float's range.
    """
    if value is None and none_ok:
        return None
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    try:
        v = float(value) if ok else math.nan  # type: ignore[arg-type]
    except OverflowError:  # an int of 400 digits
        v = math.nan
    bounded = (minimum is None or v >= minimum) and (above is None or v > above) and (maximum is None or v <= maximum)
    if not (math.isfinite(v) and bounded):
        raise bad_value(
            name, value, ("None or " if none_ok else "") + (accepted or _number_words(minimum, above, maximum))
        )
    return v


def _number_words(minimum: float | None, above: float | None, maximum: float | None) -> str:
    bounds = [f">= {minimum}" if minimum is not None else "", f"> {above}" if above is not None else ""]
    bounds.append(f"<= {maximum}" if maximum is not None else "")
    text = " and ".join(b for b in bounds if b)
    return "a finite number" + (f" {text}" if text else "")


# the plain ASCII spellings a flag may use for a number ('1_0', '５', 'nan', '+3' are not)
_ASCII_INT = re.compile(r"[0-9]+")  # no flag takes a negative integer
_ASCII_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class Constraint(Protocol):
    """What a parameter accepts: checked in the library, parsed from a flag's text by the CLI."""

    def __call__(self, name: str, value: object) -> Any:
        """``value`` converted (an int, a float, ...), or a GdTorchError naming ``name``."""
        ...

    def from_text(self, text: str) -> Any:
        """The value a command-line text spells, or None where it spells none (syntax only)."""
        ...

    def admits(self, value: object) -> bool:
        """True when ``value`` (as from_text gives it) passes."""
        ...

    @property
    def words(self) -> str:
        """What is accepted, as the command line says it: "a positive integer"."""
        ...


@dataclass(frozen=True)
class Integer:
    """An int or numpy integer (never a bool) in [minimum, maximum]; None too where ``none_ok``.

    ``text`` replaces the words generated from the bounds ("a positive integer"); ``note`` is
    added after them in the library's message ("a positive integer (epochs without improvement)").
    """

    minimum: int | None = None
    maximum: int | None = None
    none_ok: bool = False
    text: str = ""
    note: str = ""

    @property
    def words(self) -> str:
        return self.text or _integer_words(self.minimum, self.maximum)

    def __call__(self, name: str, value: object) -> int | None:
        note = f" ({self.note})" if self.note else ""
        return integer(
            name, value, minimum=self.minimum, maximum=self.maximum, none_ok=self.none_ok, accepted=self.words + note
        )

    def from_text(self, text: str) -> int | None:
        return int(text) if _ASCII_INT.fullmatch(text) else None

    def admits(self, value: object) -> bool:
        return _admits(self, value)


@dataclass(frozen=True)
class Number:
    """A finite real number (int, float, numpy scalar; never a bool, NaN or inf) with
    minimum <= value, above < value, value <= maximum; None too where ``none_ok``.
    ``text`` and ``note`` as :class:`Integer`'s."""

    minimum: float | None = None
    above: float | None = None
    maximum: float | None = None
    none_ok: bool = False
    text: str = ""
    note: str = ""

    @property
    def words(self) -> str:
        return self.text or _number_words(self.minimum, self.above, self.maximum)

    def __call__(self, name: str, value: object) -> float | None:
        note = f" ({self.note})" if self.note else ""
        bounds = {"minimum": self.minimum, "above": self.above, "maximum": self.maximum}
        return number(name, value, **bounds, none_ok=self.none_ok, accepted=self.words + note)

    def from_text(self, text: str) -> float | None:
        value = float(text) if _ASCII_FLOAT.fullmatch(text) else math.nan
        return value if math.isfinite(value) else None

    def admits(self, value: object) -> bool:
        return _admits(self, value)


@dataclass(frozen=True)
class Options:
    """One of the names of ``options`` (a tuple, or a registry dict read when checked, so that
    a name registered later is accepted).  The library quotes the names ("one of 'full',
    'directional'"), the command line does not ("one of full, directional")."""

    options: Mapping[str, Any] | tuple[str, ...]

    @property
    def words(self) -> str:
        return "one of " + ", ".join(self.options)

    def __call__(self, name: str, value: object) -> str:
        return choice(name, value, self.options)

    def from_text(self, text: str) -> str:
        return text

    def admits(self, value: object) -> bool:
        return isinstance(value, str) and value in tuple(self.options)


@dataclass(frozen=True)
class FloatDtype:
    """float32 or float64, spelled as a string or a numpy dtype (see :func:`dtype`)."""

    words: str = "'float32' or 'float64'"

    def __call__(self, name: str, value: object) -> np.dtype:
        return dtype(name, value)

    def from_text(self, text: str) -> str:
        return text

    def admits(self, value: object) -> bool:
        return _admits(self, value)


@dataclass(frozen=True)
class Bool:
    """True or False, nothing else (not 0 or 1, not numpy's bool_)."""

    words: str = "True or False"

    def __call__(self, name: str, value: object) -> bool:
        if not isinstance(value, bool):
            raise bad_value(name, value, self.words)
        return value

    def from_text(self, text: str) -> bool | None:
        return {"true": True, "false": False}.get(text.lower())

    def admits(self, value: object) -> bool:
        return isinstance(value, bool)


def _admits(constraint: Integer | Number | FloatDtype, value: object) -> bool:
    # the check itself, its error swallowed: one copy of the rule
    try:
        constraint("value", value)
    except GdTorchError:
        return False
    return True


def params(table: Mapping[str, Constraint], /, **values: object) -> dict[str, Any]:
    """Each of ``values`` checked by its parameter's constraint in ``table``; the converted values.

    ``values`` must name exactly the table's parameters (a TypeError otherwise: a caller's
    bug, not the user's); the result lists them in the table's order.
    """
    if values.keys() != table.keys():
        raise TypeError(f"params: expected the parameters {list(table)}; got {list(values)}")
    return {name: constraint(name, values[name]) for name, constraint in table.items()}


#: a random seed: an integer >= 0, or None for a fresh one (every command's --seed)
SEED = Integer(minimum=0, none_ok=True)


def seed(name: str, value: object, none_ok: bool = True) -> int | None:
    """A random seed: a non-negative integer (or None where allowed); numpy and scikit-learn refuse the rest."""
    return integer(name, value, minimum=0, none_ok=none_ok)


def array(name: str, value: Any) -> np.ndarray:
    """``value`` as a numpy array, without copying what need not be copied.

    A torch tensor is detached and moved to the CPU (its values, not its graph, are used;
    a tensor that requires grad is fine).  A ragged nested list, a tensor numpy cannot hold
    (bfloat16, sparse), and whatever numpy can hold only as objects or strings (None, 'abc',
    a dict) is a GdTorchError naming ``name``.  The shape and the numeric dtype (complex,
    float16, ...) are the caller's to check.
    """
    torch = sys.modules.get("torch")  # a tensor exists only if torch was imported
    if torch is not None and isinstance(value, torch.Tensor):
        try:
            return value.detach().resolve_conj().resolve_neg().cpu().numpy()
        except (RuntimeError, TypeError, NotImplementedError):
            got = f"a tensor of dtype {value.dtype} and layout {value.layout} on {value.device}"
            raise bad_value(name, got, "a dense tensor of a numpy dtype (float32 or float64)") from None
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, RuntimeError, OverflowError):  # ragged lists, tensors needing grad inside lists
        got = f"a {type(value).__name__} numpy cannot make into one rectangular array"
        raise bad_value(name, got, "an array or a rectangular nested list of numbers") from None
    if arr.dtype.kind in "OSUV":  # None, strings, dicts, lists of mixed objects: name the value itself
        raise bad_value(name, value, "an array (or nested list, or tensor) of real numbers")
    return arr


def torch_safe(arr: np.ndarray) -> np.ndarray:
    """``arr`` itself when torch.from_numpy can share it; a copy if it is read-only or has a negative stride."""
    if arr.flags.writeable and all(s >= 0 for s in arr.strides):
        return arr
    return arr.copy(order="K")  # order K: keeps a Fortran layout Fortran, makes every stride positive


def cast(name: str, arr: np.ndarray, dt: np.dtype) -> np.ndarray:
    """Finite real ``arr`` converted to ``dt``; refused, not cast to inf, where a value is beyond its range.

    Expects an array already checked finite (or of integers); a float64 y of 1e300 into
    float32 is refused here instead of becoming inf with numpy's overflow warning.
    """
    if arr.dtype == dt:
        return arr
    if arr.dtype.kind == "f" and arr.size and arr.dtype.itemsize > dt.itemsize:
        i = int(np.argmax(np.abs(arr)))
        if abs(arr.flat[i]) > np.finfo(dt).max:
            where = f"{name}[{i}]" if arr.ndim == 1 else f"{name}[{np.unravel_index(i, arr.shape)}]"
            raise bad_value(
                name, f"{where} = {arr.flat[i]}", f"within the range of {dt} (|value| <= {np.finfo(dt).max:.4g})"
            )
    return arr.astype(dt)


def zero_weights(X: Any) -> np.ndarray:
    """A zero W of X's width and float dtype: lets the checks of :func:`problem` run on (X, y) alone."""
    X = array("X", X)
    return np.zeros(X.shape[1] if X.ndim == 2 else 0, dtype=X.dtype if X.dtype.kind == "f" else np.float64)


def problem(W: Any, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check shapes and dtypes of one problem and return (W, X, y) as float arrays.

    X : array or tensor of shape (n_samples, n_features), float32 or float64; bool and
        integers become float64; float16, longdouble and complex are refused.
    W : array of shape (n_features,).  A float W must have X's dtype exactly (float16,
        longdouble or the other of float32/float64 are refused, not cast); integers and
        lists of numbers are converted to X's dtype.
    y : array of shape (n_samples,), finite; any real dtype, converted to X's dtype
        (refused if a value is beyond that dtype's range, e.g. 1e300 for float32 X).

    Torch tensors are accepted for each (detached, copied to the CPU).  The arrays
    returned are safe for ``torch.from_numpy`` (see the module docstring).
    """
    X = array("X", X)
    if X.ndim != 2:
        raise bad_value("X", f"an array of shape {X.shape}", "2-D, of shape (n_samples, n_features)")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise bad_value("X", f"an array of shape {X.shape}", "non-empty (at least one sample and one feature)")
    if X.dtype.kind in "biu":
        X = X.astype(np.float64)
    if X.dtype not in FLOAT_DTYPES:
        raise bad_value("X", f"an array of dtype {X.dtype}", "of dtype float32 or float64")
    W = _vector("W", W, X.shape[1], X.dtype, "(n_features,) = " + f"({X.shape[1]},), one weight per column of X")
    y = _vector("y", y, X.shape[0], X.dtype, f"({X.shape[0]},), one label per row of X")
    return W, torch_safe(X), y


def _vector(name: str, value: Any, length: int, dt: np.dtype, shape_text: str) -> np.ndarray:
    # W or y: shape, real dtype, finite, then converted to X's dtype
    arr = array(name, value)
    if arr.ndim != 1 or arr.shape[0] != length:
        raise bad_value(name, f"an array of shape {arr.shape}", f"of shape {shape_text}")
    if arr.dtype.kind not in "biuf":
        raise bad_value(name, f"an array of dtype {arr.dtype}", "real numbers")
    if name == "W" and arr.dtype.kind == "f" and arr.dtype != dt:
        raise bad_value(
            name, f"an array of dtype {arr.dtype}", f"of X's dtype ({dt}); convert one of them, e.g. W.astype(X.dtype)"
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise bad_value(name, f"{name}[{i}] = {arr[i]}", "finite (no NaN or inf)")
    return torch_safe(np.ascontiguousarray(cast(name, arr, dt)))


def binary_labels(y: np.ndarray, why: str) -> None:
    """Raise unless every label is exactly 0 or 1."""
    bad = (y != 0) & (y != 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise bad_value("y", f"y[{i}] = {y[i]}", f"0 or 1 ({why})")


def z_of(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """z = X @ W, checked with :func:`finite_z`.

    numpy's matmul warns (RuntimeWarning) on inf * 0 and on overflow before the check can
    run; under ``-W error`` (as the test suite runs) that warning would escape instead of
    the GdTorchError, so the product is taken with those warnings silenced: the NaN or inf
    they announce is exactly what finite_z reports.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        z = X @ W
    _finite.refuse_z_overflow(X, z)
    finite_z(z)
    return z


def finite_z(z: Any) -> None:
    """Raise if z = X @ W has a NaN or inf: X holds one (W was checked) or X @ W overflowed."""
    ok = np.isfinite(z).all() if isinstance(z, np.ndarray) else bool(z.isfinite().all())
    if not ok:
        zz = np.asarray(z.detach().cpu()) if not isinstance(z, np.ndarray) else z
        i = int(np.flatnonzero(~np.isfinite(zz))[0])
        raise GdTorchError(
            f"X must be finite: row {i} of X gives z = X @ W = {zz[i]} (X holds a NaN or inf in that row, "
            "or its values are so large that X @ W overflows)"
        )
