"""The difference schemes of gd_torch.gradients.numeric, on any objective L of a stack of weights.

For coordinate j with step h_j and unit vector e_j:

    central     (L(W + h e_j) - L(W - h e_j)) / 2h        truncation ~ h^2 L''' / 6
    forward     (L(W + h e_j) - L(W)) / h                  truncation ~ h L'' / 2
    richardson  (4 D(h/4) - D(h/2)) / 3 on central D       truncation ~ h^4
    complex     Im L(W + i h e_j) / h                      no subtraction: exact to rounding
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..verdict.difference_error import difference_error

#: each scheme's formula, for reports (the methods 'numeric:<scheme>' of the registry)
DESCRIPTIONS: dict[str, str] = {
    "central": "(L(W + h e_j) - L(W - h e_j)) / 2h",
    "forward": "(L(W + h e_j) - L(W)) / h",
    "richardson": "(4 D(h/4) - D(h/2)) / 3 on central differences D",
    "complex": "Im L(W + i h e_j) / h",
}
#: operations per loss term on the imaginary part (complex step): each may round at the subnormal level
_UNDERFLOW_OPS = 4


@dataclass(frozen=True)
class NumericGradient:
    """A finite-difference gradient, the steps used and (optionally) its estimated error."""

    grad: np.ndarray
    steps: np.ndarray
    error: np.ndarray | None
    evaluations: int


def _moved(W: np.ndarray, step: np.ndarray, J: np.ndarray) -> np.ndarray:
    # the rows W + step_j e_j for the coordinates j of J: (len(J), D), in step's dtype (real or complex)
    Wb = np.repeat(W[None, :].astype(step.dtype), len(J), axis=0)
    Wb[np.arange(len(J)), J] += step[J]
    return Wb


def _central(W, L, h, J, state):
    d = len(J)
    vals = L(np.concatenate([_moved(W, h, J), _moved(W, -h, J)]))
    return (vals[:d] - vals[d:]) / (2 * h[J]), 2 * d, np.maximum(np.abs(vals[:d]), np.abs(vals[d:]))


def _forward(W, L, h, J, state):
    # L(W) rides with the first block of coordinates (one pass over X when D fits one block)
    if "f0" in state:
        vals, count = L(_moved(W, h, J)), len(J)
    else:
        both = L(np.concatenate([W[None, :], _moved(W, h, J)]))
        state["f0"], vals, count = both[0], both[1:], len(J) + 1
    f0 = state["f0"]
    return (vals - f0) / h[J], count, np.maximum(np.abs(vals), np.abs(f0))


def _richardson(W, L, h, J, state):
    # two central differences, at h/2 and h/4, combined to cancel the h^2 term
    d_half, n1, s1 = _central(W, L, _realised(W, h / 2), J, state)
    d_quarter, n2, s2 = _central(W, L, _realised(W, h / 4), J, state)
    return (4 * d_quarter - d_half) / 3, n1 + n2, np.maximum(s1, s2)


def _complex(W, L, h, J, state):
    vals = L(_moved(W, 1j * h.astype(np.result_type(W.dtype, np.complex64)), J))
    return vals.imag / h[J], len(J), np.abs(vals.real)


_RULES = {"central": _central, "forward": _forward, "richardson": _richardson, "complex": _complex}
#: bytes of the stack of perturbed weight vectors per call of L: the coordinates go in blocks of
#: columns so that a wide problem (D = 50,000) never forms the D x D stack
_STACK_BYTES = 32 << 20


def _by_blocks(rule, W, L, h, scheme):
    # the rule over blocks of coordinates: (g, evaluations, sizes), each (D,) as in one call
    itemsize = np.dtype(np.result_type(W.dtype, np.complex64) if scheme == "complex" else W.dtype).itemsize
    cols = max(1, _STACK_BYTES // (2 * W.shape[0] * itemsize))  # central's 2 rows per coordinate
    state: dict = {}
    parts = [rule(W, L, h, np.arange(s, min(s + cols, W.shape[0])), state) for s in range(0, W.shape[0], cols)]
    g, counts, size = zip(*parts, strict=True)
    return np.concatenate(g), sum(counts), np.concatenate(size)


def _realised(W: np.ndarray, h: np.ndarray) -> np.ndarray:
    # the step that floating point actually takes: (W + h) - W, never exactly 0
    r = (W + h) - W
    return np.where(r != 0, r, h)


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
    """The finite differences of any objective ``L`` at W, with steps h (:func:`default_steps`,
    :func:`scaled_steps` or the caller's, before rounding).

    L : maps a stack of weight vectors Wb, shape (k, D), real or complex, to the k values
        L(Wb[i]) (:func:`evaluate` on one X; an all-reduced sum of row blocks in gd_torch.distributed)
    n_samples : the number of loss terms L sums (the complex step's underflow floor grows with it)
    f_noise, f_rel : as in :func:`estimate`

    The coordinates are taken in blocks of columns, the stack of one call of L at most about
    32 MiB: memory O(block x D), never the D x D stack of every perturbation at once.
    """
    if scheme != "complex":
        h = _realised(W, h)
    rule = _RULES[scheme]
    g, count, size = _by_blocks(rule, W, L, h, scheme)
    error = None
    if f_noise is not None and scheme == "complex":
        # no subtraction, and a truncation of h^2 |d3L| / 6 ~ eps^4: what is left is underflow.
        # X_ij h can be subnormal, where the imaginary parts keep only an absolute accuracy of
        # the smallest subnormal s: a few operations per term, N terms, divided by h.
        error = np.full(W.shape, _UNDERFLOW_OPS * n_samples * float(np.finfo(W.dtype).smallest_subnormal)) / h
    elif f_noise is not None:
        g2, count2, size2 = _by_blocks(rule, W, L, _realised(W, 2 * h), scheme)
        count += count2
        noise = np.maximum(f_noise, f_rel * np.maximum(size, size2))
        error = difference_error(g, g2, scheme, noise, h)
    return NumericGradient(g.astype(W.dtype), h, error, count)
