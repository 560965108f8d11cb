"""The one way gd_torch writes a file: to a temporary beside the target, then renamed.

A reader sees either the previous complete file or the new complete one, never a
truncated one.  The temporary is created with O_EXCL in the target's folder (so the
rename is atomic and a planted symlink at the temporary's name is never followed);
``os.replace`` replaces a symlink at the target itself rather than writing through it.
Temporaries left by a killed run have hidden names only gd_torch makes (``.<name>.<pid>-<hex>.partial<suffix>``
files, ``.gd-torch-<command>.<pid>-<hex>.partial`` staging folders: :data:`TEMPORARY`,
:data:`STAGING`) and are removed by :func:`remove_stale_partials` on the next run into that
folder; other names holding ``.partial`` are the user's and are left alone.

:func:`output_folder` is the ``--out DIR`` of every command: a locked folder whose files of
one command are staged and moved in together when the run succeeds.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from .._errors import GdTorchError

PARTIAL = ".partial"
#: the names this module gives its temporaries (atomic_path) and staging folders (output_folder)
TEMPORARY = re.compile(r"^\.[^/]*\.[0-9]+-[0-9a-f]+\.partial(\.[^./]+)?$")
STAGING = re.compile(r"^\.gd-torch-[a-z-]+\.[0-9]+-[0-9a-f]+\.partial$")


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


def link_into(src: str | Path, dst: str | Path) -> Path:
    """Make ``dst`` a hard link to the file ``src``, atomically: a reader of ``dst`` sees the
    previous file or ``src``'s, never neither (a temporary link renamed onto ``dst``).  OSError
    where the filesystem has no hard links.  Returns ``dst``."""
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}{PARTIAL}{dst.suffix}")
    os.link(src, tmp)
    try:
        os.replace(tmp, dst)
    except BaseException:
        _unlink(tmp)
        raise
    return dst


def remove_stale_partials(folder: str | Path) -> list[Path]:
    """Delete the temporaries a killed gd_torch run left in ``folder``: files named as
    :data:`TEMPORARY`, folders named as :data:`STAGING` (never a link, never another name that
    holds ``.partial``); return what was removed.  Call it while holding the folder's lock
    (:func:`output_folder` does), so that no live run's temporaries are among them."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        if p.is_symlink():
            continue
        if p.is_file() and TEMPORARY.match(p.name):
            _unlink(p)
        elif p.is_dir() and STAGING.match(p.name):  # a killed run's staging folder (see OutputFolder)
            shutil.rmtree(p, ignore_errors=True)
        else:
            continue
        removed.append(p)
    return removed


def _unlink(p: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(p)


# ---- the output folder of one command run (--out DIR) ------------------------------------


class OutputFolder:
    """The files one command run writes into its folder, staged and then moved in together.

    ``file(name)`` gives the path to write ``name`` at: inside a hidden staging folder
    (``.gd-torch-<command>.<pid>-<hex>.partial``) in the output folder.  When the run
    succeeds, :func:`output_folder` moves every staged file into the folder (``os.replace``:
    atomic per file, a symlink at the target is replaced, never followed) and removes the
    command's other files (``names``) that this run did not write, so the folder never shows
    files of two runs side by side; when it fails, the staging folder is deleted and the
    previous run's files are left as they were.
    """

    def __init__(self, path: Path, names: tuple[str, ...], stage: Path) -> None:
        self.path = path
        self.names = names
        self.stage = stage
        #: the final paths written and the earlier runs' files removed, filled in on success
        self.written: list[Path] = []
        self.removed: list[Path] = []
        self._staged: list[str] = []

    def file(self, name: str) -> Path:
        """Where to write the file ``name`` (one of ``names``) of this run."""
        if name not in self.names:
            raise GdTorchError(f"internal: {name!r} is not among this command's files {self.names}")
        if name not in self._staged:
            self._staged.append(name)
        return self.stage / name

    def _commit(self) -> None:
        for name in self._staged:
            src, dst = self.stage / name, self.path / name
            if src.is_file():
                try:
                    os.replace(src, dst)
                except OSError as exc:
                    raise GdTorchError(f"could not write {str(dst)!r}: {exc.strerror or exc}") from None
                self.written.append(dst)
        for name in self.names:
            old = self.path / name
            if name not in self._staged and (old.is_symlink() or old.is_file()):
                _unlink(old)
                self.removed.append(old)


@contextlib.contextmanager
def output_folder(out: str | Path | None, command: str, names: tuple[str, ...], *, flag: str = "--out"):
    """Open the folder ``out`` (created if needed; None: a fresh ``gd-torch-<command>-<time>``
    folder in the current directory) for one run of ``command``, which may write the files
    ``names``; yield an :class:`OutputFolder`.

    The folder is locked for the run (``fcntl.flock`` on the folder itself): a second run into
    it refuses at once with a GdTorchError naming ``flag``.  Stale temporaries of killed runs
    are removed first.  A folder this run created is removed again if the run fails or
    writes nothing.
    """
    import fcntl  # POSIX only, like the rest of the command line's file handling

    path, created = _open_folder(out, command, flag)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise GdTorchError(f"{flag} folder {str(path)!r} cannot be opened: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GdTorchError(
                f"{flag} folder {str(path)!r} is in use by another gd-torch run; wait for it or choose another {flag}"
            ) from None
        remove_stale_partials(path)
        stage = path / f".gd-torch-{command}.{os.getpid()}-{uuid.uuid4().hex[:8]}{PARTIAL}"
        try:
            stage.mkdir()
        except OSError as exc:
            _remove_if_empty(path, created)
            raise GdTorchError(f"{flag} folder {str(path)!r} cannot be written: {exc.strerror or exc}") from None
        folder = OutputFolder(path, names, stage)
        try:
            yield folder
            folder._commit()
        except GdTorchError as exc:
            if str(stage) not in str(exc):
                raise
            # a write into the staging folder failed: name the file the user asked for
            raise GdTorchError(str(exc).replace(str(stage), str(path))) from None
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            if not folder.written:
                _remove_if_empty(path, created)
    finally:
        os.close(fd)  # releases the lock


def _open_folder(out: str | Path | None, command: str, flag: str) -> tuple[Path, bool]:
    # the folder and whether this run created it
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for i in range(100):
            path = Path(f"gd-torch-{command}-{stamp}" + (f"-{i}" if i else ""))
            try:
                path.mkdir()
                return path, True
            except FileExistsError:
                continue
            except OSError as exc:
                raise GdTorchError(f"{flag} folder {str(path)!r} cannot be created: {exc.strerror or exc}") from None
        raise GdTorchError(f"{flag}: no fresh folder name gd-torch-{command}-{stamp}-N is free; pass {flag} DIR")
    if str(out) == "":
        raise GdTorchError(f"{flag} must be a folder path; got ''")
    path = Path(out)
    if path.is_symlink() and not path.exists():
        target = os.readlink(path)
        raise GdTorchError(
            f"{flag} must be a folder; got {str(path)!r}, a symbolic link to {target!r}, which does not exist"
        )
    if path.exists() and not path.is_dir():
        raise GdTorchError(f"{flag} must be a folder; got {str(path)!r}, which is a file")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GdTorchError(f"{flag} folder {str(path)!r} cannot be created: {exc.strerror or exc}") from None
    return path, created


def _remove_if_empty(path: Path, created: bool) -> None:
    if created:
        with contextlib.suppress(OSError):
            path.rmdir()  # only succeeds when empty
