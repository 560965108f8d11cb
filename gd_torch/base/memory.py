"""Refuse an allocation the machine cannot make, before making it.

Callers estimate what a request will allocate (its largest arrays, temporaries
included) and call :func:`require` with that estimate *before* allocating: a request
for 22 GiB on a machine with 21 free then fails at once with one line naming the
option to lower, instead of numpy's ``_ArrayMemoryError`` traceback, or the kernel's
OOM killer minutes later.

>>> from gd_torch.base import memory as _memory
>>> n = _memory.array_bytes((1_000_000_000, 3), "float64")
>>> _memory.require(n, "the weight history (1000000000 x 3 float64)", "--epochs")  # doctest: +SKIP
GdTorchError: the weight history (1000000000 x 3 float64) needs about 22.4 GiB but 21.0 GiB is available; lower --epochs
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .._errors import NotEnoughMemory

MEMINFO = Path("/proc/meminfo")
#: cgroup v2 files: a container's limit and use, which /proc/meminfo does not see
CGROUP_MAX = Path("/sys/fs/cgroup/memory.max")
CGROUP_CURRENT = Path("/sys/fs/cgroup/memory.current")
#: this process's mapped size, for the room left under RLIMIT_AS
STATM = Path("/proc/self/statm")

GIB = 2**30


def available_bytes() -> int | None:
    """Memory this process can still allocate without swapping, in bytes; None if unknown.

    The smallest of: MemAvailable in /proc/meminfo (Linux 3.14+; the kernel's estimate,
    counting reclaimable page cache), the room left under a cgroup v2 memory limit, the
    address space left under ``ulimit -v`` (RLIMIT_AS, less this process's size now), and,
    where /proc/meminfo is missing (macOS, BSD), free physical pages from ``os.sysconf``.
    """
    found = [b for b in (_meminfo_available(), _cgroup_room(), _rlimit_room()) if b is not None]
    if not found:
        found = [b for b in (_sysconf_available(),) if b is not None]
    return min(found) if found else None


def _meminfo_available() -> int | None:
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # the value is in kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    try:
        limit = CGROUP_MAX.read_text().strip()
        if limit == "max":
            return None
        return max(int(limit) - int(CGROUP_CURRENT.read_text().strip()), 0)
    except (OSError, ValueError):
        return None


def _rlimit_room() -> int | None:
    # RLIMIT_AS (ulimit -v) less the address space this process maps now (/proc/self/statm, pages)
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        mapped = int(STATM.read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        return max(limit - mapped, 0)
    except (ImportError, OSError, ValueError, IndexError, AttributeError):
        return None


def _sysconf_available() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def array_bytes(shape: Iterable[int], dtype: object) -> int:
    """Bytes of an array of ``shape`` and ``dtype``, exact, as a Python int (never overflows)."""
    return math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize  # type: ignore[call-overload]


def gib(nbytes: float) -> str:
    """'22.4 GiB' (or MiB/KiB/bytes for smaller amounts)."""
    for unit, size in (("GiB", GIB), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{int(nbytes)} bytes"


def require(nbytes: int, what: str, flag: str) -> None:
    """Raise a GdTorchError if ``nbytes`` exceed the memory available now; else return.

    Parameters
    ----------
    nbytes : the caller's estimate of its peak allocation, in bytes (see :func:`array_bytes`)
    what : what is allocated, with its shape and dtype, e.g.
        ``"the data (X of 1000000000 x 3 float64 and y)"``
    flag : what the user can lower: a CLI flag ('--epochs') or, from the Python API,
        the parameter name ('epochs'); several are joined by the caller ('--n-samples or --n-features')

    The message reads: "the data (X of 1000000000 x 3 float64 and y) needs about 22.4 GiB
    but 21.0 GiB is available; lower --n-samples".  When the available memory cannot be
    read (no /proc/meminfo, no sysconf), nothing is refused.
    """
    available = available_bytes()
    if available is not None and nbytes > available:
        raise NotEnoughMemory(
            f"{what} needs about {gib(nbytes)} but {gib(available)} is available; lower {flag}",
            needed=nbytes,
            available=available,
        )


def at_most(name: str, value: int, per_unit: int, what: str, fixed: int = 0) -> None:
    """Refuse a count ``name`` = ``value`` whose allocation, ``fixed + value * per_unit`` bytes,
    exceeds the memory available now; else return.

    The message has the boundary's form, so that the CLI puts the flag in place of ``name``:
    "epochs must be at most 687194766 here: the weight and loss history needs about 29.8 GiB
    but 21.0 GiB is available; got 1000000000".  Nothing is refused when the available memory
    cannot be read.
    """
    available = available_bytes()
    needed = fixed + int(value) * per_unit
    if available is None or needed <= available:
        return
    most = max(0, (available - fixed) // per_unit) if per_unit > 0 else 0
    raise NotEnoughMemory(
        f"{name} must be at most {most} here: {what} needs about {gib(needed)} "
        f"but {gib(available)} is available; got {value}",
        needed=needed,
        available=available,
        param=name,
    )


def disk_at_most(name: str, value: int, per_unit: int, what: str, folder: str | os.PathLike) -> None:
    """As :func:`at_most` for disk: refuse ``name`` = ``value`` when ``value * per_unit`` bytes
    exceed the free space of the file system that holds ``folder`` (or its nearest existing parent)."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return
    needed = int(value) * per_unit
    if needed <= free:
        return
    raise NotEnoughMemory(
        f"{name} must be at most {free // per_unit if per_unit > 0 else 0} here: {what} needs about {gib(needed)} "
        f"of disk but {gib(free)} is free at {str(path)!r}; got {value}",
        needed=needed,
        available=free,
        param=name,
    )
