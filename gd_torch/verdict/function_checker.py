"""Check the gradient of any scalar function: yours, torch autograd's and finite differences'.

    report = check_function(f, params, grad, torch_f=torch_f)

compares up to three gradients of f at params, each with an error estimate, pairwise:

* yours: ``grad`` (a callable of params, or the arrays), exact up to rounding;
* autograd: torch.autograd of ``torch_f``, a torch version of f, exact up to rounding;
* numeric: central differences of f itself (gd_torch.verdict.differences).

No tolerance is asked of the caller: every one is derived from the measured noise of f.

1. eps_f, the noise of one evaluation of f, by ECnoise (gd_torch.verdict.ecnoise) along
   NOISE_DIRECTIONS random directions (9 evaluations each), pooled: sqrt(mean eps_d^2).
   Where f never moves at those steps but does at the differences' steps, in gaps
   q > QUANTUM_ULPS ulps of |f| (f computed in float32 for float64 parameters, or rounded),
   eps_f = q / 2 and no agreement with the differences is taken as verified.
2. Finite differences at steps chosen from eps_f.  Where f is rough within them (see 4: a
   float32 part of f beside a float64 part that ECnoise saw move), or D at the final and the
   trial steps differ beyond their errors (the float32 part stood still at the final step),
   eps_f is raised to the roughness seen at either step, max |S(2h) - 4 S(h)| / sqrt(70),
   the differences are taken again at steps
   chosen from it, and no agreement with them is taken as verified.  Their error = truncation
   read off two steps + a kink term + tail * sqrt(2) eps_f / 2h (see gd_torch.verdict.differences).
3. An exact method's rounding noise sigma_j, measured the same way: its gradient at the 9
   points of the first noise direction, ECnoise of each coordinate's values (of v . g in
   mode 'directional').  Its error = tail * sigma_j + eps |g_j| (eps of the dtype: the
   rounding of the result itself, all that is left for a coordinate computed exactly).
4. Two methods agree at j when |g_a,j - g_b,j| <= SAFETY (err_a,j + err_b,j).  Against the
   differences, where f has a kink at params: a value in the subdifferential (between the
   one-sided differences) 'cannot verify', outside it disagrees; where f jumps: 'cannot
   verify'; where f is not smooth within a step no larger than the trial one, neither a kink
   nor a jump, by more than QUANTUM_ULPS ulps of |f| (a part of f in float32 beside a float64
   part that ECnoise saw move): an agreement there 'cannot verify' (gd_torch.verdict.measured.Measured).

``tail`` = max(2, sqrt(2 ln(2 k))) for k compared coordinates: the largest of k normal
draws stays below it with high probability, so that a noise estimate (a typical size)
bounds the worst of k coordinates.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from ..base import memory as _memory
from ..base import validate as _validate
from ..precision.errormodel import SAFETY
from . import ecnoise
from .differences import JUMP, KINK, SMOOTH, Directions, central
from .engine import Pair, judge
from .function_text import FUNCTION_TEXT
from .measured import Limits, Measured
from .params import Layout, layout_of
from .report import ArraySummary, CheckReport
from .sources import Evaluator, Exact, autograd, user_gradient

#: random directions along which the noise of f is measured
NOISE_DIRECTIONS = 3
#: the first ECnoise step, relative to each coordinate's scale: 100 units in the last place
NOISE_STEP_ULPS = 100.0
#: float64 arrays of n held per parameter: ECnoise's stencil and the gradients at its points, copies
PARAMETER_ARRAYS = 2 * ecnoise.POINTS + 6
#: float64 values held per compared coordinate or direction (differences, errors, comparisons)
COORDINATE_ARRAYS = 40
#: f is quantised when it moves in steps above this many units in the last place of its value
QUANTUM_ULPS = 1024.0


def check_function(
    f: Any,
    params: Any,
    grad: Any = None,
    *,
    torch_f: Any = None,
    mode: str = "full",
    directions: int = 4,
    batched: bool = False,
    seed: int = 0,
) -> CheckReport:
    """Compare your gradient of the scalar function f with autograd and finite differences of f.

    f : callable, f(params) -> a real number.  With ``batched=True`` it is also called on
        parameters with a leading batch axis (each array of shape (B, *shape)) and must then
        return B values; perturbed copies are then evaluated B at a time.
    params : a float32 or float64 array, or a dict of named arrays of one dtype; a float32 or
        float64 torch tensor is read as its values (.detach().cpu().numpy(), requires_grad or
        not): f and grad receive numpy arrays, torch_f tensors made from them.
    grad : your gradient of f at params: a callable grad(params) -> array(s) of the params'
        shapes (a dict with the same keys), or those arrays.  Optional if torch_f is given.
        A callable is also called at 9 to 36 nearby points, to measure its rounding noise;
        arrays borrow autograd's noise (or, without torch_f, are held to eps |g| alone).
    torch_f : the same function written in torch: torch_f(tensors) -> a scalar tensor, given
        tensors of the params' shapes and dtype (a dict of them for a dict).  Optional; its
        gradient is taken at the same points as a callable grad's.
    mode : 'full' compares every coordinate (4 to 20 evaluations of f per coordinate);
        'directional' compares v . g along ``directions`` random unit vectors v per array
        (O(directions) evaluations whatever the size: for millions of parameters).
    seed : the random directions (noise measurement and mode='directional').

    Returns a CheckReport; ``report.ok`` is True when every pair of methods agrees (a pair
    that 'cannot verify' does not: f quantised, or a kink or jump of f at params).

    Refused up front (GdTorchError naming params or directions) when the arrays the check holds
    would not fit in the memory available.
    """
    _check_options(f, grad, torch_f, mode, directions, batched, seed)
    layout, x = layout_of(params)
    _refuse_large(layout, mode, directions)
    ev = Evaluator(f, layout, batched)
    f0 = _value(ev, x)
    rng = np.random.default_rng(seed)
    scale = _scales(layout, x)
    noise, note, probe, quantum = _noise_of_f(ev, x, scale, rng, f0)
    exact, torch_value = _exact_methods(grad, torch_f, layout, x)
    dirs, groups, label, trial = MODES[mode](directions, layout, x, scale, rng)
    tail = _tail(dirs.count)
    numeric, limits, rough = _numeric(ev, x, f0, noise, dirs, trial, tail, quantum)
    if rough > noise and quantum is None:  # a part of f moves in steps that ECnoise did not see
        note = f"{note}; raised to {rough:.2g}, the roughness of f within the differences' steps"
        noise, quantum = rough, _rough_text(rough, noise, x.dtype)
        numeric, limits, _ = _numeric(ev, x, f0, noise, dirs, trial, tail, quantum)
    values, errors, methods = _exact_values(exact, dirs, x, *probe, tail)
    values["numeric"], errors["numeric"], methods["numeric"] = numeric
    source = Measured(values, errors, SAFETY[str(layout.dtype)], {"numeric": limits})
    names = list(values)
    return CheckReport(
        dtype=str(layout.dtype),
        mode=mode,
        gradients=values,
        errors=errors,
        pairs=judge(names, values, source, np.concatenate(groups)),
        text=FUNCTION_TEXT,
        size=layout.size,
        f_value=f0,
        torch_value=torch_value,
        noise=noise,
        noise_note=note,
        methods=methods,
        arrays=[_summary(layout, k, judge(names, values, source, g)) for k, g in enumerate(groups)],
        label=label,
        evaluations=ev.evaluations,
    )


def _value(ev: Evaluator, x: np.ndarray) -> float:
    # f(params), which must be finite: every step and tolerance is measured from it
    f0 = ev.one(x)
    if not math.isfinite(f0):
        raise GdTorchError(f"f(params) must be a finite number; got {f0}")
    return f0


def _tail(k: int) -> float:
    # tail = max(2, sqrt(2 ln(2 k))): the largest of k normal draws stays below it with high probability
    return max(2.0, math.sqrt(2 * math.log(2 * k)))


def _exact_methods(grad, torch_f, layout: Layout, x) -> tuple[list[Exact], float | None]:
    # yours (when given) and autograd's (when torch_f is given), and torch_f's value at params
    exact: list[Exact] = []
    if grad is not None:
        exact.append(user_gradient(grad, layout, x))
    torch_value = None
    if torch_f is not None:
        auto, torch_value = autograd(torch_f, layout, x)
        exact.append(auto)
    return exact, torch_value


def _numeric(ev, x, f0, noise, dirs: Directions, trial, tail, quantum) -> tuple[tuple, Limits, float]:
    # central differences of f at steps from its noise: (values, error estimates, how they were
    # found), where they cannot verify (a kink or jump of f at x, f rough, f's quantum), and the
    # noise level f's roughness shows: max |S(2h) - 4 S(h)| / sqrt(70) where rough (else 0)
    fd = central(ev, x, f0, noise, dirs, trial, tail)
    how = f"central differences of f, steps from its noise (Moré-Wild), {fd.evaluations} evaluations"
    if fd.nonsmooth.any():
        how += f"; f is not smooth within the step at {int(fd.nonsmooth.sum())} of {dirs.count}"
    for code, what in ((KINK, "a kink"), (JUMP, "a jump")):
        if (fd.kind == code).any():
            how += f"; {what} of f at x along {int((fd.kind == code).sum())} of {dirs.count}"
    lo, hi = np.minimum(fd.left, fd.right), np.maximum(fd.left, fd.right)
    # rough: not smooth within a step no larger than the trial one (not a kink at a distance
    # that a grown step reached), neither a kink nor a jump at x, and off by more than
    # QUANTUM_ULPS ulps of |f|: a part of f moves in steps coarser than x's dtype
    coarse = fd.residual > QUANTUM_ULPS * np.finfo(x.dtype).eps * abs(f0)
    rough = fd.nonsmooth & (fd.kind == SMOOTH) & coarse & (fd.steps <= trial) | fd.unsteady
    seen = np.maximum(fd.residual, fd.trial_residual)  # the roughness at the final and trial steps
    level = float(seen[rough].max()) / math.sqrt(70.0) if rough.any() else 0.0
    return (fd.values, fd.error, how), Limits(fd.kind, lo, hi, fd.side_error, fd.wide, rough, quantum), level


def _rough_text(level: float, measured: float, dtype: np.dtype) -> str:
    return (
        f"f is rough within the finite-difference steps (noise {level:.2g} there, {measured:.2g} by ECnoise "
        f"at smaller steps): a part of it looks computed in float32 or quantised, too coarse for {dtype} "
        f"parameters, and finite differences of it cannot confirm a gradient; evaluate all of f in {dtype}"
    )


def _check_options(f, grad, torch_f, mode, directions, batched, seed) -> None:
    if not callable(f):
        raise bad_value("f", f, "a callable f(params) -> a real number")
    if torch_f is not None and not callable(torch_f):
        raise bad_value("torch_f", torch_f, "None or a callable torch_f(tensors) -> a scalar tensor")
    if grad is None and torch_f is None:
        raise bad_value("grad", None, "your gradient (a callable or arrays) when torch_f is None: nothing to check")
    _validate.params(CHECK_FUNCTION_PARAMS, mode=mode, directions=directions, batched=batched, seed=seed)


def _refuse_large(layout: Layout, mode: str, directions: int) -> None:
    # refused before anything is allocated: per parameter, PARAMETER_ARRAYS float64 arrays of n
    # (and COORDINATE_ARRAYS more in mode 'full'); per random direction, one dense row of n and
    # its |v| (float64) and COORDINATE_ARRAYS per-direction values, for each array
    n, arrays = layout.size, len(layout.names)
    per_parameter = 8 * (PARAMETER_ARRAYS + (COORDINATE_ARRAYS if mode == "full" else 0))
    what = f"check_function's {PARAMETER_ARRAYS} float64 arrays per parameter (ECnoise's stencils, copies)"
    _memory.at_most("params", n, per_parameter, what + " for that many parameters")
    if mode == "directional":
        per_direction = 8 * arrays * (2 * n + COORDINATE_ARRAYS)
        what = f"the random directions ({arrays} per direction asked, each a dense float64 row of {n} with its |v|)"
        _memory.at_most("directions", directions, per_direction, what, fixed=n * per_parameter)


def _scales(layout: Layout, x: np.ndarray) -> np.ndarray:
    # s_j = max(|x_j|, rms of x_j's array), or 1 for an all-zero array: the size of a change of x_j
    s = np.abs(x.astype(np.float64))
    for sl in layout.slices():
        rms = _rms(s[sl])
        s[sl] = np.maximum(s[sl], rms if rms > 0 else 1.0)
    return s


def _rms(a: np.ndarray) -> float:
    # sqrt(mean a^2) as top sqrt(mean (a / top)^2), top = max |a|: no overflow of a^2 near 1e308
    top = float(np.max(np.abs(a)))
    return top * float(np.sqrt(np.mean((a / top) ** 2))) if top > 0 else 0.0


def _noise_of_f(ev, x, scale, rng, f0) -> tuple[float, str, tuple[np.ndarray, float], str | None]:
    # ECnoise along random directions p = r * s (r standard normal), pooled over those accepted;
    # where f never moved (every direction 'step too small', never too large), its quantum q
    # (see _quantum): then
    # the noise is q / 2 and the last item says why f cannot confirm a gradient
    eps = float(np.finfo(x.dtype).eps)
    found, probe, statuses, seen = [], None, set(), [np.array([f0])]
    for _ in range(NOISE_DIRECTIONS):
        p = rng.standard_normal(x.size) * scale
        n = ecnoise.along(ev, x, p, NOISE_STEP_ULPS * eps)
        # 'step too small' after a step too large (a smaller step than the first): f moved, and jumped
        statuses.add(n.status if n.step >= NOISE_STEP_ULPS * eps else "step too large")
        seen.append(n.values)
        if n.status == "ok":
            found.append(n.level)
            probe = probe or (p, n.step)
    probe = probe or (p, n.step)
    floor = 0.5 * eps * abs(f0)  # the rounding of f's value itself
    if not found:
        q = _quantum(ev, x, p, np.concatenate(seen)) if statuses == {"step too small"} else None
        if q is not None:
            return q / 2, f"f changes in steps of {q:.2g}; taken as q / 2", probe, _quantised_text(q, x.dtype)
        return floor, f"ECnoise found none along {NOISE_DIRECTIONS} directions; taken as eps |f| / 2", probe, None
    level = _rms(np.array(found))
    note = f"ECnoise, {len(found)} of {NOISE_DIRECTIONS} directions, {ecnoise.POINTS} evaluations each"
    return max(level, floor), note, probe, None


def _quantum(ev, x, p, seen: np.ndarray) -> float | None:
    # q: the smallest gap between the distinct values of f seen (ECnoise's last stencils, f(x)) and
    # on a stencil along p (ecnoise.stencil) at half-width eps^(1/3) (the differences' trial step),
    # then 100 times that while at most 1, at the first that moves f; a quantum when
    # q > QUANTUM_ULPS eps max |f| (f is coarser than its parameters' dtype), else None
    eps = float(np.finfo(x.dtype).eps)
    x64 = x.astype(np.float64)
    steps = _CUBE[x.dtype] * ecnoise.STEP_FACTOR ** np.arange(4)
    for h in steps[steps <= 1]:
        vals = np.unique(np.append(ev(ecnoise.stencil(x64, p, h, x.dtype)), seen))
        vals = vals[np.isfinite(vals)]
        if vals.size > 1:
            q = float(np.diff(vals).min())
            return q if q > QUANTUM_ULPS * eps * float(np.abs(vals).max()) else None
    return None


def _quantised_text(q: float, dtype: np.dtype) -> str:
    other = "float32" if dtype == np.float64 else "float64"
    return (
        f"f changes in steps of {q:.2g}: it looks computed in {other} or quantised, too coarse for {dtype} "
        f"parameters, and finite differences of it cannot confirm a gradient; evaluate f in {dtype}"
        + (" or check in float32" if dtype == np.float64 else "")
    )


def _coordinates(k, layout: Layout, x, scale, rng):
    # mode 'full': every coordinate, trial step eps^(1/3) s_j
    groups = [np.arange(sl.start, sl.stop) for sl in layout.slices()]
    return Directions(None, x.size), groups, layout.label, _CUBE[x.dtype] * scale


def _random_directions(k, layout: Layout, x, scale, rng):
    # mode 'directional': k unit vectors per array, v = r * s / |r * s| on that array's
    # coordinates (r standard normal), trial step eps^(1/3) |r * s|
    V = np.zeros((k * len(layout.names), x.size))
    trial = np.empty(V.shape[0])
    for a, sl in enumerate(layout.slices()):
        for i in range(k):
            d = rng.standard_normal(sl.stop - sl.start) * scale[sl]
            norm = _rms(d) * math.sqrt(d.size)  # |d|, without overflow
            V[a * k + i, sl], trial[a * k + i] = d / norm, _CUBE[x.dtype] * norm
    groups = [np.arange(a * k, (a + 1) * k) for a in range(len(layout.names))]
    return Directions(V, x.size), groups, (lambda j: f"{layout.names[j // k]} along v{j % k}"), trial


#: mode -> (directions per array, layout, x, scales, rng) -> (Directions, index groups per array, label, trial steps)
MODES = {"full": _coordinates, "directional": _random_directions}

#: what check_function's mode, directions, batched and seed accept
CHECK_FUNCTION_PARAMS: dict[str, _validate.Constraint] = {
    "mode": _validate.Options(MODES),
    "directions": _validate.Integer(minimum=1, note="random directions per array"),
    "batched": _validate.Bool(),
    "seed": _validate.Integer(minimum=0),
}
_CUBE = {np.dtype(t): float(np.finfo(t).eps) ** (1 / 3) for t in (np.float32, np.float64)}


def _exact_values(exact: list[Exact], dirs: Directions, x, p, h, tail):
    # values (projected on the directions in mode 'directional') and error tail * sigma + eps |g|
    eps = float(np.finfo(x.dtype).eps)
    values, errors, methods = {}, {}, {}
    sigma_of = {}
    for m in exact:
        if m.at is not None:
            sigma_of[m.name] = _sigma(m, dirs, x, p, h)
    for m in exact:
        proj = m.values if dirs.V is None else dirs.V @ m.values
        size = np.abs(m.values) if dirs.V is None else np.abs(dirs.V) @ np.abs(m.values)
        borrowed = next(iter(sigma_of.values()), None) if m.at is None else sigma_of[m.name]
        sigma = np.zeros_like(proj) if borrowed is None else borrowed
        values[m.name], errors[m.name] = proj, tail * sigma + eps * size
        how = f"rounding noise measured by ECnoise ({ecnoise.POINTS} points per step tried)"
        if m.at is None:
            how = "rounding noise taken from autograd's" if borrowed is not None else "rounding: eps |g| only"
        methods[m.name] = f"{m.description}; {how}"
    return values, errors, methods


def _sigma(m: Exact, dirs: Directions, x, p, h) -> np.ndarray:
    # ECnoise of each coordinate (or of each v . g) over the gradient at x + s h p, s in [-1, 1]
    def values(pts: np.ndarray) -> np.ndarray:
        return np.stack([m.at(q) if dirs.V is None else dirs.V @ m.at(q) for q in pts])

    t, _ = ecnoise.along_columns(values, x, p, h)
    # still too large a step for a coordinate: its largest high-order level (an overestimate);
    # still too small (the values never moved in their last bits): no noise seen, 0
    fallback = np.where(t.code == 2, t.levels[-3:].max(axis=0), 0.0)
    return np.where(t.code == 0, t.level, fallback)


def _summary(layout: Layout, k: int, pairs: list[Pair]) -> ArraySummary:
    return ArraySummary(layout.names[k], layout.shapes[k], pairs)
