"""check(mode='directional') on data near the ends of the float range: refused naming X, never a step."""

from __future__ import annotations

import numpy as np
import pytest

import gd_torch
from gd_torch import GdTorchError


@pytest.mark.parametrize(("scale", "W"), [(1e-320, [0.5, -1.0, 2.0]), (1e305, [0.0, 0.0, 0.0])])
def test_data_the_directional_step_cannot_handle_is_refused_naming_x(scale, W):
    # the caller passes no step: the message must name what the caller passed (X), not 'step'
    X, y = gd_torch.tutorial_data()
    with pytest.raises(
        GdTorchError,
        match=r"^X must be data on which mode='directional' can step along v: the step z_step / max \|X v\| = "
        r"\S+ must lie in \[2\.23e-308, 8\.99e\+307\] \(rescale X, .*\); got 'data with max \|X v\| = \S+ along",
    ):
        gd_torch.check(np.array(W), X * scale, y, mode="directional")


def test_ordinary_data_still_checks_along_directions():
    X, y = gd_torch.tutorial_data()
    assert gd_torch.check(np.array([0.5, -1.0, 2.0]), X, y, mode="directional").ok
