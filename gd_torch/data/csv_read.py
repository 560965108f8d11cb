"""Strict CSV reading for :func:`gd_torch.load_csv`: regular UTF-8 files of plain decimal numbers.

Memory: the file is never held whole.  A first pass counts its newlines (an upper bound
on the rows) so that X and y are allocated once, in their final dtype, after
``_memory.require`` agrees; the second pass parses blocks of about BLOCK_CELLS cells with
the csv module and writes each block into X and y.  Peak: X + y + one block (a few MiB),
i.e. about 8 bytes per number read as float64, below the file's own size for numbers
written with more than 7 characters.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .._errors import GdTorchError, bad_value
from ..base import memory as _memory

#: cells parsed per block (rows x used columns)
BLOCK_CELLS = 1 << 16
#: characters a plain decimal number may hold; float() then checks the order
#: (it alone would also take '1_000', non-ASCII digits, 'nan', 'inf', 'infinity')
_NOT_PLAIN = re.compile(r"[^0-9eE+\-. \t]")


def check_arguments(path: object, label: object, drop: object) -> list[str]:
    """The types of load_csv's arguments; returns [label, *drop]."""
    if not isinstance(path, str | os.PathLike) or not isinstance(os.fspath(path), str):
        raise bad_value("path", path, "the path of a CSV file (a str or pathlib.Path)")
    if not isinstance(label, str):
        raise bad_value("label", label, "the header name of the label column (a str)")
    if isinstance(drop, str) or not isinstance(drop, Sequence | set | frozenset):
        raise bad_value("drop", drop, "a list of header names (a list, even for one name)")
    for name in drop:
        if not isinstance(name, str):
            raise bad_value("drop", drop, "a list of header names (str)")
    return [label, *drop]


def read(path: Path, label: str, drop: Sequence[str], dt: np.dtype) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(header, X, y): X holds the columns other than ``label`` and ``drop``, in file order."""
    with _open_regular(path) as raw:
        capacity = _count_rows(raw)
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        try:
            header = _header(path, next(reader, []), label, drop)
            use = [j for j, h in enumerate(header) if h != label and h not in drop] + [header.index(label)]
            X, y = _Table(path, header, use, dt, capacity).fill(reader)
        except csv.Error as exc:
            raise _parse_error(path, reader.line_num, exc) from None
        except UnicodeDecodeError as exc:
            byte = f"byte {exc.object[exc.start]:#04x}"  # decoded ahead of the csv reader: no line number
            raise GdTorchError(f"csv file {str(path)!r} cannot be read: it is not UTF-8 text ({byte})") from None
    return header, X, y


def _open_regular(path: Path) -> BinaryIO:
    # refuse a directory, FIFO or device before opening it (a FIFO would block the open,
    # /dev/zero would never end); fstat after a non-blocking open closes the race
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise _not_regular(path, os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise GdTorchError(f"csv file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _not_regular(path, mode)
    return os.fdopen(fd, "rb")


def _not_regular(path: Path, mode: int) -> GdTorchError:
    kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, socket or device)"
    return GdTorchError(f"csv file {str(path)!r} cannot be read: it is {kind}")


def _count_rows(raw: BinaryIO) -> int:
    # data rows <= lines - 1 (the header), lines = newlines + 1 if the last line has none
    newlines, last = 0, b"\n"
    for chunk in iter(lambda: raw.read(1 << 18), b""):
        newlines += chunk.count(b"\n")
        last = chunk[-1:]
    return max(newlines + (last != b"\n") - 1, 1)


def _header(path: Path, row: list[str], label: str, drop: Sequence[str]) -> list[str]:
    header = [h.strip() for h in row]
    if not header:
        raise GdTorchError(f"csv file {str(path)!r} must have a header row and at least one data row")
    repeated = [h for h, n in Counter(header).items() if n > 1]
    if repeated:
        where = [j + 1 for j, h in enumerate(header) if h == repeated[0]]
        raise GdTorchError(
            f"csv file {str(path)!r} must have distinct header names; {repeated[0]!r} names columns {where}"
        )
    columns = _some(header)
    if label not in header:
        raise _param(bad_value("label column", label, f"one of the csv header's columns {columns}"), "label")
    for name in drop:
        if name not in header or name == label:
            accepted = f"names of the csv header's columns {columns} other than the label {label!r}"
            raise _param(bad_value("drop", name, accepted), "drop")
    if len(header) == 1:  # the label alone: the file's fault, not --drop's
        raise GdTorchError(
            f"csv file {str(path)!r} must have at least one feature column beside the label {label!r}; "
            f"its header has only {header}"
        )
    if len(header) - 1 - len(set(drop)) < 1:
        raise _param(
            GdTorchError(f"csv file {str(path)!r} must keep at least one feature column; all are dropped"), "drop"
        )
    return header


def _some(names: list[str], at_most: int = 20) -> str:
    return str(names) if len(names) <= at_most else f"{names[:at_most]} and {len(names) - at_most} more"


def _param(exc: GdTorchError, name: str) -> GdTorchError:
    exc.param = name  # type: ignore[attr-defined]  # the CLI names its flag from this
    return exc


def _parse_error(path: Path, line: int, exc: csv.Error) -> GdTorchError:
    if "field larger than field limit" in str(exc):
        limit = csv.field_size_limit()
        why = f"a field of line {line} is longer than {limit} characters (the csv module's limit; no number is)"
    else:
        why = f"line {line}: {exc}"
    return GdTorchError(f"csv file {str(path)!r} cannot be parsed: {why}")


class _Table:
    """X (rows x features) and y in their final dtype, filled block by block from csv rows."""

    def __init__(self, path: Path, header: list[str], use: list[int], dt: np.dtype, capacity: int) -> None:
        self.path, self.header, self.use, self.dt = path, header, use, dt
        d = len(use) - 1
        what = f"csv file {str(path)!r} read as {dt} (up to {capacity} rows x {d} features and y)"
        _memory.require(_memory.array_bytes((capacity, d + 1), dt), what, "its rows or columns (drop some)")
        self.X, self.y, self.n = np.empty((capacity, d), dt), np.empty(capacity, dt), 0

    def fill(self, reader: Iterator[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        width, per_block = len(self.header), max(1, BLOCK_CELLS // len(self.use))
        rows: list[list[str]] = []
        lines: list[int] = []
        for row in reader:
            if not row:
                continue  # a blank line
            if len(row) != width:
                raise GdTorchError(
                    f"csv file {str(self.path)!r} must have {width} values in every row (one per header column); "
                    f"line {reader.line_num} has {len(row)}"  # type: ignore[attr-defined]
                )
            rows.append(row)
            lines.append(reader.line_num)  # type: ignore[attr-defined]
            if len(rows) == per_block:
                self._add(rows, lines)
                rows, lines = [], []
        if rows:
            self._add(rows, lines)
        if self.n == 0:
            raise GdTorchError(f"csv file {str(self.path)!r} must have a header row and at least one data row")
        self.X.resize((self.n, self.X.shape[1]), refcheck=False)  # in place: no second copy of X
        self.y.resize(self.n, refcheck=False)
        return self.X, self.y

    def _add(self, rows: list[list[str]], lines: list[int]) -> None:
        cells = list(chain.from_iterable(map(itemgetter(*self.use), rows)))
        block = None
        if not _NOT_PLAIN.search("".join(cells)):
            try:
                block = np.fromiter(map(float, cells), np.float64, len(cells)).reshape(len(rows), len(self.use))
            except ValueError:  # '1e', '1.2.3', '--1': right characters, wrong order
                pass
        if block is None or not np.isfinite(block).all() or np.abs(block).max() > float(np.finfo(self.dt).max):
            self._explain(rows, lines)
        k = len(rows)
        if self.n + k > self.X.shape[0]:  # more rows than newlines: cannot happen, but never write past the end
            self.X.resize((self.n + k, self.X.shape[1]), refcheck=False)
            self.y.resize(self.n + k, refcheck=False)
        self.X[self.n : self.n + k] = block[:, :-1]
        self.y[self.n : self.n + k] = block[:, -1]
        self.n += k

    def _explain(self, rows: list[list[str]], lines: list[int]) -> None:
        # the first bad cell of a block, in file order, as an error naming its line and column
        for r, row in enumerate(rows):
            for j in self.use:
                message = _cell_problem(row[j], self.dt)
                if message is None:
                    continue
                name = "y" if j == self.use[-1] else "X"
                where = f"line {lines[r]}, column {self.header[j]!r} of csv file {str(self.path)!r}"
                if message == "plain":
                    raise GdTorchError(
                        f"csv file {str(self.path)!r} must hold plain decimal numbers only below its header "
                        f"(like -1.5e3; no '1_000', no non-ASCII digits); line {lines[r]}, column "
                        f"{self.header[j]!r} holds {row[j]!r}"
                    )
                raise GdTorchError(f"{name} must be {message}: row {self.n + r} of {name} ({where}) holds {row[j]!r}")
        raise AssertionError("a block failed but no cell of it does")  # pragma: no cover


def _cell_problem(text: str, dt: np.dtype) -> str | None:
    """None for a plain decimal number within dt's range; otherwise what it must be."""
    try:
        value = float(text)
    except ValueError:
        return "plain"
    if not np.isfinite(value):  # 'nan', 'inf', '1e999'
        return "finite"
    if _NOT_PLAIN.search(text):  # '1_000', '٣'
        return "plain"
    if abs(value) > float(np.finfo(dt).max):
        return f"within the range of {dt} (|value| <= {np.finfo(dt).max:.4g}; read it as float64)"
    return None
