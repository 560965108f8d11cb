"""A synthetic separable problem of any size, written to disk block by block.

Two Gaussian blobs in D - 1 dimensions (X's column 0 is the bias, 1): class y = 1 centred
at +MU u, class y = 0 at -MU u, noise N(0, I), for a seeded random unit vector u.  The few
points (about 0.6%) closer than MARGIN to the hyperplane u . x = 0 are moved out to it along
u, so that W = (0, u) separates the classes with margin MARGIN:

    z_i = X_i . W = u . x_i >= MARGIN when y_i = 1, <= -MARGIN when y_i = 0

Rows are drawn in chunks, each from its own seeded stream (SeedSequence(seed, spawn_key=
(chunk,))), written into shards of at most ``shard_rows`` rows: the data depend on (n, d,
dtype, seed, shard_rows), never on memory.

meta.json is the dataset's manifest and its one switch: the folder holds the dataset that
meta.json names, and make-data changes it with one atomic rename of meta.json.  The new
shards are written into a hidden staging folder, which is renamed to a hidden
``.gd-torch-dataset.<hex>/`` folder; meta.json is replaced by one naming the shards in that
folder (the switch: before it the folder opens as the previous dataset, after it as the new
one); each shard is then hard-linked to its name in the folder (X-00000.npy, ..., each an
atomic replace, the data the same), meta.json is replaced by one naming those, and every hidden
dataset folder and every shard name make-data gives (X-NNNNN.npy, y-NNNNN.npy, ooc.SHARD_MADE)
that meta.json does not name are removed.  A run killed at any point leaves the previous
dataset or the new one, never a mix (and no dataset, not part of one, in a folder that held
none); the next run removes what it left.  Where the filesystem has no hard links, the
dataset stays in the hidden folder meta.json names, and the next run removes it once its own
meta.json names another.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from ..base import files as _io
from ..base import memory as _memory
from ..base import validate as _validate
from .shards import GENERATION, META, SHARD_MADE, read_meta

#: class centres at +-MU u, unit noise
MU = 3.0
#: every point at least this far from the separating hyperplane
MARGIN = 0.5
#: rows drawn at once (float64 while drawn: 64 columns x 65536 rows = 32 MiB)
CHUNK_ROWS = 1 << 16
#: shard size by default: 1 GiB of X
SHARD_BYTES = 1 << 30
#: meta.json's "format": what make_data writes (and rewrites)
FORMAT = "gd-torch dataset"


def make_data(
    n: int,
    d: int,
    dtype: Any,
    out: str | Path,
    seed: int = 0,
    *,
    shard_rows: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    flag: str = "out",
) -> Path:
    """Write the problem of the module docstring: X of shape (n, d) (bias column first), y.

    out : the dataset folder, created if needed, as every gd-torch output folder
        (:func:`gd_torch.base.files.output_folder`): locked while written, the shards staged in a
        hidden folder inside it and switched in by one atomic replace of ``meta.json`` (see the
        module docstring: an interrupted run leaves the previous dataset as it was or the new
        one, never a mix; a rewrite needs room for both meanwhile); every file named as
        make-data names shards (X-00000.npy, y-00000.npy, ...) and every hidden dataset folder
        that the new ``meta.json`` does not name is removed (a killed run's too), other files are
        left alone.  On a filesystem without hard links the shards stay in the hidden folder
        that ``meta.json`` names (removed by the next run).  A ``meta.json`` of another program is refused, not overwritten.
    shard_rows : rows per shard (default: 1 GiB of X per shard)
    progress : called as progress(rows_written, n) after each chunk
    flag : the name messages give ``out`` (the command line's '--out')

    Returns the folder; ``meta.json`` in it holds the separating W (``separating_W``).
    """
    n, d = _count("n", n, 1), _count("d", d, 2)
    dt = _validate.dtype("dtype", dtype)
    seed = _validate.seed("seed", seed, none_ok=False)
    if shard_rows is None:
        shard_rows = max(1, SHARD_BYTES // (d * dt.itemsize))
    shard_rows = _count("shard_rows", shard_rows, 1)
    _fits(n, d, dt, shard_rows, out)
    u = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**32,))).standard_normal(d - 1)
    u /= np.linalg.norm(u)
    shards = [(s, min(s + shard_rows, n)) for s in range(0, n, shard_rows)]
    names = [{"X": f"X-{i:05d}.npy", "y": f"y-{i:05d}.npy", "rows": e - s} for i, (s, e) in enumerate(shards)]
    files = [f for sh in names for f in (sh["X"], sh["y"])]
    meta = {
        "format": FORMAT,
        "complete": True,
        "written": len(names),
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
    chunk = min(CHUNK_ROWS, shard_rows)
    _refuse_foreign(Path(out), flag)
    with _io.output_folder(out, "make-data", (), flag=flag) as folder:
        for i, (s, e) in enumerate(shards):
            _write_shard(folder.stage, names[i], s, e, d, dt, u, seed, chunk, progress, n)
        _switch(folder, meta, files)
    return Path(out)


#: memory per shard of the bookkeeping (names, dicts, the list of files), an upper estimate
SHARD_ENTRY_BYTES = 1024
#: float64 arrays of one chunk's shape (rows, d) held at once by _chunk and its cast
CHUNK_ARRAYS = 6


def _fits(n: int, d: int, dt: np.dtype, shard_rows: int, out: str | Path) -> None:
    # refused before anything is written: one chunk in memory (and u, d floats), the shard
    # list, and the dataset on the disk of ``out`` (a rewrite keeps the old one meanwhile)
    chunk = min(CHUNK_ROWS, shard_rows)
    what = f"one chunk of {chunk} rows (float64, {CHUNK_ARRAYS} arrays of chunk x d at once)"
    _memory.at_most("d", d, (CHUNK_ARRAYS * chunk + 2) * 8, what)
    shards = -(-n // shard_rows)
    available = _memory.available_bytes()  # None: unknown, nothing refused
    if available is not None and shards * SHARD_ENTRY_BYTES > available:
        least = -(-n * SHARD_ENTRY_BYTES // max(1, available))
        raise bad_value("shard_rows", shard_rows, f"at least {least} here: {shards} shards' bookkeeping exceeds memory")
    _memory.disk_at_most("n", n, (d + 1) * dt.itemsize, f"the dataset (n x {d} {dt} and y)", out)


def _refuse_foreign(out: Path, flag: str) -> None:
    # a meta.json that is not ours is refused before anything is written
    if (out / META).is_file() and read_meta(out, flag).get("format") != FORMAT:
        raise bad_value(flag, str(out), f"a folder whose {META}, if any, is a gd-torch dataset's")


#: os.link's errors that mean "no hard links here" (or no more to this file): the dataset then
#: stays in the hidden folder meta.json names; any other error is one
NO_LINKS = frozenset({errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS})


def _switch(folder: _io.OutputFolder, meta: dict, files: list[str]) -> None:
    # the staged shards become the folder's dataset by one atomic replace of meta.json (see the
    # module docstring); then their final names, then what no meta.json names any more removed
    gen = folder.path / f".gd-torch-dataset.{uuid.uuid4().hex[:12]}"
    os.rename(folder.stage, gen)
    inside = [{**sh, "X": f"{gen.name}/{sh['X']}", "y": f"{gen.name}/{sh['y']}"} for sh in meta["shards"]]
    _write_meta(folder.path, meta | {"shards": inside})  # the switch
    try:
        for f in files:
            _io.link_into(gen / f, folder.path / f)
    except OSError as exc:
        if exc.errno not in NO_LINKS:  # the folder holds the new dataset (in gen), the run failed
            raise GdTorchError(f"could not link {str(folder.path / f)!r}: {exc.strerror or exc}") from None
        _remove_unnamed(folder.path, named=set(), kept=gen.name)  # the dataset stays in gen
        return
    _write_meta(folder.path, meta)
    _remove_unnamed(folder.path, named=set(files), kept=None)


def _remove_unnamed(out: Path, named: set[str], kept: str | None) -> None:
    # what meta.json does not name: the shard names make-data gives, its hidden dataset folders
    # (this run's, earlier runs' without hard links, killed runs'); only names gd-torch makes
    for p in out.iterdir():
        if SHARD_MADE.match(p.name) and p.name not in named and not p.is_dir():
            _io._unlink(p)
        elif GENERATION.match(p.name) and p.name != kept and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)


def _write_meta(out: Path, meta: dict) -> None:
    _io.write_text(out / META, json.dumps(meta, indent=1) + "\n")


def _count(name: str, value: Any, least: int) -> int:
    # a positive integer; 1e8 given as a float is accepted when it is a whole number
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _validate.integer(name, value, minimum=least, accepted=f"an integer >= {least}")


def _write_shard(stage, names, start, stop, d, dt, u, seed, chunk, progress, n) -> None:
    rows = stop - start
    path = stage / names["X"]
    try:
        with path.open("wb") as fx, (stage / names["y"]).open("wb") as fy:
            np.lib.format.write_array_header_1_0(fx, _descr(dt, (rows, d)))
            np.lib.format.write_array_header_1_0(fy, _descr(dt, (rows,)))
            for s in range(start, stop, chunk):
                X, y = _chunk(s // chunk, min(chunk, stop - s), d, u, seed)
                X.astype(dt).tofile(fx)
                y.astype(dt).tofile(fy)
                if progress is not None:
                    progress(min(s + chunk, stop), n)
    except OSError as exc:  # a full disk, a file-size limit: named as the final file (see _io.output_folder)
        raise GdTorchError(f"could not write {str(path)!r}: {exc.strerror or exc}") from None


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
