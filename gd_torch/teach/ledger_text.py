"""The ledger printed: a header, one block per stage (a table of a few entries by hand, by
autograd and by finite differences, then the relative errors and notes), and torch's graph."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .graph import shape_text
from .records import Comparison, Stage

#: entries of each N-vector stage printed (plus the one with the largest gradient)
SHOWN = 3

_HEADER = (
    "each stage: the forward formula, its local derivative (of the stage's output with respect to its input),",
    "the gradient dL/d(stage) by hand, by torch autograd and by central differences of the downstream",
    f"computation, at the first {SHOWN} entries i of a stage and the one with the largest |dL/d(stage)|;",
    "rel err = max|g - hand| / max|hand|; agree = every entry within its predicted rounding tolerance",
)
_SKIPPED = (
    "entries not compared, a value is not finite there "
    "(a rounds to exactly 0 or 1, or a step in a cannot be taken so close to it)"
)
_KINK = (
    "  kink      the entries that differ have z within two steps (or z's rounding) of the activation's "
    "kink: each side takes its own one-sided slope there, and the difference is within what those "
    "samples can contribute; this is not a wrong derivation"
)


def ledger_text(problem: str, stages: Sequence[Stage], graph: str, ok: bool) -> str:
    """What ``str(explanation)`` prints: ``problem`` (loss, activation, dtype, N, D), the header,
    every stage, ``graph`` (torch's backward graph as text) and the verdict (``ok``: every stage agrees)."""
    lines = [problem, *_HEADER]
    for s in stages:
        lines.append("")
        lines.extend(stage_lines(s))
    lines.append("")
    lines.append("autograd graph (backward nodes from L to W; shape = the forward output each one differentiates):")
    lines.append(graph)
    lines.append("")
    lines.append(
        "OK: hand, autograd and finite differences agree at every stage"
        if ok
        else "MISMATCH at stage(s): " + ", ".join(s.name for s in stages if not s.ok)
    )
    return "\n".join(lines)


def stage_lines(s: Stage) -> list[str]:
    """One stage's block: formulas, the table of entries, relative errors and notes."""
    lines = [
        f"stage {s.name}: {s.forward}    shape {shape_text(s.value.shape)}",
        f"  local     {s.local}",
        f"  gradient  {s.upstream}",
    ]
    return lines + _entries_line(s) + _table(s) + _verdict_lines(s)


def status_text(c: Comparison) -> str:
    """The comparison's status as printed: agree, kink, NOT FINITE, not compared or DISAGREE."""
    return {"agree": "agree", "kink": "kink", "non-finite": "NOT FINITE", "": "not compared"}.get(c.status, "DISAGREE")


def _shown(hand: np.ndarray) -> list[int]:
    # the first SHOWN entries, and the one with the largest |dL/dT| when it is not among them
    shown = list(range(min(SHOWN, hand.shape[0])))
    if hand.shape[0] > SHOWN and np.isfinite(hand).any():
        big = int(np.nanargmax(np.abs(hand)))
        if big not in shown:
            shown.append(big)
    return shown


def _entries_line(s: Stage) -> list[str]:
    # which entries the table shows, and why: the first SHOWN, and the largest |dL/d(stage)| when extra
    hand = np.atleast_1d(s.hand)
    shown = _shown(hand)
    if s.value.ndim == 0 or len(shown) == hand.shape[0]:
        return []
    first = ", ".join(str(i) for i in shown[:SHOWN])
    why = f"i = {first} (the first {SHOWN} of {hand.shape[0]})"
    if len(shown) > SHOWN:
        why += f" and {shown[SHOWN]} (the largest |dL/d{s.name}|)"
    return [f"  entries   {why}"]


def _by_index(c: Comparison | None) -> dict[int, float]:
    return {} if c is None else dict(zip(c.index.tolist(), np.atleast_1d(c.values).tolist(), strict=True))


def _table(s: Stage) -> list[str]:
    # value, hand, autograd and finite differences at the entries shown ('-' where not computed)
    hand, value = np.atleast_1d(s.hand), np.atleast_1d(s.value)
    num, aut = _by_index(s.numeric), _by_index(s.autograd)
    head = "" if s.value.ndim == 0 else "i"
    lines = [f"  {head:>5} {s.name:>23} {'hand':>23} {'autograd':>23} {'finite diff':>23}"]
    for i in _shown(hand):
        a_txt = f"{aut[i]:>23.15e}" if i in aut else f"{'-':>23}"
        n_txt = f"{num[i]:>23.15e}" if i in num else f"{'-':>23}"
        label = "" if s.value.ndim == 0 else str(i)
        lines.append(f"  {label:>5} {value[i]:>23.15e} {hand[i]:>23.15e} {a_txt} {n_txt}")
    return lines


def _verdict_lines(s: Stage) -> list[str]:
    # relative errors with their status, then the notes: why autograd is absent, skipped entries,
    # a kink, values that are not finite
    a, m = s.autograd, s.numeric
    a_txt = (
        f"autograd -: {s.note}"
        if a is None
        else f"autograd {a.rel_err:.2e} ({status_text(a)}, |diff|/tol {a.ratio:.2g})"
    )
    lines = [f"  rel err   {a_txt};  finite diff {m.rel_err:.2e} ({status_text(m)}, |diff|/tol {m.ratio:.2g})"]
    if a is not None and s.note:
        lines.append(f"  note      {s.note}")
    for who, k in {"autograd": a.skipped if a else 0, "finite diff": m.skipped}.items():
        if k:
            lines.append(f"  skipped   {who}: {k} {_SKIPPED}")
    if m.kink or (a is not None and a.kink):
        lines.append(_KINK)
    for who, c in (("autograd", a), ("finite diff", m)):
        if c is not None and c.status == "non-finite":
            lines.append(f"  not finite {who}: inf or NaN at entries {c.failing[:5].tolist()} (never agreement)")
    return lines
