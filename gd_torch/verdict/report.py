"""The one report of a gradient check: what :func:`gd_torch.check`, :func:`gd_torch.check_function`,
the distributed check and :mod:`gd_torch.testing` return.

Every path fills the common part (the methods' values and error estimates per coordinate or
direction, and every pair judged by :mod:`gd_torch.verdict.engine`); the one-neuron check adds
what its model knows (loss, activation, the data's shape, kinks, unresolved coordinates), the
function check what it measured (f's value and noise, the arrays, labels).  ``str()`` and
``summary()`` are the text of the error source that judged it (``text``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .compare import FAILING
from .engine import Pair, odd_one_out


class ReportText(Protocol):
    """The text of a report: ``table`` for ``str()``, ``summary`` for the verdict's lines."""

    def table(self, r: CheckReport) -> str: ...

    def summary(self, r: CheckReport) -> str: ...


@dataclass(frozen=True)
class Unresolved:
    """The coordinates (or the direction, coordinate 0 in directional mode) where ``method`` agrees
    with some method but no such pair resolves the coordinate: each agreeing pair's tolerance is
    at least S_j, the largest size the gradient coordinate can have
    (:func:`gd_torch.verdict.predicted.unresolved`).  ``tol`` is the smallest such tolerance at
    each coordinate, ``size`` S_j.  ``witness``: the method is a finite difference (an error
    estimate of its own), a witness rather than a gradient under test, so its being unresolved
    where the others resolve each other is a note, not a reason to call the check unverified (a
    method under test with no other resolving partner is listed in its own right)."""

    method: str
    coords: tuple[int, ...]
    tol: tuple[float, ...]
    size: tuple[float, ...]
    witness: bool = False


@dataclass(frozen=True)
class ArraySummary:
    """One parameter array of a function: every pair compared over its coordinates (or directions)."""

    name: str
    shape: tuple[int, ...]
    pairs: list[Pair]

    @property
    def ok(self) -> bool:
        return all(p.status == "agree" for p in self.pairs)


@dataclass(frozen=True, repr=False)
class CheckReport:
    """What a gradient check found.

    ``agree`` is True when no pair disagrees or is non-finite (differing only at a kink is fine);
    ``ok`` when, besides, no pair 'cannot verify', the data exercised every branch of the
    activation's derivative (``unexercised`` is empty) and every method under test agrees with
    some method at every coordinate within a tolerance smaller than the gradient's largest
    possible size there (``unverified`` is empty): an agreement that could not have caught an
    error is not OK.

    gradients, errors : method name -> float64 values (and error estimates) per coordinate
        (mode 'full') or per direction (v . g, mode 'directional').
    """

    dtype: str
    mode: str
    gradients: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    pairs: list[Pair]
    #: the text of the error source that judged the pairs
    text: ReportText = field(compare=False)
    # ---- the one-neuron model (gd_torch.check, the distributed check)
    loss: str | None = None
    activation: str | None = None
    #: (N, D) of the data
    shape: tuple[int, ...] = ()
    #: samples at (or within a method's reach of) a kink of the activation
    kinks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    #: the activation's kinks that no sample crosses, as (k, side): every z_i > k ('>'), < k ('<')
    #: or = k ('='); the derivative's branch beyond them was never exercised (kinks.one_sided)
    unexercised: tuple[tuple[float, str], ...] = ()
    #: the methods and coordinates that agree only within a tolerance as large as the gradient can
    #: be there (any value of that size would have agreed), see predicted.unresolved
    unresolved: tuple[Unresolved, ...] = ()
    #: for each unexercised kink, the samples on its missing side that no pair of methods can see
    #: there (within a finite difference's reach of it, or z's rounding): see kinks.hiding
    unseen: tuple[int, ...] = ()
    # ---- any function (gd_torch.check_function)
    #: the number of parameters
    size: int = 0
    f_value: float | None = None
    torch_value: float | None = None
    #: noise level of one evaluation of f (ECnoise), and how it was found
    noise: float | None = None
    noise_note: str = ""
    #: method name -> what it is
    methods: dict[str, str] = field(default_factory=dict)
    arrays: list[ArraySummary] = field(default_factory=list)
    #: flat index -> 'W1[3, 2]' (mode 'full') or 'W1 along v2' (mode 'directional')
    label: Callable[[int], str] = str
    evaluations: int = 0

    @property
    def odd_one_out(self) -> str | None:
        """The one method whose every pair fails while every pair without it agrees."""
        return odd_one_out(list(self.gradients), self.pairs)

    @property
    def agree(self) -> bool:
        """True when no pair disagrees or holds a non-finite value (differing only at a kink is fine)."""
        return all(p.status not in FAILING for p in self.pairs)

    @property
    def ok(self) -> bool:
        """True when every pair agrees (or differs only at a kink), none 'cannot verify', the data
        exercised every branch of the derivative and some agreeing pair resolves each method at
        each coordinate."""
        verifiable = all(p.status != "cannot verify" for p in self.pairs)
        return self.agree and verifiable and not self.unexercised and not self.unverified

    @property
    def unverified(self) -> tuple[Unresolved, ...]:
        """The unresolved methods under test (not finite-difference witnesses): what makes an
        agreeing check NOT VERIFIED besides an unexercised kink."""
        return tuple(u for u in self.unresolved if not u.witness)

    def failing(self) -> list[str]:
        """Methods in at least one failing pair."""
        return sorted({m for p in self.pairs if p.status in FAILING for m in (p.a, p.b)})

    def summary(self) -> str:
        """The verdict: OK, NOT VERIFIED, CANNOT VERIFY or FAIL, then a line per pair that does not agree."""
        return self.text.summary(self)

    def __str__(self) -> str:
        return self.text.table(self)

    def __repr__(self) -> str:
        return (
            f"CheckReport(ok={self.ok}, dtype={self.dtype!r}, mode={self.mode!r}, "
            f"methods={list(self.gradients)!r}, failing={self.failing()!r})"
        )
