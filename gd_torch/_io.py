"""The one way gd_torch writes a file: to a temporary beside the target, then renamed.

A reader sees either the previous complete file or the new complete one, never a
truncated one.  The temporary is created with O_EXCL in the target's folder (so the
rename is atomic and a planted symlink at the temporary's name is never followed);
``os.replace`` replaces a symlink at the target itself rather than writing through it.
Temporaries left by a killed run carry ``.partial`` in their hidden name and are removed
by :func:`remove_stale_partials` on the next run into that folder.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from ._errors import GdTorchError

PARTIAL = ".partial"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path`` (same suffix); rename it onto ``path``
    on success, delete it on failure.  OSError (full disk, file-size limit, no permission)
    becomes a GdTorchError naming the path; the previous file at ``path`` is kept."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}{PARTIAL}{path.suffix}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
        os.close(fd)
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise GdTorchError(f"could not write {str(path)!r}: {exc.strerror or exc}") from None
    except BaseException:
        _unlink(tmp)
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8); return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def remove_stale_partials(folder: str | Path) -> list[Path]:
    """Delete the temporaries a killed gd_torch run left in ``folder``; return what was removed."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        if p.name.startswith(".") and PARTIAL in p.name and p.is_file() and not p.is_symlink():
            _unlink(p)
            removed.append(p)
    return removed


def _unlink(p: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(p)
