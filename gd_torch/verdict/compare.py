"""The one comparison of values with a reference, and the statuses it gives.

The checking engine (:mod:`gd_torch.verdict.engine`: :func:`gd_torch.check`,
:func:`gd_torch.check_function`, the distributed check) and the explain ledgers judge through
:func:`compare`: |values - reference| <= tol ('agree'), or <= tol + allowance ('kink': the
allowance is what samples at a kink can contribute, :mod:`gd_torch.verdict.kinks`), or neither
('disagree'); a value, tolerance or allowance that is not finite is 'non-finite'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

#: 'kink': outside the tolerance only by what samples at the activation's kink can explain;
#: 'non-finite': a value or an error estimate is inf or NaN (never agreement); 'cannot verify':
#: agrees only where an agreement could not have caught an error (f quantised, a kink or a jump
#: of f: see gd_torch.verdict.measured), not agreement
Status = Literal["agree", "disagree", "kink", "non-finite", "cannot verify"]
#: statuses that make a check fail
FAILING: tuple[Status, ...] = ("disagree", "non-finite")


@dataclass(frozen=True)
class Agreement:
    """Values against a reference, entry by entry: |values - reference| <= tol (agree), or
    <= tol + allowance (kink: the excess is what samples at a kink can contribute), or neither."""

    status: Status
    diff: np.ndarray
    #: the ordinary tolerance, and the kink allowance on top of it
    tol: np.ndarray
    allowance: np.ndarray
    #: the entry that decides the status: the first non-finite one, else the largest
    #: |diff| / (tol + allowance) when disagreeing, else the largest |diff| / tol
    worst: int
    #: entries outside tol + allowance (or not finite)
    failing: np.ndarray

    @property
    def ratio(self) -> float:
        """|diff| / tolerance at ``worst`` (the tolerance with the allowance when disagreeing)."""
        return ratio_of(self.diff[self.worst], self.limit[self.worst]) if self.diff.size else 0.0

    @property
    def limit(self) -> np.ndarray:
        """The bound each entry was held to: tol, plus the allowance when the status is not 'agree'."""
        return self.tol if self.status == "agree" else self.tol + self.allowance


def compare(values: Any, reference: Any, tol: Any, allowance: Any = None) -> Agreement:
    """The one comparison: float64 arrays of one shape (tol, allowance broadcast); see :class:`Agreement`."""
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    reference = np.atleast_1d(np.asarray(reference, dtype=np.float64))
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), values.shape)
    allow = np.zeros(values.shape) if allowance is None else np.broadcast_to(allowance, values.shape)
    finite = np.isfinite(values) & np.isfinite(reference) & np.isfinite(tol) & np.isfinite(allow)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(values - reference)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        return Agreement("non-finite", diff, tol, allow, int(bad[0]), bad)
    outside = ~(diff <= tol)
    failing = np.flatnonzero(~(diff <= tol + allow))
    if not outside.any():
        status: Status = "agree"
    else:
        status = "disagree" if failing.size else "kink"
    limit = tol + allow if status == "disagree" else tol
    worst = int(np.argmax(_ratios(diff, limit))) if diff.size else 0
    return Agreement(status, diff, tol, allow, worst, failing)


def _ratios(diff: np.ndarray, limit: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(limit > 0, diff / limit, np.where(diff > 0, np.inf, 0.0))


def ratio_of(diff: float, limit: float) -> float:
    """|diff| / limit: inf where the limit is 0 and diff is not, 0 where both are."""
    return float(_ratios(np.asarray(diff), np.asarray(limit)))
