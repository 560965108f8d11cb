"""Mutation tests: a two-layer MLP's hand-written backprop, correct and with many kinds of bug.

The catalogue and the data families are in tests/mlp_mutants.py.  Every gross bug must be
caught (``report.ok`` False, the bug's gradient the odd one out) and correct backprop must
never be flagged, in float64 and float32, on every family (badly scaled features included).
A mutant whose gradient equals the correct one bit for bit on a problem (a sum-vs-mean bug
with one sample, say) is not a bug there and is left out of the counts.

The default run is a small grid (one seed); ``python tests/test_function_mutation.py SEEDS``
(from the repository root) runs the full grid and prints the table.
"""

from __future__ import annotations

import sys
import zlib

import mlp_mutants as M
import numpy as np
import pytest
import torch

import gd_torch

DTYPES = ("float64", "float32")
GROSS = [name for name, bug in M.BUGS.items() if bug.kind == "gross"]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    # torch_f is tiny here: a second intra-op thread only costs wake-ups on a shared machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def problem(family: str, dtype: str, seed: int):
    rng = np.random.default_rng(zlib.crc32(f"{family}/{dtype}/{seed}".encode()))
    return M.problem(family, dtype, rng)


def check(bug: str | None, family: str, dtype: str, seed: int = 0, torch_ref: bool = True):
    """check_function on backprop (bug None) or a mutant; None when the mutant is equivalent here."""
    p, X, y = problem(family, dtype, seed)
    grad = M.backprop if bug is None else M.BUGS[bug].grad
    if bug is not None:
        right, wrong = M.backprop(p, X, y), grad(p, X, y)
        if all(np.array_equal(right[k], wrong[k]) for k in right):
            return None
    return gd_torch.check_function(
        lambda q: M.loss(q, X, y),
        p,
        lambda q: grad(q, X, y),
        torch_f=(lambda q: M.torch_loss(q, X, y)) if torch_ref else None,
        seed=seed,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("family", list(M.FAMILIES))
def test_correct_backprop_is_never_flagged(family, dtype):
    report = check(None, family, dtype)
    assert report.ok, str(report)


@pytest.mark.parametrize("bug", GROSS)
def test_every_gross_bug_is_caught_in_float64(bug):
    report = check(bug, "normal", "float64")
    assert report is not None, "the mutant must differ from backprop on this problem"
    assert not report.ok and report.odd_one_out == "grad", str(report)


@pytest.mark.parametrize("bug", GROSS)
def test_every_gross_bug_is_caught_in_float32_on_badly_scaled_features(bug):
    report = check(bug, "badly scaled", "float32")
    if report is None:  # the bias cannot flip a ReLU when the 1e3 column dominates X W1
        assert bug == "ReLU mask from X W1 (no bias)"
        return
    assert not report.ok and report.odd_one_out == "grad", str(report)


@pytest.mark.parametrize("bug", [name for name, b in M.BUGS.items() if b.kind == "small"])
def test_small_bugs_are_caught_in_float64(bug):
    # one coordinate off by 1e-3 or 1e-5 relative, or the whole gradient rounded to float32:
    # below what a finite difference resolves, but far above float64's rounding
    report = check(bug, "normal", "float64")
    assert not report.ok and report.odd_one_out == "grad", str(report)
    assert any(p.status == "disagree" and "autograd" in (p.a, p.b) for p in report.pairs)


def test_without_torch_finite_differences_alone_catch_a_gross_bug():
    report = check("missing transpose in dW1", "normal", "float64", torch_ref=False)
    assert not report.ok and [p.status for p in report.pairs] == ["disagree"]
    assert check(None, "normal", "float64", torch_ref=False).ok


def main(seeds: int) -> None:
    """The full grid: every bug x family x dtype x seed, with and without torch_f."""
    print(f"{'bug':<34} {'kind':<6} " + " ".join(f"{f[:12] + ' ' + d[5:]:>16}" for f in M.FAMILIES for d in DTYPES))
    for bug in [None, *M.BUGS]:
        cells = []
        for family in M.FAMILIES:
            for dtype in DTYPES:
                reports = [check(bug, family, dtype, s) for s in range(seeds)]
                real = [r for r in reports if r is not None]
                flagged = sum(not r.ok for r in real)
                fd_only = [check(bug, family, dtype, s, torch_ref=False) for s in range(seeds)]
                fd_flagged = sum(not r.ok for r in fd_only if r is not None)
                cells.append(f"{flagged}/{len(real)} fd {fd_flagged}/{len(real)}" if real else "equivalent")
        kind = "-" if bug is None else M.BUGS[bug].kind
        print(f"{bug or 'correct (flagged = false alarm)':<34} {kind:<6} " + " ".join(f"{c:>16}" for c in cells))


if __name__ == "__main__":
    main(int(sys.argv[1]) if sys.argv[1:] else 3)
