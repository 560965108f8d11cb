"""The few lines a run ends with, from its Result: which way to the gradient is fastest here
and by how much, what was not measured, whether the machine was busy, where the tables are."""

from __future__ import annotations

from pathlib import Path

from .markdown import ranked
from .plan import BenchMethod, catalog
from .report import Result, Row, fmt_n, fmt_time


def _winners(result: Result, known: dict[str, BenchMethod]) -> dict[str, list[list[Row]]]:
    # per device, each cell's ranked rows (cells with at least one way to the gradient)
    cells: dict[tuple, list[Row]] = {}
    for r in result.rows.of("gradient"):
        cells.setdefault((r.device, r.n, r.d, r.dtype), []).append(r)
    out: dict[str, list[list[Row]]] = {}
    for (device, *_), rows in cells.items():
        ways = ranked(rows, known)
        if ways:
            out.setdefault(device, []).append(ways)
    return out


def _lead(ways: list[Row]) -> float | None:
    return ways[1].median_s / ways[0].median_s if len(ways) > 1 else None


def _span(leads: list[float]) -> str:
    lo, hi = min(leads), max(leads)
    return f"{lo:.2g}x" if f"{lo:.2g}" == f"{hi:.2g}" else f"{lo:.2g}-{hi:.2g}x"


def fastest_lines(result: Result, known: dict[str, BenchMethod]) -> list[str]:
    """Per device: how many cells each method wins and by how much over the next; the largest
    cell's winner, its time, its lead and its ratio to the floor."""
    lines = []
    for device, cells in sorted(_winners(result, known).items()):
        wins: dict[str, list[list[Row]]] = {}
        for ways in cells:
            wins.setdefault(ways[0].method, []).append(ways)
        parts = []
        for method, won in sorted(wins.items(), key=lambda kv: -len(kv[1])):
            leads = [x for w in won if (x := _lead(w)) is not None]
            parts.append(f"{method} in {len(won)}" + (f" (by {_span(leads)} over the next)" if leads else ""))
        lines.append(f"Fastest way to the gradient on {device}, of {len(cells)} cells: " + "; ".join(parts) + ".")
        big = max(cells, key=lambda w: (w[0].n * w[0].d, w[0].dtype == "float64"))
        top, lead = big[0], _lead(big)
        vs = f", {lead:.2g}x faster than {big[1].method}" if lead else ""
        floor = f" ({top.get('ratio_to_floor'):.3g}x the floor)" if top.get("ratio_to_floor") else ""
        lines.append(
            f"  largest cell, N={fmt_n(top.n)} D={top.d} {top.dtype}: {top.method} {fmt_time(top.median_s)}{vs}{floor}."
        )
    return lines or ["No way to the gradient was timed."]


def not_measured(result: Result) -> str:
    """CUDA when not asked, and each method with rows skipped or failed, with the reason when it
    is one for all its rows."""
    parts = []
    if result.config.get("device") != "cuda":
        parts.append("CUDA (not asked: --device cuda on a machine with a GPU)")
    reasons: dict[str, set[str]] = {}
    count: dict[str, int] = {}
    for r in result.rows:
        if not r.ok:
            reasons.setdefault(r.method, set()).add(r.reason or r.status)
            count[r.method] = count.get(r.method, 0) + 1
    for method, why in reasons.items():
        text = next(iter(why)) if len(why) == 1 else "over the time budget or the memory, or failed; see the .md"
        parts.append(f"{method} ({count[method]} row(s): {text})")
    return "Not measured: " + ("; ".join(parts) if parts else "nothing") + "."


def summary(result: Result, stem: Path) -> list[str]:
    """The end of a run's output: fastest, not measured, busy or not, targets, where the tables are."""
    known = catalog()
    busy = (
        f"Not publishable: {result.busy()}; rerun on an idle machine."
        if result.contended
        else "No row was timed on a busy machine" + (f" ({result.reference()})." if result.timed else ".")
    )
    verdicts: dict[str, int] = {}
    for t in result.targets:
        verdicts[t.verdict] = verdicts.get(t.verdict, 0) + 1
    targets = ", ".join(f"{k} {v}" for v, k in verdicts.items())
    return [
        "",
        *fastest_lines(result, known),
        not_measured(result),
        busy,
        *([f"Targets: {targets}."] if targets else []),
        f"Tables: {stem}.md (data: {stem}.json).",
    ]
