"""The model: activations, losses, objective, add_bias, init_weights, data."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DTYPES, TOLERANCES, make_problem, pairs

import gd_torch
from gd_torch.model.activations import ACTIVATIONS, softplus
from gd_torch.model.losses import LOSSES
from gd_torch.precision import errormodel

BIG = [1e6, -1e6, 1e300, -1e300, 745.0, -745.0, 710.0, -710.0, 40.0, -40.0]


# ---- activations ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_stable_for_huge_z(dtype):
    big = float(np.finfo(dtype).max)
    z = np.array([z for z in BIG if abs(z) <= big], dtype=dtype)
    a = gd_torch.sigmoid(z)  # warnings are errors in this suite: an overflow warning fails here
    assert a.dtype == np.dtype(dtype)
    assert np.isfinite(a).all() and ((a >= 0) & (a <= 1)).all()
    # saturates: exactly 1 for large positive z, 0 (or a subnormal) for large negative z
    assert (a[z >= 40] == 1).all()
    assert (a[z <= -745] <= 1e-300).all()


def test_sigmoid_matches_its_formula_where_the_formula_is_safe(rng):
    z = rng.uniform(-30, 30, size=1000)
    a = gd_torch.sigmoid(z)
    u = np.finfo(np.float64).eps
    # 1 / (1 + exp(-z)) has a few roundings (exp is accurate to ~1 ulp): 4 u relative
    np.testing.assert_array_less(np.abs(a - 1 / (1 + np.exp(-z))), 4 * u * a)


def test_sigmoid_complex_path_for_huge_z():
    # the complex-step derivative evaluates sigmoid at z + i h: stable and exact there too
    z = np.array(BIG)
    h = 1e-20
    a = gd_torch.sigmoid(z + 1j * h)
    assert np.isfinite(a.real).all() and np.isfinite(a.imag).all()
    np.testing.assert_allclose(a.real, gd_torch.sigmoid(z), rtol=1e-15, atol=1e-300)
    # sigma'(z) = e^-|z| / (1 + e^-|z|)^2, written so that it never cancels (a (1 - a) would
    # give 0 at z = 40, where the complex step still gets e^-40 right)
    e = np.exp(-np.abs(z))
    np.testing.assert_allclose(a.imag / h, e / (1 + e) ** 2, rtol=1e-14, atol=1e-300)


def test_softplus_is_stable_for_huge_z():
    z = np.array(BIG)
    sp = softplus(z)
    assert np.isfinite(sp).all()
    np.testing.assert_array_equal(sp[z >= 40], z[z >= 40])  # log(1 + e^z) = z to rounding
    assert (sp[z <= -745] <= 1e-300).all()
    c = softplus(z + 1e-20j)
    assert np.isfinite(c.real).all() and np.isfinite(c.imag).all()


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_derivative_matches_complex_step(rng, name):
    act = ACTIVATIONS[name]
    z = rng.uniform(-4, 4, size=200)
    z = z[np.abs(z) > 1e-3]  # away from relu's kink
    h = 1e-30
    slope = act.f(z + 1j * h).imag / h if act.smooth else (act.f(z + 1e-7) - act.f(z - 1e-7)) / 2e-7
    u = np.finfo(np.float64).eps
    tol = 8 * u if act.smooth else 1e-7
    np.testing.assert_allclose(act.df(z, act.f(z)), slope, rtol=tol, atol=tol)


def test_relu_derivative_at_zero_is_zero_like_torch():
    import torch

    z = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    torch.relu(z).sum().backward()
    assert ACTIVATIONS["relu"].df(np.zeros(3), np.zeros(3)).tolist() == z.grad.tolist() == [0.0, 0.0, 0.0]


def test_registries_carry_formulas():
    for reg in (ACTIVATIONS, LOSSES):
        for name, entry in reg.items():
            assert entry.name == name and entry.formula and entry.dformula


# ---- losses and the objective -------------------------------------------------------------------


def test_sse_is_the_sum_of_squared_errors_the_tutorial_prints(rng):
    W, X, y = make_problem(rng, "tutorial", "sse", "sigmoid")
    a = 1 / (1 + np.exp(-(X @ W)))
    L = gd_torch.objective(W, X, y, loss="sse")
    assert L == pytest.approx(np.sum((a - y) ** 2), rel=1e-13)
    assert gd_torch.objective(W, X, y, loss="mse") == pytest.approx(L / X.shape[0], rel=1e-15)


def test_bce_is_the_mean_cross_entropy(rng):
    W, X, y = make_problem(rng, "wide", "bce", "sigmoid")
    a = gd_torch.sigmoid(X @ W)
    expected = -np.mean(y * np.log(a) + (1 - y) * np.log(1 - a))
    assert gd_torch.objective(W, X, y, loss="bce") == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_from_z_is_finite_where_it_is_mathematically_finite(dtype):
    # z = +-1e6: log(a) or log(1 - a) would be log(0); from z, L = softplus(z) - y z
    X = np.array([[1.0], [1.0], [-1.0], [-1.0]], dtype=dtype)
    y = np.array([1.0, 0.0, 1.0, 0.0], dtype=dtype)
    W = np.array([1e6], dtype=dtype)
    L = gd_torch.objective(W, X, y, loss="bce")
    # per sample: 0 (right, confident), 1e6 (wrong), 1e6 (wrong), 0 (right)
    assert L == pytest.approx(2e6 / 4, rel=1e-6)
    for method in ("analytic", "autograd", "tutorial", "numeric"):
        g = gd_torch.gradient(W, X, y, method=method, loss="bce")
        # dL/dW = X^T (a - y) / N with a = (1, 1, 0, 0): (1 (1 - 1) + 1 (1 - 0) - (0 - 1) - (0 - 0)) / 4
        assert np.isfinite(g).all(), method
        assert g[0] == pytest.approx((1 * (1 - 0) + (-1) * (0 - 1)) / 4, rel=1e-6), method


@pytest.mark.parametrize(("activation", "loss"), pairs())
def test_objective_with_huge_z_is_finite(activation, loss):
    X = np.array([[1.0, 0.5], [-1.0, 0.25]])
    W = np.array([1e6, 1.0])
    y = np.array([1.0, 0.0])
    L = gd_torch.objective(W, X, y, loss=loss, activation=activation)
    assert np.isfinite(L)
    for method in ("analytic", "autograd"):
        assert np.isfinite(gd_torch.gradient(W, X, y, method=method, loss=loss, activation=activation)).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_objective_is_a_python_float(rng, dtype):
    W, X, y = make_problem(rng, "tutorial", "sse", "sigmoid", dtype)
    assert type(gd_torch.objective(W, X, y)) is float


def test_objective_rounding_is_within_f_noise(rng):
    """float32 objective vs float64 of the same float32 inputs: within the error model's f_noise."""
    for act, loss in pairs():
        W, X, y = make_problem(rng, "wide", loss, act, "float32")
        L32 = gd_torch.objective(W, X, y, loss=loss, activation=act)
        L64 = gd_torch.objective(W.astype(float), X.astype(float), y.astype(float), loss=loss, activation=act)
        f_noise = errormodel.build(W, X, y, LOSSES[loss], ACTIVATIONS[act]).f_noise
        assert abs(L32 - L64) <= TOLERANCES["exact_pair"] * f_noise, (act, loss)


# ---- add_bias, init_weights, data ----------------------------------------------------------------


def test_add_bias_puts_the_ones_first():
    X = np.arange(6.0).reshape(3, 2)
    Xb = gd_torch.add_bias(X)
    assert Xb.shape == (3, 3)
    np.testing.assert_array_equal(Xb[:, 0], 1.0)
    np.testing.assert_array_equal(Xb[:, 1:], X)
    assert gd_torch.add_bias(X.astype(np.float32)).dtype == np.float32
    assert gd_torch.add_bias(np.arange(4).reshape(2, 2)).dtype == np.float64


@pytest.mark.parametrize("X", [np.array([["a", "b"]]), np.ones((2, 2)) * (1 + 1j)], ids=["str", "complex"])
def test_add_bias_refuses_what_is_not_real_numbers(X):
    # strings are refused when they become an array, complex numbers by add_bias itself
    message = r"X must be (an array .*of real numbers; got array\(\[\['a'|real numbers \(bool, integer or float\); got 'an array of dtype complex128')"
    with pytest.raises(gd_torch.GdTorchError, match=message):
        gd_torch.add_bias(X)


@pytest.mark.parametrize("init", ["uniform", "zeros", "normal"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_init_weights(init, dtype):
    W = gd_torch.init_weights(5, init, seed=7, dtype=dtype)
    assert W.shape == (5,) and W.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(W, gd_torch.init_weights(5, init, seed=7, dtype=dtype))
    if init == "uniform":
        assert ((W >= 0) & (W < 1)).all()
    if init == "zeros":
        assert not W.any()


def test_tutorial_data_is_the_tutorials_make_blobs():
    from sklearn.datasets import make_blobs

    X, y = gd_torch.tutorial_data()
    raw, labels = make_blobs(n_samples=250, n_features=2, centers=2, cluster_std=1.05, random_state=20)
    assert X.shape == (250, 3) and y.shape == (250,)
    np.testing.assert_array_equal(X[:, 0], 1.0)
    np.testing.assert_array_equal(X[:, 1:], raw)
    np.testing.assert_array_equal(y, labels)
    assert set(np.unique(y)) == {0.0, 1.0}


def test_tutorial_data_other_sizes_and_dtype():
    X, y = gd_torch.tutorial_data(40, 5, seed=1, dtype="float32")
    assert X.shape == (40, 6) and X.dtype == y.dtype == np.float32


def test_load_csv_round_trip(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a, b ,label\n1,2,0\n3.5,-4,1\n\n5,6e2,1\n")
    X, y = gd_torch.load_csv(path, "label")
    np.testing.assert_array_equal(X, [[1, 2], [3.5, -4], [5, 600]])
    np.testing.assert_array_equal(y, [0, 1, 1])
    X32, _ = gd_torch.load_csv(path, "b", dtype="float32")
    assert X32.dtype == np.float32 and X32.shape == (3, 2)
