"""Every fast path against the one-screen reference, gd_torch.model.reference (plain numpy, one
pass, float64): the analytic gradient in row blocks over threads, the tutorial's rule in the same
blocks, the finite differences in row blocks and in batches, the out-of-core shards path, and the
error model's terms.  (The distributed sums on two ranks are held against it in
tests/test_distributed.py, on that module's one launch.)

Sizes are chosen to take the fast paths: X of 16411 x 64 is 8.4 MB in float64 (4.2 MB in
float32), past the size where the analytic gradient cuts X into row blocks of about 2 MB and
spreads them over the cores, with a last block shorter than the rest; the finite differences'
blocked evaluation cuts 5003 rows into blocks of a few hundred.  A fast path that dropped,
repeated or mis-weighted a block would be off by a whole block's share of the sum, far outside
the error model's rounding bound.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DTYPES, TOLERANCES

import gd_torch
import gd_torch.distributed as dist
from gd_torch.data import shards
from gd_torch.gradients import numeric
from gd_torch.model import reference as ref
from gd_torch.model.forward import resolve
from gd_torch.precision import errormodel

LOSSES = tuple(ref.LOSSES)


def problem(rng: np.random.Generator, n: int, d: int, dtype: str = "float64"):
    """(W, X, y): a bias column and standard normal features, W ~ N(0, 1/D) (z = X W is O(1),
    the sigmoid far from saturation), labels 0/1."""
    X = np.c_[np.ones(n), rng.standard_normal((n, d - 1))]
    W = rng.standard_normal(d) / np.sqrt(d)
    y = (rng.uniform(size=n) < 0.5).astype(float)
    return W.astype(dtype), X.astype(dtype), y.astype(dtype)


def rounding_bound(W, X, y, loss: str) -> np.ndarray:
    """How far a gradient computed to rounding in X's dtype may be from the float64 reference:
    its own error estimate plus the reference's (exact_pair)."""
    lo, act = resolve(loss, "sigmoid")
    mine = errormodel.build(W, X, y, lo, act).exact
    f64 = [v.astype(np.float64) for v in (W, X, y)]
    theirs = mine if X.dtype == np.float64 else errormodel.build(*f64, lo, act).exact
    return TOLERANCES["exact_pair"] * (mine + theirs)


def assert_within(got, want, bound, what: str) -> None:
    diff = np.abs(np.asarray(got, dtype=np.float64) - want)
    assert (diff <= bound).all(), f"{what}: |fast - reference| = {diff} > {bound}"


# ---- the analytic gradient and the tutorial's rule, in row blocks over threads ---------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSSES)
def test_blocked_threaded_analytic_gradient_is_the_reference(rng, dtype, loss):
    W, X, y = problem(rng, 16411, 64, dtype)
    bound = rounding_bound(W, X, y, loss)
    assert_within(gd_torch.gradient(W, X, y, loss=loss), ref.gradient(W, X, y, loss), bound, "gradient")
    # the plan made once (training's path) gives the same at a second W: its sums start from 0
    g = gd_torch.gradient_function(X, y, loss=loss)
    W2 = (W[::-1] / 2).copy()
    assert_within(g(W2), ref.gradient(W2, X, y, loss), rounding_bound(W2, X, y, loss), "gradient_function")


@pytest.mark.parametrize("dtype", DTYPES)
def test_blocked_tutorial_rule_is_the_reference_and_bces_gradient(rng, dtype):
    W, X, y = problem(rng, 16411, 64, dtype)
    got = gd_torch.gradient(W, X, y, method="tutorial", loss="sse")
    bound = rounding_bound(W, X, y, "bce")
    assert_within(got, ref.tutorial_update(W, X, y), bound, "tutorial")
    assert_within(ref.tutorial_update(W, X, y), ref.gradient(W, X, y, "bce"), bound, "bce")


# ---- finite differences: row blocks, batches, the complex step ----------------------------------


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("batch", [None, 1, 3])
@pytest.mark.parametrize("scheme", ["central", "complex"])
def test_finite_differences_in_blocks_and_batches_are_the_reference(rng, loss, batch, scheme):
    # batch None: the blocked evaluation (5003 rows in blocks); 1 and 3: perturbations per product
    W, X, y = problem(rng, 5003, 8)
    lo, act = resolve(loss, "sigmoid")
    model = errormodel.build(W, X, y, lo, act)
    got = gd_torch.gradient(W, X, y, method=f"numeric:{scheme}", loss=loss, batch=batch)
    est = numeric.estimate(W, X, y, lo, act, scheme=scheme, f_noise=model.f_noise, f_rel=model.f_rel)
    bound = TOLERANCES["numeric_predicted"] * (est.error + 2 * model.exact)
    assert_within(got, ref.gradient(W, X, y, loss), bound, f"numeric:{scheme}, batch={batch}")


# ---- out of core: shards read in row blocks --------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_shards_in_row_blocks_give_the_reference_loss_and_gradient(rng, tmp_path, dtype):
    # 3001 rows in shards of 700, read in blocks of about 40 rows (a 4 KiB budget): blocks cut
    # across shards, and the last shard and block are short
    W, X, y = problem(rng, 3001, 5, dtype)
    for i, s in enumerate(range(0, 3001, 700)):
        np.save(tmp_path / f"X-{i:05d}.npy", X[s : s + 700])
        np.save(tmp_path / f"y-{i:05d}.npy", y[s : s + 700])
    data = shards.open_dataset(tmp_path, budget=4096)
    for loss in LOSSES:
        lo, act = resolve(loss, "sigmoid")
        model = errormodel.build(W, X, y, lo, act)
        L = dist.objective(W, data, loss=loss)
        assert abs(L - ref.forward(W, X, y, loss)[2]) <= 2 * model.f_noise, loss
        bound = rounding_bound(W, X, y, loss)
        assert_within(dist.gradient(W, data, loss=loss), ref.gradient(W, X, y, loss), bound, f"shards {loss}")
        tutorial = dist.gradient(W, data, method="tutorial", loss=loss)
        assert_within(tutorial, ref.tutorial_update(W, X, y), rounding_bound(W, X, y, "bce"), "shards tutorial")


# ---- the error model's terms -------------------------------------------------------------------


def _error_cases():
    X, y = gd_torch.tutorial_data()
    rng = np.random.default_rng(21)
    W, Xr, yr = problem(rng, 400, 6)
    return {"tutorial": (gd_torch.init_weights(3, seed=42), X, y), "random": (W, Xr * 2, yr)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("data", ["tutorial", "random"])
def test_error_model_is_the_references_terms(dtype, loss, data):
    W, X, y = (a.astype(dtype) for a in _error_cases()[data])
    lo, act = resolve(loss, "sigmoid")
    model = errormodel.build(W, X, y, lo, act)
    terms = ref.error_terms(W, X, y, loss, dtype)
    z, _, L = ref.forward(W, X, y, loss)
    np.testing.assert_allclose(model.z, z, rtol=1e-15, atol=0)
    np.testing.assert_allclose(model.ez, terms.e_z, rtol=1e-14, atol=0)
    np.testing.assert_allclose(model.size, terms.size, rtol=1e-13, atol=0)
    np.testing.assert_allclose(model.loss, L, rtol=1e-13, atol=0)
    assert model.floor == X.shape[0] * np.finfo(dtype).smallest_subnormal
    # build takes each rounding through dL/dz as max(slope * e, the secants |d(t +- e) - d(t)|),
    # the slope a central difference (relative error ~1e-8); the reference states the first order,
    # |dd/dt| e.  In float32 data the steps e are ~1e-7 relative, resolved finely in float64: the
    # two agree to the slope's accuracy.  In float64 data e is an ulp or two of a and z: the secants
    # step by e rounded to float64's grid and subtract two rounded values of d, so build's is at
    # least the first order and at most half as large again (1.08 at most measured here)
    ratio = model.exact / terms.err_g
    if dtype == "float32":
        np.testing.assert_allclose(ratio, 1.0, rtol=1e-5, atol=0)
    else:
        assert (ratio >= 1 - 1e-6).all() and (ratio <= 1.5).all(), ratio


def test_each_error_term_is_seen_by_the_comparison():
    # leave out one of err_d's three pieces (or the sum's rounding) and the float32 comparison
    # above fails: each piece is more than 1e-5 of the total somewhere
    W, X, y = (a.astype("float32") for a in _error_cases()["tutorial"])
    lo, act = resolve("sse", "sigmoid")
    exact = errormodel.build(W, X, y, lo, act).exact
    t = ref.error_terms(W, X, y, "sse", "float32")
    u, n = float(np.finfo(np.float32).eps), X.shape[0]
    _, a, _ = ref.forward(W, X, y, "sse")
    d = np.abs(ref.LOSSES["sse"][1](a, y.astype(np.float64), n))
    dd_da = np.abs(ref.LOSSES["sse"][2](a, y.astype(np.float64), n))
    absX = np.abs(X.astype(np.float64))
    pieces = {
        "local": absX.T @ (ref.C_LOCAL * u * d),
        "through a": absX.T @ (dd_da * t.e_a),
        "through z": absX.T @ (dd_da * a * (1 - a) * t.e_z),
        "sum": u * np.sqrt(n) * t.size,
    }
    for name, piece in pieces.items():
        assert (np.abs(exact / (t.err_g - piece) - 1) > 1e-5).any(), name
