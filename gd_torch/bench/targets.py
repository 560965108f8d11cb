"""What the benchmark is held to (a table of data, evaluated on a run's rows), and where CUDA
overtakes the CPU."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from .report import Key, Row, Rows

Verdict = Literal["met", "not met", "not measured"]


@dataclass(frozen=True)
class Target:
    """``measured``'s time per call over ``reference``'s (its ``field``) must be <= ``limit``."""

    text: str
    measured: Key
    reference: Key
    limit: float
    field: str = "median_s"


@dataclass(frozen=True)
class Outcome:
    """A target on one run: the ratio measured (None when a row is missing) and the verdict."""

    target: str
    value: float | None
    limit: float
    verdict: Verdict
    contended: bool = False

    @property
    def met(self) -> bool:
        return self.verdict == "met"

    def to_json(self) -> dict:
        return asdict(self) | {"met": self.met}


def _fit_vs_bare(method: str) -> Target:
    return Target(
        f"fit(method='{method}') per epoch <= 1.1x a bare loop of the same arithmetic (250 x 3)",
        ("train", method, "cpu", 250, 3, "float64"),
        ("train", f"{method}/bare-loop", "cpu", 250, 3, "float64"),
        1.1,
    )


#: the benchmark's targets; --compare adds its own (no re-timed cell off by more than 1.5x)
TARGETS: tuple[Target, ...] = (
    Target(
        "analytic <= 1.3x one X @ W (the floor's product) at 1e6 x 64 float64",
        ("gradient", "analytic", "cpu", 1_000_000, 64, "float64"),
        ("gradient", "floor", "cpu", 1_000_000, 64, "float64"),
        1.3,
        field="matmul_s",
    ),
    *(_fit_vs_bare(m) for m in ("tutorial", "analytic", "autograd")),
)


def _time(row: Row, name: str) -> float | None:
    return row.median_s if name == "median_s" else row.get(name)


def evaluate(rows: Rows, targets: tuple[Target, ...] = TARGETS) -> list[Outcome]:
    """Each target on these rows: met, not met, or not measured (a row missing or not finished)."""
    out = []
    for t in targets:
        a, b = rows.ok(t.measured), rows.ok(t.reference)
        ref = None if b is None else _time(b, t.field)
        if a is None or not ref:
            out.append(Outcome(t.text, None, t.limit, "not measured"))
            continue
        ratio = a.median_s / ref
        out.append(
            Outcome(t.text, ratio, t.limit, "met" if ratio <= t.limit else "not met", a.contended or b.contended)
        )
    return out


# ---- CUDA ---------------------------------------------------------------------------------


def _crossover(rows: Rows, cuda: list[Row], method: str, d: int, dtype: str) -> dict:
    # the first N where this method on CUDA beats it on the CPU, and beats every CPU row
    first_same = first_best = None
    cpu_rows = [r for r in rows.of("gradient") if r.ok and r.device == "cpu" and r.method != "floor"]
    for r in sorted((r for r in cuda if (r.method, r.d, r.dtype) == (method, d, dtype)), key=lambda r: r.n):
        same = rows.ok(("gradient", method, "cpu", r.n, d, dtype))
        best = min((c.median_s for c in cpu_rows if (c.n, c.d, c.dtype) == (r.n, d, dtype)), default=None)
        if first_same is None and same is not None and r.median_s < same.median_s:
            first_same = r.n
        if first_best is None and best is not None and r.median_s < best:
            first_best = r.n
    return {"method": method, "d": d, "dtype": dtype, "cuda_beats_cpu_same_from_n": first_same, "cuda_beats_best_cpu_from_n": first_best}  # fmt: skip


def cuda_summary(rows: Rows, gpu: dict | None) -> dict | None:
    """Per method on CUDA and (D, dtype): the N from which CUDA beats the same method on the CPU
    and the fastest CPU row; at the largest size, the bandwidth reached and its fraction of the peak."""
    cuda = [r for r in rows.of("gradient") if r.ok and r.device == "cuda" and r.method != "floor"]
    if not cuda:
        return None
    groups = sorted({(r.method, r.d, r.dtype) for r in cuda})
    crossover = [_crossover(rows, cuda, m, d, dt) for m, d, dt in groups]
    big = max(cuda, key=lambda r: r.n * r.d * (8 if r.dtype == "float64" else 4))
    peak = (gpu or {}).get("peak_bandwidth_GBps")
    largest = []
    for r in cuda:
        if (r.n, r.d, r.dtype) == (big.n, big.d, big.dtype):
            bw = r.n * r.d * (8 if r.dtype == "float64" else 4) / r.median_s / 1e9
            largest.append({"method": r.method, "GBps": bw, "fraction_of_peak": bw / peak if peak else None})
    fl = rows.ok(("gradient", "floor", "cuda", big.n, big.d, big.dtype))
    return {
        "crossover": crossover,
        "largest": {"n": big.n, "d": big.d, "dtype": big.dtype, "methods": largest},
        "floor_GBps": fl.get("bandwidth_GBps") if fl else None,
        "peak_bandwidth_GBps": peak,
        "fraction_of_peak_floor": fl.get("bandwidth_GBps") / peak if (fl and peak) else None,
    }
