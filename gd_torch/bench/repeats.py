"""A row timed in several worker processes, as one row: the median across the processes.

A run with ``--repeats R`` starts each library's worker R times (in rounds: every library once,
then again), and every row a worker writes carries ``repeat`` (0 .. R-1).  One process's timing
moves with what the operating system gives it (where its arrays land, which core, what else
runs), so one process's median can sit 1.5x from another's; the median across processes does
not follow one of them (as pyperf reports).  :func:`merged` makes one row of the R rows of a key:

- ``median_s``: the median of the finished processes' medians (of two: their mean);
- the other measurements: those of the process whose median is the middle one (the lower middle
  of an even count), so that a row's fields come from one timing;
- ``repeats`` (finished processes), ``repeat_medians_s`` (each one's median, in the order run),
  ``spread`` (slowest / fastest), ``repeats_failed`` when some did not finish;
- ``contended`` when at least half of the finished processes were: while fewer than half are,
  the median lies between the fastest and the slowest of the undisturbed ones;
- ``ratio_to_bare`` and ``ratio_to_parts`` (a training run over its bare loops,
  :func:`with_bare_ratios`): the median of each process's own ratio, both timed interleaved
  in that process.

Rows without ``repeat`` (runs before this option, or R = 1 rows kept as they were) are left as
they are.
"""

from __future__ import annotations

import statistics

from .plan import catalog
from .report import Key, Row

#: the fields a merged row gains
FIELDS = ("repeats", "repeat_medians_s", "spread", "repeats_failed", "ratio_to_bare", "ratio_to_parts")


def merged(rows: list[Row]) -> Row:
    """One row from the rows of one key timed in separate processes (see the module's text)."""
    ok = [r for r in rows if r.ok]
    if not ok:
        first = rows[0]
        return Row.from_dict({k: v for k, v in first.to_dict().items() if k != "repeat"} | {"repeats": 0})
    times = [r.median_s for r in ok]
    middle = sorted(ok, key=lambda r: r.median_s)[(len(ok) - 1) // 2]
    out = {k: v for k, v in middle.to_dict().items() if k != "repeat"}
    median = statistics.median(times)
    contended = [r for r in ok if r.contended]
    out |= {
        "median_s": median,
        "repeats": len(ok),
        "repeat_medians_s": times,
        "spread": max(times) / min(times),
        "contended": 2 * len(contended) >= len(ok),
    }
    out["contended_by"] = (
        sorted({w for r in contended for w in r.get("contended_by") or []}) if out["contended"] else []
    )
    if len(ok) < len(rows):
        out["repeats_failed"] = len(rows) - len(ok)
    if "epochs" in out:  # a training row's time per epoch follows its median
        out["us_per_epoch"] = median / out["epochs"] * 1e6
    for field in REFERENCES:
        ratios = [r.get(field) for r in ok if r.get(field) is not None]
        if ratios:
            out[field] = statistics.median(ratios)
    return Row.from_dict(out)


#: a training row's ratio to a bare loop timed in the same process: field -> the catalog's
#: attribute naming the method a loop is the reference of
REFERENCES = {"ratio_to_bare": "baseline_of", "ratio_to_parts": "overhead_of"}


def with_bare_ratios(rows: list[Row]) -> None:
    """Each finished training row of a process (``repeat``) gets its time over each of its bare
    loops' timed in the same process (:data:`REFERENCES`: the hand-written loop, the loop of
    fit's own arithmetic)."""
    known = catalog()
    for field, attr in REFERENCES.items():
        of = {name: getattr(m, attr) for name, m in known.items() if getattr(m, attr)}
        ref = {(of[r.method], *r.key[2:], r.get("repeat")): r for r in rows if r.ok and r.method in of}
        for r in rows:
            base = ref.get((r.method, *r.key[2:], r.get("repeat")))
            if r.kind == "train" and r.ok and r.get("repeat") is not None and base is not None:
                r.fields[field] = r.median_s / base.median_s


def merge_repeats(rows: list[Row]) -> list[Row]:
    """The rows in the order their keys first came, those carrying ``repeat`` merged per key
    (their ratios to a bare loop taken in each process first); rows without it unchanged (a key
    timed once in a run without repeats)."""
    with_bare_ratios(rows)
    groups: dict[Key, list[Row]] = {}
    order: list[Row | Key] = []
    for r in rows:
        if r.get("repeat") is None:
            order.append(r)
            continue
        if r.key not in groups:
            groups[r.key] = []
            order.append(r.key)
        groups[r.key].append(r)
    return [merged(groups[x]) if isinstance(x, tuple) else x for x in order]
