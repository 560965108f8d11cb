"""Mutation tests of the checker's verdict: correct gradients never fail, wrong ones are caught.

A catalogue of wrong gradients (tests/bugs.py: 24 wrong formulas, one coordinate off by 1e-3,
1e-5 or 1e-7, a float64 gradient computed in float32) is injected into the registry in place of
'analytic', over data families (tests/families.py: the tutorial's blobs, breast cancer, columns
scaled 1e-6..1e6, every unit saturated, N = 1, a ReLU kink-heavy set), activation x loss pairs
and both dtypes.  Each is checked against 'autograd' and 'numeric' ("trio") and against
'numeric' alone.

A bug counts only where it moves the gradient detectably: some |g_bug,j - g_j| beyond
3 SAFETY err_j plus the kink allowance, g the exact gradient (mpmath, 200 bits) and err_j the
exact methods' predicted rounding (a bug below that is rounding, and no comparison can see it).

The CI run is a small slice (< 30 s); ``python tests/test_mutation.py`` runs the whole grid and
prints the table (with -s, pytest prints the slice's).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
import warnings
import zlib
from collections import defaultdict
from contextlib import contextmanager

import numpy as np
import pytest

import gd_torch
from gd_torch.base import finite as _finite
from gd_torch.gradients import METHODS
from gd_torch.model.activations import ACTIVATIONS
from gd_torch.model.losses import LOSSES
from gd_torch.precision import errormodel
from gd_torch.verdict.kinks import kink_allowance

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import bugs  # noqa: E402
import families  # noqa: E402

METHOD_SETS = {"trio": ("analytic", "autograd", "numeric"), "numeric alone": ("analytic", "numeric")}
ALL_PAIRS = [(act, loss) for loss, lo in LOSSES.items() for act in ACTIVATIONS if lo.activations in (None, (act,))]

#: the CI slice: every family, a few pairs each, both dtypes
CI_CASES = [
    ("blobs", "sigmoid", "sse"),
    ("blobs", "relu", "mse"),
    ("blobs", "sigmoid", "bce"),
    ("scaled", "tanh", "sse"),
    ("scaled", "sigmoid", "bce"),
    ("saturated", "sigmoid", "sse"),
    ("saturated", "tanh", "mse"),
    ("single", "sigmoid", "mse"),
    ("single", "identity", "sse"),
    ("kinks", "relu", "sse"),
]


@dataclasses.dataclass(frozen=True)
class Row:
    family: str
    pair: str
    dtype: str
    bug: str  # '' for the correct gradient
    methods: str
    #: the bug moves some coordinate beyond 3 SAFETY err_j (+ kink allowance) from the exact gradient
    detectable: bool
    #: the bug moves no coordinate beyond err_j (+ kink allowance): as good as a correct method
    harmless: bool
    caught: bool


@contextmanager
def injected(grad):
    """'analytic' computes ``grad`` for the duration (the registry entry replaced, then restored)."""
    real = METHODS["analytic"]
    METHODS["analytic"] = dataclasses.replace(real, grad=grad, make=None)
    try:
        yield
    finally:
        METHODS["analytic"] = real


def thresholds(W, X, y, lo, act) -> tuple[np.ndarray, np.ndarray]:
    """(err_j, 3 SAFETY err_j), each plus an exact method's kink allowance: what a correct method
    may differ from the exact gradient by, and what a bug must exceed to be plainly visible."""
    model = errormodel.build(W, X, y, lo, act)
    absX = np.abs(X.astype(np.float64))
    allow = kink_allowance(model, absX, None, None, y.astype(np.float64), lo, act)
    return model.exact + allow, 3 * errormodel.SAFETY[str(X.dtype)] * model.exact + allow


def run_case(family: str, act: str, loss: str, dtype: str, seed: int, kinds=None) -> list[Row]:
    rng = np.random.default_rng(zlib.crc32(f"{family}-{act}-{loss}-{dtype}-{seed}".encode()))
    W, X, y = families.draw(family, rng, loss, dtype)
    lo, ac = LOSSES[loss], ACTIVATIONS[act]
    ref = families.reference(W, X, y, loss, act)
    low, high = thresholds(W, X, y, lo, ac)
    rows = []
    pair = f"{act}-{loss}"
    for name, methods in METHOD_SETS.items():
        report = gd_torch.check(W, X, y, loss=loss, activation=act, methods=methods)
        rows.append(Row(family, pair, dtype, "", name, False, True, not report.ok))
    for kind in kinds or bugs.BUGS:
        bug = bugs.BUGS[kind]
        g = np.asarray(_finite.quietly(lambda bug=bug: bug(W, X, y, lo, ac)), dtype=np.float64)
        with np.errstate(invalid="ignore"):
            off = np.where(np.isfinite(g), np.abs(g - ref), np.inf)
        detectable, harmless = bool(np.any(off > high)), bool(np.all(off <= low))
        with injected(bug):
            for name, methods in METHOD_SETS.items():
                report = gd_torch.check(W, X, y, loss=loss, activation=act, methods=methods)
                rows.append(Row(family, pair, dtype, kind, name, detectable, harmless, not report.ok))
    return rows


def table(rows: list[Row]) -> str:
    """False alarms per family and dtype; misses per bug kind, method set and dtype."""
    out = ["false alarms (correct gradients failed) / checks, per family and dtype:"]
    fa = defaultdict(lambda: [0, 0])
    for r in rows:
        if not r.bug:
            fa[(r.family, r.dtype)][0] += r.caught
            fa[(r.family, r.dtype)][1] += 1
    for (fam, dt), (k, n) in sorted(fa.items()):
        out.append(f"  {fam:<10} {dt:<8} {k} / {n}")
    out.append("misses (detectable bugs not caught) / detectable, per bug kind:")
    head = "  ".join(f"{m + ' ' + dt:>22}" for m in METHOD_SETS for dt in ("float64", "float32"))
    out.append(f"  {'bug':<24}{head}")
    miss = defaultdict(lambda: [0, 0])
    for r in rows:
        if r.bug and r.detectable:
            miss[(r.bug, r.methods, r.dtype)][0] += not r.caught
            miss[(r.bug, r.methods, r.dtype)][1] += 1
    for kind in bugs.BUGS:
        cells = []
        for m in METHOD_SETS:
            for dt in ("float64", "float32"):
                k, n = miss.get((kind, m, dt), (0, 0))
                cells.append(f"{k:>10} / {n:<9}" if n else f"{'-':>22}")
        out.append(f"  {kind:<24}" + "  ".join(cells))
    out.append("small bugs caught / all cases (detectable or not), per method set and dtype:")
    for kind in bugs.SMALL:
        cells = []
        for m in METHOD_SETS:
            for dt in ("float64", "float32"):
                cases = [r for r in rows if r.bug == kind and r.methods == m and r.dtype == dt]
                k = sum(r.caught for r in cases)
                cells.append(f"{k:>10} / {len(cases):<9}" if cases else f"{'-':>22}")
        out.append(f"  {kind:<24}" + "  ".join(cells))
    out.append("misses / detectable, per family (all bugs):")
    fam_miss = defaultdict(lambda: [0, 0])
    for r in rows:
        if r.bug and r.detectable:
            key = (r.family, r.methods, r.dtype, r.bug in bugs.GROSS)
            fam_miss[key][0] += not r.caught
            fam_miss[key][1] += 1
    for (fam, m, dt, gross), (k, n) in sorted(fam_miss.items()):
        out.append(f"  {fam:<10} {m:<14} {dt:<8} {'gross' if gross else 'small':<6} {k} / {n} = {k / n:.1%}")
    return "\n".join(out)


@pytest.fixture(scope="module")
def ci_rows() -> list[Row]:
    rows = []
    for family, act, loss in CI_CASES:
        for dtype in ("float64", "float32"):
            rows.extend(run_case(family, act, loss, dtype, 0))
    print("\n" + table(rows))
    return rows


def test_no_false_alarm(ci_rows):
    # NOT VERIFIED because a method's only agreements at some coordinate are within a tolerance as
    # large as the gradient can be there (report.unresolved: central differences reading a
    # saturated unit's 1e-10 under a noise of 1e-7; float32's saturated gradient, mostly rounding)
    # is the checker saying it cannot verify, not an alarm; test_cannot_verify_only_saturated_units
    # pins where it happens
    alarms = [r for r in ci_rows if not r.bug and r.caught and not _unresolved_only(r)]
    assert alarms == []


def _unresolved_only(r: Row) -> bool:
    # this CI row's check (its bug injected, if any) run again: NOT VERIFIED for unresolved coordinates alone
    act, loss = r.pair.split("-")
    rng = np.random.default_rng(zlib.crc32(f"{r.family}-{act}-{loss}-{r.dtype}-0".encode()))
    W, X, y = families.draw(r.family, rng, loss, r.dtype)
    with injected(bugs.BUGS[r.bug]) if r.bug else contextlib.nullcontext():
        report = gd_torch.check(W, X, y, loss=loss, activation=act, methods=METHOD_SETS[r.methods])
    return report.agree and not report.unexercised and bool(report.unresolved)


def test_cannot_verify_only_saturated_units(ci_rows):
    # a correct gradient on the blobs, breast cancer, scaled columns, N = 1 and the kink-heavy ReLU
    # is never NOT VERIFIED for unresolved coordinates; on saturated units (|z| in [12, 50]) it is
    # where the tolerance is at least S_j = sum_i |X_ij| |dL/dz_i|: tanh with central differences
    # (float64, 2 of 4 checks), every tanh check and one sigmoid coordinate in float32 (4 of 4)
    cannot = {(r.family, r.pair, r.dtype, r.methods) for r in ci_rows if not r.bug and r.caught and _unresolved_only(r)}
    assert {c[0] for c in cannot} == {"saturated"}
    assert ("saturated", "tanh-mse", "float64", "numeric alone") in cannot


def test_float64_gross_bugs_are_all_caught_by_the_trio(ci_rows):
    missed = [r for r in ci_rows if r.bug in bugs.GROSS and r.detectable and r.methods == "trio" and not r.caught]
    assert [r for r in missed if r.dtype == "float64"] == []


def test_one_coordinate_off_by_1e3_is_caught_in_float32(ci_rows):
    # wherever float32 rounding lets it show (not on saturated units, whose float32 gradient is
    # mostly rounding): every case of the slice
    cases = [r for r in ci_rows if r.bug == "one coordinate 1e-3" and r.dtype == "float32" and r.methods == "trio"]
    seen = [r for r in cases if r.detectable]
    assert len(seen) >= 0.7 * len(cases)
    assert sum(r.caught for r in seen) >= 0.95 * len(seen)


def test_a_harmless_change_is_never_caught(ci_rows):
    # a bug that moves the gradient by less than a correct method's own rounding is no bug here
    # (the tutorial's formula for the cross-entropy; sum and mean at N = 1): catching it would be a
    # false alarm in disguise
    # (NOT VERIFIED for unresolved coordinates is no catch: where the tolerance swallows the
    # gradient's size, as on saturated units, a harmless change cannot be verified either)
    assert [r for r in ci_rows if r.bug and r.harmless and r.caught and not _unresolved_only(r)] == []


def main() -> None:
    """The whole grid: every family, pair and dtype, two draws each; prints the table."""
    warnings.simplefilter("error")  # as the test suite runs: no warning may escape
    t0 = time.perf_counter()
    rows = []
    for family in families.FAMILIES:
        for act, loss in ALL_PAIRS:
            for dtype in ("float64", "float32"):
                for seed in range(2):
                    rows.extend(run_case(family, act, loss, dtype, seed))
    print(table(rows))
    print(f"{len(rows)} checks in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
