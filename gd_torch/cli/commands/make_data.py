"""gd-torch make-data: a synthetic separable problem of any size, written to disk block by block."""

from __future__ import annotations

import argparse
import sys

from ..._errors import bad_value
from ...data.synthetic import make_data
from ._common import add_seed_argument
from ._types import FlagRefused, one_of, positive_int


def _count(text: str) -> int:
    # argparse type: a positive whole number, written as 100000000 or 1e8
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value.is_integer() or value < 1 or value > 2**62:
        raise FlagRefused("a positive whole number such as 1000000 or 1e6", text)
    return int(value)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=_count, required=True, help="rows (samples), e.g. 1e8")
    p.add_argument("--d", type=_count, required=True, help="columns of X, the bias column (1) first, e.g. 64")
    p.add_argument(
        "--dtype", type=one_of(("float32", "float64")), default="float32", help="float32 (default) or float64"
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="the dataset folder, created if needed, as every command's --out: locked while written, the shards "
        "switched in by one atomic replace of meta.json when all are written (a run interrupted or killed at any point "
        "leaves the previous dataset or the new one, never a mix), the previous dataset's other shards removed, other "
        "files left alone",
    )
    add_seed_argument(p, "the data")
    p.add_argument("--shard-rows", type=positive_int, default=None, help="rows per .npy shard (default: 1 GiB of X)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


class _Progress:
    # a carriage-return bar on stderr, redrawn when the percentage changes
    def __init__(self) -> None:
        self.shown = -1

    def __call__(self, rows: int, n: int) -> None:
        pct = (100 * rows) // n
        if pct != self.shown:
            self.shown = pct
            print(f"\r[{'#' * (pct // 4):<25}] {pct:3d}%  {rows}/{n} rows", end="", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.d < 2:
        raise bad_value("--d", args.d, "at least 2 (the bias column and one feature)")
    progress = None if args.quiet else _Progress()
    try:
        out = make_data(
            args.n, args.d, args.dtype, args.out, args.seed, shard_rows=args.shard_rows, progress=progress, flag="--out"
        )
    finally:
        if progress is not None and progress.shown >= 0:
            print(file=sys.stderr, flush=True)
    from ...data.shards import open_dataset, read_meta

    data = open_dataset(out)
    size = data.n * data.d * data.dtype.itemsize
    shards = f"{len(data.shards)} shard" + ("s" if len(data.shards) > 1 else "")
    print(f"wrote {out}/: {data.n} x {data.d} {data.dtype} in {shards} ({size / 2**30:.3g} GiB of X)")
    print(f"separable with margin {read_meta(out)['margin']} by separating_W in {out}/meta.json")
    return 0
