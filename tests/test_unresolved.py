"""A pair whose bound swallows the gradient coordinate's whole size resolves nothing there.

|g_j| <= S_j = sum_i |X_ij| |dL/dz_i| (errormodel.ErrorModel.size): a pair whose tolerance (plus
kink allowance) at j is at least S_j would pass 0, -g_j or anything in between.  A method agreeing
at j only within such bounds is not verified there: the verdict is NOT VERIFIED, not OK
(issue 20, "Never OK on a gradient it cannot verify").
"""

from __future__ import annotations

import numpy as np
import pytest

import gd_torch
from gd_torch.model.forward import delta, resolve
from gd_torch.precision import errormodel
from gd_torch.testing import assert_gradient_close


@pytest.fixture(scope="module")
def extreme():
    # one sample with X[0, 1] = -1.79e308 (y_0 = 1) dominates the cross-entropy: central differences
    # resolve coordinate 1 but read 0 at coordinates 0 and 2 with an error estimate ~6.5e295
    X, y = gd_torch.tutorial_data()
    assert y[0] == 1
    X = X.copy()
    X[0, 1] = -1.79e308
    return gd_torch.init_weights(3, seed=42), X, y


def _wrong_at_0_and_2(W, X, y):
    # the right gradient at coordinate 1, the wrong sign at 0 and 2
    g = gd_torch.gradient(W, X, y, loss="bce")
    return g * np.array([-1.0, 1.0, -1.0])


def _tiny(W, X, y):
    return np.full(W.shape, 1e-300)


def test_size_is_the_sum_the_rounding_estimate_is_taken_from(extreme):
    W, X, y = extreme
    lo, act = resolve("bce", "sigmoid")
    model = errormodel.build(W, X, y, lo, act)
    d = delta(X @ W, y, lo, act)
    np.testing.assert_allclose(model.size, np.abs(X).T @ np.abs(d), rtol=1e-15)
    g = gd_torch.gradient(W, X, y, loss="bce")
    assert (np.abs(g) <= model.size).all()
    sums = errormodel.partial_sums(W, X[:100], y[:100], lo, act, 250) + errormodel.partial_sums(
        W, X[100:], y[100:], lo, act, 250
    )
    np.testing.assert_allclose(errormodel.from_sums(sums, 250, X.dtype, lo).size, model.size, rtol=1e-14)


def test_numeric_that_reads_0_under_an_error_of_6e295_is_a_witness_that_cannot_resolve(extreme):
    # analytic and autograd resolve each other at every coordinate: OK, with numeric named as no witness there
    W, X, y = extreme
    report = gd_torch.check(W, X, y, loss="bce", methods=("analytic", "autograd", "numeric"))
    assert report.agree and report.ok and report.unverified == ()
    (u,) = report.unresolved
    assert (u.method, u.coords, u.witness) == ("numeric", (0, 2), True)
    assert all(t >= s for t, s in zip(u.tol, u.size, strict=True)) and min(u.tol) > 1e295 and max(u.size) < 10
    text = str(report)
    assert "NOT VERIFIED" not in text
    assert text.splitlines()[-2].startswith("OK: all methods agree within their predicted tolerances, and the methods")
    assert "numeric cannot resolve coordinates 0, 2 here: its tolerance is at least the gradient's largest" in text


def test_analytic_against_numeric_alone_is_not_verified_where_numeric_cannot_resolve(extreme):
    # the same data without autograd: nothing resolves analytic at coordinates 0 and 2
    W, X, y = extreme
    report = gd_torch.check(W, X, y, loss="bce", methods=("analytic", "numeric"))
    assert report.agree and not report.ok
    assert [(u.method, u.coords) for u in report.unverified] == [("analytic", (0, 2)), ("numeric", (0, 2))]
    assert str(report).splitlines()[-3].startswith("NOT VERIFIED: all methods agree, but some agreement is within")


def test_a_wrong_gradient_against_numeric_alone_is_not_ok(extreme):
    # (along a direction, coordinate 1's 7e305 dominates v . g, which numeric resolves)
    W, X, y = extreme
    report = gd_torch.check(W, X, y, loss="bce", methods={"mine": _wrong_at_0_and_2, "numeric": "numeric"})
    assert report.agree and not report.ok
    assert {u.method for u in report.unresolved} == {"mine", "numeric"}
    assert "mine cannot resolve" in report.summary()
    with pytest.raises(AssertionError, match=r"^gradient check could not verify the gradient\nNOT VERIFIED"):
        assert_gradient_close(_wrong_at_0_and_2, W, X, y, loss="bce", against=("numeric",))
    # a method that resolves the coordinates catches it
    assert not gd_torch.check(W, X, y, loss="bce", methods={"mine": _wrong_at_0_and_2, "a": "autograd"}).agree


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_a_saturated_zero_gradient_and_1e300_agree_only_vacuously_with_numeric(blobs, mode):
    # X * 1e305: every unit saturates and every d_i is 0 (the gradient is exactly 0); central
    # differences read 0 with an error estimate of 70-124 (full), 9e196 (directional)
    X, y = blobs
    W = gd_torch.init_weights(3, seed=42)
    report = gd_torch.check(W, X * 1e305, y, methods=("numeric", _tiny), mode=mode)
    assert report.agree and not report.ok
    assert {u.method for u in report.unresolved} == {"numeric", "_tiny"}
    assert all(s == 0 for u in report.unresolved for s in u.size)
    # the exact methods are held to the subnormal floor N s there: 1e-300 is told apart from 0
    exact = gd_torch.check(W, X * 1e305, y, methods=("analytic", _tiny), mode=mode)
    assert not exact.agree and exact.failing() == ["_tiny", "analytic"]
    assert gd_torch.check(W, X * 1e305, y, methods=("analytic", "autograd"), mode=mode).ok


@pytest.mark.parametrize("loss", ["sse", "bce"])
@pytest.mark.parametrize("mode", ["full", "directional"])
def test_ordinary_data_that_every_method_resolves_stays_ok(blobs, loss, mode):
    X, y = blobs
    W = gd_torch.init_weights(3, seed=42)
    report = gd_torch.check(W, X, y, loss=loss, mode=mode)
    assert report.ok and report.unresolved == (), str(report)
    assert report.summary() == "OK: all methods agree within their predicted tolerances"


def test_row_blocks_rule_as_one_process(extreme):
    # gd_torch.distributed's check sums S_j over row blocks (several here) and rules alike
    from gd_torch.data.shards import Arrays
    from gd_torch.distributed.checking import check
    from gd_torch.distributed.comm import Comm
    from gd_torch.distributed.part import rank_part

    W, X, y = extreme
    lo, act = resolve("bce", "sigmoid")
    report = check(W, rank_part(Arrays(X, y, budget=4096), Comm()), lo, act, methods=("analytic", "numeric"))
    one = gd_torch.check(W, X, y, loss="bce", methods=("analytic", "numeric"))
    assert report.agree and not report.ok
    assert [(u.method, u.coords) for u in report.unresolved] == [(u.method, u.coords) for u in one.unresolved]
    assert [u.coords for u in one.unresolved] == [(0, 2), (0, 2)]


def test_cli_check_on_a_dataset_folder_exits_1_naming_the_unresolved_coordinates(extreme, tmp_path, capsys):
    from gd_torch.cli.app import main

    W, X, y = extreme
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    assert main(["check", "--dataset", str(tmp_path), "--loss", "bce", "--methods", "analytic,numeric"]) == 1
    out = capsys.readouterr().out
    assert "W: uniform [0, 1) with seed 42" in out
    assert "NOT VERIFIED" in out and "numeric cannot resolve coordinates 0, 2 here" in out


@pytest.mark.parametrize("methods", [("numeric", "numeric:complex"), ("numeric", "numeric:forward")])
def test_finite_differences_alone_excuse_nothing(extreme, methods):
    # a witness is excused only where two methods under test resolve each other; here there are none
    W, X, y = extreme
    report = gd_torch.check(W, X, y, loss="bce", methods=methods)
    assert report.agree and not report.ok
    assert {(u.method, u.coords, u.witness) for u in report.unresolved} == {(m, (0, 2), False) for m in methods}
    assert "the methods under test resolve each other" not in str(report)
