"""Every gradient method against the hand-derived one, over shapes x activations x losses x dtypes.

Agreement is judged by gd_torch.check (tolerances from gd_torch.precision.errormodel) and, in the
same case, by the explicit bound of TOLERANCES (the error estimates without the checker's
safety factor).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DTYPES, SHAPES, TOLERANCES, cuda_test, default_step, make_problem, pairs

import gd_torch
from gd_torch.gradients import numeric
from gd_torch.gradients.schemes import SCHEMES
from gd_torch.gradients.step_rules import default_steps
from gd_torch.model.activations import ACTIVATIONS
from gd_torch.model.losses import LOSSES
from gd_torch.precision import errormodel
from gd_torch.precision.rounding import C_LOCAL

#: every method compared with 'analytic' ('numeric:<scheme>' as check spells it)
METHOD_SPECS = ("autograd", "numeric:central", "numeric:forward", "numeric:richardson", "numeric:complex", "tutorial")


def _cases():
    for shape in SHAPES:
        for act, loss in pairs():
            for spec in METHOD_SPECS:
                if spec == "numeric:complex" and not ACTIVATIONS[act].smooth:
                    continue  # refused, see test_validation
                yield pytest.param(shape, act, loss, spec, "float64", id=f"{shape}-{act}-{loss}-{spec}-float64")
            # float32: the methods exact to rounding, with float32's u in the error model
            yield pytest.param(shape, act, loss, "autograd", "float32", id=f"{shape}-{act}-{loss}-autograd-float32")


@pytest.mark.parametrize(("shape", "activation", "loss", "method", "dtype"), list(_cases()))
def test_method_agrees_with_analytic(rng, shape, activation, loss, method, dtype):
    kinked = bool(ACTIVATIONS[activation].kinks)
    W, X, y = make_problem(rng, shape, loss, activation, dtype, kink_margin=0.25 if kinked else None)
    report = gd_torch.check(W, X, y, loss=loss, activation=activation, methods=("analytic", method))
    (pair,) = report.pairs
    g_a, g_m = report.gradients["analytic"], report.gradients[method]
    bound = TOLERANCES["numeric_predicted" if method.startswith("numeric") else "exact_pair"] * (
        report.errors["analytic"] + report.errors[method]
    )
    if method == "tutorial" and loss != "bce":
        # X^T (f(XW) - y) / N is not the gradient of sse or mse
        assert not report.ok and pair.status == "disagree", str(report)
        assert np.any(np.abs(g_m - g_a) > 1e3 * bound)
        return
    # agreement (ok also asks for samples on both sides of a ReLU's kink, which W from [0, 1) may not give)
    assert report.agree and pair.status == "agree", str(report)
    np.testing.assert_array_less(np.abs(g_m - g_a), bound + np.finfo(np.float64).tiny)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("activation", "loss"), pairs())
def test_central_within_predicted_error(rng, shape, activation, loss):
    """numeric.estimate(f_noise=ErrorModel.f_noise).error predicts |central - analytic|."""
    W, X, y = make_problem(rng, shape, loss, activation, kink_margin=0.25)
    lo, act = LOSSES[loss], ACTIVATIONS[activation]
    model = errormodel.build(W, X, y, lo, act)
    res = numeric.estimate(W, X, y, lo, act, scheme="central", f_noise=model.f_noise)
    g = gd_torch.gradient(W, X, y, loss=loss, activation=activation)
    assert res.error is not None and (res.error > 0).all()
    np.testing.assert_array_less(np.abs(res.grad - g), TOLERANCES["numeric_predicted"] * (res.error + model.exact))


@pytest.mark.parametrize("scheme", ["central", "forward", "richardson"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("activation", "loss"), pairs())
def test_rounding_dominated_differences_within_predicted_error(rng, shape, activation, loss, scheme):
    """A step 1e4 times too small: rounding noise (f_noise / h) dominates, truncation is nil.

    This holds f_noise itself to account: an underestimate of the noise of L shows here.
    """
    W, X, y = make_problem(rng, shape, loss, activation, kink_margin=0.25)
    lo, act = LOSSES[loss], ACTIVATIONS[activation]
    model = errormodel.build(W, X, y, lo, act)
    step = default_step(W, scheme) * 1e-4
    res = numeric.estimate(W, X, y, lo, act, scheme=scheme, step=step, f_noise=model.f_noise, f_rel=model.f_rel)
    g = gd_torch.gradient(W, X, y, loss=loss, activation=activation)
    np.testing.assert_array_less(np.abs(res.grad - g), TOLERANCES["numeric_predicted"] * (res.error + model.exact))


@pytest.mark.parametrize("method", ["analytic", "autograd", "numeric", "tutorial"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_has_W_shape_and_X_dtype(rng, method, dtype):
    W, X, y = make_problem(rng, "tutorial", "sse", "sigmoid", dtype)
    g = gd_torch.gradient(W, X, y, method=method)
    assert g.shape == W.shape and g.dtype == np.dtype(dtype)


@pytest.mark.parametrize("shape", SHAPES)
def test_tutorial_formula_is_the_mean_bce_gradient(rng, shape):
    W, X, y = make_problem(rng, shape, "bce", "sigmoid")
    model = errormodel.build(W, X, y, LOSSES["bce"], ACTIVATIONS["sigmoid"])
    for loss in LOSSES:  # the tutorial's formula ignores the loss it is given
        g_tut = gd_torch.gradient(W, X, y, method="tutorial", loss=loss)
        g_bce = gd_torch.gradient(W, X, y, method="analytic", loss="bce")
        np.testing.assert_array_less(np.abs(g_tut - g_bce), TOLERANCES["exact_pair"] * 2 * model.exact)


def test_tutorial_formula_is_not_the_sse_gradient_on_the_tutorial_data():
    X, y = gd_torch.tutorial_data()
    W = gd_torch.init_weights(X.shape[1], seed=0)
    g_tut = gd_torch.gradient(W, X, y, method="tutorial", loss="sse")
    g_sse = gd_torch.gradient(W, X, y, method="analytic", loss="sse")
    # dL/dz differs per sample by the factor 2 N a (1 - a): not a rounding matter
    rel = np.abs(g_tut - g_sse) / np.abs(g_sse)
    assert rel.min() > 0.5


@pytest.mark.parametrize("z", [25.0, 30.0])
def test_autograd_bce_for_z_above_20(z):
    # two samples at z = 25 (or 30): dL/dW = ((sigmoid(z) - 0) + (sigmoid(z) - 1)) / 2 = sigmoid(z) - 1/2
    X, W, y = np.array([[1.0], [1.0]]), np.array([z]), np.array([0.0, 1.0])
    report = gd_torch.check(W, X, y, loss="bce", methods=("analytic", "autograd", "numeric:complex"))
    assert report.ok, str(report)


# ---- numeric ------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_default_steps_move_every_column_of_z_alike(scheme, dtype):
    # columns of scale 1, 2e3, 2e-3 and a column of zeros: h_j = t / max_i |X_ij|, so that W_j's
    # step moves z by t in every column; t = r^p with r = u (sqrt(N) + C_LOCAL + sqrt(D) zeta) the
    # relative noise of L, zeta = sum_j max_i |X_ij| |W_j|; the complex step: t = eps^2
    X = np.array([[1.0, 2e3, -1e-3, 0.0], [0.5, -1e3, 2e-3, 0.0]], dtype=dtype)
    W = np.array([0.1, -3e-3, 250.0, 2.0], dtype=dtype)
    y = np.array([0.0, 1.0], dtype=dtype)
    res = numeric.estimate(W, X, y, LOSSES["sse"], ACTIVATIONS["identity"], scheme=scheme)
    c = np.abs(X.astype(np.float64)).max(axis=0)
    eps = np.finfo(dtype).eps
    zeta = float(c @ np.abs(W.astype(np.float64)))
    r = eps * (np.sqrt(2) + C_LOCAL + np.sqrt(4) * zeta)
    t = eps**2 if scheme == "complex" else r ** SCHEMES[scheme].step_exponent
    expected = np.append(t / c[:3], default_step(W, scheme)[3])  # no scale to go by: the W-space step
    ulp = eps * np.maximum(1.0, np.abs(W))
    realised = res.steps.astype(np.float64)
    if scheme == "complex":  # no subtraction, so the step is taken as it is
        np.testing.assert_allclose(realised, expected, rtol=eps)
    else:  # the realised step (W + h) - W, within one ulp of W's scale
        np.testing.assert_array_less(np.abs(realised - expected), TOLERANCES["step_ulps"] * ulp + 1e-300)
    # every column of z moves by t, up to the rounding of the step (one ulp of W_j, times the column's scale)
    moved = c[:3] * realised[:3]
    np.testing.assert_array_less(np.abs(moved - t), c[:3] * TOLERANCES["step_ulps"] * ulp[:3] + 2 * eps * t)


@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_default_steps_without_X_follow_eps_and_W(scheme, dtype):
    # the W-space rule other callers use when they have no X: h_j = eps^p max(1, |W_j|)
    W = np.array([0.1, -3.0, 250.0, 0.0], dtype=dtype)
    np.testing.assert_array_equal(default_steps(W, scheme), default_step(W, scheme))


@pytest.mark.parametrize("step", [1e-4, [1e-3, 1e-4, 1e-5]])
def test_step_override(rng, step):
    W, X, y = make_problem(rng, "tutorial", "sse", "sigmoid")
    res = numeric.estimate(W, X, y, LOSSES["sse"], ACTIVATIONS["sigmoid"], scheme="central", step=step)
    realised = (W + np.asarray(step)) - W
    np.testing.assert_array_equal(res.steps, realised)
    # and gradient() passes it through
    g = gd_torch.gradient(W, X, y, method="numeric", step=step)
    np.testing.assert_array_equal(g, res.grad)


@pytest.mark.parametrize("scheme", ["central", "forward", "richardson", "complex"])
def test_batched_evaluation_equals_per_coordinate_loop(rng, scheme):
    W, X, y = make_problem(rng, "tutorial", "sse", "sigmoid")
    lo, act = LOSSES["sse"], ACTIVATIONS["sigmoid"]
    f_noise = errormodel.build(W, X, y, lo, act).f_noise
    batched = numeric.estimate(W, X, y, lo, act, scheme=scheme)
    one_by_one = numeric.estimate(W, X, y, lo, act, scheme=scheme, batch=1)
    h = batched.steps
    np.testing.assert_array_equal(one_by_one.steps, h)
    bound = TOLERANCES["loop_vs_batched"] * f_noise / h
    np.testing.assert_array_less(np.abs(batched.grad - one_by_one.grad), bound)
    if scheme == "central":  # a plain Python loop over gd_torch.objective, one call per value
        loop = np.empty_like(W)
        for j in range(W.shape[0]):
            e = np.zeros_like(W)
            e[j] = h[j]
            loop[j] = (gd_torch.objective(W + e, X, y) - gd_torch.objective(W - e, X, y)) / (2 * h[j])
        np.testing.assert_array_less(np.abs(batched.grad - loop), bound)


@pytest.mark.parametrize(
    ("scheme", "count"),
    # central: L(W +- h e_j); forward: L(W), L(W + h e_j); richardson: two centrals; complex: one each
    [
        ("central", lambda d: 2 * d),
        ("forward", lambda d: d + 1),
        ("richardson", lambda d: 4 * d),
        ("complex", lambda d: d),
    ],
)
def test_evaluation_count(rng, monkeypatch, scheme, count):
    W, X, y = make_problem(rng, "wide", "mse", "tanh")
    lo, act = LOSSES["mse"], ACTIVATIONS["tanh"]
    rows = []
    real = numeric.evaluate
    monkeypatch.setattr(numeric, "evaluate", lambda Wb, *a, **k: rows.append(Wb.shape[0]) or real(Wb, *a, **k))
    res = numeric.estimate(W, X, y, lo, act, scheme=scheme)
    assert res.evaluations == sum(rows) == count(W.shape[0])
    # batched: a few calls of evaluate, not one per coordinate
    assert len(rows) <= 2 * (2 if scheme == "richardson" else 1)


def test_complex_step_is_exact_to_rounding_where_central_is_not(rng):
    W, X, y = make_problem(rng, "wide", "sse", "sigmoid")
    lo, act = LOSSES["sse"], ACTIVATIONS["sigmoid"]
    model = errormodel.build(W, X, y, lo, act)
    g = gd_torch.gradient(W, X, y)
    cx = gd_torch.gradient(W, X, y, method="numeric:complex")
    central = numeric.estimate(W, X, y, lo, act, scheme="central", f_noise=model.f_noise)
    np.testing.assert_array_less(np.abs(cx - g), TOLERANCES["exact_pair"] * 2 * model.exact)
    # the central difference's own predicted error is orders of magnitude above rounding
    assert np.median(central.error / model.exact) > 1e2


# ---- gradient_function -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["analytic", "autograd", "numeric", "tutorial"])
def test_gradient_function_equals_gradient(rng, method):
    W, X, y = make_problem(rng, "tutorial", "bce", "sigmoid")
    g = gd_torch.gradient_function(X, y, method=method, loss="bce")
    for _ in range(3):
        W = rng.uniform(size=W.shape)
        np.testing.assert_array_equal(g(W), gd_torch.gradient(W, X, y, method=method, loss="bce"))


def test_gradient_function_validates_once(rng, monkeypatch):
    from gd_torch.base import validate as _validate

    W, X, y = make_problem(rng, "tutorial", "sse", "sigmoid")
    calls = []
    real = _validate.problem
    monkeypatch.setattr(_validate, "problem", lambda *a: calls.append(1) or real(*a))
    g = gd_torch.gradient_function(X, y)
    assert len(calls) == 1
    for _ in range(5):
        g(W)
    assert len(calls) == 1


def test_gradient_function_options_reach_the_method(rng):
    W, X, y = make_problem(rng, "tutorial", "sse", "sigmoid")
    g = gd_torch.gradient_function(X, y, method="numeric:forward", step=1e-3)
    np.testing.assert_array_equal(g(W), gd_torch.gradient(W, X, y, method="numeric:forward", step=1e-3))


# ---- CUDA -----------------------------------------------------------------------------------


@cuda_test
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("activation", "loss"), pairs())
def test_autograd_on_cuda_agrees_with_analytic(rng, activation, loss, dtype):
    W, X, y = make_problem(rng, "wide", loss, activation, dtype, kink_margin=0.25)
    g = gd_torch.gradient(W, X, y, method="autograd", loss=loss, activation=activation, device="cuda")
    assert g.dtype == np.dtype(dtype) and isinstance(g, np.ndarray)
    report = gd_torch.check(W, X, y, loss=loss, activation=activation, methods=("analytic", "autograd"), device="cuda")
    assert report.ok and report.pairs[0].status == "agree", str(report)
