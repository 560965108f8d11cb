"""Compare gradient methods pairwise, each coordinate against a predicted tolerance."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from . import _validate, errormodel
from ._errors import bad_value
from .gradients import ALIASES, Estimate, Method, _device, lookup
from .model import prepare

#: 'kink': the pair differs only where a finite difference straddles the activation's kink
Status = Literal["agree", "disagree", "kink"]

DEFAULT_METHODS = ("analytic", "autograd", "numeric")
MODES = ("full", "directional")


@dataclass(frozen=True)
class PairResult:
    """Two methods compared coordinate by coordinate (or along one direction)."""

    a: str
    b: str
    #: 'agree', 'disagree', or 'kink' (disagree only where a finite difference straddles a kink)
    status: Status
    max_rel_err: float
    #: index of the coordinate with the largest |diff| / tolerance, its values and tolerance
    worst: int
    value_a: float
    value_b: float
    rel_err: float
    tol_rel: float
    ratio: float


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check` found.  ``ok`` is True when every pair agrees (or differs only at a kink)."""

    loss: str
    activation: str
    dtype: str
    mode: str
    shape: tuple[int, int]
    gradients: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    pairs: list[PairResult]
    odd_one_out: str | None
    kinks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    @property
    def ok(self) -> bool:
        """True when no pair disagrees (a pair that differs only at a kink is not a disagreement)."""
        return all(p.status != "disagree" for p in self.pairs)

    def failing(self) -> list[str]:
        """Methods in at least one disagreeing pair."""
        return sorted({m for p in self.pairs if p.status == "disagree" for m in (p.a, p.b)})

    def __str__(self) -> str:
        n, d = self.shape
        lines = [f"loss={self.loss} activation={self.activation} dtype={self.dtype} N={n} D={d} mode={self.mode}"]
        names = list(self.gradients)
        shown = range(min(d, 8)) if self.mode == "full" else [0]
        head = "v.g" if self.mode == "directional" else "j"
        lines.append(f"{head:>4}  " + "  ".join(f"{m:>22}" for m in names))
        for j in shown:
            label = "" if self.mode == "directional" else str(j)
            lines.append(f"{label:>4}  " + "  ".join(f"{self.gradients[m][j]:>22.15e}" for m in names))
        if self.mode == "full" and d > 8:
            lines.append(f"  ... {d - 8} more coordinates")
        lines.append("")
        width = max(len(p.a + p.b) for p in self.pairs) + 4
        lines.append(f"{'pair':<{width}} {'max rel err':>11} {'worst j':>7} {'|diff|/tol':>10}  status")
        for p in self.pairs:
            lines.append(
                f"{p.a + ' vs ' + p.b:<{width}} {p.max_rel_err:>11.2e} {p.worst:>7} {p.ratio:>10.3g}  {p.status}"
            )
        lines.append("")
        lines.append(self.summary())
        return "\n".join(lines)

    def summary(self) -> str:
        if self.ok and not any(p.status == "kink" for p in self.pairs):
            return "OK: all methods agree within their predicted tolerances"
        out = []
        if self.ok:
            out.append("OK, but a finite difference straddles a kink")
        else:
            if self.odd_one_out:
                others = [m for m in self.gradients if m != self.odd_one_out]
                out.append(f"FAIL: {self.odd_one_out} disagrees with {', '.join(others)}, which agree with each other")
            else:
                out.append(f"FAIL: {', '.join(self.failing())} disagree, and no single method is the odd one out")
        for p in self.pairs:
            if p.status == "disagree":
                out.append(
                    f"  {p.a} vs {p.b}: worst at j={p.worst}: {p.a}={p.value_a:.17g}, {p.b}={p.value_b:.17g}, "
                    f"relative error {p.rel_err:.3g} > tolerance {p.tol_rel:.3g}"
                )
            elif p.status == "kink":
                out.append(
                    f"  {p.a} vs {p.b}: differ at j={p.worst} where samples {self.kinks[:5].tolist()} have z within "
                    "one step of the activation's kink: the finite difference averages the two one-sided slopes "
                    "there; this is not a wrong derivation"
                )
        return "\n".join(out)


def parse_method(spec: Any) -> Method:
    """The registered method a name in ``methods`` stands for ('numeric' is 'numeric:central')."""
    return lookup(spec, "methods")


def check(
    W: Any,
    X: Any,
    y: Any,
    *,
    loss: str = "sse",
    activation: str = "sigmoid",
    methods: Sequence[str] = DEFAULT_METHODS,
    mode: str = "full",
    device: str = "cpu",
    seed: int = 0,
) -> CheckReport:
    """Compute the gradient by each method and compare every pair, coordinate by coordinate.

    Each coordinate j of a pair (A, B) passes when |g_A,j - g_B,j| <= tol_j, with tol_j
    predicted by :mod:`gd_torch.errormodel` from the dtype's epsilon, the sizes of the terms
    summed, and (for finite differences) their truncation and rounding error.

    methods : names from gd_torch.METHODS ('numeric' is 'numeric:central')
    mode : 'full' compares every coordinate; 'directional' compares v . g along one random unit
        vector v (seeded by ``seed``), costing O(1) objective evaluations whatever D is.
    device : passed to the methods that run on torch (autograd).
    """
    _validate.choice("mode", mode, MODES)
    if isinstance(methods, str) or not isinstance(methods, Sequence) or len(methods) < 2:
        raise bad_value("methods", methods, "at least two method names to compare")
    resolved = [parse_method(spec) for spec in methods]
    # 'numeric' is 'numeric:central': the same computation under two names is no comparison
    if len({m.name for m in resolved}) != len(methods):
        raise bad_value("methods", list(methods), "distinct method names (" + _alias_text() + ")")
    seed = _validate.seed("seed", seed, none_ok=False)  # the random direction of mode='directional'
    if device != "cpu" and all("cuda" not in m.devices for m in resolved):
        # asking for a device no method runs on would silently run everything on the CPU
        raise bad_value(
            "device", device, "'cpu' unless a method that runs on CUDA (such as 'autograd') is among methods"
        )
    for m in resolved:
        if len(m.devices) > 1:
            _device.check(device, m.name, m.devices)  # refuse an absent device before any work
    W, X, y, lo, act = prepare(W, X, y, loss, activation)
    _validate.z_of(X, W)
    model = errormodel.build(W, X, y, lo, act)
    v = None
    if mode == "directional":
        v = np.random.default_rng(seed).standard_normal(W.shape[0])
        v /= np.linalg.norm(v)
    estimates = {
        spec: _estimate(m, W, X, y, lo, act, model, v, device) for spec, m in zip(methods, resolved, strict=True)
    }
    grads = {spec: e.grad for spec, e in estimates.items()}
    errs = {spec: e.error for spec, e in estimates.items()}
    steps = {spec: e.steps for spec, e in estimates.items() if e.steps is not None}
    kink_cols = _kink_columns(X, model.z, act, steps) if act.kinks and steps else {}
    pairs = [_compare(a, b, grads, errs, model, kink_cols) for a, b in itertools.combinations(methods, 2)]
    kinks = np.flatnonzero(np.isin(model.z, act.kinks) | _near_kink(X, model.z, act, steps))
    return CheckReport(
        lo.name, act.name, str(X.dtype), mode, X.shape, grads, errs, pairs, _odd_one_out(list(methods), pairs), kinks
    )


def _alias_text() -> str:
    return ", ".join(f"{a!r} is {n!r}" for a, n in ALIASES.items())


def _estimate(m: Method, W, X, y, lo, act, model, v, device) -> Estimate:
    # a method with its own error estimate brings it; the others are exact up to rounding
    kw = m.bind(device, {})
    if m.estimate is not None:
        return m.estimate(W, X, y, lo, act, model, v, **kw)
    g = np.asarray(m.grad(W, X, y, lo, act, **kw), dtype=np.float64)
    if v is None:
        return Estimate(g, np.asarray(model.exact, dtype=np.float64))
    return Estimate(np.array([float(v @ g)]), np.array([float(np.abs(v) @ model.exact)]))


def _near_kink(X, z, act, steps) -> np.ndarray:
    if not act.kinks or not steps:
        return np.zeros(z.shape[0], dtype=bool)
    reach = np.abs(X) @ (2 * np.max(np.stack(list(steps.values())), axis=0))
    return np.any([np.abs(z - k) <= reach for k in act.kinks], axis=0)


def _kink_columns(X, z, act, steps) -> dict[str, np.ndarray]:
    # per numeric method: coordinates j where some sample's z moves across a kink when W_j moves by 2 h_j
    out = {}
    for spec, h in steps.items():
        cols = np.zeros(h.shape[0], dtype=bool)
        for k in act.kinks:
            dist = np.abs(z - k)
            # reach > 0: a sample sitting exactly on the kink (dist = 0) does not move when
            # X_ij = 0, so column j does not straddle it
            if h.shape[0] == X.shape[1]:
                reach = np.abs(X) * (2 * h)
                cols |= ((reach > 0) & (reach >= dist[:, None])).any(axis=0)
            else:  # directional: one combined step
                reach = np.abs(X) @ (2 * h)
                cols |= bool(((reach > 0) & (reach >= dist)).any())
        out[spec] = cols
    return out


def _compare(a, b, grads, errs, model, kink_cols) -> PairResult:
    ga, gb = grads[a], grads[b]
    diff = np.abs(ga - gb)
    tol = model.tolerance(errs[a], errs[b])
    scale = np.maximum(np.abs(ga), np.abs(gb))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(scale > 0, diff / scale, 0.0)
        ratio = np.where(tol > 0, diff / tol, np.where(diff > 0, np.inf, 0.0))
    j = int(np.argmax(ratio))
    bad = diff > tol
    kinked = kink_cols.get(a, np.zeros_like(bad)) | kink_cols.get(b, np.zeros_like(bad))
    status = "agree" if not bad.any() else ("kink" if kinked[bad].all() else "disagree")
    tol_rel = float(tol[j] / scale[j]) if scale[j] > 0 else float(tol[j])
    return PairResult(
        a, b, status, float(rel.max()), j, float(ga[j]), float(gb[j]), float(rel[j]), tol_rel, float(ratio[j])
    )


def _odd_one_out(methods: list[str], pairs: list[PairResult]) -> str | None:
    # the one method whose every pair disagrees while all pairs without it agree
    if len(methods) < 3:
        return None
    failing = {(p.a, p.b) for p in pairs if p.status == "disagree"}
    if not failing:
        return None
    for m in methods:
        with_m = {(p.a, p.b) for p in pairs if m in (p.a, p.b)}
        if with_m == failing:
            return m
    return None
