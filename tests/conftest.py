"""Shared fixtures and helpers: seeded random problems, tolerances as data, a CUDA marker.

Every random input comes from the ``rng`` fixture, seeded from the test's own id: each
parametrised case draws fresh inputs, and a failure reproduces exactly on a rerun.
"""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest
import torch

import gd_torch
from gd_torch.gradients.schemes import SCHEMES
from gd_torch.model.activations import ACTIVATIONS
from gd_torch.model.losses import LOSSES

# ---- tolerances as data --------------------------------------------------------------
#
# Every bound a test asserts is a multiple of an error estimate that gd_torch.precision.errormodel
# derives from the dtype's unit roundoff u; the multipliers live here, each derived.
TOLERANCES: dict[str, float] = {
    # Two methods that both evaluate g_j = sum_i X_ij d_i to rounding (analytic, autograd,
    # the complex step, the tutorial formula on bce) are each within their error estimate
    # err_j = ErrorModel.exact[j] of the true gradient, so |g_A - g_B| <= err_A + err_B:
    # multiplier 1 (no safety factor; the checker's own SAFETY is not used in these tests).
    # Against an 80-bit reference the estimate holds with room to spare (max 0.25 of it).
    "exact_pair": 1.0,
    # A finite difference's predicted error (numeric.grad with f_noise) is its truncation
    # read off a second step, plus f_noise / h amplified by the scheme's weights; the
    # truncation part is asymptotically exact, the rounding part an upper estimate, so
    # |numeric - analytic| <= error_numeric + err_analytic: multiplier 1.
    "numeric_predicted": 1.0,
    # Numeric steps: (W + h) - W is h rounded to W's grid, so the step actually taken is
    # within one ulp of max(1, |W_j|), i.e. u * max(1, |W_j|), of eps^p max(1, |W_j|).
    "step_ulps": 1.0,
    # Batched vs per-coordinate loop: both use the same steps; each value of L carries a
    # rounding error <= f_noise, so a central difference of two of them differs by at most
    # (f_noise + f_noise) / (2 h) from either's exact-arithmetic value, and two such
    # differences by 2 f_noise / h.
    "loop_vs_batched": 2.0,
}

# ---- problems ----------------------------------------------------------------------

#: the shapes every method is tried on: the tutorial's 250 x 3, one sample, D in the hundreds
SHAPES: dict[str, tuple[int, int]] = {"tutorial": (250, 3), "single": (1, 3), "wide": (300, 200)}
DTYPES = ("float64", "float32")


def pairs() -> list[tuple[str, str]]:
    """Every defined (activation, loss) pair: bce only with the sigmoid."""
    return [
        (act, loss)
        for loss, lo in LOSSES.items()
        for act in ACTIVATIONS
        if lo.activations is None or act in lo.activations
    ]


def undefined_pairs() -> list[tuple[str, str]]:
    """(activation, loss) pairs that must be refused."""
    return [
        (act, loss)
        for loss, lo in LOSSES.items()
        for act in ACTIVATIONS
        if lo.activations is not None and act not in lo.activations
    ]


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's data (bias column first), made once per test module."""
    return gd_torch.tutorial_data()


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded from the test id: fresh inputs per case, reproducible per case."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def make_problem(
    rng: np.random.Generator,
    shape: str,
    loss: str,
    activation: str,
    dtype: str = "float64",
    kink_margin: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W, X, y) for one case, in ``dtype``.

    'tutorial' is the tutorial's own data (gd_torch.tutorial_data(), bias column first,
    labels 0/1) with W uniform on [0, 1) as the tutorial draws it; the other shapes are
    standard normal X, W ~ N(0, 1/D) so that z = X W is O(1), and y in [0, 1] (0/1 for
    bce).  ``kink_margin`` moves every z_i at least that far from the activation's kinks
    (so that no finite difference straddles one).
    """
    if shape == "tutorial":
        X, y = gd_torch.tutorial_data()
        W = rng.uniform(size=X.shape[1])
    else:
        n, d = SHAPES[shape]
        X = rng.standard_normal((n, d))
        W = rng.standard_normal(d) / np.sqrt(d)
        y = (rng.uniform(size=n) < 0.5).astype(float) if LOSSES[loss].binary else rng.uniform(size=n)
    if kink_margin is not None:
        X = away_from_kinks(X, W, ACTIVATIONS[activation].kinks, kink_margin)
    return W.astype(dtype), X.astype(dtype), y.astype(dtype)


def away_from_kinks(X: np.ndarray, W: np.ndarray, kinks: tuple[float, ...], margin: float) -> np.ndarray:
    """Shift rows of X along W so that every z_i = X_i W is at least ``margin`` from each kink."""
    X = X.copy()
    for k in kinks:
        z = X @ W
        close = np.abs(z - k) < margin
        # X_i += c W / |W|^2 moves z_i by exactly c
        shift = np.where(z[close] >= k, 1.0, -1.0) * 2 * margin
        X[close] += np.outer(shift, W / (W @ W))
    return X


def scaled_difference(ga: np.ndarray, gb: np.ndarray, W, X, y, loss: str, activation: str) -> np.ndarray:
    """|g_A - g_B|_j / (u S_j), S_j = sum_i |X_ij dL/dz_i| (0 where S_j = 0)."""
    from gd_torch.model.forward import delta

    lo, act = LOSSES[loss], ACTIVATIONS[activation]
    X64, W64, y64 = X.astype(np.float64), W.astype(np.float64), y.astype(np.float64)
    S = np.abs(X64).T @ np.abs(delta(X64 @ W64, y64, lo, act))
    u = np.finfo(X.dtype).eps
    diff = np.abs(ga.astype(np.float64) - gb.astype(np.float64))
    return np.where(S > 0, diff / (u * np.where(S > 0, S, 1.0)), np.where(diff > 0, np.inf, 0.0))


def default_step(W: np.ndarray, scheme: str) -> np.ndarray:
    """The step the issue asks for: eps^p max(1, |W_j|) with p from the scheme."""
    return np.finfo(W.dtype).eps ** SCHEMES[scheme].step_exponent * np.maximum(1.0, np.abs(W))


# ---- CUDA -------------------------------------------------------------------------------

#: skip when there is no CUDA device, saying so
requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason=f"needs CUDA: torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is False)",
)


def cuda_test(fn):
    """Decorator: mark a test 'cuda' (select with -m cuda) and skip it with a reason without CUDA."""
    return pytest.mark.cuda(requires_cuda(fn))


def patch_grad(monkeypatch, name, grad):
    """Replace the registered method ``name``'s gradient by ``grad`` for one test (a bug injected
    through the registry, as a user's faulty method would arrive)."""
    import dataclasses

    from gd_torch.gradients import METHODS

    monkeypatch.setitem(METHODS, name, dataclasses.replace(METHODS[name], grad=grad, make=None))


# ---- oldest declared dependencies -------------------------------------------------------
#
# CI's second environment (constraints-oldest.txt) runs the suite with GD_TORCH_OLDEST_DEPS=1.
# There matplotlib 3.7 calls pyparsing's camelCase names, which today's pyparsing (any 3.x
# that matplotlib 3.7 accepts, picked newest by pip) deprecates.  Those warnings, and only
# those, are ignored there: matched by message AND by the matplotlib module that raises
# them, so a warning from gd_torch (or anywhere else) still fails the run.
OLD_LIBRARY_WARNINGS: tuple[str, ...] = (
    r"ignore:'\w+' (argument is )?deprecated:DeprecationWarning:matplotlib\._(mathtext|fontconfig_pattern)$",
)


def pytest_configure(config: pytest.Config) -> None:
    """With GD_TORCH_OLDEST_DEPS=1, add OLD_LIBRARY_WARNINGS after the ini's "error" filter."""
    if os.environ.get("GD_TORCH_OLDEST_DEPS") == "1":
        for line in OLD_LIBRARY_WARNINGS:
            config.addinivalue_line("filterwarnings", line)
