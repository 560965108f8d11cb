"""The finite-difference methods at their boundary and in their arithmetic: a step outside the
range where a difference means anything is refused (that the blocked evaluation of L gives the
same bits whatever the number of threads: tests/test_registry.py, with analytic's)."""

from __future__ import annotations

import numpy as np
import pytest

import gd_torch
from gd_torch import GdTorchError
from gd_torch.gradients import _fd_eval, numeric, schemes, step_rules
from gd_torch.model.activations import ACTIVATIONS
from gd_torch.model.losses import LOSSES
from gd_torch.precision import errormodel
from gd_torch.teach.steps import step_sweep


@pytest.fixture
def tut():
    X, y = gd_torch.tutorial_data(40)
    return gd_torch.init_weights(3, seed=0), X, y


RULE = r"^step must be a step h_j that W_j \+ h_j does not round back .* here between "


@pytest.mark.parametrize("scheme", ["central", "forward", "richardson", "complex"])
@pytest.mark.parametrize("step", [1e300, 1e200, [1e-3, 1e300, 1e-3]])
def test_a_step_that_swamps_z_is_refused(tut, scheme, step):
    # 1e300 returned a gradient of zeros: z + h_j X_j keeps no bit of z (or overflows);
    # the message names step, the rule, the range here and the value
    with pytest.raises(GdTorchError, match=RULE + r".*; got "):
        gd_torch.gradient(*tut, method=f"numeric:{scheme}", step=step)


@pytest.mark.parametrize("scheme", ["central", "forward", "richardson"])
def test_a_step_lost_in_the_rounding_of_w_is_refused(scheme):
    # W_j + h_j == W_j: every difference exactly 0, a gradient of zeros returned before
    W, X, y = np.array([1.0, 1.0]), np.array([[0.5, 1.0], [1.0, -0.5]]), np.array([0.0, 1.0])
    smallest = np.spacing(1.0) * (4 if scheme == "richardson" else 1)  # Richardson differences at h/4
    with pytest.raises(GdTorchError, match=RULE + rf"{smallest:.3g} and .*; got 1e-17$"):
        gd_torch.gradient(W, X, y, method=f"numeric:{scheme}", step=1e-17)
    g = gd_torch.gradient_function(X, y, method=f"numeric:{scheme}", step=1e-17)  # fine at W = 0
    with pytest.raises(GdTorchError, match=RULE):
        g(W)


def test_the_range_is_stated_per_coordinate(tut):
    W, X, y = tut
    u = np.finfo(float).eps
    lo, hi = step_rules.step_range(W, "central", X)
    c = np.abs(X).max(axis=0)
    # hi_j c_j u = max(1, zeta): beyond, z_i + t == t for every i (no bit of W left in it)
    np.testing.assert_allclose(hi * c * u, max(1.0, float(c @ np.abs(W))), rtol=1e-15)
    assert (lo == np.maximum(np.spacing(np.abs(W)), np.finfo(float).tiny)).all()
    # the edges themselves are accepted (finite results), just beyond them refused
    for edge in (lo, hi):
        assert np.isfinite(gd_torch.gradient(W, X, y, method="numeric", step=edge)).all()
    with pytest.raises(GdTorchError, match=r"\(coordinate 0: "):
        gd_torch.gradient(W, X, y, method="numeric", step=hi * np.array([1.01, 1, 1]))
    with pytest.raises(GdTorchError, match=r"\(coordinate 2: "):
        gd_torch.gradient(W, X, y, method="numeric", step=lo * np.array([1, 1, 0.49]))


def test_the_step_sweep_may_still_go_below_the_rounding_of_w(tut):
    # gd_torch.teach.steps draws the error curve through the region where W_j + h_j == W_j on purpose:
    # numeric.estimate takes such a step when asked (rounding=False; its difference is 0); by
    # default it refuses it, as the method's grad does
    W, X, y = tut
    lo, _ = step_rules.step_range(W, "central", X)
    problem = (W, X, y, LOSSES["sse"], ACTIVATIONS["sigmoid"])
    assert (numeric.estimate(*problem, step=lo / 4, rounding=False).grad == 0).all()
    for refuses in (numeric.estimate, numeric.grad):
        with pytest.raises(GdTorchError, match=RULE):
            refuses(*problem, step=lo / 4)
    assert step_sweep(W, X, y, dtypes=("float32",), steps=[1e-3, 1e-12]).sweeps["float32"].curves


def test_ordinary_steps_are_accepted_and_agree(tut):
    W, X, y = tut
    g = gd_torch.gradient(W, X, y)
    for step in (1e-3, 1e-6, [1e-4, 1e-5, 1e-6]):
        np.testing.assert_allclose(gd_torch.gradient(W, X, y, method="numeric", step=step), g, rtol=1e-4, atol=1e-7)


def test_a_wide_check_never_forms_the_d_by_d_stack_of_perturbations(monkeypatch):
    # check on 4 rows x 3000 columns: the D x D stack W + diag(h) alone was 69 MiB (50,000 columns
    # from a CSV: 18.6 GiB, a MemoryError); in blocks of columns memory is O(block x D)
    import tracemalloc

    monkeypatch.setattr(schemes, "_STACK_BYTES", 1 << 20)
    rng = np.random.default_rng(0)
    d = 3000
    X, y, W = rng.standard_normal((4, d)) / d, np.array([0.0, 1.0, 0.0, 1.0]), rng.standard_normal(d)
    tracemalloc.start()
    try:
        report = gd_torch.check(W, X, y, methods=("analytic", "numeric"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.ok, str(report)
    assert peak < d * d * 8 / 8, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize(("scheme", "count"), [("central", 2), ("forward", 1), ("richardson", 4), ("complex", 1)])
def test_blocks_of_columns_give_the_one_block_gradient_within_its_error(monkeypatch, scheme, count):
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((50, 40)), (rng.random(50) < 0.5).astype(np.float64)
    W = rng.standard_normal(40) / 6
    lo, act = LOSSES["sse"], ACTIVATIONS["sigmoid"]
    model = errormodel.build(W, X, y, lo, act)
    one = numeric.estimate(W, X, y, lo, act, scheme=scheme, f_noise=model.f_noise, f_rel=model.f_rel)
    calls = []
    real = _fd_eval.evaluate
    monkeypatch.setattr(numeric, "evaluate", lambda Wb, *a, **k: calls.append(Wb.shape[0]) or real(Wb, *a, **k))
    monkeypatch.setattr(schemes, "_STACK_BYTES", 7 * 40 * 16)  # 3 or 7 columns per block
    many = numeric.estimate(W, X, y, lo, act, scheme=scheme, f_noise=model.f_noise, f_rel=model.f_rel)
    assert len(calls) >= 2 * 40 // 7 and max(calls) <= 2 * 7 + 1
    # the same evaluations (forward's L(W) once per difference; two differences, at h and 2h,
    # except for the complex step, whose error needs none), each coordinate in its own stack
    passes = 1 if scheme == "complex" else 2
    assert many.evaluations == one.evaluations == sum(calls) == passes * (count * 40 + int(scheme == "forward"))
    # within both error estimates (the complex step's is its underflow floor, plus the rounding
    # of the formula itself, model.exact, as gd_torch.check adds it)
    exact = 2 * model.exact if scheme == "complex" else 0
    assert (np.abs(many.grad - one.grad) <= one.error + many.error + exact).all()


# ---- the default steps on valid X holding one extreme value (issue 20) ---------------------------

#: X[i, j] = value in the tutorial's data (bias column first): each failed check with a numeric
#: gradient of 0 (or 1e-98, NaN) beside analytic's 0.1-0.7; the row's z_i rounds by far more than
#: 1, and it set its column's scale and, through zeta, every step (~1e97: every sample saturated)
EXTREME = {"X[0,1] = -1.79e308": (0, 1, -1.79e308), "X[5,2] = 1e300": (5, 2, 1e300), "X[0,1] = -1e20": (0, 1, -1e20)}


def _extreme(blobs, where):
    X, y = blobs
    i, j, value = EXTREME[where]
    X = X.copy()
    X[i, j] = value
    return gd_torch.init_weights(3, seed=42), X, y


@pytest.mark.parametrize("where", list(EXTREME))
@pytest.mark.parametrize("scheme", ["central", "forward", "richardson", "complex"])
def test_one_extreme_row_does_not_set_the_steps(blobs, where, scheme):
    # the steps are those of the other rows' scales (the extreme row's z rounds beyond 1), of all N
    W, X, y = _extreme(blobs, where)
    i = EXTREME[where][0]
    others = step_rules.column_scale(np.delete(X, i, axis=0))
    expected = step_rules.scaled_steps(W, scheme, others, X.shape[0])
    np.testing.assert_array_equal(step_rules.default_steps(W, scheme, X), expected)
    assert step_rules.step_rows(X, W).tolist() == [k != i for k in range(X.shape[0])]


@pytest.mark.parametrize(
    ("where", "activation"),
    # not the ReLU on X[5,2] = 1e300: z_5 ~ 9e299, the sse overflows and check refuses it
    [(w, a) for w in EXTREME for a in ("sigmoid", "tanh", "relu") if (a, w) != ("relu", "X[5,2] = 1e300")],
)
@pytest.mark.parametrize("mode", ["full", "directional"])
def test_check_on_one_extreme_row_resolves_the_gradient(blobs, where, activation, mode):
    # the extreme row is saturated (or a dead ReLU): the gradient is the other rows', which the
    # numeric differences resolve (error estimate ~4e-7, under 1% of each coordinate) and which
    # their error estimate covers; the verdict is OK
    report = gd_torch.check(*_extreme(blobs, where), activation=activation, mode=mode)
    assert report.ok, str(report)
    g, num, err = report.gradients["analytic"], report.gradients["numeric"], report.errors["numeric"]
    assert (err <= 1e-2 * np.abs(g)).all() and (np.abs(num - g) <= err).all(), (g, num, err)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_check_on_one_extreme_float32_row_resolves_the_gradient(blobs, activation):
    # float32 X holding -3e38 (near its largest): differenced in float64, the steps were set by
    # the row (numeric FAILed beside analytic for the sigmoid and tanh, a ReLU read kinked)
    W, X, y = (a.astype(np.float32) for a in _extreme(blobs, "X[0,1] = -1e20"))
    X[0, 1] = -3e38
    report = gd_torch.check(W, X, y, activation=activation)
    assert report.ok and not any(p.status == "kink" for p in report.pairs), str(report)
    g, err = report.gradients["analytic"], report.errors["numeric"]
    assert (err <= 1e-2 * np.abs(g)).all(), (g, err)  # resolved (float32's analytic errs by ~1e-5)


def test_a_row_that_dominates_l_leaves_the_others_unresolved_with_an_honest_error(blobs):
    # bce on X[0,1] = -1.79e308 with y_0 = 1: l_0 = -z_0 ~ 1.4e308, so L ~ 5e305 and its rounding
    # swamps the other coordinates' differences: numeric reads 0 there, with an error estimate
    # that covers analytic's value (never a false FAIL); its own coordinate is resolved
    W, X, y = _extreme(blobs, "X[0,1] = -1.79e308")
    assert y[0] == 1
    report = gd_torch.check(W, X, y, loss="bce")
    assert report.agree, str(report)
    g, num, err = report.gradients["analytic"], report.gradients["numeric"], report.errors["numeric"]
    assert err[1] <= 1e-9 * abs(g[1]) and (np.abs(num - g) <= err).all(), (g, num, err)
    assert (err[[0, 2]] >= np.abs(g[[0, 2]])).all()


@pytest.mark.parametrize("scheme", ["central", "richardson"])
@pytest.mark.parametrize("mode", ["full", "directional"])
def test_row_blocks_take_the_steps_of_one_array_on_one_extreme_row(blobs, scheme, mode):
    # gd_torch.distributed's steps from column scales MAX-reduced over row blocks (several here):
    # the same as one array's, bit for bit, and its check resolves the gradient as gd_torch.check's
    from gd_torch.data.shards import Arrays, row_bytes
    from gd_torch.distributed import ops
    from gd_torch.distributed.checking import check
    from gd_torch.distributed.comm import Comm
    from gd_torch.distributed.part import VECTORS, rank_part
    from gd_torch.model.forward import resolve

    W, X, y = _extreme(blobs, "X[0,1] = -1.79e308")
    p = rank_part(Arrays(X, y, budget=4096), Comm())
    assert len(list(p.blocks(row_bytes(3, p.dtype, per_row=VECTORS)))) > 2
    lo, act = resolve("sse", "sigmoid")
    assert ops.numeric_steps(p, W, act, scheme).tolist() == step_rules.default_steps(W, scheme, X).tolist()
    report = check(W, p, lo, act, methods=("analytic", f"numeric:{scheme}"), mode=mode)
    assert report.ok, str(report)
    g, err = report.gradients["analytic"], report.errors[f"numeric:{scheme}"]
    assert (err <= 1e-2 * np.abs(g)).all(), (g, err)  # resolved, as in one process


@pytest.mark.parametrize("y0", [0.00390625, 1e-6, 0.3])
def test_the_complex_step_of_logcosh_keeps_its_accuracy_near_zero(y0):
    # the stable form t + log1p(expm1(-2t) / 2) cancels in its imaginary part to h tanh|e|:
    # 2e-14 relative at e = -0.0039 (tanh, W = 0), five times the complex step's predicted error
    W, X, y = np.array([0.0]), np.array([[1.0]]), np.array([y0])
    report = gd_torch.check(W, X, y, loss="logcosh", activation="tanh", methods=("analytic", "numeric:complex"))
    assert report.ok, str(report)
    g = report.gradients
    assert abs(g["numeric:complex"][0] - g["analytic"][0]) <= 4 * np.finfo(np.float64).eps * abs(g["analytic"][0])
