"""The error source of :func:`gd_torch.check_torch`: each method's bound, measured, per entry.

Entries are, per cotangent c, the coordinates of every differentiated input (the vector-Jacobian
product v_c^T J, flattened) and then ``directions`` random unit directions per input (along which
finite differences of the float64 truth were taken: see :mod:`gd_torch.verdict.torch_checker`).
Each method m has a bound b_m per entry; a pair (A, B) is held to b_A + b_B:

* yours, beside a reference: b = K[dtype] max(||g_ref - t||_2, eps/2 ||t||_2, ||g' - g||_2) per
  input and cotangent, t the reference's float64 gradient on the upcast inputs and g_ref the
  reference's gradient in the inputs' dtype: that dtype's own rounding of a correct gradient,
  measured; g' - g: two runs of your backward apart (0 unless it is nondeterministic).
  On coordinates the comparison is norm-wise per input (``Terms.groups``); along a unit
  direction d, |d . (g - t)| <= ||g - t||_2, so the same bound holds each direction.
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
    """One method's bound per entry and, per entry, the words saying where it came from."""

    bound: np.ndarray
    why: list[str]


@dataclass(frozen=True)
class TorchRounding:
    """Each method's values and bound per entry, where each pair is compared (``entries``: the
    coordinate entries for yours vs reference, the direction entries for every pair with the
    differences), and the norm group of each coordinate entry (input array and cotangent)."""

    values: dict[str, np.ndarray]
    bounds: dict[str, Bound]
    coordinates: np.ndarray
    directions: np.ndarray
    groups: np.ndarray

    def entries(self, a: str, b: str) -> np.ndarray:
        """Where a and b are compared: coordinates for yours vs reference, else directions."""
        return self.coordinates if NUMERIC not in (a, b) else self.directions

    def terms(self, a: str, b: str, index: np.ndarray | None = None) -> Terms:
        """A and B at ``index`` against b_A + b_B, norm-wise per group on coordinate entries."""
        idx = np.arange(self.values[a].size) if index is None else index
        tol = self.bounds[a].bound[idx] + self.bounds[b].bound[idx]
        groups = self.groups[idx] if NUMERIC not in (a, b) else None

        def why(status: Status, k: int) -> str:
            if status == "agree":
                return ""
            return "; ".join(self.bounds[m].why[int(idx[k])] for m in (a, b) if self.bounds[m].why[int(idx[k])])

        return Terms(self.values[a][idx], self.values[b][idx], tol, why=why, groups=groups)
