"""One rank's share of the rows: which rows, their blocks within the memory budget, and the
checks every rank makes of its rows before any pass (the same shape on every rank, the labels,
z = X W finite)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .._errors import GdTorchError
from ..base import rowblocks
from ..base import validate as _validate
from ..data.shards import Block, Dataset, row_bytes
from .comm import Comm, RankFailure

#: per-sample vectors a gradient pass keeps per row (z, a, dL/dz, y, ...), in bytes
VECTORS = 128


@dataclass(frozen=True)
class Part:
    """This rank's rows [start, stop) of a dataset of ``n`` rows, and its Comm."""

    data: Dataset
    comm: Comm
    start: int
    stop: int

    @property
    def n(self) -> int:
        return self.data.n

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def blocks(self, bytes_per_row: int, rows: np.ndarray | None = None) -> Iterator[Block]:
        """The rank's rows in blocks within the budget; or, given sorted global ``rows`` (a
        mini-batch's rows on this rank), those rows gathered in budget-sized groups."""
        if rows is None:
            yield from self.data.blocks(self.start, self.stop, bytes_per_row)
            return
        for s, e in rowblocks.spans(0, rows.shape[0], rowblocks.block_rows(bytes_per_row, self.data.budget)):
            X, y = self.data.take(rows[s:e])
            yield Block(int(rows[s]), X, y)


def rank_part(data: Dataset, comm: Comm) -> Part:
    """This rank's contiguous share of ``data``, once every rank is seen to hold the same N, D
    and dtype (refused before any step otherwise)."""
    from .comm import rows

    mine = np.array([data.n, data.d, data.dtype.itemsize], dtype=np.float64)
    seen = comm.all_gather(mine, "the shape of the data")
    for r in range(comm.world):
        if (seen[r] != seen[0]).any():
            n, d, size = (int(v) for v in seen[r])
            n0, d0, size0 = (int(v) for v in seen[0])
            raise RankFailure(
                f"every rank must hold the same data: rank {r} sees {n} x {d} float{8 * size}, "
                f"rank 0 sees {n0} x {d0} float{8 * size0}",
                report=comm.rank == 0,
                rank=r,
            )
    return Part(data, comm, *rows(data.n, comm.rank, comm.world))


def check_labels(p: Part, why: str | None) -> None:
    """Refuse a NaN or inf label anywhere in the data and, given ``why`` (the reason the labels
    must be binary), labels other than 0 and 1 (one pass over y), on every rank."""

    def bad() -> np.ndarray:
        for b in p.blocks(row_bytes(p.data.d, p.dtype)):
            rules = [(~np.isfinite(b.y), "finite (no NaN or inf)")]
            if why is not None:
                rules.append(((b.y != 0) & (b.y != 1), f"0 or 1 ({why})"))
            for off, accepted in rules:
                if off.any():
                    j = int(np.flatnonzero(off)[0])
                    raise GdTorchError(f"y must be {accepted}; got y[{b.start + j}] = {b.y[j]}")
        return np.zeros(1)

    p.comm.reduce("a check of the labels", bad, np.zeros(1))


def check_z(b: Block, W: np.ndarray) -> np.ndarray:
    # z = X_b W, checked finite; a bad row is named by its global index
    try:
        return _validate.z_of(b.X, W)
    except GdTorchError:
        with np.errstate(invalid="ignore", over="ignore"):
            i = int(np.flatnonzero(~np.isfinite(b.X @ W))[0])
        raise GdTorchError(
            f"X must be finite: row {b.start + i} of X gives z = X @ W = {b.X[i] @ W} (X holds a NaN or inf "
            "in that row, or its values are so large that X @ W overflows)"
        ) from None
