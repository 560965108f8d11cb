"""The parameters of a user's function: one array or a dict of named arrays, as one flat vector.

check_function works on a flat vector x of all parameters (in the dict's order, each array
in C order) and hands the user's function the arrays it expects, rebuilt as views of x.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from .._errors import bad_value
from ..base.validate import FLOAT_DTYPES

#: the name a single array goes by in reports
SINGLE = "x"


@dataclass(frozen=True)
class Layout:
    """Names, shapes and dtype of the parameters; maps between them and a flat vector."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtype: np.dtype
    #: True when the user passed one array (not a dict): functions receive that array
    single: bool

    @cached_property
    def sizes(self) -> tuple[int, ...]:
        return tuple(int(np.prod(s, dtype=np.int64)) for s in self.shapes)

    @property
    def size(self) -> int:
        return sum(self.sizes)

    @cached_property
    def _slices(self) -> tuple[slice, ...]:
        ends = np.cumsum((0, *self.sizes))
        return tuple(slice(int(a), int(b)) for a, b in zip(ends[:-1], ends[1:], strict=True))

    def slices(self) -> list[slice]:
        return list(self._slices)

    def unflatten(self, x: np.ndarray) -> Any:
        """The user's form of flat x (shape (n,)): one array, or a dict of arrays (views of x)."""
        arrays = [x[s].reshape(shape) for s, shape in zip(self.slices(), self.shapes, strict=True)]
        return arrays[0] if self.single else dict(zip(self.names, arrays, strict=True))

    def unflatten_batch(self, X: np.ndarray) -> Any:
        """Rows of X (shape (B, n)) as arrays with a leading batch axis: (B, *shape) each."""
        b = X.shape[0]
        arrays = [X[:, s].reshape((b, *shape)) for s, shape in zip(self.slices(), self.shapes, strict=True)]
        return arrays[0] if self.single else dict(zip(self.names, arrays, strict=True))

    def array_of(self, i: int) -> int:
        """Index of the array holding flat coordinate i."""
        return int(np.searchsorted(np.cumsum(self.sizes), i, side="right"))

    def label(self, i: int) -> str:
        """'W1[3, 2]' for flat coordinate i (the array's name, then its index)."""
        k = self.array_of(i)
        local = i - self.slices()[k].start
        index = np.unravel_index(local, self.shapes[k]) if self.shapes[k] else ()
        return f"{self.names[k]}[{', '.join(str(int(j)) for j in index)}]" if index else self.names[k]


def layout_of(params: Any) -> tuple[Layout, np.ndarray]:
    """Check ``params`` (one float array or a non-empty dict of them, one dtype) and flatten it.

    A float32 or float64 torch tensor is taken as its values (``.detach().cpu().numpy()``)."""
    if isinstance(params, Mapping):
        if not params:
            raise bad_value("params", params, "an array or a non-empty dict of named arrays")
        names = tuple(params)
        for name in names:
            if not isinstance(name, str):
                raise bad_value("params", f"a dict with key {name!r}", "a dict whose keys are strings")
        arrays = [_array(f"params[{n!r}]", params[n]) for n in names]
        dtypes = {a.dtype for a in arrays}
        if len(dtypes) > 1:
            found = ", ".join(f"{n}: {a.dtype}" for n, a in zip(names, arrays, strict=True))
            raise bad_value("params", f"arrays of dtypes {found}", "arrays of one dtype (float32 or float64)")
        single = False
    else:
        names, arrays, single = (SINGLE,), [_array("params", params)], True
    x = np.concatenate([a.ravel() for a in arrays])
    return Layout(names, tuple(a.shape for a in arrays), arrays[0].dtype, single), x


def _array(name: str, value: Any) -> np.ndarray:
    a = _tensor_values(name, value) if _is_tensor(value) else _dense(name, value)
    if a.dtype not in FLOAT_DTYPES:
        raise bad_value(name, f"an array of dtype {a.dtype}", "a float32 or float64 array (convert with .astype)")
    if a.size == 0:
        raise bad_value(name, f"an array of shape {a.shape}", "a non-empty array")
    if not np.isfinite(a).all():
        i = int(np.flatnonzero(~np.isfinite(a.ravel()))[0])
        raise bad_value(name, f"an array holding {a.ravel()[i]} at flat index {i}", "finite (no NaN or inf)")
    return a


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach")


def _tensor_values(name: str, t: Any) -> np.ndarray:
    # a float32 / float64 torch tensor is read as its values (f and grad receive numpy arrays,
    # torch_f tensors made from them): .detach().cpu().numpy(), a copy; requires_grad only says
    # that torch would record operations on it, which check_function never does on the user's tensor
    kind = str(t.dtype).removeprefix("torch.")
    if kind not in ("float32", "float64"):
        raise bad_value(
            name,
            f"a torch tensor of dtype {t.dtype}, shape {tuple(t.shape)}, requires_grad={t.requires_grad}",
            "a float32 or float64 array or torch tensor (convert with .to(torch.float32) or .double())",
        )
    return t.detach().cpu().numpy().copy()


def _dense(name: str, value: Any) -> np.ndarray:
    # np.asarray of a ragged sequence (items of different lengths) raises numpy's ValueError
    try:
        return np.asarray(value)
    except (ValueError, TypeError):
        shapes = [np.shape(v) if not isinstance(v, (list, tuple)) else f"len {len(v)}" for v in value]
        raise bad_value(
            name,
            f"a ragged {type(value).__name__} (items {_some(shapes)})",
            "a float32 or float64 array (one array per name in a dict for parameters of several shapes)",
        ) from None


def _some(items: list) -> str:
    return ", ".join(map(str, items[:4])) + (f" and {len(items) - 4} more" if len(items) > 4 else "")


def values_of(layout: Layout, value: Any, name: str) -> np.ndarray:
    """A gradient in the user's form (array or dict of arrays, numpy or torch) as flat float64."""
    if layout.single:
        parts = [_part(name, value, layout.shapes[0])]
    else:
        if not isinstance(value, Mapping) or set(value) != set(layout.names):
            keys = sorted(value) if isinstance(value, Mapping) else type(value).__name__
            raise bad_value(name, keys, f"a dict with the keys of params: {list(layout.names)}")
        parts = [_part(f"{name}[{n!r}]", value[n], shape) for n, shape in zip(layout.names, layout.shapes, strict=True)]
    return np.concatenate([p.ravel() for p in parts])


def _part(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise bad_value(name, f"an array of dtype {a.dtype}", "real numbers")
    if a.shape != shape:
        raise bad_value(name, f"an array of shape {a.shape}", f"of the parameter's shape {shape}")
    return a.astype(np.float64)
