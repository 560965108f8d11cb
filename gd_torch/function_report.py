"""What :func:`gd_torch.check_function` found: pairs of methods compared, per array and overall."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._compare import FAILING
from ._verdict import _odd_one_out

Status = Literal["agree", "disagree", "non-finite"]
#: multiplies the summed error estimates of two methods into their tolerance
SAFETY = 2.0


@dataclass(frozen=True)
class Comparison:
    """Two methods compared over some coordinates (or directions): the worst one and the verdict."""

    a: str
    b: str
    status: Status
    #: flat index of the coordinate (or direction) with the largest |diff| / tol
    worst: int
    value_a: float
    value_b: float
    tol: float
    ratio: float
    rel_err: float
    max_rel_err: float

    @property
    def tol_rel(self) -> float:
        scale = max(abs(self.value_a), abs(self.value_b))
        return self.tol / scale if scale > 0 else self.tol


def compare(a: str, b: str, values: dict, errors: dict, idx: np.ndarray) -> Comparison:
    """Coordinates idx of methods a and b: agree where |g_a - g_b| <= SAFETY (err_a + err_b)."""
    ga, gb = values[a][idx], values[b][idx]
    tol = SAFETY * (errors[a][idx] + errors[b][idx])
    finite = np.isfinite(ga) & np.isfinite(gb) & np.isfinite(tol)
    if not finite.all():
        k = int(np.flatnonzero(~finite)[0])
        return Comparison(
            a, b, "non-finite", int(idx[k]), float(ga[k]), float(gb[k]), float(tol[k]), np.nan, np.nan, np.nan
        )
    diff = np.abs(ga - gb)
    scale = np.maximum(np.abs(ga), np.abs(gb))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(scale > 0, diff / scale, 0.0)
        ratio = np.where(tol > 0, diff / tol, np.where(diff > 0, np.inf, 0.0))
    k = int(np.argmax(ratio))
    status: Status = "disagree" if ratio[k] > 1 else "agree"
    return Comparison(
        a,
        b,
        status,
        int(idx[k]),
        float(ga[k]),
        float(gb[k]),
        float(tol[k]),
        float(ratio[k]),
        float(rel[k]),
        float(rel.max()),
    )


@dataclass(frozen=True)
class ArraySummary:
    """One parameter array: every pair compared over its coordinates (or its directions)."""

    name: str
    shape: tuple[int, ...]
    pairs: list[Comparison]

    @property
    def ok(self) -> bool:
        return all(p.status == "agree" for p in self.pairs)


@dataclass(frozen=True)
class FunctionReport:
    """The gradient of f by each method, compared pairwise.  ``ok``: every pair agrees."""

    dtype: str
    mode: str
    size: int
    f_value: float
    torch_value: float | None
    #: noise level of one evaluation of f (ECnoise), and how it was found
    noise: float
    noise_note: str
    #: method name -> what it is
    methods: dict[str, str]
    #: method name -> values per coordinate (mode 'full') or per direction (v . g), float64
    values: dict[str, np.ndarray]
    #: method name -> error estimate per coordinate or direction
    errors: dict[str, np.ndarray]
    pairs: list[Comparison]
    arrays: list[ArraySummary]
    #: flat index -> 'W1[3, 2]' (mode 'full') or 'W1 along v2' (mode 'directional')
    label: Callable[[int], str]
    evaluations: int

    @property
    def ok(self) -> bool:
        return all(p.status == "agree" for p in self.pairs)

    @property
    def odd_one_out(self) -> str | None:
        """The one method whose every pair fails while every pair without it agrees (the checker's rule)."""
        return _odd_one_out(list(self.values), self.pairs)

    def failing(self) -> list[str]:
        """Methods in at least one pair that does not agree."""
        return sorted({m for p in self.pairs if p.status in FAILING for m in (p.a, p.b)})

    def summary(self) -> str:
        if self.ok:
            return "OK: all methods agree within tolerances derived from the measured noise of f"
        odd = self.odd_one_out
        if odd:
            others = [m for m in self.values if m != odd]
            out = [f"FAIL: {odd} disagrees with {', '.join(others)}, which agree with each other"]
        else:
            out = [f"FAIL: {', '.join(self.failing())} disagree, and no single method is the odd one out"]
        for p in self.pairs:
            where = [
                s.name for s in self.arrays if any(q.a == p.a and q.b == p.b and q.status != "agree" for q in s.pairs)
            ]
            if p.status == "non-finite":
                bad = p.a if not np.isfinite(p.value_a) else p.b if not np.isfinite(p.value_b) else "the tolerance"
                out.append(
                    f"  {p.a} vs {p.b}: {bad} is not finite at {self.label(p.worst)}: {p.a}={p.value_a}, {p.b}={p.value_b}"
                )
            elif p.status == "disagree":
                out.append(
                    f"  {p.a} vs {p.b}: wrong in {', '.join(where)}; worst at {self.label(p.worst)}: {p.a}={p.value_a:.17g}, "
                    f"{p.b}={p.value_b:.17g}, relative error {p.rel_err:.3g} > tolerance {p.tol_rel:.3g}"
                )
        return "\n".join(out)

    def __str__(self) -> str:
        what = "coordinates" if self.mode == "full" else "directions"
        names = ", ".join(f"{s.name} {s.shape}" for s in self.arrays)
        lines = [f"check_function: dtype={self.dtype} mode={self.mode} parameters={self.size} ({names})"]
        value = f"f(params) = {self.f_value:.10g}"
        if self.torch_value is not None:
            value += f", torch_f(params) = {self.torch_value:.10g}"
        lines += [f"{value}; noise of f = {self.noise:.3g} ({self.noise_note})", ""]
        width = max(len(m) for m in self.methods)
        lines += [f"{m:<{width}}  {text}" for m, text in self.methods.items()] + [""]
        lines += self._worst_table(what) + [""] + self._pair_table() + ["", self.summary()]
        return "\n".join(lines)

    def _worst_table(self, what: str) -> list[str]:
        # per array: the coordinate with the largest |diff| / tol over all pairs, every method's value there
        names = list(self.values)
        lab = max(len(self.label(max(s.pairs, key=_ratio).worst)) for s in self.arrays)
        head = f"{'worst of ' + what:<{max(lab, 20)}}  " + "  ".join(f"{m:>23}" for m in names)
        lines = [head + f"  {'tolerance':>9}  status"]
        for s in self.arrays:
            p = max(s.pairs, key=_ratio)
            row = "  ".join(f"{self.values[m][p.worst]:>23.15e}" for m in names)
            status = "ok" if s.ok else "FAIL"
            lines.append(f"{self.label(p.worst):<{max(lab, 20)}}  {row}  {p.tol:>9.2e}  {status}")
        return lines

    def _pair_table(self) -> list[str]:
        width = max(len(p.a + p.b) for p in self.pairs) + 4
        lines = [f"{'array':<8} {'pair':<{width}} {'max rel err':>11} {'|diff|/tol':>10}  status"]
        for s in self.arrays:
            lines += [
                f"{s.name:<8} {p.a + ' vs ' + p.b:<{width}} {p.max_rel_err:>11.2e} {p.ratio:>10.3g}  {p.status}"
                for p in s.pairs
            ]
        lines += [
            f"{'all':<8} {p.a + ' vs ' + p.b:<{width}} {p.max_rel_err:>11.2e} {p.ratio:>10.3g}  {p.status}"
            for p in self.pairs
        ]
        return lines


def _ratio(p: Comparison) -> float:
    return np.inf if p.status == "non-finite" else p.ratio


def all_pairs(values: dict, errors: dict, groups: list[np.ndarray]) -> tuple[list[Comparison], list[list[Comparison]]]:
    """Every pair over all indices, and over each group of indices (one group per array)."""
    pairs = list(itertools.combinations(values, 2))
    every = np.concatenate(groups)
    return (
        [compare(a, b, values, errors, every) for a, b in pairs],
        [[compare(a, b, values, errors, g) for a, b in pairs] for g in groups],
    )
