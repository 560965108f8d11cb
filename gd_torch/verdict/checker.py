"""Compare gradient methods pairwise, each coordinate against a predicted tolerance.

:func:`check` validates its arguments, has each method compute its gradient (and its error
estimate) and hands them to the checking engine (:mod:`gd_torch.verdict.engine`) with the
predicted error source (:class:`gd_torch.verdict.predicted.Predicted`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from ..base import finite as _finite
from ..base import validate as _validate
from ..gradients import ALIASES, METHODS, Estimate, Method, lookup
from ..gradients._user import candidate
from ..model.forward import prepare
from ..precision import errormodel
from .kinks import hiding, kink_allowance, kinked_samples, sides
from .predicted import Predicted, Problem, report
from .report import CheckReport

__all__ = ["DEFAULT_METHODS", "MODES", "check", "parse_method"]

DEFAULT_METHODS = ("analytic", "autograd", "numeric")
MODES = ("full", "directional")


def parse_method(spec: Any) -> Method:
    """The registered method a name in ``methods`` stands for ('numeric' is 'numeric:central')."""
    return lookup(spec, "methods")


#: what check's seed and mode accept (gd-torch check's --mode parses with this constraint)
CHECK_PARAMS: dict[str, _validate.Constraint] = {"seed": _validate.Integer(minimum=0), "mode": _validate.Options(MODES)}


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
    predicted by :mod:`gd_torch.precision.errormodel` from the dtype's epsilon, the sizes of the terms
    summed, and (for finite differences) their truncation and rounding error.  Where samples
    sit at the activation's kink (within a method's step, or z's rounding), the pair may differ
    by what those samples can contribute on top ('kink'); a NaN or inf is never agreement.

    methods : names from gd_torch.METHODS ('numeric' is 'numeric:central'), and your own
        gradients: a callable ``g(W, X, y) -> array of W's shape`` (named by its ``__name__``),
        a precomputed array, or a ``{name: callable or array}`` mapping (the whole of ``methods``,
        or one item of the sequence: ``("analytic", {"mine": f})``).  Yours are held to the
        rounding error of the exact formula, like analytic and autograd, and get read-only
        views of W, X and y; one that raises or returns anything but a finite real array of
        W's shape is a GdTorchError naming it.
    mode : 'full' compares every coordinate; 'directional' compares v . g along one random unit
        vector v (seeded by ``seed``), costing O(1) objective evaluations whatever D is.
    device : passed to the methods that run on torch (autograd).

    The report is ``ok`` only when every pair agrees *and* the data exercise every branch of the
    activation's derivative: where every z_i lies on one side of a kink (a ReLU with all z > 0),
    the branch on the other side was never computed, a wrong mask would agree with every method,
    and the verdict is NOT VERIFIED (``ok`` False, ``agree`` True, ``unexercised`` says which).
    A sample counts on a side only where some pair can see it there: beyond z's rounding with two
    exact methods compared, else beyond every method's kink reach (a finite difference's steps).
    So it is where a method agrees at some coordinate only within a tolerance at least as large as
    the gradient coordinate can be, S_j = sum_i |X_ij| |dL/dz_i| (a finite difference whose
    error estimate dwarfs the gradient there): any value would have agreed (``unresolved`` says
    which method, where, and both sizes).

    Raises GdTorchError when the loss at W overflows X's dtype (nothing can be compared).
    """
    methods, resolved = _methods(methods, device)
    seed = _validate.params(CHECK_PARAMS, seed=seed, mode=mode)["seed"]  # the direction of mode='directional'
    W, X, y, lo, act = prepare(W, X, y, loss, activation)
    _validate.z_of(X, W)
    # every method's keyword arguments, its options refused before any work; the device is for
    # the methods that run on more than the CPU (autograd), the others run on the CPU
    kws = [m.ready(device if len(m.devices) > 1 else "cpu", {}, W, act) for m in resolved]
    model = errormodel.build(W, X, y, lo, act)
    if not abs(model.loss) <= float(np.finfo(X.dtype).max):
        raise GdTorchError(_finite.overflow_text("the loss", X.dtype, f"at W: L = {model.loss:.6g}", model.loss))
    v = None
    if mode == "directional":
        v = np.random.default_rng(seed).standard_normal(W.shape[0])
        v /= np.linalg.norm(v)
    estimates = {
        spec: _estimate(m, kw, W, X, y, lo, act, model, v) for spec, m, kw in zip(methods, resolved, kws, strict=True)
    }
    absX, y64 = np.abs(X.astype(np.float64)), y.astype(np.float64)
    # each method's own kink allowance; a pair may differ by the sum of its two
    allow = {spec: kink_allowance(model, absX, e.steps, v, y64, lo, act) for spec, e in estimates.items()}
    source = Predicted(model, estimates, allow)
    witnesses = frozenset(spec for spec, m in zip(methods, resolved, strict=True) if not m.exact)
    # a kink no sample crosses where some pair can see it: its branch is not verified
    hidden = kinked_samples(model, absX, hiding(estimates, frozenset(methods) - witnesses), v, act)
    counts = sides(np.delete(model.z, hidden), act), sides(model.z, act)
    problem = Problem(lo, act, str(X.dtype), mode, X.shape, v)
    return report(list(methods), source, problem, witnesses, kinked_samples(model, absX, estimates, v, act), counts)


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
    # the report's names: as the caller spelt them ('numeric' stays 'numeric'), a candidate's own name
    return [name if name is not None else m.name for (name, _), m in zip(named, resolved, strict=True)], resolved


def _named(methods: Any) -> list[tuple[str | None, Any]]:
    # methods as (name, spec) pairs: a built-in method's name, a user's callable (named by its
    # __name__) or array, or a {name: callable or array} mapping of the user's own
    if isinstance(methods, Mapping):
        return [(str(k) if isinstance(k, str) else k, v) for k, v in methods.items()]
    if isinstance(methods, str) or not isinstance(methods, Sequence):
        raise bad_value("methods", methods, "at least two method names to compare (or your gradients), in a sequence")
    named: list[tuple[str | None, Any]] = []
    for spec in methods:  # a {name: gradient} mapping among the names adds its gradients under their names
        named.extend(_named(spec) if isinstance(spec, Mapping) else [(spec if isinstance(spec, str) else None, spec)])
    return named


def _alias_text() -> str:
    return ", ".join(f"{a!r} is {n!r}" for a, n in ALIASES.items())


def _estimate(m: Method, kw: dict[str, Any], W, X, y, lo, act, model, v) -> Estimate:
    # a method with its own error estimate brings it; the others are exact up to rounding.
    # Overflow inside a method gives inf or NaN, reported as 'non-finite', not warned about.
    if m.estimate is not None:
        return _finite.quietly(lambda: m.estimate(W, X, y, lo, act, model, v, **kw))
    g = np.asarray(_finite.quietly(lambda: m.grad(W, X, y, lo, act, **kw)), dtype=np.float64)
    if v is None:
        return Estimate(g, np.asarray(model.exact, dtype=np.float64))
    return Estimate(np.array([_finite.quietly(lambda: float(v @ g))]), np.array([float(np.abs(v) @ model.exact)]))
