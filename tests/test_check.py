"""gd_torch.check: agreement, the odd one out, kinks, wrong derivations, directional mode."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import make_problem, pairs, patch_grad

import gd_torch
from gd_torch.gradients import analytic, autograd, numeric
from gd_torch.model.activations import ACTIVATIONS
from gd_torch.model.losses import LOSSES

ALL_METHODS = ("analytic", "autograd", "numeric", "numeric:forward", "numeric:richardson", "numeric:complex")


def _methods(activation: str) -> tuple[str, ...]:
    return ALL_METHODS if ACTIVATIONS[activation].smooth else tuple(m for m in ALL_METHODS if m != "numeric:complex")


@pytest.mark.parametrize(("activation", "loss"), pairs())
def test_all_methods_agree_on_the_tutorial_data(rng, activation, loss):
    W, X, y = make_problem(rng, "tutorial", loss, activation, kink_margin=0.25)
    report = gd_torch.check(W, X, y, loss=loss, activation=activation, methods=_methods(activation))
    assert report.agree, str(report)
    assert report.odd_one_out is None and report.failing() == []
    assert {p.status for p in report.pairs} == {"agree"}
    n = len(_methods(activation))
    assert len(report.pairs) == n * (n - 1) // 2
    z = X @ W
    # the tutorial's W in [0, 1) puts every z on one side of a ReLU's kink: agreement, not OK
    one_sided = bool(ACTIVATIONS[activation].kinks) and not ((z < 0).any() and (z > 0).any())
    # forward differences' noise (u |L| / h, h ~ sqrt(u)) may reach a gradient coordinate's whole
    # size where every unit saturates (tanh, logcosh: |z| from 5.8 to 14, g_1 ~ 3e-7): a witness
    # that cannot resolve it, named, while analytic and autograd resolve each other (still OK)
    vague = report.unresolved
    assert {u.method for u in vague} <= {"numeric:forward"} and all(u.witness for u in vague)
    assert all(t >= s for u in vague for t, s in zip(u.tol, u.size, strict=True))
    assert report.ok is not one_sided and bool(report.unexercised) is one_sided
    if one_sided:
        assert "NOT VERIFIED" in str(report) and "the mask was never exercised here" in str(report)
    elif vague:
        assert "numeric:forward cannot resolve coordinate" in str(report) and "NOT VERIFIED" not in str(report)
    else:
        assert str(report).splitlines()[-1] == "OK: all methods agree within their predicted tolerances"


def test_default_methods_on_the_tutorial_problem():
    X, y = gd_torch.tutorial_data()
    report = gd_torch.check(gd_torch.init_weights(3, seed=0), X, y)
    assert report.ok and list(report.gradients) == ["analytic", "autograd", "numeric"]
    text = str(report)
    assert "loss=sse activation=sigmoid dtype=float64 N=250 D=3 mode=full" in text
    for name in ("analytic vs autograd", "analytic vs numeric", "autograd vs numeric"):
        assert re.search(rf"^{name}\s+\S+\s+\d+\s+\S+\s+agree$", text, re.M), text


@pytest.mark.parametrize("loss", ["sse", "mse"])
def test_tutorial_formula_is_the_odd_one_out(rng, loss):
    W, X, y = make_problem(rng, "tutorial", loss, "sigmoid")
    report = gd_torch.check(W, X, y, loss=loss, methods=("analytic", "autograd", "numeric", "tutorial"))
    assert not report.ok
    assert report.odd_one_out == "tutorial"
    assert report.failing() == sorted(["analytic", "autograd", "numeric", "tutorial"])
    for p in report.pairs:
        assert p.status == ("disagree" if "tutorial" in (p.a, p.b) else "agree")
        if p.status == "disagree":  # by a lot, not by a rounding-sized margin
            assert p.rel_err > 1e6 * p.tol_rel
    assert "FAIL: tutorial disagrees with analytic, autograd, numeric, which agree with each other" in str(report)


def test_tutorial_formula_agrees_for_bce(rng):
    W, X, y = make_problem(rng, "tutorial", "bce", "sigmoid")
    report = gd_torch.check(W, X, y, loss="bce", methods=("analytic", "autograd", "numeric", "tutorial"))
    assert report.ok, str(report)


# ---- a wrong derivation is caught ------------------------------------------------------------


def _forgot_the_factor_2(W, X, y, lo, act):
    # a classic slip in the sse derivation: dL/da = (a - y) instead of 2 (a - y)
    a = act.f(X @ W)
    return X.T @ ((a - y) * act.df(X @ W, a))


def test_wrong_derivation_is_named_with_its_worst_coordinate(rng, monkeypatch):
    W, X, y = make_problem(rng, "tutorial", "sse", "sigmoid")
    patch_grad(monkeypatch, "analytic", _forgot_the_factor_2)
    report = gd_torch.check(W, X, y, methods=("analytic", "autograd", "numeric"))
    assert not report.ok
    assert report.odd_one_out == "analytic"
    text = str(report)
    assert "FAIL: analytic disagrees with autograd, numeric, which agree with each other" in text
    for p in report.pairs:
        if p.status != "disagree":
            continue
        # the worst coordinate, both values, the relative error and its tolerance, as printed
        m = re.search(
            rf"{p.a} vs {p.b}: worst at j=(\d+): {p.a}=(\S+), {p.b}=(\S+), relative error (\S+) > tolerance (\S+)",
            text,
        )
        assert m, text
        j = int(m.group(1))
        assert j == p.worst
        assert float(m.group(2)) == report.gradients[p.a][j]
        assert float(m.group(3)) == report.gradients[p.b][j]
        # the sse gradient is twice the broken one: relative error 1/2
        assert float(m.group(4)) == pytest.approx(0.5, rel=1e-6)
        assert 0 < float(m.group(5)) < 1e-6


@pytest.mark.parametrize("rel", [1e-9, 1e-6])
def test_a_tiny_error_in_one_coordinate_is_caught(rng, monkeypatch, rel):
    # far below what a finite difference could see, far above float64 rounding
    W, X, y = make_problem(rng, "wide", "mse", "tanh")
    real = autograd.grad

    def off_at_7(*args, **kwargs):
        g = real(*args, **kwargs)
        g[7] *= 1 + rel
        return g

    patch_grad(monkeypatch, "autograd", off_at_7)
    report = gd_torch.check(W, X, y, loss="mse", activation="tanh", methods=("analytic", "autograd", "numeric:complex"))
    assert not report.ok
    assert report.odd_one_out == "autograd"
    bad = [p for p in report.pairs if p.status == "disagree"]
    assert {(p.a, p.b) for p in bad} == {("analytic", "autograd"), ("autograd", "numeric:complex")}
    assert all(p.worst == 7 for p in bad)


def test_two_methods_disagreeing_name_no_odd_one_out(rng, monkeypatch):
    W, X, y = make_problem(rng, "tutorial", "sse", "sigmoid")
    patch_grad(monkeypatch, "analytic", _forgot_the_factor_2)
    report = gd_torch.check(W, X, y, methods=("analytic", "autograd"))
    assert not report.ok and report.odd_one_out is None
    assert "FAIL: analytic, autograd disagree, and no single method is the odd one out" in str(report)


# ---- ReLU at a kink ---------------------------------------------------------------------------

#: integer-valued data and weights: z_i = X_i W is exact, and rows 0 and 1 sit at z = 0
KINK_X = np.array(
    [
        [2.0, 1.0, 0.0],  # z = 2 - 2 = 0
        [4.0, 2.0, 0.0],  # z = 0
        [1.0, 0.0, 2.0],  # z = 2
        [0.0, 1.0, 1.0],  # z = -1.5
        [3.0, 1.0, 1.0],  # z = 1.5
        [1.0, 2.0, 4.0],  # z = -1
    ]
)
KINK_W = np.array([1.0, -2.0, 0.5])
KINK_Y = np.array([0.5, 0.25, 1.0, 0.0, 0.75, 0.5])
KINK_ROWS = [0, 1]


def test_kink_data_really_sits_on_the_kink():
    z = KINK_X @ KINK_W
    assert np.flatnonzero(z == 0).tolist() == KINK_ROWS


def test_central_difference_at_a_kink_averages_the_one_sided_slopes():
    """What the numeric method does at z_i = 0.

    The term l_i = (relu(z_i) - y_i)^2 has slope 2 (0 - y_i) X_ij in W_j from the right and
    0 from the left.  The analytic method (like torch) takes relu'(0) = 0; the central
    difference gives ((X_ij h - y_i)^2 - y_i^2) / (2 h) = -y_i X_ij + X_ij^2 h / 2: the
    average of the two one-sided slopes (half the X_ij contribution), plus a truncation term
    that is exactly X_ij^2 h / 2 because the right branch is a parabola.
    """
    X, W, y = KINK_X, KINK_W, KINK_Y
    lo, act = LOSSES["sse"], ACTIVATIONS["relu"]
    from gd_torch.precision import errormodel

    model = errormodel.build(W, X, y, lo, act)
    res = numeric.estimate(W, X, y, lo, act, scheme="central", f_noise=model.f_noise)
    g = gd_torch.gradient(W, X, y, loss="sse", activation="relu")
    k = KINK_ROWS
    right_slope = (2 * (0 - y[k])[:, None] * X[k]).sum(axis=0)
    expected = g + right_slope / 2 + (X[k] ** 2).sum(axis=0) * res.steps / 2
    np.testing.assert_array_less(np.abs(res.grad - expected), res.error + model.exact)
    assert np.abs(res.grad - g)[:2].min() > 0.1  # columns 0, 1: visibly not the analytic value
    assert abs(res.grad[2] - g[2]) <= res.error[2]  # column 2 has no kink sample in it


def test_check_reports_a_kink_not_a_wrong_derivation():
    report = gd_torch.check(KINK_W, KINK_X, KINK_Y, activation="relu", methods=("analytic", "autograd", "numeric"))
    assert report.ok, str(report)
    status = {(p.a, p.b): p.status for p in report.pairs}
    assert status == {
        ("analytic", "autograd"): "agree",  # both take relu'(0) = 0
        ("analytic", "numeric"): "kink",
        ("autograd", "numeric"): "kink",
    }
    assert report.kinks.tolist() == KINK_ROWS
    text = str(report)
    assert "OK, but a finite difference straddles a kink" in text
    assert "this is not a wrong derivation" in text


def test_a_wrong_gradient_away_from_the_kink_is_still_a_disagreement(monkeypatch):
    real = analytic.grad

    def off_at_2(*args):
        g = real(*args)
        g[2] *= 1.001  # column 2: no kink sample has a nonzero entry there
        return g

    patch_grad(monkeypatch, "analytic", off_at_2)
    report = gd_torch.check(KINK_W, KINK_X, KINK_Y, activation="relu", methods=("analytic", "autograd", "numeric"))
    assert not report.ok
    status = {(p.a, p.b): p.status for p in report.pairs}
    assert status[("analytic", "numeric")] == "disagree"
    assert status[("analytic", "autograd")] == "disagree"
    assert status[("autograd", "numeric")] == "kink"
    assert report.odd_one_out == "analytic"


def test_a_kink_excuses_no_more_than_its_samples_can_contribute(monkeypatch):
    # column 0: the two samples at z = 0 have X_i0 = 2 and 4 and one-sided slopes 0 and
    # 2 (0 - y_i) = -1, -0.5: a difference quotient may be off by 2 * 1 + 4 * 0.5 = 4 there, no more
    report = gd_torch.check(KINK_W, KINK_X, KINK_Y, activation="relu", methods=("analytic", "numeric"))
    assert report.pairs[0].status == "kink"
    real = analytic.grad

    def half_again_at_0(*args):
        g = real(*args)
        g[0] *= 1.5  # 6.5 -> 9.75, 5.25 from the central difference's 4.5
        return g

    patch_grad(monkeypatch, "analytic", half_again_at_0)
    report = gd_torch.check(KINK_W, KINK_X, KINK_Y, activation="relu", methods=("analytic", "numeric"))
    (pair,) = report.pairs
    assert pair.status == "disagree" and pair.worst == 0, str(report)
    assert "analytic vs numeric: worst at j=0" in str(report)


# ---- directional mode ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["tutorial", "wide"])
@pytest.mark.parametrize(("activation", "loss"), pairs())
def test_directional_mode_agrees_on_correct_methods(rng, shape, activation, loss):
    W, X, y = make_problem(rng, shape, loss, activation, kink_margin=0.25)
    methods = _methods(activation)
    report = gd_torch.check(W, X, y, loss=loss, activation=activation, methods=methods, mode="directional", seed=3)
    assert report.agree, str(report)
    assert report.ok is not bool(report.unexercised)  # the tutorial's data put every z > 0 for a ReLU
    assert all(g.shape == (1,) for g in report.gradients.values())
    # v . g is what it says: the full gradient projected on the seeded unit direction
    v = np.random.default_rng(3).standard_normal(W.shape[0])
    v /= np.linalg.norm(v)
    g = gd_torch.gradient(W, X, y, loss=loss, activation=activation)
    assert report.gradients["analytic"][0] == pytest.approx(float(v @ g), rel=1e-12)


def test_directional_mode_fails_the_tutorial_formula_on_sse(rng):
    W, X, y = make_problem(rng, "tutorial", "sse", "sigmoid")
    report = gd_torch.check(W, X, y, methods=("analytic", "autograd", "numeric", "tutorial"), mode="directional")
    assert not report.ok
    assert report.odd_one_out == "tutorial"


def test_directional_mode_uses_O1_objective_evaluations(rng, monkeypatch):
    rows = []
    real = numeric.evaluate
    monkeypatch.setattr(numeric, "evaluate", lambda Wb, *a, **k: rows.append(Wb.shape[0]) or real(Wb, *a, **k))
    counts = {}
    for shape in ("single", "tutorial", "wide"):
        W, X, y = make_problem(rng, shape, "sse", "sigmoid")
        rows.clear()
        gd_torch.check(W, X, y, methods=("analytic", "numeric"), mode="directional")
        counts[shape] = sum(rows)
    # L(W +- t v) at the step and at twice it (for the error estimate): 4, whatever D is
    assert counts == {"single": 4, "tutorial": 4, "wide": 4}
    rows.clear()
    gd_torch.check(W, X, y, methods=("analytic", "numeric"))  # full mode on the wide problem
    assert sum(rows) == 4 * X.shape[1]


def test_directional_mode_with_a_wrong_derivation(rng, monkeypatch):
    W, X, y = make_problem(rng, "tutorial", "sse", "sigmoid")
    patch_grad(monkeypatch, "analytic", _forgot_the_factor_2)
    report = gd_torch.check(W, X, y, methods=("analytic", "autograd", "numeric"), mode="directional")
    assert not report.ok and report.odd_one_out == "analytic"
    assert "v.g" in str(report)
