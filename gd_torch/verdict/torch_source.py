"""The error source of :func:`gd_torch.check_torch`: each method's bound, measured, per entry.

Entries are, per cotangent c, the coordinates of every differentiated input (the vector-Jacobian
product v_c^T J, flattened) and, for inputs too large for finite differences per coordinate,
``directions`` random unit directions per input along which they were taken (see
:mod:`gd_torch.verdict.torch_checker`).
Each method m has a bound b_m per entry; a pair (A, B) is held to b_A + b_B:

* yours, beside a reference: b = K[dtype] max(||g_ref - t||_2, eps/2 ||t||_2, ||g' - g||_2) per
  input and cotangent, t the reference's float64 gradient on the upcast inputs and g_ref the
  reference's gradient in the inputs' dtype: that dtype's own rounding of a correct gradient,
  measured; g' - g: two runs of your backward apart (0 unless it is nondeterministic).
  On coordinates the comparison is norm-wise per input (``Terms.groups``), the other method's
  entry-wise errors entering as their 2-norm over the input; along a unit direction d,
  |d . (g - t)| <= ||g - t||_2, so the same bound holds each direction.
* the float64 truth (the reference, or ``fn`` itself without one) and the finite differences:
  SAFETY x their error estimates from measured noise (as :class:`gd_torch.verdict.measured.Measured`).

K: the norm-wise rule ||g_fn - t|| <= K max(||g_ref - t||, eps/2 ||t||) measured on 13 custom
autograd Functions x 28 realistic bugs x 4 dtypes, 16 seeds x 3 cotangents
(benchmarks/results/torch_study.md): with K = 6, 0 of 312 held-out correct cases flagged in
float32, bfloat16 and float16 and no bug larger than 10x the dtype's rounding missed; in float64
the largest ratio of a correct gradient over all seeds was 6.8 (1 of 312 held out above 6), so
float64 uses K = 8 (0 of 624 above it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .compare import Status
from .engine import Terms

#: dtype name -> K, the factor over the measured rounding (see the module's docstring)
K = {"float64": 8.0, "float32": 6.0, "bfloat16": 6.0, "float16": 6.0}
#: the method under test, the float64 truth and the finite differences
YOURS, REFERENCE, NUMERIC = "yours", "reference", "numeric"


@dataclass(frozen=True)
class Bound:
    """One method's bound per entry and, per entry, the words saying where it came from.
    ``norm``: the bound holds the 2-norm over a whole group (yours' measured rounding), else it
    is each entry's own error (the 2-norm over a group of them bounds the group)."""

    bound: np.ndarray
    why: list[str]
    norm: bool = False


@dataclass(frozen=True)
class TorchRounding:
    """Each method's values and bound per entry, the coordinate entries and those where the
    differences are (``numeric``: the same coordinates for small inputs, else directions), and
    the norm group of each entry (input array and cotangent)."""

    values: dict[str, np.ndarray]
    bounds: dict[str, Bound]
    coordinates: np.ndarray
    numeric: np.ndarray
    groups: np.ndarray

    def entries(self, a: str, b: str) -> np.ndarray:
        """Where a and b are compared: the differences' entries for a pair with them, else coordinates."""
        return self.numeric if NUMERIC in (a, b) else self.coordinates

    def terms(self, a: str, b: str, index: np.ndarray | None = None) -> Terms:
        """A and B at ``index``: a pair with yours on coordinates norm-wise per group, against
        b_yours + the 2-norm of the other's errors over the group; any other pair (or along
        directions) entry by entry against b_A + b_B."""
        idx = np.arange(self.values[a].size) if index is None else index
        on_coordinates = np.isin(idx, self.coordinates).all()
        grouped = YOURS in (a, b) and bool(on_coordinates)
        groups = self.groups[idx] if grouped else None
        tol = sum(self._bound(m, idx, groups) for m in (a, b))

        def why(status: Status, k: int) -> str:
            if status == "agree":
                return ""
            return "; ".join(self.bounds[m].why[int(idx[k])] for m in (a, b) if self.bounds[m].why[int(idx[k])])

        return Terms(self.values[a][idx], self.values[b][idx], tol, why=why, groups=groups)

    def _bound(self, m: str, idx: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
        # m's bound at idx; compared norm-wise (groups), an entry-wise error becomes its group's 2-norm
        b = self.bounds[m]
        if groups is None or b.norm:
            return b.bound[idx]
        _, inverse = np.unique(groups, return_inverse=True)
        return np.sqrt(np.bincount(inverse, weights=b.bound[idx] ** 2))[inverse]
