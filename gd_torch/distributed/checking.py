"""gd_torch.check on row blocks and K ranks: the same methods, error model and comparison,
with every sum over samples taken over all ranks' rows.

Each method's gradient is the all-reduce of the ranks' partial sums (gd_torch.distributed.ops);
the error model's sums are all-reduced (gd_torch.precision.errormodel.partial_sums); a finite difference
takes the steps one process takes (step_rules.scaled_steps, step_rules.step_along) from column scales
max_i |X_ij| MAX-all-reduced; each method's kink allowance (gd_torch.verdict.kinks.kink_allowance, a
sum over samples) is summed over blocks and ranks.  The pairs are judged by gd_torch.check's engine
and error source (gd_torch.verdict.engine.judge with gd_torch.verdict.predicted.Predicted), and the
report is its CheckReport, so a K-rank check and a one-process check judge alike.
A user's own gradient g(W, X, y) (a callable among ``methods``) takes X in memory: it is checked
where the data is in-memory arrays (ooc.Arrays), computed once on rank 0 on every row, and
refused on a dataset folder, which no process holds in memory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from ..base import finite as _finite
from ..base.rowblocks import accumulate
from ..base.validate import choice
from ..base.validate import seed as _seed
from ..data.shards import Arrays, row_bytes
from ..gradients import ALIASES, METHODS, Estimate, Method, _device, numeric
from ..gradients._user import candidate
from ..gradients.schemes import differences
from ..gradients.step_rules import scaled_steps, step_along
from ..model.activations import Activation
from ..model.losses import Loss
from ..precision import errormodel
from ..precision.rounding import z_and_error
from ..verdict.checker import DEFAULT_METHODS, MODES, parse_method

# gd_torch.check's engine, error source and kink detection, applied here to all-reduced gradients
from ..verdict.kinks import hiding, kink_allowance, kinked_samples, sides
from ..verdict.predicted import Predicted, Problem, report
from ..verdict.report import CheckReport
from . import ops
from .exact import Exact, exact_gradient, for_blocks
from .part import Part

#: how many near-kink sample indices each rank contributes to the report
_KINKS_SHOWN = 5


def check(
    W: np.ndarray,
    p: Part,
    lo: Loss,
    act: Activation,
    methods: Sequence[Any] = DEFAULT_METHODS,
    mode: str = "full",
    seed: int = 0,
) -> CheckReport:
    """gd_torch.check's report for the whole data, from this rank's rows and the others'.

    W is validated (shape, dtype, finite), lo and act resolved; methods, mode and seed are
    checked here as gd_torch.check checks them.  Every rank returns the same report.
    """
    names, resolved, yours = _methods(methods, p)
    choice("mode", mode, MODES)
    seed = _seed("seed", seed, none_ok=False)
    for m in resolved:
        _device.check(p.comm.device, m.name, m.devices)
    exact = {
        m.name: for_blocks(m, lo, act, p.comm.device) for m in resolved if m.scheme is None and m.name not in yours
    }
    ops.objective(p, W, lo, act)  # z = X W finite on every rank, or a message naming the row
    model = ops.error_model(p, W, lo, act)
    if not abs(model.loss) <= float(np.finfo(p.dtype).max):  # as gd_torch.check refuses it
        raise GdTorchError(_finite.overflow_text("the loss", p.dtype, f"at W: L = {model.loss:.6g}", model.loss))
    v = None
    if mode == "directional":
        v = np.random.default_rng(seed).standard_normal(W.shape[0])
        v /= np.linalg.norm(v)
    # the rows that set the steps at W in float64, as numeric.for_check differences every problem
    scale = ops.column_scale(p, v, W=W.astype(np.float64)) if any(m.scheme is not None for m in resolved) else None
    estimates = {
        spec: _yours(p, W, lo, act, m, model, v)
        if m.name in yours
        else _estimate(p, W, lo, act, m, exact.get(m.name), model, v, scale)
        for spec, m in zip(names, resolved, strict=True)
    }
    witnesses = frozenset(spec for spec, m in zip(names, resolved, strict=True) if not m.exact)
    allow, kinks, counts = _kinks(p, W, lo, act, model, estimates, v, frozenset(names) - witnesses)
    # as gd_torch.check: a kink no sample of any rank crosses where some pair can see it
    problem = Problem(lo, act, str(p.dtype), mode, (p.n, W.shape[0]), v)
    return report(names, Predicted(model, estimates, allow), problem, witnesses, kinks, (counts[0], counts[1]))


def _methods(methods: Sequence[Any], p: Part) -> tuple[list[str], list[Method], set[str]]:
    # the same refusals as gd_torch.check: at least two, known, distinct ('numeric' is numeric:central),
    # and on row blocks no method with an in-memory error estimate of its own; a user's callable
    # only on in-memory arrays.  (the report's names, the methods, the names of the user's own)
    if isinstance(methods, str) or not isinstance(methods, Sequence) or len(methods) < 2:
        raise bad_value("methods", methods, "at least two method names to compare (or your gradients)")
    resolved = [parse_method(s) if isinstance(s, str) else _candidate(s, p) for s in methods]
    if len({m.name for m in resolved}) != len(methods):
        raise bad_value("methods", list(methods), "distinct method names ('numeric' is 'numeric:central')")
    yours = {m.name for s, m in zip(methods, resolved, strict=True) if not isinstance(s, str)}
    for m in resolved:
        if m.name not in yours and m.estimate is not None and m.scheme is None:
            raise bad_value("methods", m.name, "methods without an error estimate of their own, or 'numeric:<scheme>'")
    names = [s if isinstance(s, str) else m.name for s, m in zip(methods, resolved, strict=True)]
    return names, resolved, yours


def _candidate(spec: Any, p: Part) -> Method:
    # a user's gradient g(W, X, y): X must be in memory
    if not callable(spec):
        raise bad_value("methods", spec, "method names, or your gradient functions g(W, X, y)")
    if not isinstance(p.data, Arrays):
        raise bad_value(
            "methods",
            getattr(spec, "__name__", spec),
            f"built-in method names on the dataset folder {p.data.name} (your gradient g(W, X, y) takes X in "
            "memory, and a folder is read in row blocks: check it on X in memory, e.g. a CSV)",
        )
    return candidate(spec, None, {*METHODS, *ALIASES})


def _yours(p: Part, W, lo, act, m: Method, model: errormodel.ErrorModel, v) -> Estimate:
    # the user's g(W, X, y) on every row, on rank 0 only (the all-reduce gives every rank its
    # values), held to the exact methods' rounding error as gd_torch.check holds it
    data = p.data

    def on_rank0() -> np.ndarray:
        if p.comm.rank != 0:
            return np.zeros(W.shape[0])
        return np.asarray(_finite.quietly(lambda: m.grad(W, data.X, data.y, lo, act)), dtype=np.float64)

    g = p.comm.reduce(f"your gradient {m.name}", on_rank0, np.zeros(W.shape[0]))
    if v is None:
        return Estimate(g, np.asarray(model.exact, dtype=np.float64))
    return Estimate(np.array([float(v @ g)]), np.array([float(np.abs(v) @ model.exact)]))


def _estimate(p, W, lo, act, m: Method, e: Exact | None, model: errormodel.ErrorModel, v, scale) -> Estimate:
    # as gd_torch.check's: an exact method is held to the model's rounding error; a finite
    # difference brings its own estimate (the complex step adds the exact methods' error to its
    # underflow floor: it evaluates the formula to rounding)
    if e is not None:
        g = exact_gradient(p, W, lo, act, e).astype(np.float64)
        if v is None:
            return Estimate(g, np.asarray(model.exact, dtype=np.float64))
        return Estimate(np.array([float(v @ g)]), np.array([float(np.abs(v) @ model.exact)]))
    scheme = m.scheme.name
    complex_step = not m.scheme.subtracts  # as numeric.for_check adds model.exact to it
    if W.dtype != np.float64:  # as numeric.for_check: float32 differenced in float64, with float64's model
        W = W.astype(np.float64)
        model = ops.error_model(p, W, lo, act, np.float64)
    if v is not None:
        g, err, h = _directional(p, W, lo, act, v, scheme, model, scale)
        exact = np.abs(v) @ model.exact
        return Estimate(g.astype(np.float64), err + exact if complex_step else err, h * np.abs(v))
    numeric.check_options(W, act, scheme=scheme)
    h = scaled_steps(W, scheme, scale[0], p.n)  # as ops.numeric_steps, the scales read once
    res = ops.numeric_gradient(p, W, lo, act, h, scheme, model)
    err = model.exact + res.error if complex_step else res.error
    return Estimate(res.grad.astype(np.float64), np.asarray(err, dtype=np.float64), res.steps)


def _directional(p: Part, W, lo, act, v, scheme, model, scale):
    # the numeric method along v: L(W + t v) as a function of the scalar t, with z = z0 + t X v
    # per block (z0 = X W) as gd_torch.check evaluates it, t chosen as there from all ranks' X
    numeric.check_options(W, act, scheme=scheme)
    t = step_along(W, scheme, scale[0], p.n, scale[1])
    vv = v.astype(W.dtype)

    def L(Tb: np.ndarray) -> np.ndarray:
        k = Tb.shape[0]
        cplx = np.iscomplexobj(Tb)
        per_row = row_bytes(p.data.d, p.dtype, per_row=4 * k * (16 if cplx else 8))

        def block(b) -> np.ndarray:
            Z = np.outer(b.X @ vv, Tb[:, 0]) + (b.X @ W)[:, None]  # (rows, k)
            return lo.terms(Z, act.f(Z), b.y).sum(axis=0)

        def partial() -> np.ndarray:
            return accumulate(block, p.blocks(per_row), np.zeros(k, dtype=np.complex128 if cplx else np.float64))

        total = p.comm.reduce("the loss along v", partial, np.zeros(k, dtype=np.complex128 if cplx else np.float64))
        return lo.from_total(total, p.n)

    h = np.full(1, t, dtype=W.dtype)
    res = differences(np.zeros(1, dtype=W.dtype), L, p.n, scheme=scheme, h=h, **_noise(model))
    return res.grad, res.error, res.steps


def _noise(model: errormodel.ErrorModel) -> dict:
    return {"f_noise": model.f_noise, "f_rel": model.f_rel}


def _kinks(
    p: Part, W, lo, act, model, estimates: dict[str, Estimate], v, exact: frozenset[str]
) -> tuple[dict, np.ndarray, np.ndarray]:
    # each method's kink allowance (gd_torch.verdict.kinks.kink_allowance on each block, with the block's z
    # and e_z, summed over blocks and ranks), the first few samples near a kink (gd_torch.check's
    # kinked_samples, per block) and the samples on each side of each kink that some pair can see
    # there (gd_torch.check's sides, without the samples in the reach of kinks.hiding's methods)
    names = list(estimates)
    width = 1 if v is not None else W.shape[0]
    if not act.kinks:
        return {s: np.zeros(width) for s in names}, np.zeros(0, dtype=int), np.zeros((2, 0, 2))
    near: list[int] = []
    n_sides = 4 * len(act.kinks)  # the samples some pair can see on each side, then every sample

    def block(b) -> np.ndarray:
        z, ez = z_and_error(b.X, W, act)
        mb = dataclasses.replace(model, z=z, ez=ez)
        absX, y64 = np.abs(b.X.astype(np.float64)), b.y.astype(np.float64)
        close = kinked_samples(mb, absX, estimates, v, act)
        near.extend((b.start + close[: _KINKS_SHOWN - len(near)]).tolist())
        return np.concatenate(
            [kink_allowance(mb, absX, estimates[s].steps, v, y64, lo, act, n=p.n) for s in names]
            + [sides(np.delete(z, kinked_samples(mb, absX, hiding(estimates, exact), v, act)), act).ravel()]
            + [sides(z, act).ravel()]
        )

    def partial() -> np.ndarray:
        blocks = p.blocks(row_bytes(p.data.d, p.dtype, per_entry=32))
        return accumulate(block, blocks, np.zeros(len(names) * width + n_sides))

    flat = p.comm.reduce("the kink allowances", partial, np.zeros(len(names) * width + n_sides))
    shown = np.full(_KINKS_SHOWN, -1.0)
    shown[: len(near)] = near
    every = p.comm.all_gather(shown, "the kinks")
    allow = {s: flat[i * width : (i + 1) * width] for i, s in enumerate(names)}
    return allow, np.sort(every[every >= 0].astype(int)), flat[len(names) * width :].reshape(2, -1, 2)
