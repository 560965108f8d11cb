"""Sums over samples taken in row blocks: the one block-size rule, plan and loop of every pass over X.

Every sum over samples here (dL/dW = sum_i X_i dL/dz_i, the loss at k points, the error
model's sums, on one process or on a rank's share of a dataset) is taken the same way:

    rows per block   r = min(most, max(least, budget // bytes per row))       (:func:`block_rows`)
    blocks             [start, start + r), [start + r, start + 2 r), ..., up to stop   (:func:`spans`)
    S = sum_b s(b)     each block's sum added in order into one accumulator    (:func:`accumulate`)

and, where the blocks are spread over threads, in at most GROUPS contiguous groups of whole
blocks fixed by n and r alone (:func:`plan`): each group's blocks added in order into the
group's own accumulator, then the groups in order (:func:`grouped_sum`).  Nothing depends on
the thread count, so a seeded sum is the same bits on 1 or 16 threads.  The budget is each
caller's (a block sized to stay in the cache while it is used twice, or a dataset's working
memory); the rule is this one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

#: groups of row blocks summed apart (fixed: the result must not depend on the thread count)
GROUPS = 8

Block = TypeVar("Block")
#: run(job, jobs) -> [job(0), ..., job(jobs - 1)], in any order or on any threads
Runner = Callable[[Callable[[int], object], int], list]


def block_rows(bytes_per_row: int, budget: int, least: int = 1, most: int | None = None) -> int:
    """Rows per block: ``budget // bytes_per_row``, at least ``least``, at most ``most`` (None: no cap)."""
    rows = max(least, budget // bytes_per_row)
    return rows if most is None else min(most, rows)


def spans(start: int, stop: int, rows: int) -> Iterator[tuple[int, int]]:
    """The blocks [s, e) of ``rows`` rows covering [start, stop) in order (the last one shorter)."""
    for s in range(start, stop, rows):
        yield s, min(s + rows, stop)


def accumulate(add: Callable[[Block], np.ndarray], blocks: Iterable[Block], out: np.ndarray) -> np.ndarray:
    """``out += add(b)`` for each block b, in order; returns ``out`` (the sum over the blocks)."""
    for b in blocks:
        out += add(b)
    return out


@dataclass(frozen=True)
class Plan:
    """Rows [0, n) in blocks of ``rows``; group g holds the whole blocks of rows [cuts[g], cuts[g + 1])."""

    n: int
    rows: int
    cuts: tuple[int, ...]

    @property
    def groups(self) -> int:
        return len(self.cuts) - 1

    def blocks(self, g: int) -> Iterator[tuple[int, int]]:
        """Group g's blocks [s, e), in order."""
        return spans(self.cuts[g], self.cuts[g + 1], self.rows)


def plan(n: int, rows: int, groups: int = GROUPS) -> Plan:
    """n rows in blocks of ``rows``, the ceil(n / rows) blocks in min(groups, blocks) contiguous
    groups of nearly equal counts of whole blocks (decided by n and rows only)."""
    blocks = math.ceil(n / rows)
    k = max(1, min(groups, blocks))
    return Plan(n, rows, tuple(min(round(i * blocks / k) * rows, n) for i in range(k + 1)))


def grouped_sum(
    add: Callable[[int, int], np.ndarray], p: Plan, like: np.ndarray, run: Runner | None = None
) -> np.ndarray:
    """sum over p's blocks [s, e) of ``add(s, e)`` (an array of ``like``'s shape, added in its dtype):
    group g's blocks :func:`accumulate`d in order into its own accumulator, then the groups in
    order.  ``run`` spreads the groups over threads (one after another when None).

    An exception stops its group; once every group has finished, the one raised in the first
    group in row order is raised (the same error whatever the thread count).
    """
    acc = np.zeros((p.groups, *like.shape), dtype=like.dtype)

    def group(g: int) -> Exception | None:
        try:
            accumulate(lambda span: add(*span), p.blocks(g), acc[g])
        except Exception as exc:  # raised below, in row order
            return exc
        return None

    jobs = run(group, p.groups) if run is not None else [group(g) for g in range(p.groups)]
    failed = [exc for exc in jobs if exc is not None]
    if failed:
        raise failed[0]
    return np.add.reduce(acc, axis=0)
