"""gd_torch.check on row blocks and K ranks: the same methods, error model and comparison,
with every sum over samples taken over all ranks' rows.

Each method's gradient is the all-reduce of the ranks' partial sums (gd_torch.distributed.ops);
the error model's sums are all-reduced (gd_torch.errormodel.partial_sums); the columns a finite
difference straddles a kink in are OR-ed over blocks and ranks.  The pairwise comparison is
gd_torch.check's own, so a K-rank check and a one-process check judge alike.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from .. import errormodel
from .._errors import bad_value
from .._validate import choice
from .._validate import seed as _seed

# gd_torch.check's comparison and kink detection, applied here to all-reduced gradients
from ..check import DEFAULT_METHODS, MODES, CheckReport, _compare, _kink_columns, _near_kink, _odd_one_out, parse_method
from ..gradients import Estimate, Method, _device, numeric
from ..model import Activation, Loss
from ..ooc import row_bytes
from . import ops

#: how many near-kink sample indices each rank contributes to the report
_KINKS_SHOWN = 5


def check(
    W: np.ndarray,
    p: ops.Part,
    lo: Loss,
    act: Activation,
    methods: Sequence[str] = DEFAULT_METHODS,
    mode: str = "full",
    seed: int = 0,
) -> CheckReport:
    """gd_torch.check's report for the whole data, from this rank's rows and the others'.

    W is validated (shape, dtype, finite), lo and act resolved; methods, mode and seed are
    checked here as gd_torch.check checks them.  Every rank returns the same report.
    """
    resolved = _methods(methods)
    choice("mode", mode, MODES)
    seed = _seed("seed", seed, none_ok=False)
    for m in resolved:
        _device.check(p.comm.device, m.name, m.devices)
    exact = {m.name: ops.exact(m, lo, act, p.comm.device) for m in resolved if ops.SCHEMES.get(m.name) is None}
    ops.objective(p, W, lo, act)  # z = X W finite on every rank, or a message naming the row
    model = ops.error_model(p, W, lo, act)
    v = None
    if mode == "directional":
        v = np.random.default_rng(seed).standard_normal(W.shape[0])
        v /= np.linalg.norm(v)
    estimates = {
        spec: _estimate(p, W, lo, act, m, exact.get(m.name), model, v)
        for spec, m in zip(methods, resolved, strict=True)
    }
    grads = {spec: e.grad for spec, e in estimates.items()}
    errs = {spec: e.error for spec, e in estimates.items()}
    steps = {spec: e.steps for spec, e in estimates.items() if e.steps is not None}
    kink_cols, kinks = _kinks(p, W, act, steps)
    pairs = [_compare(a, b, grads, errs, model, kink_cols) for a, b in itertools.combinations(methods, 2)]
    shape = (p.n, W.shape[0])
    odd = _odd_one_out(list(methods), pairs)
    return CheckReport(lo.name, act.name, str(p.dtype), mode, shape, grads, errs, pairs, odd, kinks)


def _methods(methods: Sequence[str]) -> list[Method]:
    # the same refusals as gd_torch.check: at least two, known, distinct ('numeric' is numeric:central),
    # and on row blocks no method with an in-memory error estimate of its own
    if isinstance(methods, str) or not isinstance(methods, Sequence) or len(methods) < 2:
        raise bad_value("methods", methods, "at least two method names to compare")
    resolved = [parse_method(s) for s in methods]
    if len({m.name for m in resolved}) != len(methods):
        raise bad_value("methods", list(methods), "distinct method names ('numeric' is 'numeric:central')")
    for m in resolved:
        if m.estimate is not None and ops.SCHEMES.get(m.name) is None:
            raise bad_value("methods", m.name, "methods without an error estimate of their own, or 'numeric:<scheme>'")
    return resolved


def _estimate(p, W, lo, act, m: Method, e: ops.Exact | None, model: errormodel.ErrorModel, v) -> Estimate:
    # as gd_torch.check's: an exact method is held to the model's rounding error; a finite
    # difference brings its own estimate (the complex step adds the exact methods' error to its
    # underflow floor: it evaluates the formula to rounding)
    if e is not None:
        g = ops.exact_gradient(p, W, lo, act, e).astype(np.float64)
        if v is None:
            return Estimate(g, np.asarray(model.exact, dtype=np.float64))
        return Estimate(np.array([float(v @ g)]), np.array([float(np.abs(v) @ model.exact)]))
    scheme = ops.SCHEMES[m.name]
    complex_step = scheme == "complex"  # as numeric.for_check adds model.exact to it
    if v is not None:
        g, err, h = _directional(p, W, lo, act, v, scheme, model)
        exact = np.abs(v) @ model.exact
        return Estimate(g.astype(np.float64), err + exact if complex_step else err, h * np.abs(v))
    h = numeric.check_options(W, act, scheme=scheme)
    res = ops.numeric_gradient(p, W, lo, act, h, scheme, model)
    err = model.exact + res.error if complex_step else res.error
    return Estimate(res.grad.astype(np.float64), np.asarray(err, dtype=np.float64), res.steps)


def _directional(p: ops.Part, W, lo, act, v, scheme, model):
    # the numeric method along v: L(W + t v) as a function of the scalar t, with z = z0 + t X v
    # per block (z0 = X W) as gd_torch.check evaluates it
    numeric.check_options(W, act, scheme=scheme)
    t = numeric.default_steps(np.zeros(1, dtype=W.dtype), scheme)[0] * max(1.0, float(np.abs(W) @ np.abs(v)))
    vv = v.astype(W.dtype)

    def L(Tb: np.ndarray) -> np.ndarray:
        k = Tb.shape[0]
        cplx = np.iscomplexobj(Tb)
        per_row = row_bytes(p.data.d, p.dtype, per_row=4 * k * (16 if cplx else 8))

        def partial() -> np.ndarray:
            total = np.zeros(k, dtype=np.complex128 if cplx else np.float64)
            for b in p.blocks(per_row):
                Z = np.outer(b.X @ vv, Tb[:, 0]) + (b.X @ W)[:, None]  # (rows, k)
                total += lo.terms(Z, act.f(Z), b.y).sum(axis=0)
            return total

        total = p.comm.reduce("the loss along v", partial, np.zeros(k, dtype=np.complex128 if cplx else np.float64))
        return total if lo.reduction == "sum" else total / p.n

    h = np.full(1, t, dtype=W.dtype)
    res = numeric.differences(np.zeros(1, dtype=W.dtype), L, p.n, scheme=scheme, h=h, **_noise(model))
    return res.grad, res.error, res.steps


def _noise(model: errormodel.ErrorModel) -> dict:
    return {"f_noise": model.f_noise, "f_rel": model.f_rel}


def _kinks(p: ops.Part, W, act, steps: dict) -> tuple[dict, np.ndarray]:
    # per numeric method, the columns whose step moves some sample's z across a kink (OR-ed over
    # blocks and ranks), and the first few samples near a kink (gd_torch.check's rules, per block)
    if not act.kinks or not steps:
        return {}, np.zeros(0, dtype=int)
    cols = {spec: np.zeros(np.shape(h)[0], dtype=bool) for spec, h in steps.items()}
    near: list[int] = []
    W64 = W.astype(np.float64)
    for b in p.blocks(row_bytes(p.data.d, p.dtype, per_entry=16)):
        z = b.X.astype(np.float64) @ W64
        for spec, c in _kink_columns(b.X, z, act, steps).items():
            cols[spec] |= c
        close = np.flatnonzero(np.isin(z, act.kinks) | _near_kink(b.X, z, act, steps))
        near.extend((b.start + close[: _KINKS_SHOWN - len(near)]).tolist())
    names = list(steps)
    width = cols[names[0]].shape[0]
    flat = np.concatenate([cols[s] for s in names]).astype(np.float64)
    (flat,) = p.comm.all_reduce([flat], "the kinks", op="max")
    shown = np.full(_KINKS_SHOWN, -1.0)
    shown[: len(near)] = near
    every = p.comm.all_gather(shown, "the kinks")
    merged = {s: flat[i * width : (i + 1) * width] > 0 for i, s in enumerate(names)}
    return merged, np.sort(every[every >= 0].astype(int))
