"""explain's ledger where a = sigmoid(z) rounds to exactly 0 or 1 under the cross-entropy:
dL/da taken from z (finite), or a GdTorchError where even that exceeds the dtype; never inf."""

from __future__ import annotations

import numpy as np
import pytest

from gd_torch import GdTorchError
from gd_torch.teach.ledger import explain


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dl_da_at_a_rounded_to_0_or_1_is_taken_from_z(dtype):
    # a = sigmoid(49) and sigmoid(40) are exactly 1.0 in both dtypes: (a - y) / (a (1 - a)) / N was
    # inf (y = 0) or NaN (y = 1) there; at the exact a it is (1 + e^z) / N for y = 0, -(1 + e^-z) / N
    # for y = 1 (a = 0 exactly needs z below -745, where 1 + e^-z overflows: refused, below)
    X = np.array([[49.0], [-40.0], [40.0], [0.5]], dtype=dtype)
    y = np.array([0.0, 1.0, 1.0, 0.0], dtype=dtype)
    r = explain(np.ones(1, dtype=dtype), X, y, loss="bce")
    z = X[:, 0].astype(np.float64)
    a = r.stage("a").value
    edge = (a == 0) | (a == 1)
    assert edge.tolist() == [True, False, True, False]
    exact = np.where(y == 0, 1 + np.exp(z), -(1 + np.exp(-z))) / 4
    for name in ("e", "a"):
        s = r.stage(name)
        assert np.isfinite(s.hand).all() and s.hand.dtype == dtype
        np.testing.assert_allclose(s.hand[edge], exact[edge], rtol=8 * np.finfo(dtype).eps)
        assert f"dL/da at the {int(edge.sum())} entries where a rounds to exactly 0 or 1 is taken from z" in s.note
        assert s.numeric.skipped >= int(edge.sum())  # a step in a cannot be taken there: still not compared
    assert r.stage("z").numeric.agree and r.stage("W").numeric.agree and r.ok, str(r)
    assert "inf" not in str(r)


@pytest.mark.parametrize(("dtype", "z"), [("float64", 800.0), ("float32", 100.0), ("float64", -750.0)])
def test_dl_da_beyond_the_dtype_is_refused_naming_the_sample(dtype, z):
    X = np.array([[0.5], [z]], dtype=dtype)
    y = np.array([0.0, 0.0 if z > 0 else 1.0], dtype=dtype)
    with pytest.raises(
        GdTorchError, match=rf"^dL/da of the cross-entropy at sample 1 \(z = {z:g}, .* beyond {dtype}'s range"
    ):
        explain(np.ones(1, dtype=dtype), X, y, loss="bce")


def test_other_losses_are_unchanged():
    X = np.array([[49.0], [0.5]])
    r = explain(np.ones(1), X, np.array([0.0, 1.0]), loss="sse")
    a = r.stage("a").value
    np.testing.assert_array_equal(r.stage("a").hand, 2 * (a - [0.0, 1.0]))
    assert "taken from z" not in r.stage("a").note
