"""gd_torch.check_function, gd_torch.verdict.ecnoise and gd_torch.testing: verdicts, the report, bad input."""

from __future__ import annotations

import re

import function_suite as S
import numpy as np
import pytest
import torch

import gd_torch
from gd_torch import GdTorchError
from gd_torch.testing import assert_function_gradient_close
from gd_torch.verdict import ecnoise


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    # the functions are tiny: a second intra-op thread only costs wake-ups on a shared machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def softplus_sum(A):
    """f(x) = sum softplus(A x), its gradient A^T sigmoid(A x), and the torch version."""

    def f(x):
        return np.sum(np.logaddexp(0, A @ x))

    def grad(x):
        return A.T @ (1 / (1 + np.exp(-(A @ x))))

    def torch_f(x):
        z = torch.from_numpy(A) @ x
        return torch.logaddexp(z, torch.zeros_like(z)).sum()

    return f, grad, torch_f


@pytest.fixture
def problem(rng):
    A = rng.standard_normal((20, 6))
    return (*softplus_sum(A), rng.standard_normal(6))


# ---- ECnoise ------------------------------------------------------------------------------


def test_ecnoise_recovers_the_level_of_pure_noise(rng):
    # sigma_k is unbiased in sigma^2 for every order: over many columns the median is near sigma
    sigma = 1e-10
    t = ecnoise.table(1.0 + sigma * rng.standard_normal((ecnoise.POINTS, 4000)))
    assert (t.code == 0).mean() > 0.95
    assert 0.8 < np.median(t.level[t.code == 0]) / sigma < 1.2


def test_ecnoise_sees_noise_on_top_of_a_smooth_function(rng):
    s = np.linspace(-1, 1, ecnoise.POINTS) * 1e-3
    t = ecnoise.table(np.exp(s)[:, None] + 1e-9 * rng.standard_normal((ecnoise.POINTS, 200)))
    assert (t.code == 0).all() and (t.order >= 2).all()  # the smooth trend is gone by order 2
    assert 0.3 < np.median(t.level) / 1e-9 < 3


def test_ecnoise_step_too_small_and_too_large():
    assert ecnoise.table(np.full(ecnoise.POINTS, 3.0)).status() == "step too small"
    assert ecnoise.table(np.linspace(1, 100, ecnoise.POINTS)).status() == "step too large"
    smooth = 1 + 0.05 * np.sin(np.linspace(0, 1, ecnoise.POINTS))  # spread 4%, but no order reaches noise
    assert ecnoise.table(smooth).status() == "step too large"


def test_ecnoise_along_grows_a_step_too_small():
    x = np.linspace(0.1, 1.0, 5)
    # at h = 1e-19 no value moves (x + s h p == x): the step grows 100-fold per try until noise shows
    noise = ecnoise.along(lambda P: np.sin(P).sum(axis=1), x, np.ones(5), 1e-19)
    assert noise.status == "ok" and noise.step >= 1e-17 and noise.evaluations > ecnoise.POINTS
    assert 1e-18 < noise.level < 1e-14  # a few rounding errors of a sum near 3.7


# ---- the measuring set: correct gradients pass, a 1e-4 error in one coordinate is caught ----


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(S.SUITE))
def test_correct_gradients_of_the_suite_pass(name, dtype):
    report = S.run(name, dtype)
    assert report.ok, str(report)


@pytest.mark.parametrize("name", list(S.SUITE))
def test_a_1e4_error_in_one_coordinate_is_caught_in_float64(name):
    report = S.run(name, "float64", rel=1e-4)
    assert not report.ok and report.odd_one_out == "wrong", str(report)


# ---- modes, sources, reports ----------------------------------------------------------------


def test_report_names_the_odd_one_out_and_the_worst_coordinate(problem):
    f, grad, torch_f, x = problem

    def my_grad(x):
        g = grad(x)
        g[2] *= 2
        return g

    report = gd_torch.check_function(f, x, my_grad, torch_f=torch_f)
    assert not report.ok and report.odd_one_out == "my_grad"
    text = str(report)
    assert "FAIL: my_grad disagrees with autograd, numeric, which agree with each other" in text
    (line,) = [ln for ln in text.splitlines() if ln.startswith("  my_grad vs autograd")]
    assert re.search(r"worst at x\[2\]: my_grad=\S+, autograd=\S+, relative error 0\.5 > tolerance \S+$", line)
    assert report.pairs[0].value_a == pytest.approx(2 * report.pairs[0].value_b, rel=1e-12)


def test_dict_params_name_the_array_and_its_index(rng):
    A = rng.standard_normal((10, 3))
    f = lambda p: np.sum(np.tanh(A @ p["W"]) * p["b"])  # noqa: E731
    grad = lambda p: {"W": A.T @ ((1 - np.tanh(A @ p["W"]) ** 2) * p["b"]), "b": np.tanh(A @ p["W"])}  # noqa: E731
    params = {"W": rng.standard_normal(3), "b": rng.standard_normal(10)}
    assert gd_torch.check_function(f, params, grad).ok

    def wrong(p):
        return {**grad(p), "W": grad(p)["W"] * np.array([1, 1, -1])}

    report = gd_torch.check_function(f, params, wrong)
    assert [s.ok for s in report.arrays] == [False, True]
    assert "wrong in W; worst at W[2]" in report.summary()


def test_gradient_as_arrays_and_torch_f_alone(problem):
    f, grad, torch_f, x = problem
    assert gd_torch.check_function(f, x, grad(x)).ok
    only_torch = gd_torch.check_function(f, x, torch_f=torch_f)
    assert only_torch.ok and list(only_torch.gradients) == ["autograd", "numeric"]
    assert not gd_torch.check_function(f, x, -grad(x), torch_f=torch_f).ok


def test_torch_f_of_another_function_makes_autograd_the_odd_one_out(problem, rng):
    f, grad, _, x = problem
    _, _, other = softplus_sum(rng.standard_normal((20, 6)))
    report = gd_torch.check_function(f, x, grad, torch_f=other)
    assert report.odd_one_out == "autograd" and report.torch_value != pytest.approx(report.f_value)


def test_a_non_finite_gradient_is_never_agreement(problem):
    f, grad, torch_f, x = problem

    def nan_grad(x):
        g = grad(x)
        g[4] = np.nan
        return g

    report = gd_torch.check_function(f, x, nan_grad, torch_f=torch_f)
    assert not report.ok and {p.status for p in report.pairs if "nan_grad" in (p.a, p.b)} == {"non-finite"}
    assert "nan_grad is not finite at x[4]" in report.summary()


def test_batched_evaluation_gives_the_same_values_in_fewer_calls(problem):
    f, grad, _, x = problem
    calls = {"one": 0, "batched": 0}

    def one(x):
        calls["one"] += 1
        return f(x)

    def batched(X):
        # rows one by one, so that the values are those of f bit for bit
        calls["batched"] += 1
        return np.array([f(r) for r in X]) if X.ndim == 2 else f(X)

    a = gd_torch.check_function(one, x, grad)
    b = gd_torch.check_function(batched, x, grad, batched=True)
    assert a.ok and b.ok and a.evaluations == b.evaluations
    np.testing.assert_array_equal(a.gradients["numeric"], b.gradients["numeric"])
    assert calls["batched"] < calls["one"] / 5


def test_a_kink_inside_the_first_step_is_not_a_false_alarm():
    # f = sum |x| with x_0 = 1e-4: the float32 trial step (~5e-3) straddles the kink at 0
    x = np.array([1e-4, 0.7, -0.3], dtype=np.float32)
    report = gd_torch.check_function(lambda x: np.abs(x).sum(), x, np.sign)
    assert report.ok, str(report)
    flipped = gd_torch.check_function(lambda x: np.abs(x).sum(), x, lambda x: np.sign(x) * [-1, 1, 1])
    assert not flipped.ok and flipped.pairs[0].worst == 0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_step_out_of_the_domain_is_retried_smaller(dtype):
    # log(x) at x_0 = 1e-3: the trial step (eps^(1/3) times the array's scale, ~5e-3 in float32)
    # reaches x <= 0, where f is NaN; the step shrinks until the differences are finite
    x = np.array([1e-3, 0.5, 2.0], dtype=dtype)
    report = gd_torch.check_function(lambda x: np.log(x).sum(), x, lambda x: 1 / x)
    assert report.ok and np.isfinite(report.gradients["numeric"]).all(), str(report)
    assert not gd_torch.check_function(lambda x: np.log(x).sum(), x, lambda x: -1 / x).ok


def test_directional_mode_checks_many_parameters_in_few_evaluations(rng):
    n = 100_000
    A = rng.standard_normal(n)
    f = lambda x: np.sum(np.logaddexp(0, A * x))  # noqa: E731
    grad = lambda x: A / (1 + np.exp(-A * x))  # noqa: E731
    x = rng.standard_normal(n)
    report = gd_torch.check_function(f, x, grad, mode="directional", directions=3)
    assert report.ok and report.evaluations < 150 and report.gradients["numeric"].shape == (3,)
    assert not gd_torch.check_function(f, x, lambda x: 1.1 * grad(x), mode="directional").ok


# ---- gd_torch.testing ---------------------------------------------------------------------


def test_assert_function_gradient_close(problem):
    f, grad, torch_f, x = problem
    assert assert_function_gradient_close(f, x, grad, torch_f=torch_f).ok
    with pytest.raises(AssertionError, match=r"(?s)^gradient check failed\nFAIL: grad disagrees .*worst at x\["):
        assert_function_gradient_close(f, x, lambda x: grad(x) + 1, torch_f=torch_f)
    with pytest.raises(GdTorchError):  # a broken call is not a failed check
        assert_function_gradient_close(f, x, grad, mode="sideways")


# ---- bad input ----------------------------------------------------------------------------


def raises(match: str):
    return pytest.raises(GdTorchError, match=match)


def test_bad_options(problem):
    f, grad, torch_f, x = problem
    cases = [
        (dict(f=3), r"^f must be a callable f\(params\) -> a real number; got 3$"),
        (dict(torch_f="no"), r"^torch_f must be None or a callable .*; got 'no'$"),
        (dict(grad=None), r"^grad must be your gradient \(a callable or arrays\) when torch_f is None.*; got None$"),
        (dict(mode="sideways"), r"^mode must be one of 'full', 'directional'; got 'sideways'$"),
        (dict(directions=0), r"^directions must be a positive integer .*; got 0$"),
        (dict(directions=True), r"^directions must be a positive integer .*; got True$"),
        (dict(batched=1), r"^batched must be True or False; got 1$"),
        (dict(seed=-1), r"^seed must be a non-negative integer; got -1$"),
    ]
    for kw, match in cases:
        args = {"f": f, "grad": grad, "torch_f": None, **kw}
        with raises(match):
            gd_torch.check_function(args.pop("f"), x, args.pop("grad"), **args)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (np.arange(3), r"^params must be a float32 or float64 array .*; got 'an array of dtype int64'$"),
        (np.zeros(0), r"^params must be a non-empty array; got 'an array of shape \(0,\)'$"),
        (np.array([1.0, np.nan]), r"^params must be finite .*; got 'an array holding nan at flat index 1'$"),
        ({}, r"^params must be an array or a non-empty dict of named arrays; got \{\}$"),
        ({1: np.ones(2)}, r"^params must be a dict whose keys are strings; got 'a dict with key 1'$"),
        (
            {"a": np.ones(2), "b": np.ones(2, np.float32)},
            r"^params must be arrays of one dtype .*; got 'arrays of dtypes a: float64, b: float32'$",
        ),
    ],
)
def test_bad_params(params, match):
    with raises(match):
        gd_torch.check_function(lambda p: 0.0, params, lambda p: p)


def test_bad_values_returned_by_the_users_functions(problem):
    f, grad, torch_f, x = problem
    with raises(
        r"^the value of grad \(grad\) must be of the parameter's shape \(6,\); got 'an array of shape \(5,\)'$"
    ):
        gd_torch.check_function(f, x, lambda x: grad(x)[:5])
    with raises(r"^grad must be a dict with the keys of params: \['a', 'b'\]; got \['a'\]$"):
        gd_torch.check_function(lambda p: 0.0, {"a": np.ones(2), "b": np.ones(1)}, {"a": np.ones(2)})
    with raises(r"^f must be a real scalar \(one number\); got 'ndarray of shape \(6,\) and dtype float64'$"):
        gd_torch.check_function(lambda x: x, x, grad)
    with raises(r"^f\(params\) must be a finite number; got nan$"):
        gd_torch.check_function(lambda x: np.nan, x, grad)
    with raises(r"^f must be with batched=True, a function returning one real value per leading index: shape"):
        gd_torch.check_function(lambda x: np.sum(x), x, grad, batched=True)
    with raises(r"^torch_f must be a function returning a floating-point torch scalar; got 'float'$"):
        gd_torch.check_function(f, x, torch_f=lambda t: 1.0)
    with raises(r"^torch_f must compute its result from the tensors it is given"):
        gd_torch.check_function(f, x, torch_f=lambda t: torch_f(t).detach())
