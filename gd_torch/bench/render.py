"""A run's figures: time vs N per method (log-log, one panel per (dtype, D), the floor dashed)
and, when CUDA ran, the CPU/CUDA crossover.  Figures go through gd_torch.train.plots.save_figure."""

from __future__ import annotations

from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure

from ..train.plots import save_figure
from .plan import DTYPES, catalog
from .report import Result, Row

#: the rows drawn in the crossover figure, CPU and CUDA
CROSSOVER = (
    ("analytic", "cpu"),
    ("autograd", "cpu"),
    ("autograd", "cuda"),
    ("torch.compile", "cuda"),
    ("jax.jit", "cuda"),
)


def _panels(rows: list[Row]) -> tuple[list[str], list[int]]:
    return [dt for dt in DTYPES if any(r.dtype == dt for r in rows)], sorted({r.d for r in rows})


def _colors(series: list[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
    # one colour per series, the same in every panel: tab20's ten dark hues first, then the light ones
    # (the default cycle has ten colours: with 14 rows analytic and formula-torch shared a blue)
    cmap = colormaps["tab20"]
    return {s: cmap((2 * i) % 20 + (2 * i // 20) % 2) for i, s in enumerate(series)}


def _series(ax, rows: list[Row], method: str, device: str, d: int, dtype: str, color) -> None:
    pts = sorted((r.n, r.median_s) for r in rows if (r.method, r.device, r.d, r.dtype) == (method, device, d, dtype))
    if pts:
        style = "--" if method == "floor" else ("-." if device == "cuda" else "-")
        label = method if device == "cpu" else f"{method} {device}"
        ax.loglog(*zip(*pts, strict=True), style, marker="o", ms=3, label=label, color=color)


def _figure(rows: list[Row], series: list[tuple[str, str]], title: str, crossover: dict | None = None) -> Figure:
    dtypes, ds = _panels(rows)
    fig = Figure(figsize=(4.6 * len(ds), 3.8 * len(dtypes)), layout="constrained")
    axes = fig.subplots(len(dtypes), len(ds), squeeze=False, sharex=True)
    colors = _colors(series)
    for i, dt in enumerate(dtypes):
        for j, d in enumerate(ds):
            ax = axes[i][j]
            for method, device in series:
                _series(ax, rows, method, device, d, dt, colors[method, device])
            for c in (crossover or {}).get("crossover", []):
                if (c["d"], c["dtype"]) == (d, dt) and c["cuda_beats_best_cpu_from_n"]:
                    ax.axvline(c["cuda_beats_best_cpu_from_n"], color="k", lw=0.6, ls=":")
            ax.set_title(f"D={d}, {dt}")
            ax.set_xlabel("N (samples)")
            ax.set_ylabel("seconds per gradient")
            ax.grid(True, which="both", alpha=0.3)
    labelled = {lab: h for ax in axes.flat for h, lab in zip(*ax.get_legend_handles_labels(), strict=True)}
    fig.legend(labelled.values(), labelled.keys(), loc="outside right upper", fontsize=7)  # beside the panels
    fig.suptitle(title)
    return fig


def plots(result: Result, stem: Path) -> list[Path]:
    """Write <stem>-time-vs-n.png (and <stem>-crossover.png when CUDA ran); return the paths."""
    rows = [r for r in result.rows.of("gradient") if r.ok]
    if not rows:
        return []
    order = list(catalog())
    series = sorted(
        {(r.method, r.device) for r in rows}, key=lambda k: (k[1], order.index(k[0]) if k[0] in order else 99)
    )
    title = f"gd_torch gradient time vs N ({result.machine.get('cpu')}, {result.config.get('threads')} threads)"
    out = [save_figure(_figure(rows, series, title), Path(f"{stem}-time-vs-n.png"))]
    if any(r.device == "cuda" for r in rows):
        cross = _figure(rows, list(CROSSOVER), "CPU vs CUDA (dotted: CUDA beats every CPU row from here)", result.cuda)
        out.append(save_figure(cross, Path(f"{stem}-crossover.png")))
    return out
