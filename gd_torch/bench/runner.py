"""Runs the plan: one worker process per library, ``sys.executable -m gd_torch.bench.worker_<lib>``,
its rows streamed into a file as they come (an interrupted run keeps them).  With ``repeats``
R > 1 every library's worker runs R times, in rounds (each library once, then again), and each
row carries ``repeat``, the round it came from (:mod:`.repeats` merges them into medians).

The rows file is written to a hidden temporary beside its target and renamed once the run
ends, so that a previous run's file is never truncated; a run killed outright leaves the
temporary, named like gd_torch.base.files's (``.partial`` in its hidden name).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

import gd_torch

from .._errors import GdTorchError
from ..base.files import PARTIAL
from .options import cores
from .plan import LIBRARIES, Task

Sink = Callable[[dict], None]


class Progress:
    """A one-line progress bar on stderr when it is a terminal; a line per row with ``verbose``;
    otherwise silent."""

    def __init__(self, total: int, stream: TextIO | None = None, verbose: bool = False) -> None:
        self.total, self.done, self.t0 = total, 0, time.monotonic()
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() and not verbose
        self.verbose = verbose

    def step(self, row: dict) -> None:
        from .report import fmt_time

        self.done += 1
        fill = int(30 * self.done / max(self.total, 1))
        label = f"{row.get('kind', '')} {row.get('method', '')} {row.get('device', '')} N={row.get('n')} D={row.get('d')} {row.get('dtype', '')}"
        status = fmt_time(row["median_s"]) if row.get("status") == "ok" else row.get("status", "")
        mark = " (contended)" if row.get("contended") else ""
        text = f"[{'#' * fill}{'.' * (30 - fill)}] {self.done}/{self.total} {time.monotonic() - self.t0:5.0f}s  {label}: {status}{mark}"
        if self.tty:
            self.stream.write("\r" + text[:150].ljust(150) + ("\n" if self.done == self.total else ""))
        elif self.verbose:
            self.stream.write(text + "\n")
        self.stream.flush()


@contextlib.contextmanager
def row_stream(folder: Path) -> Iterator[tuple[Path, Sink]]:
    """A fresh hidden temporary in ``folder`` and a sink appending one JSON line per row to it
    (flushed: a killed run keeps its rows).  The caller renames it with :func:`keep`; an
    exception (Ctrl-C is caught earlier, in :func:`run_all`) removes it."""
    tmp = folder / f".rows.{os.getpid()}-{uuid.uuid4().hex[:8]}{PARTIAL}.jsonl"
    try:
        f = open(tmp, "xb", buffering=0)  # noqa: SIM115 - closed below; unbuffered: nothing left to flush on a full disk
    except OSError as exc:
        raise GdTorchError(f"--out folder {str(folder)!r} cannot be written: {exc.strerror or exc}") from None

    def sink(row: dict) -> None:
        try:
            f.write((json.dumps(row) + "\n").encode("utf-8"))
        except OSError as exc:  # a full disk, a file-size limit
            raise GdTorchError(
                f"--out folder {str(folder)!r}: could not write the rows: {exc.strerror or exc}"
            ) from None

    try:
        with f:
            yield tmp, sink
    except BaseException:  # refused or failed: no rows file, as gd_torch.base.files leaves no temporary
        tmp.unlink(missing_ok=True)
        raise


def keep(tmp: Path, path: Path) -> Path:
    """Rename the finished rows file onto ``path`` (atomic: the same folder)."""
    try:
        os.replace(tmp, path)
    except OSError as exc:
        raise GdTorchError(f"could not write {str(path)!r}: {exc.strerror or exc}") from None
    return path


def worker_plan(cfg, tasks: list[Task]) -> dict:
    """What a worker reads on stdin: the timing settings and its tasks."""
    keys = ("threads", "min_run_time", "budget_s", "seed", "calibration_tolerance", "calibration_repeats", "retries")
    idle = (cfg.idle_reference or {}).get("calibration_s")
    return {k: getattr(cfg, k) for k in keys} | {
        "cores": cores(),
        "idle_calibration_s": idle,
        "tasks": [t.as_dict() for t in tasks],
    }


def _check_meta(row: dict, library: str) -> None:
    # the worker must time this gd_torch, not another one found first on its path
    if row.get("kind") == "meta" and row.get("gd_torch") != gd_torch.__file__:
        raise GdTorchError(
            f"the {library} worker imported gd_torch from {row.get('gd_torch')}, this process from "
            f"{gd_torch.__file__}; run from a folder without another gd_torch, or install this one"
        )


def _stream(proc: subprocess.Popen, library: str, sink: Sink, progress: Progress) -> int:
    # pass each line the worker prints to the sink; the number of task rows seen
    done = 0
    for line in proc.stdout:
        row = json.loads(line)
        _check_meta(row, library)
        sink(row)
        if row.get("kind") in ("gradient", "train"):
            done += 1
            progress.step(row)
    return done


def tagged(sink: Sink, repeat: int | None) -> Sink:
    """``sink`` adding ``repeat`` to every row (None: the sink itself); other records pass as they are."""
    if repeat is None:
        return sink
    return lambda row: sink(row | {"repeat": repeat} if row.get("kind") in ("gradient", "train") else row)


def run_worker(library: str, tasks: list[Task], cfg, sink: Sink, progress: Progress) -> None:
    """Run one library's worker over its tasks; when it dies, its unfinished tasks become error rows."""
    if not tasks:
        return
    env = dict(os.environ, OMP_NUM_THREADS=str(cfg.threads))
    module = LIBRARIES[library].module
    # stderr to a file, not a pipe: a chatty worker cannot block on a full pipe
    with tempfile.TemporaryFile("w+") as errf:
        with subprocess.Popen(
            [sys.executable, "-m", module],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errf,
            text=True,
            env=env,
        ) as proc:
            try:
                proc.stdin.write(json.dumps(worker_plan(cfg, tasks)))
                proc.stdin.close()
                done = _stream(proc, library, sink, progress)
                rc = proc.wait()
            except BaseException:
                proc.terminate()  # our own child, by its handle
                proc.wait()
                raise
        errf.seek(0)
        last = (errf.read().strip().splitlines() or ["(no message)"])[-1]
    if rc != 0:
        reason = f"{module} exited with {rc}: {last}"
        for t in tasks[done:]:
            row = {**t.as_dict(), "status": "error", "reason": reason}
            sink(row)
            progress.step(row)


def run_all(tasks: list[Task], skipped: list[dict], cfg, sink: Sink) -> bool:
    """The skipped rows, then every library's worker in turn, ``cfg.repeats`` rounds (rows
    tagged with their round when more than one); True when interrupted (Ctrl-C)."""
    rounds = cfg.repeats
    progress = Progress(len(tasks) * rounds + len(skipped), verbose=cfg.verbose)
    for row in skipped:
        sink(row)
        progress.step(row)
    try:
        for r in range(rounds):
            for library in LIBRARIES:
                mine = [t for t in tasks if t.library == library]
                run_worker(library, mine, cfg, tagged(sink, r if rounds > 1 else None), progress)
    except KeyboardInterrupt:
        return True
    return False
