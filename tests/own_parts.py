"""A user's own activation and loss, as the README's examples define them: the parts the tests of
users' parts share (test_parts, test_diagnose, test_user_code)."""

from __future__ import annotations

import numpy as np

from gd_torch import Activation, Loss

SOFTSIGN = Activation(
    "softsign",
    f=lambda z: z / (1 + np.abs(z)),
    df=lambda z, a: 1 / (1 + np.abs(z)) ** 2,
    formula="a = z / (1 + |z|)",
    dformula="da/dz = 1 / (1 + |z|)^2",
    smooth=False,  # |z| is not analytic: no complex step
    torch_f=lambda z: z / (1 + z.abs()),
)
PSEUDO_HUBER = Loss(
    "pseudo-huber",
    terms=lambda z, a, y: np.sqrt(1 + (a - (y if np.ndim(a) == 1 else y[:, None])) ** 2) - 1,
    reduction="mean",
    dL_da=lambda a, y, n: (a - y) / np.sqrt(1 + (a - y) ** 2) / n,
    formula="L = mean_i sqrt(1 + (a_i - y_i)^2) - 1",
    dformula="dL/da = (a - y) / sqrt(1 + (a - y)^2) / N",
    torch_terms=lambda z, a, y: (1 + (a - y) ** 2).sqrt() - 1,
)
