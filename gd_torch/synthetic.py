"""A synthetic separable problem of any size, written to disk block by block.

Two Gaussian blobs in D - 1 dimensions (X's column 0 is the bias, 1): class y = 1 centred
at +MU u, class y = 0 at -MU u, noise N(0, I), for a seeded random unit vector u.  The few
points (about 0.6%) closer than MARGIN to the hyperplane u . x = 0 are moved out to it along
u, so that W = (0, u) separates the classes with margin MARGIN:

    z_i = X_i . W = u . x_i >= MARGIN when y_i = 1, <= -MARGIN when y_i = 0

Rows are drawn in chunks, each from its own seeded stream (SeedSequence(seed, spawn_key=
(chunk,))), written into shards of at most ``shard_rows`` rows: the data depend on (n, d,
dtype, seed, shard_rows), never on memory.  Every file is written atomically; ``meta.json``
is written first marked incomplete and last marked complete, so that an interrupted run is
refused by :func:`gd_torch.ooc.open_dataset` instead of read as a smaller dataset.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import _io, _validate
from ._errors import GdTorchError, bad_value
from .ooc import META, read_meta

#: class centres at +-MU u, unit noise
MU = 3.0
#: every point at least this far from the separating hyperplane
MARGIN = 0.5
#: rows drawn at once (float64 while drawn: 64 columns x 65536 rows = 32 MiB)
CHUNK_ROWS = 1 << 16
#: shard size by default: 1 GiB of X
SHARD_BYTES = 1 << 30


def make_data(
    n: int,
    d: int,
    dtype: Any,
    out: str | Path,
    seed: int = 0,
    *,
    shard_rows: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the problem of the module docstring: X of shape (n, d) (bias column first), y.

    out : a new or empty folder, or one a previous make_data wrote (its shards are replaced)
    shard_rows : rows per shard (default: 1 GiB of X per shard)
    progress : called as progress(rows_written, n) after each chunk

    Returns the folder; ``meta.json`` in it holds the separating W (``separating_W``).
    """
    n, d = _count("n", n, 1), _count("d", d, 2)
    dt = _validate.dtype("dtype", dtype)
    seed = _validate.seed("seed", seed, none_ok=False)
    if shard_rows is None:
        shard_rows = max(1, SHARD_BYTES // (d * dt.itemsize))
    shard_rows = _count("shard_rows", shard_rows, 1)
    out = _prepare(Path(out))
    u = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**32,))).standard_normal(d - 1)
    u /= np.linalg.norm(u)
    shards = [(s, min(s + shard_rows, n)) for s in range(0, n, shard_rows)]
    names = [{"X": f"X-{i:05d}.npy", "y": f"y-{i:05d}.npy", "rows": e - s} for i, (s, e) in enumerate(shards)]
    meta = {
        "format": "gd-torch dataset",
        "complete": False,
        "written": 0,
        "n": n,
        "d": d,
        "dtype": str(dt),
        "seed": seed,
        "shards": names,
        "separating_W": [0.0, *u.tolist()],
        "margin": MARGIN,
        "description": f"blobs at +-{MU} u with N(0, I) noise, column 0 the bias, separable with margin "
        f"{MARGIN} by W = separating_W",
    }
    _write_meta(out, meta)
    chunk = min(CHUNK_ROWS, shard_rows)
    for i, (s, e) in enumerate(shards):
        _write_shard(out, names[i], s, e, d, dt, u, seed, chunk, progress, n)
        meta["written"] = i + 1
    meta["complete"] = True
    _write_meta(out, meta)
    return out


def _count(name: str, value: Any, least: int) -> int:
    # a positive integer; 1e8 given as a float is accepted when it is a whole number
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
        raise bad_value(name, value, f"an integer >= {least}")
    return int(value)


def _prepare(out: Path) -> Path:
    # a new or empty folder, or our own earlier output (its old shards and partials removed)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GdTorchError(f"out folder {str(out)!r} cannot be created: {exc.strerror or exc}") from None
    _io.remove_stale_partials(out)
    entries = list(out.iterdir())
    if entries and not (out / META).is_file():
        raise bad_value("out", str(out), "a new or empty folder, or one that make-data wrote before")
    if entries:
        read_meta(out)  # refuse a meta.json that is not ours before deleting anything
        for p in entries:
            if p.name == META or (p.suffix == ".npy" and p.name[:2] in ("X-", "y-")):
                p.unlink()
    return out


def _write_meta(out: Path, meta: dict) -> None:
    _io.write_text(out / META, json.dumps(meta, indent=1) + "\n")


def _write_shard(out, names, start, stop, d, dt, u, seed, chunk, progress, n) -> None:
    rows = stop - start
    with _io.atomic_path(out / names["X"]) as tx, _io.atomic_path(out / names["y"]) as ty:
        with tx.open("wb") as fx, ty.open("wb") as fy:
            np.lib.format.write_array_header_1_0(fx, _descr(dt, (rows, d)))
            np.lib.format.write_array_header_1_0(fy, _descr(dt, (rows,)))
            for s in range(start, stop, chunk):
                X, y = _chunk(s // chunk, min(chunk, stop - s), d, u, seed)
                X.astype(dt).tofile(fx)
                y.astype(dt).tofile(fy)
                if progress is not None:
                    progress(min(s + chunk, stop), n)


def _descr(dt: np.dtype, shape: tuple[int, ...]) -> dict:
    return {"descr": np.lib.format.dtype_to_descr(dt), "fortran_order": False, "shape": shape}


def _chunk(index: int, rows: int, d: int, u: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # one chunk of rows from its own stream: labels, blobs, then the margin enforced along u
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
    y = rng.integers(0, 2, size=rows).astype(np.float64)
    sign = 2 * y - 1
    x = rng.standard_normal((rows, d - 1)) + np.outer(sign * MU, u)
    t = x @ u  # the coordinate along u
    x += np.outer(sign * np.maximum(sign * t, MARGIN) - t, u)  # now sign * (u . x) >= MARGIN
    X = np.empty((rows, d))
    X[:, 0] = 1.0
    X[:, 1:] = x
    return X, y
