"""The one checking engine: every pair of methods compared against tolerances from an error source.

    pairs = judge(names, values, source)          # values: {method: (K,) float64}
    odd = odd_one_out(names, pairs)

For each pair (A, B) the error source supplies the :class:`Terms` of the comparison: the two
value arrays, the tolerance tol_k of each entry k (a coordinate, or a direction v . g), a kink
allowance on top, and where an agreement cannot verify anything.  The one comparison rule
(:func:`gd_torch.verdict.compare.compare`) then gives the pair its status:

    agree          |A_k - B_k| <= tol_k at every k
    kink           <= tol_k + allowance_k at every k, > tol_k somewhere (samples at a kink)
    disagree       > tol_k + allowance_k somewhere
    non-finite     a value or a tolerance is inf or NaN (never agreement)
    cannot verify  agrees, but at an entry where the source says agreement proves nothing

Error sources (each a class with ``terms(a, b, index) -> Terms``; see :class:`ErrorSource`):

* :class:`gd_torch.verdict.predicted.Predicted`: rounding predicted by the error model, with
  the kink allowances of the one-neuron model (``check``, the distributed check);
* :class:`gd_torch.verdict.measured.Measured`: the measured noise (ECnoise) of any function,
  with its kinks, jumps and roughness (``check_function``).

* :class:`gd_torch.verdict.torch_source.TorchRounding`: the measured rounding of a float64
  reference in the inputs' dtype (``check_torch``), norm-wise per input array.

A source whose tolerance holds a whole array rather than each entry sets ``Terms.groups``: the
entries of one group are then compared norm-wise, ||A - B||_2 over the group <= tol (one value
per group, repeated on its entries), and the pair's ``worst`` is the entry with the largest
|A_k - B_k| in the worst group (see :func:`normwise`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from .compare import FAILING, Agreement, Status, compare, ratio_of


@dataclass(frozen=True)
class Terms:
    """What an error source holds one pair to, entry by entry (arrays of one shape (K,)).

    ``values`` and ``reference`` are compared (|values - reference| <= tol, or <= tol + allowance
    for 'kink'); they are the pair's own values, or what the source holds them to (a value
    against the nearest end of a kink's subdifferential).  ``unverified``: entries where an
    agreement cannot confirm a gradient; ``doubtful``: no entry can (f quantised).  ``why``:
    the reason text for the status at the deciding entry (empty when the source has none)."""

    values: np.ndarray
    reference: np.ndarray
    tol: np.ndarray
    allowance: np.ndarray | None = None
    unverified: np.ndarray | None = None
    doubtful: bool = False
    why: Callable[[Status, int], str] | None = None
    #: group id per entry (None: entry by entry): each group compared norm-wise, see normwise
    groups: np.ndarray | None = None


class ErrorSource(Protocol):
    """Where a pair's tolerances come from: ``terms(a, b, index)`` for methods a and b at the
    entries ``index`` (None: every entry)."""

    def terms(self, a: str, b: str, index: np.ndarray | None) -> Terms: ...


@dataclass(frozen=True)
class Pair:
    """Two methods compared coordinate by coordinate (or along directions).

    ``worst`` is the entry that decides the status (the first non-finite one, the first that
    cannot be verified, else the largest |diff| / tol), with both values there, their relative
    error, the bound ``tol`` it was held to (with the kink allowance unless the pair agrees) and
    |diff| / tol.  ``max_rel_err`` is the largest relative error over all entries (NaN when a
    value is not finite).  ``reason``: why the pair cannot verify, or what it was held to at a
    kink of f (empty when nothing needs saying)."""

    a: str
    b: str
    status: Status
    worst: int
    value_a: float
    value_b: float
    rel_err: float
    max_rel_err: float
    tol: float
    ratio: float
    reason: str = ""

    @property
    def tol_rel(self) -> float:
        """The bound at ``worst`` relative to max(|value_a|, |value_b|) (the bound itself at 0)."""
        scale = np.maximum(abs(self.value_a), abs(self.value_b))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return float(np.float64(self.tol) / scale) if scale > 0 else self.tol


def pair(a: str, b: str, va: np.ndarray, vb: np.ndarray, terms: Terms, index: np.ndarray | None = None) -> Pair:
    """Methods a and b, with values va and vb (K,), judged by the one comparison against ``terms``;
    ``index`` maps entry k to the flat index reported as ``worst`` (default k)."""
    res = (
        compare(terms.values, terms.reference, terms.tol, terms.allowance) if terms.groups is None else normwise(terms)
    )
    status, k = res.status, res.worst
    if status == "agree" and (terms.doubtful or (terms.unverified is not None and terms.unverified.any())):
        status = "cannot verify"
        if terms.unverified is not None and terms.unverified.any():
            k = int(np.flatnonzero(terms.unverified)[0])
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.abs(va - vb)
        scale = np.maximum(np.abs(va), np.abs(vb))
        rel = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), 0.0)
    limit = float(res.limit[k])
    return Pair(
        a,
        b,
        status,
        int(k if index is None else index[k]),
        float(va[k]),
        float(vb[k]),
        float(rel[k]),
        float(np.max(rel)) if status != "non-finite" else float("nan"),
        limit,
        ratio_of(float(res.diff[k]), limit),
        terms.why(status, k) if terms.why is not None else "",
    )


def normwise(terms: Terms) -> Agreement:
    """The one comparison applied to groups of entries: n_k = ||values - reference||_2 over the group
    of entry k against tol_k (+ allowance_k), so that every entry of a group shares its status; the
    deciding entry is the first non-finite one of the worst group, else its largest |diff|.
    ``diff`` of the result holds n_k (|diff| / tol is the group's ratio)."""
    values = np.asarray(terms.values, dtype=np.float64)
    reference = np.asarray(terms.reference, dtype=np.float64)
    groups = np.asarray(terms.groups)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(values - reference)
        ids, inverse = np.unique(groups, return_inverse=True)
        norms = np.sqrt(np.bincount(inverse, weights=diff**2, minlength=ids.size))
    res = compare(norms[inverse], np.zeros_like(diff), terms.tol, terms.allowance)
    members = np.flatnonzero(inverse == inverse[res.worst])
    bad = members[~np.isfinite(diff[members])]
    worst = int(bad[0]) if bad.size else int(members[np.argmax(diff[members])])
    return replace(res, worst=worst)


def judge(
    names: Sequence[str], values: dict[str, np.ndarray], source: ErrorSource, index: np.ndarray | None = None
) -> list[Pair]:
    """Every pair of ``names`` (in order) compared at the entries ``index`` (None: all)."""
    sl = slice(None) if index is None else index
    return [
        pair(a, b, values[a][sl], values[b][sl], source.terms(a, b, index), index)
        for a, b in itertools.combinations(names, 2)
    ]


def odd_one_out(names: Sequence[str], pairs: Sequence[Pair]) -> str | None:
    """The one method whose every pair fails while every pair without it agrees (None with fewer
    than three methods, without a failing pair, or when no single method explains the failures)."""
    if len(names) < 3:
        return None
    failing = {(p.a, p.b) for p in pairs if p.status in FAILING}
    if not failing:
        return None
    for m in names:
        if {(p.a, p.b) for p in pairs if m in (p.a, p.b)} == failing:
            return m
    return None
