"""The finite-difference schemes: each a :class:`Scheme` value carrying its data and its rule,
in one registry :data:`SCHEMES` that every consumer reads (the checker's methods, the steps,
the error estimate, gd_torch.teach.steps and its picture, the benchmark plan).

For coordinate j with step h_j and unit vector e_j:

    central     (L(W + h e_j) - L(W - h e_j)) / 2h        truncation ~ h^2 L''' / 6
    forward     (L(W + h e_j) - L(W)) / h                  truncation ~ h L'' / 2
    richardson  (4 D(h/4) - D(h/2)) / 3 on central D       truncation ~ h^4
    complex     Im L(W + i h e_j) / h                      no subtraction: exact to rounding

Adding a scheme is one :class:`Scheme` in :data:`SCHEMES`: gd_torch.gradients registers its
method 'numeric:<name>' from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._errors import bad_value
from ..base import validate as _validate
from ..precision.difference_error import difference_error

#: rule(W, L, h, J, state) -> (differences for the coordinates J, evaluations of L, sizes of the
#: values subtracted): the scheme on the block of coordinates J (state: kept between blocks)
Rule = Callable[[np.ndarray, Callable[[np.ndarray], np.ndarray], np.ndarray, np.ndarray, dict], tuple]


@dataclass(frozen=True)
class Term:
    """One term of a scheme's truncation series, ``coefficient * h^power * d_derivative`` with
    d_k = phi^(k)(0), phi(t) = L(W + t e_j)."""

    power: int
    coefficient: float
    derivative: int


@dataclass(frozen=True)
class Style:
    """How gd_torch.teach.steps_plot draws a scheme: legend label, colour (Okabe-Ito), marker."""

    label: str
    colour: str
    marker: str


@dataclass(frozen=True)
class Scheme:
    """A finite-difference scheme and everything its consumers need to know about it.

    ``series``: the leading truncation term and the next, D(h) - g = c h^p d_k + c2 h^p2 d_k2 + ...
    ``noise_amplification``: k in |rounding| <= k noise / h (0: the scheme subtracts nothing).
    ``step_exponent``: p in the default z-space step t = r^p (r: the relative rounding noise of
    one evaluation of L; for a scheme that subtracts nothing, t = eps^p).
    ``smallest_step``: the smallest step the rule takes, as a fraction of h (Richardson's h / 4).
    ``cost``: evaluations of L per coordinate, ``cost_once`` those made once (forward's L(W)).
    ``imaginary``: the rule evaluates L at W + i h e_j (complex arithmetic, which needs an
    activation analytic in z).  Every field is checked when the Scheme is made.
    """

    name: str
    formula: str
    rule: Rule
    series: tuple[Term, Term]
    noise_amplification: float
    step_exponent: float
    style: Style
    cost: int
    cost_once: int = 0
    smallest_step: float = 1.0
    imaginary: bool = False

    @property
    def order(self) -> int:
        """p: the truncation error is of order h^p."""
        return self.series[0].power

    @property
    def truncation_constant(self) -> float:
        """c of the leading truncation term c h^p d_k."""
        return self.series[0].coefficient

    @property
    def subtracts(self) -> bool:
        """Whether the scheme subtracts values of L (its step balances truncation against their rounding noise)."""
        return self.noise_amplification > 0

    @property
    def needs_smooth(self) -> bool:
        """Whether the activation must be analytic in z (the complex step), not merely piecewise smooth."""
        return self.imaginary

    @property
    def truncation_denom(self) -> float:
        """D(h) - D(2h) = c h^p (1 - 2^p): the truncation is |D(h) - D(2h)| / (2^p - 1); inf (none
        read off) for a scheme that subtracts nothing."""
        return float(2**self.order - 1) if self.subtracts else np.inf

    @property
    def min_ulps(self) -> float:
        """The smallest default step in units of u |W_j|: 64 ulps for the smallest step the rule
        takes (64 / smallest_step); none for a scheme that subtracts nothing."""
        return 64.0 / self.smallest_step if self.subtracts else 0.0

    def __post_init__(self) -> None:
        _check_fields(self)

    def evaluations(self, d: int) -> int:
        """Evaluations of L for the d coordinates of one pass: cost d + cost_once."""
        return self.cost * d + self.cost_once


def _check_fields(s: Scheme) -> None:
    """Refuse a Scheme whose fields could not work (a GdTorchError naming the field), before it is used."""
    if not isinstance(s.name, str) or not s.name.isidentifier():
        raise bad_value("scheme.name", s.name, "an identifier (its method is 'numeric:<name>')")
    if not isinstance(s.formula, str) or not s.formula:
        raise bad_value("scheme.formula", s.formula, "a non-empty text")
    if not callable(s.rule):
        raise bad_value("scheme.rule", s.rule, "a function rule(W, L, h, J, state)")
    if not (isinstance(s.series, tuple) and len(s.series) == 2 and all(isinstance(t, Term) for t in s.series)):
        raise bad_value("scheme.series", s.series, "two Terms: the leading truncation term and the next")
    for i, t in enumerate(s.series):
        _validate.integer(f"scheme.series[{i}].power", t.power, minimum=1)
        _validate.number(f"scheme.series[{i}].coefficient", t.coefficient, minimum=0)
        _validate.integer(f"scheme.series[{i}].derivative", t.derivative, minimum=2)
    if s.series[1].power <= s.series[0].power:
        raise bad_value("scheme.series[1].power", s.series[1].power, f"a power above the leading {s.series[0].power}")
    _validate.number("scheme.noise_amplification", s.noise_amplification, minimum=0)
    _validate.number("scheme.step_exponent", s.step_exponent, above=0)
    _validate.number("scheme.smallest_step", s.smallest_step, above=0, maximum=1)
    _validate.integer("scheme.cost", s.cost, minimum=1)
    _validate.integer("scheme.cost_once", s.cost_once, minimum=0)
    if not isinstance(s.style, Style):
        raise bad_value("scheme.style", s.style, "a Style(label, colour, marker)")
    if not isinstance(s.imaginary, bool):
        raise bad_value("scheme.imaginary", s.imaginary, "True or False")


def moved(W: np.ndarray, step: np.ndarray, J: np.ndarray) -> np.ndarray:
    """The points W + step_j e_j for the coordinates j of J, shape (len(J), D), in step's dtype
    (real or complex): what a rule stacks for one call of L."""
    Wb = np.repeat(W[None, :].astype(step.dtype), len(J), axis=0)
    Wb[np.arange(len(J)), J] += step[J]
    return Wb


def realised(W: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The step that floating point actually takes: (W + h) - W, never exactly 0."""
    r = (W + h) - W
    return np.where(r != 0, r, h)


def _central(W, L, h, J, state):
    d = len(J)
    vals = L(np.concatenate([moved(W, h, J), moved(W, -h, J)]))
    return (vals[:d] - vals[d:]) / (2 * h[J]), 2 * d, np.maximum(np.abs(vals[:d]), np.abs(vals[d:]))


def _forward(W, L, h, J, state):
    # L(W) rides with the first block of coordinates (one pass over X when D fits one block)
    if "f0" in state:
        vals, count = L(moved(W, h, J)), len(J)
    else:
        both = L(np.concatenate([W[None, :], moved(W, h, J)]))
        state["f0"], vals, count = both[0], both[1:], len(J) + 1
    f0 = state["f0"]
    return (vals - f0) / h[J], count, np.maximum(np.abs(vals), np.abs(f0))


def _richardson(W, L, h, J, state):
    # two central differences, at h/2 and h/4, combined to cancel the h^2 term
    d_half, n1, s1 = _central(W, L, realised(W, h / 2), J, state)
    d_quarter, n2, s2 = _central(W, L, realised(W, h / 4), J, state)
    return (4 * d_quarter - d_half) / 3, n1 + n2, np.maximum(s1, s2)


def _complex(W, L, h, J, state):
    vals = L(moved(W, 1j * h.astype(np.result_type(W.dtype, np.complex64)), J))
    return vals.imag / h[J], len(J), np.abs(vals.real)


#: every scheme, by name; the checker's methods follow this order ('numeric:central', ...)
SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        Scheme(
            "central",
            "(L(W + h e_j) - L(W - h e_j)) / 2h",
            _central,
            (Term(2, 1 / 6, 3), Term(4, 1 / 120, 5)),
            noise_amplification=1.0,
            step_exponent=1 / 3,
            style=Style("central", "#D55E00", "s"),
            cost=2,
        ),
        Scheme(
            "forward",
            "(L(W + h e_j) - L(W)) / h",
            _forward,
            (Term(1, 1 / 2, 2), Term(2, 1 / 6, 3)),
            noise_amplification=2.0,
            step_exponent=1 / 2,
            style=Style("forward", "#0072B2", "o"),
            cost=1,
            cost_once=1,
        ),
        Scheme(
            "richardson",
            "(4 D(h/4) - D(h/2)) / 3 on central differences D",
            _richardson,
            (Term(4, 1 / 7680, 5), Term(6, 5 / (1024 * 5040), 7)),
            noise_amplification=6.0,
            step_exponent=1 / 5,
            style=Style("Richardson", "#009E73", "^"),
            cost=4,
            smallest_step=0.25,
        ),
        Scheme(
            "complex",
            "Im L(W + i h e_j) / h",
            _complex,
            (Term(2, 1 / 6, 3), Term(4, 1 / 120, 5)),
            noise_amplification=0.0,
            step_exponent=2.0,
            style=Style("complex step", "#CC79A7", "D"),
            cost=1,
            imaginary=True,
        ),
    )
}


def by_order() -> list[Scheme]:
    """The schemes from the lowest truncation order up, those that subtract before those that
    do not (the order of gd_torch.teach.steps' sweep: forward, central, richardson, complex)."""
    return sorted(SCHEMES.values(), key=lambda s: (not s.subtracts, s.order))


@dataclass(frozen=True)
class NumericGradient:
    """A finite-difference gradient, the steps used and (optionally) its estimated error."""

    grad: np.ndarray
    steps: np.ndarray
    error: np.ndarray | None
    evaluations: int


#: operations per loss term on the imaginary part (complex step): each may round at the subnormal level
_UNDERFLOW_OPS = 4
#: bytes of the stack of perturbed weight vectors per call of L: the coordinates go in blocks of
#: columns so that a wide problem (D = 50,000) never forms the D x D stack
_STACK_BYTES = 32 << 20


def _by_blocks(scheme: Scheme, W, L, h):
    # the rule over blocks of coordinates: (g, evaluations, sizes), each (D,) as in one call
    itemsize = np.dtype(np.result_type(W.dtype, np.complex64) if scheme.imaginary else W.dtype).itemsize
    cols = max(1, _STACK_BYTES // (2 * W.shape[0] * itemsize))  # central's 2 rows per coordinate
    state: dict = {}
    parts = [scheme.rule(W, L, h, np.arange(s, min(s + cols, W.shape[0])), state) for s in range(0, W.shape[0], cols)]
    g, counts, size = zip(*parts, strict=True)
    return np.concatenate(g), sum(counts), np.concatenate(size)


def differences(
    W: np.ndarray,
    L: Callable[[np.ndarray], np.ndarray],
    n_samples: int,
    *,
    scheme: str,
    h: np.ndarray,
    f_noise: float | None = None,
    f_rel: float = 0.0,
) -> NumericGradient:
    """The finite differences of any objective ``L`` at W by the scheme named ``scheme`` (a key of
    :data:`SCHEMES`), with steps h (gd_torch.gradients.step_rules' default or the caller's, before
    rounding).

    L : maps a stack of weight vectors Wb, shape (k, D), real or complex, to the k values
        L(Wb[i]) (gd_torch.gradients._fd_eval.evaluate on one X; an all-reduced sum of row blocks in gd_torch.distributed)
    n_samples : the number of loss terms L sums (the complex step's underflow floor grows with it)
    f_noise, f_rel : as in gd_torch.gradients.numeric.estimate

    With ``f_noise`` the error per coordinate: for a scheme that subtracts, the truncation read
    off the same difference at twice the step plus the rounding noise amplified by its weights
    (gd_torch.precision.difference_error); for one that subtracts nothing, only the floor left by
    subnormal underflow of X_ij h.  The coordinates are taken in blocks of columns, the stack of
    one call of L at most about 32 MiB: memory O(block x D), never the D x D stack of every
    perturbation at once.
    """
    s = SCHEMES[scheme]
    if not s.imaginary:
        h = realised(W, h)
    g, count, size = _by_blocks(s, W, L, h)
    error = None
    if f_noise is not None and not s.subtracts:
        # no subtraction, and a truncation of h^2 |d3L| / 6 ~ eps^4: what is left is underflow.
        # X_ij h can be subnormal, where the imaginary parts keep only an absolute accuracy of
        # the smallest subnormal s: a few operations per term, N terms, divided by h.
        error = np.full(W.shape, _UNDERFLOW_OPS * n_samples * float(np.finfo(W.dtype).smallest_subnormal)) / h
    elif f_noise is not None:
        g2, count2, size2 = _by_blocks(s, W, L, realised(W, 2 * h))
        count += count2
        noise = np.maximum(f_noise, f_rel * np.maximum(size, size2))
        error = difference_error(g, g2, s, noise, h)
    return NumericGradient(g.astype(W.dtype), h, error, count)
