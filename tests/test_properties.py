"""Property-based: for every valid small problem the methods agree, and tutorial == bce gradient."""

from __future__ import annotations

import numpy as np
from conftest import TOLERANCES, pairs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gd_torch
from gd_torch.model.activations import ACTIVATIONS
from gd_torch.model.losses import LOSSES
from gd_torch.precision import errormodel

# derandomize: the same examples on every run (no flaky CI); a 3000-example exploratory run passes too
SETTINGS = settings(
    max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)

#: bounded magnitudes: |X_ij|, |W_j| <= 2 with D <= 5 keeps |z| <= 20.  Beyond z = 20 autograd's
#: bce is off by e^-z (torch's softplus threshold; see test_gradients.py::test_autograd_bce_for_z_above_20):
#: widen to 4 once that is fixed.  Tiny and subnormal values are kept: they found two gaps in
#: the error model (an exact fit, L(W) ~ 0; the complex step's subnormal underflow).
values = st.floats(-2, 2, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw, binary: bool = False):
    n = draw(st.integers(1, 12))
    d = draw(st.integers(1, 5))
    X = draw(hnp.arrays(np.float64, (n, d), elements=values))
    W = draw(hnp.arrays(np.float64, (d,), elements=values))
    if binary:
        y = draw(hnp.arrays(np.float64, (n,), elements=st.sampled_from([0.0, 1.0])))
    else:
        y = draw(hnp.arrays(np.float64, (n,), elements=st.floats(0, 1)))
    return W, X, y


@SETTINGS
@given(data=st.data(), pair=st.sampled_from(pairs()))
def test_methods_agree(data, pair):
    activation, loss = pair
    # relu's kink is not avoided: a finite difference straddling it is reported as 'kink', still agreement
    W, X, y = data.draw(problems(binary=LOSSES[loss].binary))
    methods = ["analytic", "autograd", "numeric"] + (["numeric:complex"] if ACTIVATIONS[activation].smooth else [])
    report = gd_torch.check(W, X, y, loss=loss, activation=activation, methods=methods)
    assert report.agree, str(report)  # ok also asks for samples on both sides of a kink


@SETTINGS
@given(problem=problems(binary=True))
def test_tutorial_formula_is_the_bce_gradient(problem):
    W, X, y = problem
    g_tut = gd_torch.gradient(W, X, y, method="tutorial", loss="bce")
    g_bce = gd_torch.gradient(W, X, y, method="analytic", loss="bce")
    exact = errormodel.build(W, X, y, LOSSES["bce"], ACTIVATIONS["sigmoid"]).exact
    assert (np.abs(g_tut - g_bce) <= TOLERANCES["exact_pair"] * 2 * exact).all()


@SETTINGS
@given(problem=problems())
def test_gradient_is_linear_in_the_loss_scale(problem):
    # mse = sse / N, so their gradients differ by exactly that factor (up to rounding)
    W, X, y = problem
    g_sse = gd_torch.gradient(W, X, y, loss="sse")
    g_mse = gd_torch.gradient(W, X, y, loss="mse")
    exact = errormodel.build(W, X, y, LOSSES["mse"], ACTIVATIONS["sigmoid"]).exact
    assert (np.abs(g_sse / X.shape[0] - g_mse) <= TOLERANCES["exact_pair"] * 2 * exact).all()


@SETTINGS
@given(data=st.data(), pair=st.sampled_from(pairs()))
def test_float32_methods_agree(data, pair):
    # float32 in, float32 tolerances (the error model's u is float32's)
    activation, loss = pair
    W, X, y = (a.astype(np.float32) for a in data.draw(problems(binary=LOSSES[loss].binary)))
    report = gd_torch.check(W, X, y, loss=loss, activation=activation, methods=("analytic", "autograd", "numeric"))
    assert report.agree, str(report)  # ok also asks for samples on both sides of a kink
    assert report.dtype == "float32"


#: magnitudes from subnormal to 1e200: z = X W and the loss overflow for some draws, underflow for others
extreme = st.one_of(
    st.floats(-1e200, 1e200, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 5e-324, -1e-310, 1e-160, 1e155, -1e155, 1e300]),
)


@st.composite
def extreme_problems(draw, binary: bool = False):
    n = draw(st.integers(1, 4))
    d = draw(st.integers(1, 3))
    X = draw(hnp.arrays(np.float64, (n, d), elements=extreme))
    W = draw(hnp.arrays(np.float64, (d,), elements=extreme))
    y = draw(hnp.arrays(np.float64, (n,), elements=st.sampled_from([0.0, 1.0]) if binary else st.floats(0, 1)))
    return W, X, y


@SETTINGS
@given(data=st.data(), pair=st.sampled_from(pairs()))
def test_extreme_magnitudes_are_never_ok_on_inf_or_nan(data, pair):
    # a clean answer or a GdTorchError; no warning escapes (the suite runs with -W error), and an
    # OK verdict only ever stands on finite gradients and finite error estimates
    activation, loss = pair
    W, X, y = data.draw(extreme_problems(binary=LOSSES[loss].binary))
    try:
        report = gd_torch.check(W, X, y, loss=loss, activation=activation)
    except gd_torch.GdTorchError:
        return
    text = str(report)
    if report.ok:
        assert all(np.isfinite(g).all() for g in report.gradients.values()), text
        assert all(np.isfinite(e).all() for e in report.errors.values()), text
    else:
        assert not text.splitlines()[-1].startswith("OK")


@SETTINGS
@given(data=st.data(), pair=st.sampled_from(pairs()))
def test_explain_and_diagnose_at_extreme_magnitudes_answer_or_refuse(data, pair):
    activation, loss = pair
    W, X, y = data.draw(extreme_problems(binary=LOSSES[loss].binary))
    try:
        r = gd_torch.explain(W, X, y, loss=loss, activation=activation)
    except gd_torch.GdTorchError:
        return
    text = str(r)  # printing never fails
    if r.ok:
        assert all(np.isfinite(s.hand).all() or s.name in ("e", "a") for s in r.stages), text
    g = r.stage("W").hand
    if np.isfinite(g).all():
        try:
            str(gd_torch.diagnose(g, W, X, y, loss=loss, activation=activation))
        except gd_torch.GdTorchError:
            pass
