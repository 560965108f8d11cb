"""The ledger's records: one method's dL/dT held against the hand-derived one (:class:`Comparison`,
made by :func:`comparison` through the checking engine's one comparison,
:func:`gd_torch.verdict.compare.compare`, with its statuses), and one stage of the forward pass
with its three gradients (:class:`Stage`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

import numpy as np

from .._errors import bad_value
from ..verdict.compare import Status, compare


@dataclass(frozen=True)
class Comparison:
    """One method's dL/dT against the hand-derived one, entry by entry.

    ``values`` are the method's at the entries ``index``.  ``rel_err`` is normwise,
    max_i |g_i - hand_i| / max_i |hand_i|; ``agree`` is True when every compared entry satisfies
    |g_i - hand_i| <= tol_i, the tolerance predicted for the pair; ``ratio`` is |g_i - hand_i| / tol_i
    at the entry that decides (see :class:`gd_torch.verdict.compare.Agreement`).  A value that is not finite
    is never agreement (``status`` 'non-finite').
    """

    values: np.ndarray
    index: np.ndarray
    rel_err: float
    ratio: float
    #: entries left out because the value is not defined in floating point there (a cross-entropy's
    #: dL/da where a rounds to exactly 0 or 1; a step in a that cannot be taken so close to it)
    skipped: int = 0
    #: indices of the entries outside their tolerance (or not finite)
    failing: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    #: the engine's status ('agree', 'disagree', 'kink' or 'non-finite'); '' when nothing was compared
    status: Status | Literal[""] = ""

    @property
    def agree(self) -> bool:
        """Every compared entry within its tolerance (status 'agree')."""
        return self.status == "agree"

    @property
    def kink(self) -> bool:
        """Outside the tolerance only by what samples at the activation's kink can contribute."""
        return self.status == "kink"

    @property
    def ok(self) -> bool:
        """Agrees, or differs only across a kink, or had no defined entry to compare (see ``skipped``)."""
        return self.agree or self.kink or (self.status == "" and self.skipped > 0)


class Witnessed:
    """A stage checked by two witnesses: ``autograd`` (None where torch forms no dL/dT) and ``numeric``."""

    name: str
    autograd: Comparison | None
    numeric: Comparison

    @property
    def ok(self) -> bool:
        """Both witnesses agree with the hand-derived gradient (autograd where torch forms it)."""
        return self.numeric.ok and (self.autograd is None or self.autograd.ok)


@dataclass(frozen=True)
class Stage(Witnessed):
    """One tensor of the forward pass and the gradient dL/dT flowing into it.

    ``hand``, ``value`` have the stage's shape ((N,), (D,) or () for L).  ``autograd`` is None
    when torch never forms dL/dT (``note`` says why); ``numeric`` holds central differences
    at the entries ``numeric.index``.
    """

    name: str
    forward: str
    local: str
    upstream: str
    value: np.ndarray
    hand: np.ndarray
    autograd: Comparison | None
    numeric: Comparison
    note: str = ""


S = TypeVar("S", bound="Witnessed")


class Ledger(Generic[S]):
    """The stages of a ledger (one neuron, two layers), each checked by its witnesses."""

    stages: list[S]

    @property
    def ok(self) -> bool:
        """Every stage agrees: each available comparison within its predicted tolerance (or
        differing only across a kink)."""
        return all(s.ok for s in self.stages)

    def stage(self, name: str) -> S:
        """The stage called ``name`` ('L', 'z', 'W', ...)."""
        for s in self.stages:
            if s.name == name:
                return s
        raise bad_value("name", name, "one of " + ", ".join(repr(s.name) for s in self.stages))


def comparison(values, hand, index, tol, allowance=None, undefined=None) -> Comparison:
    """The engine's one comparison (:func:`gd_torch.verdict.compare.compare`) of ``values`` with ``hand`` at the
    entries ``index`` that are defined; the others are counted as skipped (a value that overflowed
    is not skipped: it is not finite, never agreement).  rel_err = max |g - hand| / max |hand|."""
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    index = np.asarray(index)
    ref = np.atleast_1d(np.asarray(hand, dtype=np.float64))[index]
    tol = np.broadcast_to(np.atleast_1d(tol), ref.shape)
    allow = np.zeros(ref.shape) if allowance is None else np.atleast_1d(allowance)[index]
    keep = np.ones(ref.shape, dtype=bool) if undefined is None else ~np.broadcast_to(undefined, ref.shape)
    skipped = int((~keep).sum())
    if not keep.any():
        return Comparison(values, index, float("nan"), float("nan"), skipped)
    res = compare(values[keep], ref[keep], tol[keep], allow[keep])
    scale = np.max(np.abs(ref[keep]))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rel = float(np.max(res.diff) / scale) if scale > 0 else float(np.max(res.diff))
    failing = index[keep][res.failing]
    return Comparison(values, index, rel, res.ratio, skipped, failing, res.status)
