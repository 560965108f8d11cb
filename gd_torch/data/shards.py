"""Data larger than memory: folders of ``.npy`` shards, memory-mapped and read in row blocks.

A dataset folder holds shards, pairs ``X-00000.npy`` (n_i, D) and ``y-00000.npy`` (n_i,)
(or one pair ``X.npy`` / ``y.npy``), all with the same D and dtype (float32 or float64),
C order; and optionally ``meta.json`` as :func:`gd_torch.data.synthetic.make_data` writes it
(the shard list, in order, and a known separating W).  The bias column, if wanted, is in X.
A ``meta.json`` is the dataset's manifest: it must be a JSON object with ``"complete": true``
(the JSON boolean) and ``"shards"``, a list of ``{"X": name, "y": name}`` whose names are
files of the folder (or of a hidden ``.gd-torch-dataset.<hex>/`` folder make-data fills),
each file listed once; given ``"n"``, the shards (and their ``"rows"``, where every entry
gives them) must add up to n rows.
Each shard file is checked again before each block is read: a shard deleted, truncated or
replaced while a pass runs stops it with a GdTorchError naming the file.

Every pass reads rows [start, stop) in blocks: each block is a memory map of just those
rows, dropped before the next one is mapped, so that the memory a pass holds is the block
budget (``budget`` bytes of working arrays per block), whatever N is; the rest of X stays
in the page cache or on disk.  :class:`Arrays` gives numpy arrays the same interface.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from ..base import rowblocks
from ..base import validate as _validate

#: working memory per block, bytes, unless the caller gives its own budget
DEFAULT_BUDGET = 64 << 20
META = "meta.json"
#: what a row costs in a pass that keeps only X's row and a few per-sample vectors
ROW_VECTORS = 64
#: the hidden folder make-data fills before the switch (gd_torch.data.synthetic), a name only it makes
GENERATION = re.compile(r"^\.gd-torch-dataset\.[0-9a-f]+$")
#: a shard's name in meta.json: a file of the folder, or of a GENERATION folder in it
SHARD_NAME = re.compile(r"^(\.gd-torch-dataset\.[0-9a-f]+/)?[^/\\]+\.npy$")
#: the names make-data gives its shards in the folder (X-00000.npy, y-00000.npy, ...), names only it makes
SHARD_MADE = re.compile(r"^[Xy]-[0-9]{5,}\.npy$")


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
        """Rows [start, stop) in blocks of at most ``budget // bytes_per_row`` rows (at least one)."""
        for s, e in rowblocks.spans(start, stop, rowblocks.block_rows(bytes_per_row, self.budget)):
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
    #: (inode, size, mtime) of x and y when opened: a pass checks them before each read
    x_id: tuple[int, int, int]
    y_id: tuple[int, int, int]

    def check(self) -> None:
        """Refuse to read a shard whose files changed since the dataset was opened."""
        for path, seen in ((self.x, self.x_id), (self.y, self.y_id)):
            try:
                now = _identity(path)
            except OSError as exc:
                raise _changed(path, f"it cannot be read now: {exc.strerror or exc}") from None
            if now != seen:
                raise _changed(path, _CHANGES[next(i for i in range(3) if now[i] != seen[i])](seen, now))


class Shards:
    """A dataset folder (see the module docstring), checked when opened: every shard's shape,
    dtype and order, the same D and dtype across shards, labels as many as rows."""

    def __init__(self, folder: str | Path, budget: int = DEFAULT_BUDGET) -> None:
        folder = Path(folder)
        self.budget = _budget(budget)
        self.name = str(folder)
        pairs, listed_n = _shard_pairs(folder)
        first = _header(pairs[0][0], 2)
        self.d, self.dtype = first[0][1], first[1]
        if self.dtype not in _validate.FLOAT_DTYPES:
            raise bad_value(f"dataset {folder}", f"{pairs[0][0].name} of dtype {self.dtype}", "float32 or float64 X")
        if self.d == 0:
            raise bad_value(
                f"dataset {folder}", f"{pairs[0][0].name} of shape {first[0]}", "X with at least one column"
            )
        self.shards = [self._shard(x, y, pairs[0][0]) for x, y in pairs]
        self.starts = np.cumsum([0] + [s.n for s in self.shards])
        self.n = int(self.starts[-1])
        if self.n == 0:
            raise bad_value(f"dataset {folder}", "shards of 0 rows", "at least one sample")
        if listed_n is not None and self.n != listed_n:
            raise GdTorchError(
                f'dataset {folder}: its shards must hold the "n" = {listed_n} rows {META} gives; they hold {self.n}'
            )

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
        return _Shard(x, y, n, x_off, y_off, ydt, _identity(x), _identity(y))

    def blocks(self, start: int, stop: int, bytes_per_row: int) -> Iterator[Block]:
        """Rows [start, stop) in blocks of at most ``budget // bytes_per_row`` rows, each a fresh
        memory map of those rows only (a block never spans two shards)."""
        rows = rowblocks.block_rows(bytes_per_row, self.budget)
        s = start
        while s < stop:
            i = int(np.searchsorted(self.starts, s, side="right")) - 1
            e = min(s + rows, stop, int(self.starts[i + 1]))
            yield self._block(i, s - int(self.starts[i]), e - s, s)
            s = e

    def _block(self, i: int, local: int, rows: int, start: int) -> Block:
        sh = self.shards[i]
        sh.check()
        width = self.d * self.dtype.itemsize
        # copy-on-write maps are never written: they let torch wrap a block without a copy
        with _reading(sh):
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
            sh.check()
            with _reading(sh):
                mx = np.memmap(sh.x, self.dtype, "r", sh.x_offset, (sh.n, self.d))
                X[sel] = mx[local]
                y[sel] = np.memmap(sh.y, sh.y_dtype, "r", sh.y_offset, (sh.n,))[local]
                del mx
        return X, y


Dataset = Arrays | Shards


#: what a change of the file's (inode, size, mtime) means, by the first that differs
_CHANGES = (
    lambda seen, now: "replaced by another file",
    lambda seen, now: f"{seen[1]} bytes then, {now[1]} now",
    lambda seen, now: "rewritten in place: its modification time changed",
)


def _identity(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def _changed(path: Path, what: str) -> GdTorchError:
    return GdTorchError(
        f"dataset file {str(path)!r} changed while the dataset was read ({what}); "
        "run again once nothing rewrites the folder"
    )


@contextlib.contextmanager
def _reading(sh: _Shard) -> Iterator[None]:
    # a map that fails (the file shrank or vanished since sh.check) is the same error, not a traceback
    try:
        yield
    except (OSError, ValueError) as exc:
        raise _changed(sh.x, f"{type(exc).__name__}: {exc}") from None


def open_dataset(path: str | Path, budget: int = DEFAULT_BUDGET) -> Shards:
    """Open a dataset folder (see the module docstring) for row-block passes of ``budget`` bytes."""
    return Shards(path, budget)


def _budget(budget: Any) -> int:
    return _validate.integer(
        "budget", budget, minimum=4096, accepted="an integer number of bytes >= 4096 (working memory per row block)"
    )


def _shard_pairs(folder: Path) -> tuple[list[tuple[Path, Path]], int | None]:
    # the shards in order: meta.json's list when there is one, else X*.npy sorted by name;
    # and the rows meta.json says they hold ("n"), None without one
    if not folder.is_dir():
        raise bad_value("dataset", str(folder), "a folder of .npy shards (X-00000.npy, y-00000.npy, ...)")
    meta = folder / META
    n = None
    if meta.is_file():
        info = read_meta(folder)
        names, n = listed_shards(folder, info), info.get("n")
    else:
        names = [(x.name, "y" + x.name[1:]) for x in sorted(folder.glob("X*.npy"))]
    if not names:
        raise bad_value("dataset", str(folder), "a folder holding X.npy and y.npy, or shards X-00000.npy, y-00000.npy")
    pairs = [(folder / x, folder / y) for x, y in names]
    for x, y in pairs:
        for p in (x, y):
            if not p.is_file():
                raise GdTorchError(f"dataset {folder} is missing {p.name} (the labels of {x.name}, or a listed shard)")
    return pairs, n


def read_meta(folder: str | Path, name: str = "dataset") -> dict:
    """The dataset's meta.json, parsed: a JSON object (anything else is refused, the folder
    named as ``name``: 'dataset', or the flag that gave it, e.g. '--out')."""
    path = Path(folder) / META
    where = f"{name} {folder}: {META}"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GdTorchError(f"{where} cannot be read: {exc}") from None
    except RecursionError:  # json's decoder recurses once per level of nesting
        raise GdTorchError(f"{where} cannot be read: it is nested too deeply") from None
    if not isinstance(info, dict):
        raise GdTorchError(f"{where} must hold a JSON object; got {_short(info)}")
    return info


def listed_shards(folder: str | Path, info: dict) -> list[tuple[str, str]]:
    """The (X, y) names a complete meta.json lists (see the module docstring), checked."""
    if info.get("complete") is not True:
        shards = info.get("shards")
        count = len(shards) if isinstance(shards, list) else "?"
        raise GdTorchError(
            f"dataset {folder} is incomplete: make-data stopped after {_short(info.get('written', 0))} of {count} "
            f'shards; run it again ({META} has "complete": {_short(info.get("complete"))}; only true is complete)'
        )
    shards = info.get("shards")
    good = isinstance(shards, list) and shards and all(_good_entry(s) for s in shards)
    if not good:
        bad = next((s for s in shards if not _good_entry(s)), shards) if isinstance(shards, list) and shards else shards
        raise GdTorchError(
            f'dataset {folder}: {META} must list its shards as "shards": [{{"X": "X-00000.npy", "y": "y-00000.npy"}}, '
            f"...], names of .npy files in the folder; got {_short(bad)}"
        )
    names = [(s["X"], s["y"]) for s in shards]
    seen: set[str] = set()
    for name in (f for pair in names for f in pair):
        if name in seen:
            raise GdTorchError(
                f"dataset {folder}: {META} must list each shard file once (its rows would be read twice); "
                f"got {name!r} twice"
            )
        seen.add(name)
    n = info.get("n")
    if "n" in info and not (isinstance(n, int) and not isinstance(n, bool) and n >= 0):
        raise GdTorchError(f'dataset {folder}: {META} must give "n" as the number of rows; got {_short(n)}')
    rows = [s.get("rows") for s in shards]
    if n is not None and all(isinstance(r, int) and not isinstance(r, bool) for r in rows) and sum(rows) != n:
        raise GdTorchError(
            f'dataset {folder}: {META} must list shards whose "rows" add up to "n" = {n}; they add up to {sum(rows)}'
        )
    return names


def _good_entry(s: Any) -> bool:
    return isinstance(s, dict) and all(isinstance(s.get(k), str) and SHARD_NAME.match(s[k]) for k in ("X", "y"))


def _short(value: Any, width: int = 80) -> str:
    text = json.dumps(value)
    return text if len(text) <= width else text[: width - 3] + "..."


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
