"""``gd-torch bench --compare FILE.json``: re-time a sample of a committed run's cells on this
machine and list the rows whose time moved by more than FACTOR either way.  Both sides are
medians across worker processes where they were timed so (--repeats; the committed run's count
unless given, else the full run's default)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

import numpy as np

from .._errors import bad_value
from . import options
from .machine import memory_available
from .plan import ITEMSIZE, Plan, Task, admit, catalog
from .report import Row, Rows, fmt_n, fmt_time, read_result
from .stages import check_tag, exit_status, measure, output_folder, with_reference, write_outputs
from .targets import Outcome

#: a re-timed row off by more than this factor (either way) is listed
FACTOR = 1.5


@dataclass(frozen=True)
class Moved:
    """One row timed in both runs: the committed median, the new one, new / committed."""

    key: tuple
    before_s: float
    after_s: float
    #: the re-timed row's slowest / fastest process (None: timed in one process)
    spread: float | None = None

    @property
    def ratio(self) -> float:
        return self.after_s / self.before_s

    @property
    def off(self) -> bool:
        return max(self.ratio, 1 / self.ratio) > FACTOR


def load(path_text: str) -> tuple[dict, Rows]:
    """The committed result and its rows; refuse a file that is not a benchmark result."""
    return read_result(path_text, "--compare")


def sample_cells(rows: Rows, k: int) -> list[tuple[int, int, str]]:
    """``k`` gradient cells spread evenly from the smallest X to the largest."""
    cells = sorted(
        {(r.n, r.d, r.dtype) for r in rows.of("gradient") if r.ok},
        key=lambda c: (c[0] * c[1] * ITEMSIZE.get(c[2], 8), c),
    )
    if not cells:
        return []
    picks = np.unique(np.round(np.linspace(0, len(cells) - 1, min(k, len(cells)))).astype(int))
    return [cells[i] for i in picks]


def compare_plan(
    rows: Rows, cells: list[tuple[int, int, str]], cfg: options.Config, available: int
) -> tuple[Plan, list[Row]]:
    """Tasks for the committed rows of the sampled cells (and its training rows) that this
    benchmark still has on a device asked; the rows it cannot re-time."""
    known, plan, gone = catalog(), Plan(), []
    devices = ("cpu", "cuda") if cfg.device == "cuda" else ("cpu",)
    for r in rows:
        if (
            not r.ok
            or (r.kind == "gradient" and (r.n, r.d, r.dtype) not in cells)
            or (r.kind == "train" and not cfg.train)
        ):
            continue
        lib = known[r.method].workers.get(r.device) if r.method in known else None
        if lib is None or r.device not in devices:
            gone.append(r)
        else:
            admit(plan, Task(r.kind, r.method, lib, r.device, r.n, r.d, r.dtype), available, False)
    return plan, gone  # fmt: skip


def moved_rows(before: Rows, after: Rows) -> list[Moved]:
    """The rows timed in both runs: their medians (across processes, where timed in several)."""
    return [
        Moved(r.key, before.ok(r.key).median_s, r.median_s, r.get("spread")) for r in after if r.ok and before.ok(r.key)
    ]


def headline(path: str, moved: list[Moved], gone: list[Row]) -> str:
    """'Compared with FILE: n rows re-timed, k off by more than 1.5x[; g committed rows not re-timed].'"""
    off = [m for m in moved if m.off]
    return (
        f"Compared with {path}: {len(moved)} rows re-timed, {len(off)} off by more than {FACTOR}x"
        f"{f'; {len(gone)} committed rows not re-timed (rows or devices this benchmark no longer has)' if gone else ''}."
    )


def report(path: str, moved: list[Moved], gone: list[Row]) -> str:
    # re-timed in several processes: a column for their spread (slowest / fastest) too
    spread = any(m.spread is not None for m in moved)
    columns = ["kind", "method", "device", "N", "D", "dtype", "committed", "now", "now / committed"]
    columns += ["spread now"] * spread
    lines = ["", headline(path, moved, gone), "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for m in sorted(moved, key=lambda m: -max(m.ratio, 1 / m.ratio)):
        kind, method, device, n, d, dtype = m.key
        flag = " **off**" if m.off else ""
        across = (f" {m.spread:.3g}x |" if m.spread is not None else " |") if spread else ""
        lines.append(
            f"| {kind} | {method} | {device} | {fmt_n(n)} | {d} | {dtype} | {fmt_time(m.before_s)} | {fmt_time(m.after_s)} | {m.ratio:.3g}{flag} |{across}"
        )
    return "\n".join(lines) + "\n"  # fmt: skip


def compare(args: argparse.Namespace) -> int:
    """Re-time ``args.sample`` cells of ``args.compare`` and list the rows off by more than FACTOR."""
    data, before = load(args.compare)
    if args.sample < 1:
        raise bad_value("--sample", args.sample, "a positive integer")
    old = data.get("config", {})
    cfg = with_reference(options.config(args))
    cfg = replace(
        cfg,
        min_run_time=args.min_run_time or old.get("min_run_time", cfg.min_run_time),
        budget_s=args.budget or old.get("budget_s", cfg.budget_s),
        repeats=args.repeats or old.get("repeats", cfg.repeats),
    )
    gpu = options.check_cuda(cfg.device)
    plan, gone = compare_plan(before, sample_cells(before, args.sample), cfg, memory_available())
    tag = check_tag(args.tag or "compare")
    done = measure(cfg, plan, output_folder(args.out), tag, args.force, gpu)
    moved = moved_rows(before, done.result.rows)
    worst = max((max(m.ratio, 1 / m.ratio) for m in moved), default=None)
    verdict = "not measured" if worst is None else ("met" if worst <= FACTOR else "not met")
    done.result.targets = [
        Outcome(
            f"--compare {args.compare}: no re-timed row off by more than {FACTOR}x",
            worst,
            FACTOR,
            verdict,
            bool(done.result.contended),
        )
    ]
    paths = write_outputs(done.result, done.stem, report(args.compare, moved, gone))
    print(headline(args.compare, moved, gone))
    status = exit_status(done, paths)
    return status or (1 if verdict == "not met" else 0)  # fmt: skip
