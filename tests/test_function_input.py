"""check_function's boundary: torch tensors and ragged params, warnings, memory, messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gd_torch
from gd_torch import GdTorchError

P = np.array([0.3, -1.2, 2.5])


def square_sum(p):
    return float(np.sum(p**2))


def twice(p):
    return 2 * p


# ---- torch tensors and ragged params -------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_a_float_tensor_that_requires_grad_is_read_as_its_values(dtype):
    t = torch.tensor(P, dtype=dtype, requires_grad=True)
    report = gd_torch.check_function(square_sum, t, twice)
    expected = gd_torch.check_function(square_sum, P.astype(str(dtype).removeprefix("torch.")), twice)
    assert report.ok and report.dtype == expected.dtype
    np.testing.assert_array_equal(report.gradients["numeric"], expected.gradients["numeric"])
    assert t.grad is None and t.requires_grad  # the caller's tensor is left as it was


def test_a_dict_of_tensors_that_require_grad():
    params = {"a": torch.ones(2, dtype=torch.float64, requires_grad=True), "b": torch.zeros(3, dtype=torch.float64)}
    report = gd_torch.check_function(
        lambda p: float(np.sum(p["a"] ** 2) + np.sum(p["b"])), params, lambda p: {"a": 2 * p["a"], "b": np.ones(3)}
    )
    assert report.ok and [s.name for s in report.arrays] == ["a", "b"]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (
            torch.tensor(P, dtype=torch.bfloat16, requires_grad=True),
            r"^params must be a float32 or float64 array or torch tensor \(convert with \.to\(torch\.float32\) or "
            r"\.double\(\)\); got 'a torch tensor of dtype torch\.bfloat16, shape \(3,\), requires_grad=True'$",
        ),
        (
            torch.arange(3),
            r"^params must be .*; got 'a torch tensor of dtype torch\.int64, shape \(3,\), requires_grad=False'$",
        ),
        (
            [[1.0, 2.0], [3.0]],
            r"^params must be a float32 or float64 array \(one array per name in a dict for parameters of several "
            r"shapes\); got 'a ragged list \(items len 2, len 1\)'$",
        ),
        ([np.ones(2), np.ones(3)], r"^params must be .*; got 'a ragged list \(items \(2,\), \(3,\)\)'$"),
        ({"W": [[1.0], [2.0, 3.0]]}, r"^params\['W'\] must be .*; got 'a ragged list \(items len 1, len 2\)'$"),
        ({"W": torch.ones(2, dtype=torch.float16)}, r"^params\['W'\] must be .*torch\.float16, shape \(2,\)"),
    ],
)
def test_tensors_of_other_dtypes_and_ragged_params_are_refused_by_name(value, match):
    with pytest.raises(GdTorchError, match=match):
        gd_torch.check_function(lambda p: 0.0, value, lambda p: p)


# ---- no RuntimeWarning: huge parameters, a gradient with inf ---------------------------------------


@pytest.mark.parametrize("mode", ["full", "directional"])
@pytest.mark.parametrize("scale", [1e150, 1e153, 1e300])
def test_parameters_near_the_overflow_are_checked_without_warnings(scale, mode):
    # the suite turns warnings into errors: an overflow of x^2 inside ECnoise or the scales fails here
    f, grad = (square_sum, twice) if scale < 1e154 else (lambda p: float(np.sum(p)), lambda p: np.ones(3))
    report = gd_torch.check_function(f, P * scale, grad, mode=mode)
    assert report.ok and np.isfinite(report.noise), str(report)
    assert not gd_torch.check_function(f, P * scale, lambda p: 1.5 * grad(p), mode=mode).ok


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_a_gradient_returning_inf_is_the_verdict_non_finite_not_a_warning(mode):
    report = gd_torch.check_function(square_sum, P, lambda p: np.array([np.inf, 1.0, 1.0]), mode=mode)
    assert [p.status for p in report.pairs] == ["non-finite"] and not report.ok


def test_ecnoise_table_of_huge_or_non_finite_columns():
    rng = np.random.default_rng(0)
    v = 1.0 + 1e-10 * rng.standard_normal(9)
    unit, huge = gd_torch.verdict.ecnoise.table(v), gd_torch.verdict.ecnoise.table(1e300 * v)
    assert unit.status() == huge.status() == "ok"
    # 1e300 v rounds each value by 1e-16 of itself, 1e-6 of the noise: the levels agree to that
    assert huge.level[0] == pytest.approx(1e300 * unit.level[0], rel=1e-5)
    both = gd_torch.verdict.ecnoise.table(np.stack([v, np.r_[v[:4], np.inf, v[5:]]], axis=1))
    assert both.status(0) == "ok" and both.status(1) == "step too large" and both.level[1] == 0.0


# ---- impossible allocations refused up front --------------------------------------------------------


@pytest.fixture
def four_gib(monkeypatch):
    from gd_torch.base import memory as _memory

    monkeypatch.setattr(_memory, "available_bytes", lambda: 4 << 30)


def test_a_billion_directions_are_refused_before_f_is_called(four_gib):
    calls = []
    with pytest.raises(
        GdTorchError, match=r"^directions must be at most \d+ here: the random directions .*; got 1000000000$"
    ):
        gd_torch.check_function(lambda p: calls.append(1) or 0.0, P, twice, mode="directional", directions=10**9)
    assert calls == []
    assert gd_torch.check_function(square_sum, P, twice, mode="directional", directions=1000).ok


def test_too_many_parameters_are_refused_naming_params(monkeypatch):
    from gd_torch.base import memory as _memory

    monkeypatch.setattr(_memory, "available_bytes", lambda: 1 << 20)  # 1 MiB: ~2000 parameters in mode 'full'
    with pytest.raises(GdTorchError, match=r"^params must be at most \d+ here: check_function's .*; got 100000$") as e:
        gd_torch.check_function(lambda p: 0.0, np.ones(100_000), np.zeros_like)
    assert e.value.param == "params"


def test_a_surface_over_a_1e5_x_1e5_grid_is_refused_up_front(four_gib):
    from gd_torch.teach.landscape import surface

    X, y = gd_torch.tutorial_data()
    grid = np.linspace(-1, 1, 100_000)
    with pytest.raises(
        GdTorchError, match=r"^len\(grid_i\) must be at most \d+ here: the surface over .*; got 100000$"
    ):
        surface(np.zeros(3), X, y, i=1, j=2, grid_i=grid, grid_j=grid)
    assert surface(np.zeros(3), X, y, i=1, j=2, grid_i=grid[:5], grid_j=grid[:4]).shape == (4, 5)
