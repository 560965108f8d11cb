"""The text of a one-neuron check's report (:func:`gd_torch.check`, the distributed check): the
gradients, the pairs, the verdict."""

from __future__ import annotations

import numpy as np

from .engine import Pair
from .report import CheckReport, Unresolved

#: coordinates printed in full mode
SHOWN = 8


class ModelText:
    """``table`` and ``summary`` of a report judged by :class:`gd_torch.verdict.predicted.Predicted`."""

    def table(self, r: CheckReport) -> str:
        """The gradients (up to SHOWN coordinates), one row per pair at its worst j, and the summary."""
        n, d = r.shape
        lines = [f"loss={r.loss} activation={r.activation} dtype={r.dtype} N={n} D={d} mode={r.mode}"]
        names = list(r.gradients)
        shown = range(min(d, SHOWN)) if r.mode == "full" else [0]
        head = "v.g" if r.mode == "directional" else "j"
        lines.append(f"{head:>4}  " + "  ".join(f"{m:>22}" for m in names))
        for j in shown:
            label = "" if r.mode == "directional" else str(j)
            lines.append(f"{label:>4}  " + "  ".join(f"{r.gradients[m][j]:>22.15e}" for m in names))
        if r.mode == "full" and d > SHOWN:
            lines.append(f"  ... {d - SHOWN} more coordinates")
        lines.append("")
        width = max(len(p.a + p.b) for p in r.pairs) + 4
        # one coordinate per row: the worst j, and the relative error and |diff|/tol at that j
        lines.append(f"{'pair':<{width}} {'rel err':>11} {'worst j':>7} {'|diff|/tol':>10}  status")
        for p in r.pairs:
            lines.append(f"{p.a + ' vs ' + p.b:<{width}} {p.rel_err:>11.2e} {p.worst:>7} {p.ratio:>10.3g}  {p.status}")
        lines.append("(worst j: the coordinate with the largest |diff|/tol; rel err and |diff|/tol are at that j)")
        lines.append("")
        lines.append(self.summary(r))
        return "\n".join(lines)

    def summary(self, r: CheckReport) -> str:
        """OK, NOT VERIFIED or FAIL; then each pair that does not agree, unexercised kink and unresolved method."""
        if r.ok and not any(p.status == "kink" for p in r.pairs):
            head = "OK: all methods agree within their predicted tolerances"
            if r.unresolved:  # witnesses only: the methods under test resolve each other there
                head += ", and the methods under test resolve each other where a finite difference cannot"
            return "\n".join([head, *(_unresolved_line(r, u) for u in r.unresolved)])
        out = []
        if r.agree and (r.unexercised or r.unverified):
            out.append("NOT VERIFIED: all methods agree, but " + " and ".join(_why_not(r)))
        elif r.agree:
            out.append("OK, but a finite difference straddles a kink")
        elif r.odd_one_out:
            others = [m for m in r.gradients if m != r.odd_one_out]
            verb = "is not finite beside" if _all_non_finite(r, r.odd_one_out) else "disagrees with"
            out.append(f"FAIL: {r.odd_one_out} {verb} {', '.join(others)}, which agree with each other")
        else:
            out.append(f"FAIL: {', '.join(r.failing())} disagree, and no single method is the odd one out")
        out.extend(_pair_line(r, p) for p in r.pairs if p.status != "agree")
        hidden = r.unseen or (0,) * len(r.unexercised)
        out.extend(
            _unexercised_line(r.shape[0], k, side, m) for (k, side), m in zip(r.unexercised, hidden, strict=True)
        )
        out.extend(_unresolved_line(r, u) for u in r.unresolved)
        return "\n".join(out)


#: the one text of one-neuron reports
MODEL_TEXT = ModelText()


def _why_not(r: CheckReport) -> list[str]:
    # the first line's reasons a check that agrees is NOT VERIFIED
    why = ["the data never exercise a branch of the derivative"] if r.unexercised else []
    if r.unverified:
        why.append("some agreement is within a tolerance as large as the gradient can be")
    return why


#: unresolved coordinates listed with their sizes
_UNRESOLVED_SHOWN = 5


def _unresolved_line(r: CheckReport, u: Unresolved) -> str:
    if r.mode == "directional":
        where, there, sizes = "the direction v", "along v", f"{u.tol[0]:.2g} >= {u.size[0]:.2g}"
        size = "sum_j |v_j| S_j = sum_i (|X| |v|)_i |dL/dz_i|"
    else:
        shown = u.coords[:_UNRESOLVED_SHOWN]
        more = f" and {len(u.coords) - len(shown)} more" if len(u.coords) > len(shown) else ""
        where = ("coordinate " if len(u.coords) == 1 else "coordinates ") + ", ".join(map(str, shown)) + more
        there, size = "there", "S_j = sum_i |X_ij| |dL/dz_i|"
        sizes = ", ".join(f"j={j}: {t:.2g} >= {s:.2g}" for j, t, s in zip(shown, u.tol, u.size, strict=False))
    tail = (
        "the methods under test resolve each other there, so this finite difference is no witness of it"
        if u.witness
        else "any value that small, 0 or the wrong sign included, would have agreed: compare it with a "
        "method held to a smaller tolerance there"
    )
    return (
        f"  {u.method} cannot resolve {where} here: its tolerance is at least the gradient's largest "
        f"possible size {there}, {size} ({sizes}); {tail}"
    )


#: where every z_i lies, beside one kink k: (the samples' side, the side never reached)
_SIDES = {
    ">": (">= {k:g}", "z < {k:g}"),
    "<": ("<= {k:g}", "z > {k:g}"),
    "=": ("exactly {k:g}", "z < {k:g} or z > {k:g}"),
}


def _unexercised_line(n: int, k: float, side: str, hidden: int) -> str:
    at, never = (t.format(k=k) for t in _SIDES[side])
    but = (
        f"but {hidden} within a method's reach of the kink (a finite difference's step or z's rounding), "
        "where no pair of methods can see the branch they take"
        if hidden
        else f"(all {n} samples)"
    )
    return (
        f"  every z_i is {at} {but}: the mask was never exercised here; the "
        f"derivative's branch for {never} was not verified (a wrong mask there would agree); "
        "check at weights that put samples on both sides of the kink (another --init or --seed)"
    )


def _all_non_finite(r: CheckReport, m: str) -> bool:
    return all(p.status == "non-finite" for p in r.pairs if m in (p.a, p.b))


def _pair_line(r: CheckReport, p: Pair) -> str:
    if p.status == "disagree":
        return (
            f"  {p.a} vs {p.b}: worst at j={p.worst}: {p.a}={p.value_a:.17g}, {p.b}={p.value_b:.17g}, "
            f"relative error {p.rel_err:.3g} > tolerance {p.tol_rel:.3g}"
        )
    if p.status == "non-finite":
        return (
            f"  {p.a} vs {p.b}: not finite at j={p.worst}: " + "; ".join(_non_finite_parts(r, p)) + " (never agreement)"
        )
    return (
        f"  {p.a} vs {p.b}: differ at j={p.worst} where samples {r.kinks[:5].tolist()} have z within "
        "one step (or z's rounding) of the activation's kink: each side takes its own one-sided slope "
        "there (the difference is within what those samples can contribute); this is not a wrong derivation"
    )


def _non_finite_parts(r: CheckReport, p: Pair) -> list[str]:
    # which method gives a non-finite value or error estimate at the worst coordinate
    j = p.worst
    parts = []
    for m in (p.a, p.b):
        g, e = r.gradients[m][j], r.errors[m][j]
        if not np.isfinite(g):
            parts.append(f"{m} gives {g}")
        elif not np.isfinite(e):
            parts.append(f"{m}'s error estimate is {e}")
    return parts or [f"{p.a}={p.value_a:.17g}, {p.b}={p.value_b:.17g}, tolerance not finite"]
