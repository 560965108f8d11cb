"""A run as markdown: the machine, the gradient grid (time and ratio to the floor), compile
times, training per epoch, the targets and the CUDA summary."""

from __future__ import annotations

from .plan import DTYPES, BenchMethod, catalog
from .report import Result, Row, Rows, fmt_n, fmt_time


def _header(result: Result) -> list[str]:
    m, cfg = result.machine, result.config
    blas = "; ".join(
        f"{b['internal_api']} {b['version']} kernel {b['architecture']} ({b['num_threads']} threads)"
        for b in m.get("blas") or []
    )
    gpu = f"; GPU {m['gpu']['name']}" if m.get("gpu") else ""
    loads = [r.get("loadavg_1m") for r in result.rows if r.get("loadavg_1m") is not None]
    load = (
        f" 1-minute load average while cells were timed: {min(loads):.1f} to {max(loads):.1f} (on {m.get('cores')} cores)."
        if loads
        else ""
    )
    marked = f" **Rows marked *: {result.busy()}: do not publish them.**" if result.contended else ""
    incomplete = "" if result.complete else " **Incomplete run: only the finished rows.**"
    return [
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_GiB', 0):.0f} GiB; numpy {m.get('numpy')} with {blas or 'BLAS unknown'}; "
        f"torch {m.get('torch')} ({m.get('torch_threads')} threads){gpu}. Threads: {cfg.get('threads')}. Problem: {result.problem}.{load} The {result.reference()}.{marked}{incomplete}",
        "",
        "Each cell: median time per gradient (IQR and peak memory in the JSON) and, in brackets, its ratio to the floor "
        "(the time to read X once on that device: the faster of one X @ W and one reduction over X)."
        + (" The methods of a cell were timed interleaved, one block of each in turn." if _interleaved(result.rows) else "")
        + _repeated(result.rows),
    ]  # fmt: skip


def _repeated(rows: Rows) -> str:
    # rows timed in several worker processes (.repeats): how many, and the widest spread among them
    spread = [r for r in rows if r.ok and r.get("spread") is not None]
    if not spread:
        return ""
    counts = sorted({r.get("repeats") for r in spread})
    widest = max(spread, key=lambda r: r.get("spread"))
    return (
        f" Each time is the median over {'/'.join(map(str, counts))} worker processes (each its own median); "
        f"the spread across them (slowest / fastest) is in the JSON, widest {widest.get('spread'):.3g}x "
        f"({widest.kind} {widest.method} {widest.device} N={fmt_n(widest.n)} D={widest.d} {widest.dtype})."
    )


def _interleaved(rows: Rows) -> bool:
    # rows of this benchmark carry their calibration; rows of older runs (timed one after another) do not
    return any(r.get("calibration") for r in rows)


def _cell(r: Row | None) -> str:
    if r is None:
        return ""
    if not r.ok:
        return r.status
    ratio = r.get("ratio_to_floor")
    text = f"{fmt_time(r.median_s)} ({ratio:.3g}x)" if ratio else fmt_time(r.median_s)
    return text + ("*" if r.contended else "")


def _columns(grad: list[Row]) -> list[tuple[str, str]]:
    order = list(catalog())
    cols = {(r.method, r.device) for r in grad if r.method != "floor"}
    return sorted(cols, key=lambda k: (k[1], order.index(k[0]) if k[0] in order else len(order)))


def ranked(rows: list[Row], known: dict[str, BenchMethod]) -> list[Row]:
    """The finished rows of one cell and device that compute the problem's gradient (bounds and
    the tutorial's rule, another loss's gradient, excluded; ``known``: the catalog), fastest first."""
    ways = (r for r in rows if r.ok and r.method in known and known[r.method].computes_the_gradient)
    return sorted(ways, key=lambda r: r.median_s)


def fastest(rows: list[Row], known: dict[str, BenchMethod]) -> str:
    """The fastest of :func:`ranked` and its lead over the next one: 'analytic (1.4x)'."""
    ways = ranked(rows, known)
    if not ways:
        return "-"
    lead = f" ({ways[1].median_s / ways[0].median_s:.2g}x)" if len(ways) > 1 else ""
    return ways[0].method + lead


def gradient_table(rows: Rows) -> list[str]:
    grad = rows.of("gradient")
    cols = _columns(grad)
    devices = sorted({r.device for r in grad if r.method == "floor"})
    header = [
        "N",
        "D",
        "dtype",
        *(f"floor {dev} (GB/s)" for dev in devices),
        *(m if dev == "cpu" else f"{m} {dev}" for m, dev in cols),
        *(f"fastest {dev} (lead)" for dev in devices),
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    cells = sorted(
        {(r.dtype, r.d, r.n) for r in grad}, key=lambda k: (DTYPES.index(k[0]) if k[0] in DTYPES else 9, k[1], k[2])
    )
    by_key = {r.key: r for r in grad}
    known = catalog()
    for dtype, d, n in cells:
        line = [fmt_n(n), str(d), dtype]
        for dev in devices:
            fl = rows.ok(("gradient", "floor", dev, n, d, dtype))
            line.append(f"{fmt_time(fl.median_s)} ({fl.get('bandwidth_GBps'):.3g})" if fl else "-")
        line += [_cell(by_key.get(("gradient", m, dev, n, d, dtype))) for m, dev in cols]
        for dev in devices:  # the cell's rows, by key
            here = [r for m in known if (r := by_key.get(("gradient", m, dev, n, d, dtype))) is not None]
            line.append(fastest(here, known))
        lines.append("| " + " | ".join(line) + " |")
    return lines  # fmt: skip


def skipped(rows: Rows) -> list[str]:
    """One line per (kind, method, reason) not finished, with the cells it covers."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for r in rows:
        if not r.ok:
            groups.setdefault((r.kind, r.method, r.reason or ""), []).append(f"{fmt_n(r.n)}x{r.d} {r.dtype} {r.device}")
    if not groups:
        return []
    return ["", "Skipped or failed:", ""] + [
        f"- {kind} {m} ({', '.join(cases)}): {why}" for (kind, m, why), cases in sorted(groups.items())
    ]


def compile_table(rows: Rows) -> list[str]:
    """The first call of each compiled row (tracing and compiling), apart from its time per call."""
    comp = [r for r in rows if r.ok and r.get("compile_s") is not None]
    if not comp:
        return []
    lines = [
        "",
        "Compile time (the first call, apart from the time per call above; on-disk caches of earlier runs count):",
        "",
        "| kind | method | device | N | D | dtype | compile | per call |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in comp:
        lines.append(
            f"| {r.kind} | {r.method} | {r.device} | {fmt_n(r.n)} | {r.d} | {r.dtype} | {fmt_time(r.get('compile_s'))} | {fmt_time(r.median_s)} |"
        )
    return lines  # fmt: skip


def _over(r: Row, rows: Rows, loop: str, field: str) -> str:
    # r's time over its bare loop ``loop`` ('bare-loop', 'parts-loop'): the median of each
    # process's own ratio (``field``), or the ratio of the medians
    base = rows.ok(("train", f"{r.method}/{loop}", r.device, r.n, r.d, r.dtype))
    ratio = r.get(field) or (r.median_s / base.median_s if base else None)
    return f"{ratio:.3g}" if ratio else ""


def train_table(rows: Rows) -> list[str]:
    train = rows.of("train")
    if not train:
        return []
    # columns only runs that have them get: fit over a loop of its own arithmetic, the spread across processes
    parts = any(r.method.endswith("/parts-loop") for r in train)
    spread = any(r.get("spread") is not None for r in train)
    columns = ["method", "device", "us/epoch", "IQR (us)", "x its bare loop"]
    columns += ["x its own arithmetic"] * parts + ["spread"] * spread + ["how"]
    lines = [
        "",
        "Training at the tutorial's size (250 x 3, 100 epochs, alpha 0.01), per epoch"
        + (", timed interleaved:" if _interleaved(rows) else ":"),
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for r in train:
        if not r.ok:
            lines.append(f"| {r.method} | {r.device} | {r.status} | | |{' |' * (parts + spread)} {r.reason or ''} |")
            continue
        mark = "*" if r.contended else ""
        cells = [
            f"{r.get('us_per_epoch'):.3g}{mark}",
            f"{r.get('iqr_s') / r.get('epochs') * 1e6:.2g}",
            _over(r, rows, "bare-loop", "ratio_to_bare"),
        ]
        cells += [_over(r, rows, "parts-loop", "ratio_to_parts")] * parts
        cells += [f"{r.get('spread'):.3g}x" if r.get("spread") is not None else ""] * spread
        lines.append(f"| {r.method} | {r.device} | " + " | ".join(cells) + f" | {r.get('driver', '')} |")
    return lines  # fmt: skip


def targets_table(result: Result) -> list[str]:
    if not result.targets:
        return []
    lines = ["", "Targets (measured in this run):", "", "| target | measured | limit | verdict |", "|---|---|---|---|"]
    for t in result.targets:
        value = "-" if t.value is None else f"{t.value:.3g}x" + (" (contended)" if t.contended else "")
        lines.append(f"| {t.target} | {value} | {t.limit:g}x | {t.verdict} |")
    return lines


def cuda_lines(result: Result) -> list[str]:
    cu = result.cuda
    if not cu:
        return []
    lines = ["", "CUDA:", ""]
    for c in cu["crossover"]:
        lines.append(
            f"- {c['method']}, D={c['d']} {c['dtype']}: CUDA beats the CPU's {c['method']} from N={c['cuda_beats_cpu_same_from_n']}, the fastest CPU row from N={c['cuda_beats_best_cpu_from_n']}"
        )
    lg, peak = cu["largest"], cu.get("peak_bandwidth_GBps")
    for m in lg["methods"]:
        frac = f" = {m['fraction_of_peak']:.0%} of the peak {peak:.0f} GB/s" if m.get("fraction_of_peak") else ""
        lines.append(
            f"- largest size N={lg['n']} D={lg['d']} {lg['dtype']}: {m['method']} processes X at {m['GBps']:.0f} GB/s{frac} (X's bytes over the time per gradient)"
        )
    if cu.get("fraction_of_peak_floor"):
        lines.append(f"- the floor reaches {cu['fraction_of_peak_floor']:.0%} of the peak")
    return lines  # fmt: skip


def markdown(result: Result) -> str:
    """The whole report."""
    parts = [_header(result), [""], gradient_table(result.rows), skipped(result.rows), compile_table(result.rows)]
    parts += [train_table(result.rows), targets_table(result), cuda_lines(result)]
    return "\n".join(line for part in parts for line in part) + "\n"
