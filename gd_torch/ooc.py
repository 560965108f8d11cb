"""Data larger than memory: folders of ``.npy`` shards, memory-mapped and read in row blocks.

A dataset folder holds shards, pairs ``X-00000.npy`` (n_i, D) and ``y-00000.npy`` (n_i,)
(or one pair ``X.npy`` / ``y.npy``), all with the same D and dtype (float32 or float64),
C order; and optionally ``meta.json`` as :func:`gd_torch.synthetic.make_data` writes it
(the shard list, in order, and a known separating W).  The bias column, if wanted, is in X.

Every pass reads rows [start, stop) in blocks: each block is a memory map of just those
rows, dropped before the next one is mapped, so that the memory a pass holds is the block
budget (``budget`` bytes of working arrays per block), whatever N is; the rest of X stays
in the page cache or on disk.  :class:`Arrays` gives numpy arrays the same interface.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import _validate
from ._errors import GdTorchError, bad_value

#: working memory per block, bytes, unless the caller gives its own budget
DEFAULT_BUDGET = 64 << 20
META = "meta.json"
#: what a row costs in a pass that keeps only X's row and a few per-sample vectors
ROW_VECTORS = 64


def row_bytes(d: int, dtype: np.dtype, per_entry: int = 0, per_row: int = ROW_VECTORS) -> int:
    """Bytes of working memory one row of a block costs: X's row, plus ``per_entry`` bytes for
    each of its d entries (float64 copies), plus ``per_row`` bytes of per-sample vectors."""
    return d * (np.dtype(dtype).itemsize + per_entry) + per_row


@dataclass(frozen=True)
class Block:
    """Rows [start, start + len(y)) of a dataset: X of shape (rows, D), y of shape (rows,)."""

    start: int
    X: np.ndarray
    y: np.ndarray


class Arrays:
    """In-memory (X, y) behind the row-block interface of :class:`Shards`."""

    def __init__(self, X: Any, y: Any, budget: int = DEFAULT_BUDGET) -> None:
        _, self.X, self.y = _validate.problem(_validate.zero_weights(X), X, y)
        self.n, self.d = self.X.shape
        self.dtype = self.X.dtype
        self.budget = _budget(budget)
        self.name = f"arrays {self.n} x {self.d} {self.dtype}"

    def blocks(self, start: int, stop: int, bytes_per_row: int) -> Iterator[Block]:
        """Rows [start, stop) in blocks of at most ``budget // bytes_per_row`` rows."""
        rows = max(1, self.budget // bytes_per_row)
        for s in range(start, stop, rows):
            e = min(s + rows, stop)
            yield Block(s, self.X[s:e], self.y[s:e])

    def take(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """X[rows] and y[rows] (copies) for sorted global row indices."""
        return self.X[rows], self.y[rows]


@dataclass(frozen=True)
class _Shard:
    x: Path
    y: Path
    n: int
    x_offset: int
    y_offset: int
    y_dtype: np.dtype


class Shards:
    """A dataset folder (see the module docstring), checked when opened: every shard's shape,
    dtype and order, the same D and dtype across shards, labels as many as rows."""

    def __init__(self, folder: str | Path, budget: int = DEFAULT_BUDGET) -> None:
        folder = Path(folder)
        self.budget = _budget(budget)
        self.name = str(folder)
        pairs = _shard_pairs(folder)
        first = _header(pairs[0][0], 2)
        self.d, self.dtype = first[0][1], first[1]
        if self.dtype not in _validate.FLOAT_DTYPES:
            raise bad_value(f"dataset {folder}", f"{pairs[0][0].name} of dtype {self.dtype}", "float32 or float64 X")
        self.shards = [self._shard(x, y, pairs[0][0]) for x, y in pairs]
        self.starts = np.cumsum([0] + [s.n for s in self.shards])
        self.n = int(self.starts[-1])
        if self.n == 0:
            raise bad_value(f"dataset {folder}", "shards of 0 rows", "at least one sample")

    def _shard(self, x: Path, y: Path, first: Path) -> _Shard:
        (n, d), dt, x_off = _header(x, 2)
        if d != self.d or dt != self.dtype:
            raise GdTorchError(
                f"dataset {self.name} must hold shards of one width and dtype: {x.name} is {n} x {d} {dt}, "
                f"{first.name} has D = {self.d} and dtype {self.dtype}"
            )
        (ny,), ydt, y_off = _header(y, 1)
        if ny != n or ydt.kind not in "biuf":
            raise GdTorchError(
                f"dataset {self.name} must hold one real label per row: {y.name} holds {ny} labels of dtype {ydt}, "
                f"{x.name} has {n} rows"
            )
        return _Shard(x, y, n, x_off, y_off, ydt)

    def blocks(self, start: int, stop: int, bytes_per_row: int) -> Iterator[Block]:
        """Rows [start, stop) in blocks of at most ``budget // bytes_per_row`` rows, each a fresh
        memory map of those rows only (a block never spans two shards)."""
        rows = max(1, self.budget // bytes_per_row)
        s = start
        while s < stop:
            i = int(np.searchsorted(self.starts, s, side="right")) - 1
            e = min(s + rows, stop, int(self.starts[i + 1]))
            yield self._block(i, s - int(self.starts[i]), e - s, s)
            s = e

    def _block(self, i: int, local: int, rows: int, start: int) -> Block:
        sh = self.shards[i]
        width = self.d * self.dtype.itemsize
        # copy-on-write maps are never written: they let torch wrap a block without a copy
        X = np.memmap(sh.x, self.dtype, "c", sh.x_offset + local * width, (rows, self.d)).view(np.ndarray)
        y = np.memmap(sh.y, sh.y_dtype, "r", sh.y_offset + local * sh.y_dtype.itemsize, (rows,))
        return Block(start, X, np.array(y, dtype=self.dtype))

    def take(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """X[rows] and y[rows] (copies) for sorted global row indices, shard by shard."""
        X = np.empty((rows.shape[0], self.d), dtype=self.dtype)
        y = np.empty(rows.shape[0], dtype=self.dtype)
        shard = np.searchsorted(self.starts, rows, side="right") - 1
        for i in np.unique(shard):
            sel = np.flatnonzero(shard == i)
            sh, local = self.shards[i], rows[sel] - self.starts[i]
            mx = np.memmap(sh.x, self.dtype, "r", sh.x_offset, (sh.n, self.d))
            X[sel] = mx[local]
            y[sel] = np.memmap(sh.y, sh.y_dtype, "r", sh.y_offset, (sh.n,))[local]
            del mx
        return X, y


Dataset = Arrays | Shards


def open_dataset(path: str | Path, budget: int = DEFAULT_BUDGET) -> Shards:
    """Open a dataset folder (see the module docstring) for row-block passes of ``budget`` bytes."""
    return Shards(path, budget)


def _budget(budget: Any) -> int:
    return _validate.integer(
        "budget", budget, minimum=4096, accepted="an integer number of bytes >= 4096 (working memory per row block)"
    )


def _shard_pairs(folder: Path) -> list[tuple[Path, Path]]:
    # the shards in order: meta.json's list when there is one, else X*.npy sorted by name
    if not folder.is_dir():
        raise bad_value("dataset", str(folder), "a folder of .npy shards (X-00000.npy, y-00000.npy, ...)")
    meta = folder / META
    if meta.is_file():
        info = read_meta(folder)
        if not info.get("complete", False):
            raise GdTorchError(
                f"dataset {folder} is incomplete: make-data stopped after {info.get('written', 0)} of "
                f"{len(info.get('shards', []))} shards; run it again"
            )
        names = [(s["X"], s["y"]) for s in info["shards"]]
    else:
        names = [(x.name, "y" + x.name[1:]) for x in sorted(folder.glob("X*.npy"))]
    if not names:
        raise bad_value("dataset", str(folder), "a folder holding X.npy and y.npy, or shards X-00000.npy, y-00000.npy")
    pairs = [(folder / x, folder / y) for x, y in names]
    for x, y in pairs:
        for p in (x, y):
            if not p.is_file():
                raise GdTorchError(f"dataset {folder} is missing {p.name} (the labels of {x.name}, or a listed shard)")
    return pairs


def read_meta(folder: str | Path) -> dict:
    """The dataset's meta.json, parsed."""
    path = Path(folder) / META
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GdTorchError(f"dataset {folder}: {META} cannot be read: {exc}") from None


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _header(path: Path, ndim: int) -> tuple[tuple[int, ...], np.dtype, int]:
    # shape, dtype and data offset of a .npy file, from its header alone
    try:
        with path.open("rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = _HEADER_READERS.get(version)
            if read is None:
                raise ValueError(f".npy format version {version[0]}.{version[1]}; 1.0 and 2.0 are read")
            shape, fortran, dtype = read(fh)
            offset = fh.tell()
    except (OSError, ValueError) as exc:
        raise GdTorchError(f"dataset file {str(path)!r} cannot be read as .npy: {exc}") from None
    if len(shape) != ndim or fortran or dtype.hasobject:
        want = "(n, D) X" if ndim == 2 else "(n,) labels"
        raise bad_value(f"dataset file {path.name}", f"shape {shape}, fortran_order={fortran}", f"a C-order {want}")
    size = path.stat().st_size
    if size < offset + int(np.prod(shape)) * dtype.itemsize:
        raise GdTorchError(f"dataset file {str(path)!r} is truncated: {size} bytes for shape {shape} {dtype}")
    return shape, dtype, offset
