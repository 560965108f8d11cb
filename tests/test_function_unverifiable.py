"""check_function where finite differences of f cannot confirm a gradient: never OK.

Mutation-style: each case is an f with a right gradient and wrong ones.  f computed in float32
(or rounded to a grid) while the parameters are float64, f jumping at the point, f with a kink
at the point.  A wrong gradient is never OK (disagree where the differences resolve it, else
'cannot verify'); a right one is never flagged as wrong ('cannot verify', or OK where it can be
checked).
"""

from __future__ import annotations

import numpy as np
import pytest

import gd_torch
from gd_torch.testing import assert_function_gradient_close

P = np.array([0.3, -1.2, 2.5])


def _square_sum_in_float32(p):
    return float(np.float32(np.sum(p**2)))


def _network_in_float32(X, y):
    # mean squared error of a tanh layer, evaluated in float32 whatever the parameters' dtype
    X32, y32 = X.astype(np.float32), y.astype(np.float32)

    def f(p):
        h = np.tanh(X32 @ p["W1"].astype(np.float32))
        return float(np.mean((h @ p["w2"].astype(np.float32) - y32) ** 2))

    def grad(p, factor=2.0):
        h = np.tanh(X @ p["W1"])
        r = factor * (h @ p["w2"] - y) / len(y)  # dL/dout = 2 (out - y) / N
        return {"W1": X.T @ (np.outer(r, p["w2"]) * (1 - h**2)), "w2": h.T @ r}

    return f, grad


QUANTISED = {
    "float32 sum": _square_sum_in_float32,
    "rounded to 1e-3": lambda p: float(np.round(np.sum(p**2), 3)),
    "integer valued": lambda p: float(np.round(np.sum(p**2))),
}
WRONG = {"-p": lambda p: -p, "0 p": lambda p: 0 * p, "3 p": lambda p: 3 * p, "p": lambda p: p}


@pytest.mark.parametrize("name", list(QUANTISED))
@pytest.mark.parametrize("wrong", list(WRONG))
def test_a_wrong_gradient_of_a_quantised_f_is_never_ok(name, wrong):
    report = gd_torch.check_function(QUANTISED[name], P, WRONG[wrong])
    assert not report.ok and report.pairs[0].status in ("disagree", "cannot verify"), str(report)


@pytest.mark.parametrize("name", list(QUANTISED))
def test_the_right_gradient_of_a_quantised_f_cannot_be_verified_and_says_why(name):
    report = gd_torch.check_function(QUANTISED[name], P, lambda p: 2 * p)
    assert [p.status for p in report.pairs] == ["cannot verify"], str(report)
    assert "it looks computed in float32 or quantised" in report.summary()
    assert report.summary().startswith("CANNOT VERIFY")
    with pytest.raises(AssertionError, match="f changes in steps of"):
        assert_function_gradient_close(QUANTISED[name], P, lambda p: 2 * p)


def test_f_in_float32_names_its_step_near_float32s_resolution():
    report = gd_torch.check_function(_square_sum_in_float32, P, lambda p: 2 * p)
    q = float(np.spacing(np.float32(np.sum(P**2))))  # 4.8e-7 at f = 7.78
    step = float(report.pairs[0].reason.split("steps of ")[1].split(":")[0])
    assert q <= step <= 4 * q


def test_a_float32_network_missing_its_factor_2_is_never_ok(rng):
    X, y = rng.standard_normal((30, 4)), rng.standard_normal(30)
    params = {"W1": 0.5 * rng.standard_normal((4, 5)), "w2": 0.5 * rng.standard_normal(5)}
    f, grad = _network_in_float32(X, y)
    wrong = gd_torch.check_function(f, params, lambda p: grad(p, factor=1.0))
    assert not wrong.ok and wrong.pairs[0].status == "disagree", str(wrong)
    right = gd_torch.check_function(f, params, grad)
    assert [p.status for p in right.pairs] == ["cannot verify"], str(right)


def test_f_in_float32_with_float32_parameters_is_checked_as_usual():
    x = P.astype(np.float32)
    assert gd_torch.check_function(_square_sum_in_float32, x, lambda p: 2 * p).ok
    assert not gd_torch.check_function(_square_sum_in_float32, x, lambda p: 3 * p).ok


# ---- a jump of f at the point -------------------------------------------------------------------


def _jump(p):
    return np.sum(p**2) + float(p[0] >= 0.3)


@pytest.mark.parametrize("grad", [lambda p: 2 * p, lambda p: 2 * p + [1e7, 0, 0], lambda p: 2 * p - [5, 0, 0]])
def test_a_jump_is_never_agreement(grad):
    report = gd_torch.check_function(_jump, P, grad)
    assert not report.ok and report.pairs[0].status == "cannot verify", str(report)
    assert "cannot verify at x[0]: f jumps at this point" in report.summary()


@pytest.mark.parametrize("grad", [lambda p: 2 * p, lambda p: 0 * p])
def test_a_jump_along_every_direction_is_never_ok(grad):
    report = gd_torch.check_function(_jump, P, grad, mode="directional")
    assert not report.ok and report.pairs[0].status in ("cannot verify", "disagree"), str(report)
    assert "f jumps at this point" in report.summary() or report.pairs[0].status == "disagree"


def test_a_jump_in_one_coordinate_still_catches_a_wrong_gradient_in_another():
    report = gd_torch.check_function(_jump, P, lambda p: 2 * p * [1, 1, 1.5])
    assert report.pairs[0].status == "disagree" and report.pairs[0].worst == 2, str(report)


# ---- a kink of f at the point -------------------------------------------------------------------


def _abs_sum(p):
    return float(np.sum(np.abs(p)))


@pytest.mark.parametrize("inside", [0.0, 0.5, -1.0, 1.0])
def test_a_gradient_inside_the_subdifferential_of_a_kink_cannot_be_verified(inside):
    report = gd_torch.check_function(_abs_sum, np.zeros(3), lambda p: np.full(3, inside))
    assert [p.status for p in report.pairs] == ["cannot verify"], str(report)
    assert "lies in its subdifferential [-1, 1]" in report.summary()


@pytest.mark.parametrize("outside", [5.0, -1.5, 1.2])
def test_a_gradient_outside_the_subdifferential_of_a_kink_disagrees(outside):
    report = gd_torch.check_function(_abs_sum, np.zeros(3), lambda p: np.full(3, outside))
    assert report.pairs[0].status == "disagree", str(report)
    assert "outside its subdifferential [-1, 1]" in report.summary()


def test_a_kink_in_one_coordinate_and_a_smooth_rest():
    # f = |x_0| + x_1^2 + x_2^2 at x_0 = 0: the smooth coordinates are still checked
    f = lambda p: abs(p[0]) + p[1] ** 2 + p[2] ** 2  # noqa: E731
    x = np.array([0.0, 0.7, -0.4])
    right = gd_torch.check_function(f, x, lambda p: np.array([0.0, 2 * p[1], 2 * p[2]]))
    assert [p.status for p in right.pairs] == ["cannot verify"] and right.pairs[0].worst == 0, str(right)
    wrong = gd_torch.check_function(f, x, lambda p: np.array([0.0, 2 * p[1], 3 * p[2]]))
    assert wrong.pairs[0].status == "disagree" and wrong.pairs[0].worst == 2, str(wrong)


def test_with_torch_f_the_exact_pair_agrees_and_the_report_is_not_ok():
    torch = pytest.importorskip("torch")
    report = gd_torch.check_function(_abs_sum, np.zeros(3), np.sign, torch_f=lambda t: torch.abs(t).sum())
    status = {(p.a, p.b): p.status for p in report.pairs}
    assert status[("sign", "autograd")] == "agree" and not report.ok, str(report)
    assert status[("sign", "numeric")] == status[("autograd", "numeric")] == "cannot verify"
    assert report.failing() == [] and report.odd_one_out is None


# ---- part of f in float32, the rest in float64 --------------------------------------------------
# ECnoise sees the float64 part move and measures a float64 noise; at steps chosen from it the
# float32 part moves in steps, or not at all: the differences are never taken as agreement there


def _sin2_in_float32(p):
    return float(np.sum(np.sin(p.astype(np.float32)) ** 2))


def _cube_in_float32(p):
    return float(np.sum(p.astype(np.float32) ** 3))


MIXED = {
    # a float32 data term plus a float64 penalty: (f, its gradient, the penalty's gradient alone)
    "sin^2 + 1e-3 |p|^2": (
        lambda p: _sin2_in_float32(p) + 1e-3 * float(np.sum(p**2)),
        lambda p: 2 * np.sin(p) * np.cos(p) + 2e-3 * p,
        lambda p: 2e-3 * p,
    ),
    "sin^2 + 1e-6 |p|^2": (
        lambda p: _sin2_in_float32(p) + 1e-6 * float(np.sum(p**2)),
        lambda p: 2 * np.sin(p) * np.cos(p) + 2e-6 * p,
        lambda p: 2e-6 * p,
    ),
    "p^3 + 0.1 sum cos p": (
        lambda p: _cube_in_float32(p) + 0.1 * float(np.sum(np.cos(p))),
        lambda p: 3 * p**2 - 0.1 * np.sin(p),
        lambda p: -0.1 * np.sin(p),
    ),
}
MIXED_X = np.array([0.3, -1.2, 2.0])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", list(MIXED))
def test_the_float64_part_alone_of_a_partly_float32_f_is_never_ok(name, seed):
    f, _, penalty_only = MIXED[name]
    report = gd_torch.check_function(f, MIXED_X, penalty_only, seed=seed)
    assert not report.ok and report.pairs[0].status in ("disagree", "cannot verify"), str(report)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", list(MIXED))
def test_the_float64_part_alone_of_a_partly_float32_f_disagrees_at_steps_that_resolve_f(name, seed):
    # the steps are chosen again from the roughness f shows within the first differences' steps
    f, _, penalty_only = MIXED[name]
    report = gd_torch.check_function(f, MIXED_X, penalty_only, seed=seed)
    assert report.pairs[0].status == "disagree", str(report)


@pytest.mark.parametrize("scale", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("name", list(MIXED))
def test_a_wrong_gradient_of_a_partly_float32_f_is_never_ok(name, scale):
    f, right, _ = MIXED[name]
    report = gd_torch.check_function(f, MIXED_X, lambda p: scale * right(p))
    assert not report.ok and report.pairs[0].status in ("disagree", "cannot verify"), str(report)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", list(MIXED))
def test_the_right_gradient_of_a_partly_float32_f_is_never_flagged_as_wrong(name, seed):
    # 'cannot verify', saying why; or OK where ECnoise already saw the float32 part's noise
    f, right, _ = MIXED[name]
    report = gd_torch.check_function(f, MIXED_X, right, seed=seed)
    assert report.pairs[0].status in ("cannot verify", "agree"), str(report)
    if not report.ok:
        assert "looks computed in float32 or quantised" in report.summary(), str(report)


def test_the_right_gradient_with_a_float64_penalty_ecnoise_sees_cannot_be_verified():
    # the reviewer's case: ECnoise measures the penalty's 2e-16, the float32 term is rough
    f, right, _ = MIXED["sin^2 + 1e-3 |p|^2"]
    report = gd_torch.check_function(f, MIXED_X, right)
    assert [p.status for p in report.pairs] == ["cannot verify"], str(report)
    assert "f is rough within the finite-difference steps" in report.summary(), str(report)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", list(MIXED))
def test_a_partly_float32_f_along_random_directions(name, seed):
    # the differences' final steps can be too small for the float32 part to move at all: D there
    # and at the trial step then differ beyond their errors, and nothing is taken as agreement
    f, right, penalty_only = MIXED[name]
    wrong = gd_torch.check_function(f, MIXED_X, penalty_only, seed=seed, mode="directional")
    assert not wrong.ok and wrong.pairs[0].status in ("disagree", "cannot verify"), str(wrong)
    report = gd_torch.check_function(f, MIXED_X, right, seed=seed, mode="directional")
    assert report.pairs[0].status in ("cannot verify", "agree"), str(report)
