"""The finite-difference methods at their boundary and in their arithmetic: a step outside the
range where a difference means anything is refused; the blocked evaluation of L gives the same
bits whatever the number of threads."""

from __future__ import annotations

import numpy as np
import pytest

import gd_torch
from gd_torch.gradients import _blas


@pytest.mark.parametrize("scheme", ["central", "forward", "richardson", "complex"])
def test_the_blocked_numeric_gradient_is_bit_identical_whatever_the_thread_count(monkeypatch, scheme):
    # 3e5 x 8 float64 (19 MB): many row blocks, threaded; the row groups must not follow the threads
    rng = np.random.default_rng(11)
    X = rng.standard_normal((300_000, 8))
    y = (rng.random(300_000) < 0.5).astype(np.float64)
    W = rng.standard_normal(8) / 8
    results = []
    for n in (1, 2, 3):
        monkeypatch.setattr(_blas, "workers", lambda n=n: n)
        results.append(gd_torch.gradient(W, X, y, method=f"numeric:{scheme}"))
    assert all(np.array_equal(results[0], r) for r in results[1:]), results
