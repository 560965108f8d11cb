"""The text of a :func:`gd_torch.check_torch` report: the methods, every pair per input and
overall, and the verdict, each failing pair with the element (or direction), your value and the
truth there, and the tolerance with where it came from."""

from __future__ import annotations

from .compare import FAILING
from .engine import Pair
from .report import CheckReport
from .torch_source import NUMERIC, REFERENCE, YOURS


class TorchText:
    """``table`` and ``summary`` of a report judged by :class:`gd_torch.verdict.torch_source.TorchRounding`."""

    def summary(self, r: CheckReport) -> str:
        if r.ok:
            return f"OK: fn's {r.dtype} gradient agrees with the truth within tolerances measured ({_held(r)})"
        odd = r.odd_one_out
        status = {(p.a, p.b): p.status for p in r.pairs}
        if odd:
            others = [m for m in r.gradients if m != odd]
            out = [f"FAIL: {odd} disagrees with {', '.join(others)}, which agree with each other"]
        elif status.get((YOURS, REFERENCE)) in FAILING and status.get((REFERENCE, NUMERIC)) == "agree":
            out = [
                f"FAIL: {YOURS} disagrees with {REFERENCE}, which agrees with {NUMERIC} "
                "(yours vs numeric, along a few random directions only, is too coarse to tell)"
            ]
        elif len(r.gradients) == 2 and r.failing():
            out = [f"FAIL: {' and '.join(r.gradients)} disagree"]
        elif r.failing():
            out = [f"FAIL: {', '.join(r.failing())} disagree, and no single method is the odd one out"]
        else:
            out = ["CANNOT VERIFY: no pair disagrees, but some pair could not have caught an error"]
        out.extend(line for p in r.pairs if (line := _pair_line(r, p)))
        return "\n".join(out)

    def table(self, r: CheckReport) -> str:
        names = ", ".join(f"{s.name} {s.shape}" for s in r.arrays)
        lines = [f"check_torch: dtype={r.dtype} mode={r.mode} differentiated: {names}; {r.noise_note}", ""]
        width = max(len(m) for m in r.methods)
        lines += [f"{m:<{width}}  {text}" for m, text in r.methods.items()] + [""]
        pw = max(len(p.a + p.b) for p in r.pairs) + 4
        aw = max(8, *(len(s.name) for s in r.arrays))
        lines.append(f"{'input':<{aw}} {'pair':<{pw}} {'|diff|/tol':>10}  {'tolerance':>9}  status")
        for s in r.arrays:
            lines += [_row(s.name, p, aw, pw) for p in s.pairs]
        lines += [_row("all", p, aw, pw) for p in r.pairs]
        return "\n".join(lines + ["", self.summary(r)])


#: the one text of torch reports
TORCH_TEXT = TorchText()


def _held(r: CheckReport) -> str:
    return "K x the reference's own rounding in that dtype" if "reference" in r.gradients else "float64 noise"


def _row(name: str, p: Pair, aw: int, pw: int) -> str:
    return f"{name:<{aw}} {p.a + ' vs ' + p.b:<{pw}} {p.ratio:>10.3g}  {p.tol:>9.2e}  {p.status}"


def _pair_line(r: CheckReport, p: Pair) -> str:
    # a pair that does not agree: where, both values there, and the tolerance with its origin
    if p.status not in FAILING and p.status != "cannot verify":
        return ""
    where = [s.name for s in r.arrays if any(q.a == p.a and q.b == p.b and q.status in FAILING for q in s.pairs)]
    at = f"{p.a}={p.value_a:.9g}, {p.b}={p.value_b:.9g} at {r.label(p.worst)}"
    if p.status == "non-finite":
        return f"  {p.a} vs {p.b}: not finite: {at}"
    if p.status == "cannot verify":
        return f"  {p.a} vs {p.b}: cannot verify at {r.label(p.worst)}: {p.reason}"
    along = " along" in r.label(p.worst)
    size = "|difference| along that direction" if along else "||difference||_2 over the input"
    return (
        f"  {p.a} vs {p.b}: wrong in {', '.join(where)}; {at}; {size} = {p.ratio * p.tol:.3g} "
        f"> tolerance {p.tol:.3g} ({p.ratio:.3g}x)" + (f": {p.reason}" if p.reason else "")
    )
