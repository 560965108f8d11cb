"""Check torch code as torch users write it: the backward of ``fn`` (a custom autograd Function,
a kernel) in its own dtype, against a float64 truth.

    report = check_torch(fn, x, w, b, reference=plain_torch_fn)

Reverse mode: for ``cotangents`` random v_c (standard normal, rounded to each output's dtype),
the vector-Jacobian product v_c^T J of ``fn`` by its own backward, for every differentiated input
(the floating tensors that require grad; every floating tensor when none does).

* With ``reference`` (the same math in plain torch): the truth t is the reference's v_c^T J in
  float64 on the inputs upcast (on the CPU), so that the inputs' own rounding is not counted as
  error; the reference's v_c^T J in the inputs' dtype and device, g_ref, measures how far that
  dtype's rounding alone moves a correct gradient.  Your gradient g is held, per input, to
  ||g - t||_2 <= K max(||g_ref - t||_2, eps/2 ||t||_2, ||g' - g||_2) (K:
  :mod:`gd_torch.verdict.torch_source`), g' a second run of fn's backward: a nondeterministic
  backward (atomics) has its run-to-run spread counted as rounding, measured, not guessed.
  The reference itself is checked in float64 by finite differences of the scalar
  <v_c, reference(x)> (:func:`gd_torch.check_function`, steps and tolerances from its measured
  noise), per coordinate for at most FULL_MAX elements, else along ``directions`` random unit
  directions per input: a wrong reference is reported (the odd one out), never trusted.  Your
  gradient is held to the differences too (norm-wise per input, the differences' errors added),
  so that the odd one out is named.
* Without ``reference``: ``fn`` runs in float64 on the upcast inputs and its v_c^T J is compared
  with finite differences of <v_c, fn(x)> the same way; the run in the inputs' own dtype is not
  judged (that needs a reference).

Every method's values and bounds go to :class:`gd_torch.verdict.torch_source.TorchRounding`,
judged by the one engine (:func:`gd_torch.verdict.engine.judge`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import bad_value
from ..base import validate as _validate
from ..precision.errormodel import SAFETY
from .engine import Pair, judge
from .function_checker import check_function
from .report import ArraySummary, CheckReport
from .torch_inputs import EPS, Inputs, cotangent, inputs_of, name_of, outputs, vjp
from .torch_source import NUMERIC, REFERENCE, YOURS, Bound, K, TorchRounding
from .torch_text import TORCH_TEXT

if TYPE_CHECKING:
    import torch

#: finite differences per coordinate up to this many differentiated elements (4 to 20 evaluations
#: each: about 0.25 s per cotangent at 228 here), along ``directions`` random directions per input above
FULL_MAX = 256

#: what check_torch's options accept
CHECK_TORCH_PARAMS: dict[str, _validate.Constraint] = {
    "cotangents": _validate.Integer(minimum=1, note="random cotangents v, one v^T J each"),
    "directions": _validate.Integer(minimum=1, note="random directions per input for finite differences"),
    "seed": _validate.Integer(minimum=0),
}


def check_torch(
    fn: Any,
    *inputs: Any,
    reference: Any = None,
    cotangents: int = 2,
    directions: int = 2,
    seed: int = 0,
) -> CheckReport:
    """Check fn's backward (vector-Jacobian products) against a float64 truth, tolerances measured.

    fn : callable, fn(*inputs) -> a floating tensor or a tuple of them (any shapes).
    inputs : fn's arguments: tensors of float64, float32, bfloat16 or float16 on the CPU or a
        CUDA device (the floating ones that require grad are differentiated; all floating ones
        when none does), and anything else, passed through unchanged.
    reference : the same math in plain torch, reference(*inputs) -> the same outputs; its float64
        gradient is the truth and its gradient in the inputs' dtype measures that dtype's rounding.
    cotangents : random cotangents v (one v^T J each); directions : random unit directions per
        input along which finite differences check the float64 truth; seed : both.

    Returns a CheckReport (mode 'reverse'); ``report.ok`` when every pair agrees.  No atol or
    rtol: see the module's docstring for the truth and the tolerances.
    """
    import torch  # only here: import gd_torch never loads torch

    _check_options(fn, reference, cotangents, directions, seed)
    run = inputs_of(inputs)
    gen = torch.Generator().manual_seed(seed)
    yours_fn = fn if reference is not None else None
    truth_fn = reference if reference is not None else fn
    outs = outputs("fn", fn(*run.leaves()))
    vs = [[cotangent(o, gen) for o in outs] for _ in range(cotangents)]
    along = 0 if sum(run.sizes) <= FULL_MAX else directions  # direction entries per input
    parts = [_one_cotangent(run, yours_fn, truth_fn, v, along, seed + c) for c, v in enumerate(vs)]
    return _report(run, parts, reference is not None, cotangents, along)


@dataclass(frozen=True)
class Part:
    """One cotangent: each method's values on coordinates then directions, and bounds there."""

    values: dict[str, np.ndarray]
    bounds: dict[str, Bound]
    evaluations: int


def _one_cotangent(run: Inputs, yours_fn, truth_fn, v, along: int, seed: int) -> Part:
    import torch

    # the truth t in float64 on the CPU; with a reference, yours and the reference in the dtype;
    # values on the coordinates, then along the directions (along > 0: inputs too large)
    up = run.leaves(torch.float64, "cpu")
    who = "reference" if yours_fn is not None else "fn"
    t = vjp(truth_fn, up, run, v, who)
    safety = SAFETY["float64"]
    if yours_fn is None:
        sub = _differences(run, truth_fn, who, up, v, None, along, seed)
        bounds = {YOURS: _error_bound(run, safety * sub.errors["autograd"], along, _AUTOGRAD_WHY)}
        values = {YOURS: np.concatenate([t, _along(sub, "autograd", along)])}
    else:
        own = run.leaves()
        g = vjp(yours_fn, own, run, v, "fn")
        again = vjp(yours_fn, run.leaves(), run, v, "fn")  # a second run: a nondeterministic backward's spread
        g_ref = vjp(truth_fn, own, run, v, "reference")
        sub = _differences(run, truth_fn, who, up, v, g, along, seed)
        bounds = {
            YOURS: _rounding_bound(run, g_ref, t, again - g, along),
            REFERENCE: _error_bound(run, safety * sub.errors["autograd"], along, _AUTOGRAD_WHY),
        }
        values = {
            YOURS: np.concatenate([g, _along(sub, "grad", along)]),
            REFERENCE: np.concatenate([t, _along(sub, "autograd", along)]),
        }
    numeric = sub.gradients["numeric"]
    values[NUMERIC] = numeric if not along else np.concatenate([np.full(t.size, np.nan), numeric])
    bounds[NUMERIC] = _error_bound(run, safety * sub.errors["numeric"], along, _NUMERIC_WHY)
    return Part(values, bounds, sub.evaluations)


def _along(sub: CheckReport, method: str, along: int) -> np.ndarray:
    # a method's values along the directions (none when the differences are per coordinate)
    return sub.gradients[method] if along else np.zeros(0)


_AUTOGRAD_WHY = "SAFETY x the float64 truth's rounding noise, measured by ECnoise"
_NUMERIC_WHY = "SAFETY x the finite differences' error, from the measured noise of <v, truth(x)>"


def _rounding_bound(run: Inputs, g_ref: np.ndarray, t: np.ndarray, spread: np.ndarray, along: int) -> Bound:
    # per input: K max(||g_ref - t||, eps/2 ||t||, ||spread||), on its coordinates and its directions;
    # spread: two runs of fn's backward apart (0 for a deterministic one), another measurement of
    # the dtype's rounding of a correct gradient (atomics: each order of a sum rounds differently)
    name = name_of(run.dtype)
    k, eps = K[name], EPS[name]
    coords, dirs, why_c, why_d = [], [], [], []
    for sl, size, array in zip(_slices(run.sizes), run.sizes, run.names, strict=True):
        measured = float(np.linalg.norm(g_ref[sl] - t[sl]))
        floor = 0.5 * eps * float(np.linalg.norm(t[sl]))
        apart = float(np.linalg.norm(spread[sl]))
        scale, words = max(
            (
                (measured, f"{name} rounding of the reference over {array}, measured: {measured:.2g}"),
                (
                    floor,
                    f"eps/2 ||truth|| over {array} = {k:g} x {floor:.2g} "
                    f"({name} rounding of the reference, measured: {measured:.2g}, is below it)",
                ),
                (
                    apart,
                    f"the run-to-run spread of fn's backward over {array} (nondeterministic), measured: {apart:.2g}",
                ),
            ),
            key=lambda c: c[0],
        )
        why = f"{k:g} x {words}"
        coords.append(np.full(size, k * scale))
        dirs.append(np.full(along, k * scale))
        why_c += [why] * size
        why_d += [why] * along
    return Bound(np.concatenate(coords + dirs), why_c + why_d, norm=True)


def _error_bound(run: Inputs, bound: np.ndarray, along: int, why: str) -> Bound:
    # an entry-wise error bound where the differences are: the coordinates, or (along > 0) the
    # directions only (no coordinate pair uses it then)
    n = sum(run.sizes)
    if not along:
        return Bound(bound, [why] * n)
    return Bound(np.concatenate([np.zeros(n), bound]), [""] * n + [why] * bound.size)


def _differences(run: Inputs, truth_fn, who: str, up, v, g, along: int, seed: int) -> CheckReport:
    import torch

    # check_function of phi(x) = <v, truth_fn(x)> in float64, per coordinate (along = 0) or along
    # ``along`` random directions per input: the truth's gradient ('autograd'), yours ('grad',
    # when given), the differences
    v64 = [c.to("cpu", torch.float64) for c in v]
    names = run.names

    def phi(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        args = list(up)
        for i, name in zip(run.positions, names, strict=True):
            args[i] = tensors[name]
        outs = outputs(who, truth_fn(*args))
        return sum((o * c).sum() for o, c in zip(outs, v64, strict=True))

    def f(arrays: dict[str, np.ndarray]) -> float:
        with torch.no_grad():
            return float(phi({k: torch.from_numpy(a) for k, a in arrays.items()}))

    params = {name: up[i].detach().numpy() for i, name in zip(run.positions, names, strict=True)}
    grad = (
        None
        if g is None
        else {name: g[sl].reshape(s) for name, sl, s in zip(names, _slices(run.sizes), run.shapes, strict=True)}
    )
    mode = "directional" if along else "full"
    return check_function(f, params, grad, torch_f=phi, mode=mode, directions=max(along, 1), seed=seed)


def _check_options(fn, reference, cotangents, directions, seed) -> None:
    if not callable(fn):
        raise bad_value("fn", fn, "a callable fn(*inputs) -> a floating torch tensor or a tuple of them")
    if reference is not None and not callable(reference):
        raise bad_value("reference", reference, "None or a callable reference(*inputs), the same math in plain torch")
    _validate.params(CHECK_TORCH_PARAMS, cotangents=cotangents, directions=directions, seed=seed)


def _report(run: Inputs, parts: list[Part], has_reference: bool, cotangents: int, along: int) -> CheckReport:
    n, width = sum(run.sizes), sum(run.sizes) + along * len(run.positions)
    names = [YOURS, REFERENCE, NUMERIC] if has_reference else [YOURS, NUMERIC]
    values = {m: np.concatenate([p.values[m] for p in parts]) for m in names}
    bounds = {
        m: Bound(
            np.concatenate([p.bounds[m].bound for p in parts]),
            _joined(p.bounds[m].why for p in parts),
            parts[0].bounds[m].norm,
        )
        for m in names
    }
    entries = np.arange(width * cotangents)
    local = entries % width
    coordinates, dirs = entries[local < n], entries[local >= n]
    array_of = np.concatenate(
        [np.repeat(np.arange(len(run.sizes)), run.sizes), np.repeat(np.arange(len(run.sizes)), along)]
    )
    groups = (entries // width) * len(run.sizes) + array_of[local]
    source = TorchRounding(values, bounds, coordinates, dirs if along else coordinates, groups)
    pairs = _judged(names, values, source, None)
    arrays = [
        ArraySummary(name, shape, _judged(names, values, source, array_of[local] == a))
        for a, (name, shape) in enumerate(zip(run.names, run.shapes, strict=True))
    ]
    return CheckReport(
        dtype=name_of(run.dtype),
        mode="reverse",
        gradients=values,
        errors={m: b.bound for m, b in bounds.items()},
        pairs=pairs,
        text=TORCH_TEXT,
        size=n,
        methods=_methods(run, has_reference),
        arrays=arrays,
        label=_labeler(run, width, cotangents, along),
        evaluations=sum(p.evaluations for p in parts),
        noise_note=f"{cotangents} random cotangents; finite differences "
        + (f"along {along} random directions per input" if along else "per coordinate"),
    )


def _judged(names: Sequence[str], values, source: TorchRounding, mask: np.ndarray | None) -> list[Pair]:
    # every pair of methods at its own entries (restricted to mask), one engine
    out = []
    for a, b in itertools.combinations(names, 2):
        idx = source.entries(a, b)
        idx = idx if mask is None else idx[mask[idx]]
        out += judge([a, b], values, source, idx)
    return out


def _joined(lists) -> list[str]:
    return [w for ws in lists for w in ws]


def _methods(run: Inputs, has_reference: bool) -> dict[str, str]:
    name = name_of(run.dtype)
    if not has_reference:
        return {
            YOURS: "fn's own backward in float64, on the inputs upcast"
            + (_UNJUDGED.format(name) if name != "float64" else ""),
            NUMERIC: "central differences of <v, fn(x)> in float64, steps from its measured noise",
        }
    return {
        YOURS: f"fn's own backward, in {name} on the inputs' device",
        REFERENCE: "the reference's autograd in float64 on the inputs upcast (the truth)",
        NUMERIC: "central differences of <v, reference(x)> in float64, steps from its measured noise",
    }


#: without a reference, what is said of a run in a dtype other than float64
_UNJUDGED = " (the {} run itself is not judged: give reference=)"


def _labeler(run: Inputs, width: int, cotangents: int, along: int) -> Callable[[int], str]:
    n = sum(run.sizes)
    starts = np.cumsum([0] + run.sizes)

    def label(e: int) -> str:
        c, j = divmod(int(e), width)
        suffix = f" (cotangent {c})" if cotangents > 1 else ""
        if j >= n:
            a, d = divmod(j - n, along)
            return f"{run.names[a]} along v{d}{suffix}"
        a = int(np.searchsorted(starts, j, side="right")) - 1
        index = np.unravel_index(j - starts[a], run.shapes[a]) if run.shapes[a] else ()
        at = f"[{', '.join(str(int(i)) for i in index)}]" if index else ""
        return f"{run.names[a]}{at}{suffix}"

    return label


def _slices(sizes: Sequence[int]) -> list[slice]:
    starts = np.cumsum([0, *sizes])
    return [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:], strict=True)]
