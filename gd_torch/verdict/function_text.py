"""The text of a :func:`gd_torch.check_function` report: f, its noise, the methods, the worst
coordinate of each array, every pair per array and overall, and the verdict."""

from __future__ import annotations

import numpy as np

from .compare import FAILING
from .engine import Pair
from .report import CheckReport


class FunctionText:
    """``table`` and ``summary`` of a report judged by :class:`gd_torch.verdict.measured.Measured`."""

    def summary(self, r: CheckReport) -> str:
        if r.ok:
            return "OK: all methods agree within tolerances derived from the measured noise of f"
        odd = r.odd_one_out
        if odd:
            others = [m for m in r.gradients if m != odd]
            out = [f"FAIL: {odd} disagrees with {', '.join(others)}, which agree with each other"]
        elif r.failing():
            out = [f"FAIL: {', '.join(r.failing())} disagree, and no single method is the odd one out"]
        else:
            out = ["CANNOT VERIFY: no pair disagrees, but some pair could not have caught an error"]
        out.extend(line for p in r.pairs if (line := _pair_line(r, p)))
        return "\n".join(out)

    def table(self, r: CheckReport) -> str:
        what = "coordinates" if r.mode == "full" else "directions"
        names = ", ".join(f"{s.name} {s.shape}" for s in r.arrays)
        lines = [f"check_function: dtype={r.dtype} mode={r.mode} parameters={r.size} ({names})"]
        value = f"f(params) = {r.f_value:.10g}"
        if r.torch_value is not None:
            value += f", torch_f(params) = {r.torch_value:.10g}"
        lines += [f"{value}; noise of f = {r.noise:.3g} ({r.noise_note})", ""]
        width = max(len(m) for m in r.methods)
        lines += [f"{m:<{width}}  {text}" for m, text in r.methods.items()] + [""]
        lines += _worst_table(r, what) + [""] + _pair_table(r) + ["", self.summary(r)]
        return "\n".join(lines)


#: the one text of function reports
FUNCTION_TEXT = FunctionText()


def _pair_line(r: CheckReport, p: Pair) -> str:
    # a pair that does not agree: where and by how much ('' for one that agrees)
    label = r.label
    where = [s.name for s in r.arrays if any(q.a == p.a and q.b == p.b and q.status != "agree" for q in s.pairs)]
    if p.status == "non-finite":
        bad = p.a if not np.isfinite(p.value_a) else p.b if not np.isfinite(p.value_b) else "the tolerance"
        return f"  {p.a} vs {p.b}: {bad} is not finite at {label(p.worst)}: {p.a}={p.value_a}, {p.b}={p.value_b}"
    if p.status == "disagree":
        return (
            f"  {p.a} vs {p.b}: wrong in {', '.join(where)}; worst at {label(p.worst)}: {p.a}={p.value_a:.17g}, "
            f"{p.b}={p.value_b:.17g}, relative error {p.rel_err:.3g} > tolerance {p.tol_rel:.3g}"
            + (f"; {p.reason}" if p.reason else "")
        )
    if p.status == "cannot verify":
        return f"  {p.a} vs {p.b}: cannot verify at {label(p.worst)}: {p.reason}"
    return ""


def _worst_table(r: CheckReport, what: str) -> list[str]:
    # per array: the coordinate with the largest |diff| / tol over all pairs, every method's value there
    label = r.label
    names = list(r.gradients)
    lab = max(len(label(max(s.pairs, key=_ratio).worst)) for s in r.arrays)
    head = f"{'worst of ' + what:<{max(lab, 20)}}  " + "  ".join(f"{m:>23}" for m in names)
    lines = [head + f"  {'tolerance':>9}  status"]
    for s in r.arrays:
        p = max(s.pairs, key=_ratio)
        row = "  ".join(f"{r.gradients[m][p.worst]:>23.15e}" for m in names)
        status = "ok" if s.ok else "FAIL" if any(q.status in FAILING for q in s.pairs) else "unverified"
        lines.append(f"{label(p.worst):<{max(lab, 20)}}  {row}  {p.tol:>9.2e}  {status}")
    return lines


def _pair_table(r: CheckReport) -> list[str]:
    width = max(len(p.a + p.b) for p in r.pairs) + 4
    lines = [f"{'array':<8} {'pair':<{width}} {'max rel err':>11} {'|diff|/tol':>10}  status"]
    for s in r.arrays:
        lines += [
            f"{s.name:<8} {p.a + ' vs ' + p.b:<{width}} {p.max_rel_err:>11.2e} {p.ratio:>10.3g}  {p.status}"
            for p in s.pairs
        ]
    lines += [
        f"{'all':<8} {p.a + ' vs ' + p.b:<{width}} {p.max_rel_err:>11.2e} {p.ratio:>10.3g}  {p.status}" for p in r.pairs
    ]
    return lines


def _ratio(p: Pair) -> float:
    return np.inf if p.status == "non-finite" else p.ratio
