"""Errors of a finite difference: the noise of one evaluation of L, and truncation plus rounding.

**Noise of one evaluation of L** (for finite differences):

    f_noise = u [ sqrt(N) |L| + C_LOCAL reduce_i(t_i) + sum_i |dL/dz_i| e_z,i ] + N s

with t_i = Loss.terms_abs the size of the pieces of l_i before they cancel ((a - y)^2 as a -> y;
softplus(z) - y z for large z).  A difference also takes as its noise at least f_rel |L(P)|,
f_rel = u (sqrt(N) + C_LOCAL), at each point P it evaluates (near an exact fit L(W) ~ 0 while
L(P) ~ h^2).

**A finite difference** D(h) with leading truncation c h^k: D(h) - D(2h) = c h^k (1 - 2^k), so
its truncation is |D(h) - D(2h)| / (2^k - 1) (the scheme's ``truncation_denom``), valid while the
step is in the range where the leading term dominates (gd_torch.gradients.step_rules keeps z's
perturbation there); its rounding is the noise of the values subtracted, amplified by the
scheme's weights over h (its ``noise_amplification``): :func:`difference_error`.  A scheme is any
object with those two numbers (gd_torch.gradients.schemes.Scheme).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..model.losses import Loss
from .rounding import C_LOCAL


class DifferenceScheme(Protocol):
    """What :func:`difference_error` reads of a finite-difference scheme."""

    @property
    def truncation_denom(self) -> float: ...

    @property
    def noise_amplification(self) -> float: ...


def loss_noise(L: float, pieces: float, d_ez: float, n: int, u: float, subnormal: float) -> float:
    """f_noise = u [sqrt(N) |L| + C_LOCAL reduce_i(t_i) + sum_i |dL/dz_i| e_z,i] + N s."""
    return u * (np.sqrt(n) * abs(L) + C_LOCAL * pieces + d_ez) + n * subnormal


def relative_noise(n: int, d: int, zeta: float, u: float) -> float:
    """The rounding noise of one evaluation of L relative to its size, as a finite difference sees
    it: u (sqrt(N) + C_LOCAL) from the terms and their sum (f_rel), and u sqrt(D) zeta from z's own
    rounding (zeta = sum_j c_j |W_j|, c_j = max_i |X_ij| over the rows that set a finite
    difference's step, gradients.step_rules.step_rows, bounds their |X_i| . |W|, on the
    activation's scale of 1)."""
    return u * (np.sqrt(n) + C_LOCAL + np.sqrt(d) * zeta)


def difference_error(
    g1: np.ndarray, g2: np.ndarray, scheme: DifferenceScheme, noise: np.ndarray, h: np.ndarray
) -> np.ndarray:
    """A finite difference's error: truncation read off the steps h and 2h, plus rounding noise / h,
    |g2 - g1| / truncation_denom + noise_amplification * noise / h (all arrays of one shape)."""
    return np.abs(g2 - g1) / scheme.truncation_denom + scheme.noise_amplification * noise / h


def stage_difference_noise(
    lo: Loss, u: float, r: float, subtracted: np.ndarray, seen: np.ndarray, slope: np.ndarray, extra: np.ndarray
) -> np.ndarray:
    """Rounding noise of l_i(T_i +- h_i) in explain's per-entry central differences: C_LOCAL u times
    r |l_i| (the values subtracted), |T_i| |dl/dT_i| (the point as the terms see it, e.g. 1 - a),
    and ``extra`` (the pieces that cancel inside a term: |z| for softplus(z) - y z, |dL/da| |a| for
    a = f(z +- h) rounded inside the terms)."""
    return C_LOCAL * u * (r * subtracted + seen * np.abs(slope) + extra)
