"""Compare gradient methods pairwise, each coordinate against a predicted tolerance.

Two things live here once, for :func:`check` and :func:`gd_torch.explain` alike: the comparison
of values with a reference (:func:`compare`) and the detection of kinks (:func:`kink_deviation`,
:func:`kink_allowance`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from . import _finite, _validate, errormodel
from ._errors import GdTorchError, bad_value
from .gradients import ALIASES, METHODS, Estimate, Method, _device, lookup
from .gradients._user import candidate
from .model import Activation, Loss, delta, prepare

#: 'kink': outside the tolerance only by what samples at the activation's kink can explain;
#: 'non-finite': a value or an error estimate is inf or NaN (never agreement)
Status = Literal["agree", "disagree", "kink", "non-finite"]
#: statuses that make a check fail
FAILING: tuple[Status, ...] = ("disagree", "non-finite")

DEFAULT_METHODS = ("analytic", "autograd", "numeric")
MODES = ("full", "directional")


# ---- one comparison -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """Values against a reference, entry by entry: |values - reference| <= tol (agree), or
    <= tol + allowance (kink: the excess is what samples at a kink can contribute), or neither."""

    status: Status
    diff: np.ndarray
    #: the ordinary tolerance, and the kink allowance on top of it
    tol: np.ndarray
    allowance: np.ndarray
    #: the entry that decides the status: the first non-finite one, else the largest
    #: |diff| / (tol + allowance) when disagreeing, else the largest |diff| / tol
    worst: int
    #: entries outside tol + allowance (or not finite)
    failing: np.ndarray

    @property
    def ratio(self) -> float:
        """|diff| / tolerance at ``worst`` (the tolerance with the allowance when disagreeing)."""
        return _ratio(self.diff[self.worst], self.limit[self.worst]) if self.diff.size else 0.0

    @property
    def limit(self) -> np.ndarray:
        """The bound each entry was held to: tol, plus the allowance when the status is not 'agree'."""
        return self.tol if self.status == "agree" else self.tol + self.allowance


def compare(values: Any, reference: Any, tol: Any, allowance: Any = None) -> Agreement:
    """The one comparison: float64 arrays of one shape (tol, allowance broadcast); see :class:`Agreement`."""
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    reference = np.atleast_1d(np.asarray(reference, dtype=np.float64))
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), values.shape)
    allow = np.zeros(values.shape) if allowance is None else np.broadcast_to(allowance, values.shape)
    finite = np.isfinite(values) & np.isfinite(reference) & np.isfinite(tol) & np.isfinite(allow)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(values - reference)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        return Agreement("non-finite", diff, tol, allow, int(bad[0]), bad)
    outside = ~(diff <= tol)
    failing = np.flatnonzero(~(diff <= tol + allow))
    if not outside.any():
        status: Status = "agree"
    else:
        status = "disagree" if failing.size else "kink"
    limit = tol + allow if status == "disagree" else tol
    worst = int(np.argmax(_ratios(diff, limit))) if diff.size else 0
    return Agreement(status, diff, tol, allow, worst, failing)


def _ratios(diff: np.ndarray, limit: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(limit > 0, diff / limit, np.where(diff > 0, np.inf, 0.0))


def _ratio(diff: float, limit: float) -> float:
    return float(_ratios(np.asarray(diff), np.asarray(limit)))


# ---- one kink detection ---------------------------------------------------------------------------


def kink_deviation(
    z: np.ndarray, reach: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, *, steps: bool, n: int | None = None
) -> np.ndarray:
    """How far a method that reads dL/dz_i within ``reach`` of z_i can be from the slope s(z_i)
    (s = dL/dz as a function of z_i), where a kink of the activation lies within that reach.

    z, y : (N,); reach : (N,) or (N, K) (one column per coordinate), >= 0; n: the loss's sample
    count when z and y are some of its samples (default N).  Returns an array of
    reach's shape, 0 where [z_i - reach, z_i + reach] holds no kink (or reach is 0).  The spread of
    s over that interval is read at its ends, at z_i and on both sides of the kink (s is monotone
    between kinks for the registered pairs).  ``steps=False``: a point that rounding may carry to
    the other side (an exact method, reach = z's rounding): the whole spread.  ``steps=True``: a
    difference quotient is the mean of s over its interval, so it is off by at most the share
    w = (reach - |z_i - k|) / reach of the interval beyond the kink times the spread, plus the
    spread on z_i's own side times the rest.
    """
    reach = np.asarray(reach, dtype=np.float64)
    out = np.zeros(reach.shape)
    zz = np.broadcast_to(z if reach.ndim == 1 else z[:, None], reach.shape)
    for k in act.kinks:
        near = (reach > 0) & (np.abs(zz - k) <= reach)
        if near.any():
            rows = np.nonzero(near)[0]
            dev = _deviation(zz[near], reach[near], y[rows], k, n or y.shape[0], lo, act, steps)
            out[near] = np.maximum(out[near], dev)
    return out


def _deviation(t0, r, yy, k, n, lo, act, steps):
    # kink_deviation for samples at t0 with reach r around the kink k (flat arrays)
    def s(t):
        return delta(t, yy, lo, act, n=n)

    with np.errstate(over="ignore", invalid="ignore"):
        ends = (s(t0 - r), s(t0 + r))
        at = s(t0)
        sides = (s(np.full_like(t0, np.nextafter(k, -np.inf))), s(np.full_like(t0, np.nextafter(k, np.inf))))
    every = np.stack([*ends, at, *sides])
    spread = every.max(axis=0) - every.min(axis=0)
    if not steps:
        return spread
    right = t0 > k  # z's own side: its end of the interval and its side of the kink
    own = np.stack([at, np.where(right, ends[1], ends[0]), np.where(right, sides[1], sides[0])])
    own_spread = np.where(t0 == k, spread, own.max(axis=0) - own.min(axis=0))
    w = (r - np.abs(t0 - k)) / r
    return w * spread + (1 - w) * own_spread


def kink_allowance(
    model: errormodel.ErrorModel,
    absX: np.ndarray,
    steps: np.ndarray | None,
    v: np.ndarray | None,
    y,
    lo,
    act,
    n: int | None = None,
) -> np.ndarray:
    """What samples at a kink can move one method's gradient by, per coordinate: the sum over i of
    |dz_i/dW_j| kink_deviation_i, with reach z's rounding e_z (an exact method, ``steps`` None) or
    e_z + |X_ij| 2 h_j (a finite difference with steps h, the larger of its two steps).
    Shape (D,), or (1,) along a unit direction v (|dz_i/dt| <= (|X| |v|)_i).

    A sum over samples: on a block of rows (model.z, model.ez, absX and y that block's), with n the
    loss's sample count (default: y's), the blocks' allowances add up to the whole data's."""
    if not act.kinks:
        return np.zeros(1 if v is not None else absX.shape[1])
    if v is not None:
        reach = model.ez + (0 if steps is None else 2 * (absX @ steps))
        dev = kink_deviation(model.z, reach, y, lo, act, steps=steps is not None, n=n)
        return np.array([float((absX @ np.abs(v)) @ dev)])
    # only rows that some coordinate's reach can take to a kink: no (N, D) work on the others
    with np.errstate(over="ignore"):  # an infinite reach takes the row in
        bound = model.ez + (0 if steps is None else 2 * absX.max(axis=1) * float(np.max(steps)))
        rows = np.flatnonzero(np.any([(bound > 0) & (np.abs(model.z - k) <= bound) for k in act.kinks], axis=0))
        sub = absX[rows]
        reach = np.broadcast_to(model.ez[rows, None] + (0 if steps is None else sub * (2 * steps)), sub.shape)
    n = y.shape[0] if n is None else n
    dev = kink_deviation(model.z[rows], reach, y[rows], lo, act, steps=steps is not None, n=n)
    return np.einsum("ij,ij->j", sub, dev)


# ---- the check ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairResult:
    """Two methods compared coordinate by coordinate (or along one direction)."""

    a: str
    b: str
    #: 'agree', 'disagree', 'kink' (outside the tolerance only by what kinked samples explain)
    #: or 'non-finite' (a value or error estimate is inf or NaN)
    status: Status
    #: the largest relative error over all coordinates
    max_rel_err: float
    #: the coordinate that decides the status (see :class:`Agreement`), its values, its relative
    #: error, the relative tolerance it was held to and |diff| / tolerance there
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
        """True when no pair disagrees or holds a non-finite value (differing only at a kink is fine)."""
        return all(p.status not in FAILING for p in self.pairs)

    def failing(self) -> list[str]:
        """Methods in at least one failing pair."""
        return sorted({m for p in self.pairs if p.status in FAILING for m in (p.a, p.b)})

    def __str__(self) -> str:
        from ._report import check_text

        return check_text(self)

    def summary(self) -> str:
        from ._report import check_summary

        return check_summary(self)


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
    methods: Sequence[Any] | Mapping[str, Any] = DEFAULT_METHODS,
    mode: str = "full",
    device: str = "cpu",
    seed: int = 0,
) -> CheckReport:
    """Compute the gradient by each method and compare every pair, coordinate by coordinate.

    Each coordinate j of a pair (A, B) passes when |g_A,j - g_B,j| <= tol_j, with tol_j
    predicted by :mod:`gd_torch.errormodel` from the dtype's epsilon, the sizes of the terms
    summed, and (for finite differences) their truncation and rounding error.  Where samples
    sit at the activation's kink (within a method's step, or z's rounding), the pair may differ
    by what those samples can contribute on top ('kink'); a NaN or inf is never agreement.

    methods : names from gd_torch.METHODS ('numeric' is 'numeric:central'), and your own
        gradients: a callable ``g(W, X, y) -> array of W's shape`` (named by its ``__name__``),
        a precomputed array, or a ``{name: callable or array}`` mapping.  Yours are held to the
        rounding error of the exact formula, like analytic and autograd.
    mode : 'full' compares every coordinate; 'directional' compares v . g along one random unit
        vector v (seeded by ``seed``), costing O(1) objective evaluations whatever D is.
    device : passed to the methods that run on torch (autograd).

    Raises GdTorchError when the loss at W overflows X's dtype (nothing can be compared).
    """
    methods, resolved = _methods(methods, device)
    seed = _validate.seed("seed", seed, none_ok=False)  # the random direction of mode='directional'
    _validate.choice("mode", mode, MODES)
    W, X, y, lo, act = prepare(W, X, y, loss, activation)
    _validate.z_of(X, W)
    model = errormodel.build(W, X, y, lo, act)
    if not abs(model.loss) <= float(np.finfo(X.dtype).max):
        raise GdTorchError(_finite.overflow_text("the loss", X.dtype, f"at W: L = {model.loss:.6g}"))
    v = None
    if mode == "directional":
        v = np.random.default_rng(seed).standard_normal(W.shape[0])
        v /= np.linalg.norm(v)
    estimates = {
        spec: _estimate(m, W, X, y, lo, act, model, v, device) for spec, m in zip(methods, resolved, strict=True)
    }
    absX, y64 = np.abs(X.astype(np.float64)), y.astype(np.float64)
    # each method's own kink allowance; a pair may differ by the sum of its two
    allow = {spec: kink_allowance(model, absX, e.steps, v, y64, lo, act) for spec, e in estimates.items()}
    pairs, odd = judge(list(methods), estimates, model, allow)
    kinks = kinked_samples(model, absX, estimates, v, act)
    grads = {spec: e.grad for spec, e in estimates.items()}
    errs = {spec: e.error for spec, e in estimates.items()}
    return CheckReport(lo.name, act.name, str(X.dtype), mode, X.shape, grads, errs, pairs, odd, kinks)


def _methods(methods: Any, device: str) -> tuple[list[str], list[Method]]:
    # the boundary checks of methods and device, before any work: (the names, the methods)
    named = _named(methods)
    if len(named) < 2:
        raise bad_value("methods", methods, "at least two method names to compare (or your gradients)")
    names = [name for name, _ in named]
    taken = {*METHODS, *ALIASES}
    resolved = [parse_method(spec) if isinstance(spec, str) else candidate(spec, name, taken) for name, spec in named]
    # 'numeric' is 'numeric:central': the same computation under two names is no comparison
    if len({m.name for m in resolved}) != len(named):
        raise bad_value("methods", names, "distinct method names (" + _alias_text() + ")")
    if device != "cpu" and all("cuda" not in m.devices for m in resolved):
        # asking for a device no method runs on would silently run everything on the CPU
        raise bad_value(
            "device", device, "'cpu' unless a method that runs on CUDA (such as 'autograd') is among methods"
        )
    for m in resolved:
        if len(m.devices) > 1:
            _device.check(device, m.name, m.devices)  # refuse an absent device before any work
    # the report's names: as the caller spelt them ('numeric' stays 'numeric'), a candidate's own name
    return [name if name is not None else m.name for (name, _), m in zip(named, resolved, strict=True)], resolved


def _named(methods: Any) -> list[tuple[str | None, Any]]:
    # methods as (name, spec) pairs: a built-in method's name, a user's callable (named by its
    # __name__) or array, or a {name: callable or array} mapping of the user's own
    if isinstance(methods, Mapping):
        return [(str(k) if isinstance(k, str) else k, v) for k, v in methods.items()]
    if isinstance(methods, str) or not isinstance(methods, Sequence):
        raise bad_value("methods", methods, "at least two method names to compare (or your gradients), in a sequence")
    return [(spec if isinstance(spec, str) else None, spec) for spec in methods]


def _alias_text() -> str:
    return ", ".join(f"{a!r} is {n!r}" for a, n in ALIASES.items())


def _estimate(m: Method, W, X, y, lo, act, model, v, device) -> Estimate:
    # a method with its own error estimate brings it; the others are exact up to rounding.
    # Overflow inside a method gives inf or NaN, reported as 'non-finite', not warned about.
    kw = m.bind(device, {})
    if m.estimate is not None:
        return _finite.quietly(lambda: m.estimate(W, X, y, lo, act, model, v, **kw))
    g = np.asarray(_finite.quietly(lambda: m.grad(W, X, y, lo, act, **kw)), dtype=np.float64)
    if v is None:
        return Estimate(g, np.asarray(model.exact, dtype=np.float64))
    return Estimate(np.array([_finite.quietly(lambda: float(v @ g))]), np.array([float(np.abs(v) @ model.exact)]))


def judge(
    methods: list[str], estimates: dict[str, Estimate], model, allowances: dict[str, np.ndarray]
) -> tuple[list[PairResult], str | None]:
    """Every pair of methods compared (:func:`compare`, the pair's tolerance from ``model`` and
    the sum of its two kink allowances), and the odd one out among them, if any."""
    pairs = [
        _pair(a, b, estimates, model, allowances[a] + allowances[b]) for a, b in itertools.combinations(methods, 2)
    ]
    return pairs, _odd_one_out(methods, pairs)


def _pair(a: str, b: str, estimates: dict[str, Estimate], model, allowance: np.ndarray) -> PairResult:
    ea, eb = estimates[a], estimates[b]
    res = compare(ea.grad, eb.grad, _finite.quietly(lambda: model.tolerance(ea.error, eb.error)), allowance)
    j = res.worst
    ga, gb = ea.grad, eb.grad
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        scale = np.maximum(np.abs(ga), np.abs(gb))
        rel = np.where(scale > 0, res.diff / np.where(scale > 0, scale, 1.0), 0.0)
        limit = res.limit[j]
        tol_rel = float(limit / scale[j]) if scale[j] > 0 else float(limit)
    max_rel = float(np.max(rel)) if res.status != "non-finite" else float("nan")
    return PairResult(a, b, res.status, max_rel, j, float(ga[j]), float(gb[j]), float(rel[j]), tol_rel, res.ratio)


def kinked_samples(model, absX, estimates: dict[str, Estimate], v, act) -> np.ndarray:
    """The samples (indices into model.z's rows) at a kink, or within some method's reach of one
    (z's rounding, or its steps)."""
    z = model.z
    near = np.isin(z, act.kinks)
    for e in estimates.values():
        r = model.ez.copy()
        if e.steps is not None:
            r += 2 * (absX @ e.steps if v is not None else (absX * e.steps).max(axis=1))
        for k in act.kinks:
            near |= (r > 0) & (np.abs(z - k) <= r)
    return np.flatnonzero(near)


def _odd_one_out(methods: list[str], pairs: list[PairResult]) -> str | None:
    # the one method whose every pair fails while all pairs without it agree
    if len(methods) < 3:
        return None
    failing = {(p.a, p.b) for p in pairs if p.status in FAILING}
    if not failing:
        return None
    for m in methods:
        with_m = {(p.a, p.b) for p in pairs if m in (p.a, p.b)}
        if with_m == failing:
            return m
    return None
