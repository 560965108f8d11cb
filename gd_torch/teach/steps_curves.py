"""One finite-difference scheme's error against the step h (:class:`SchemeCurve`) and every
scheme's on one problem in one dtype (:class:`StepSweep`): what :func:`gd_torch.teach.steps.step_sweep`
measures and predicts, read by its text and its figure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the truncation regime: truncation above REGIME_MARGIN x rounding, the next term below 1/REGIME_MARGIN of it
REGIME_MARGIN = 10.0


@dataclass(frozen=True)
class SchemeCurve:
    """One scheme's relative error |g_h - g| / |g| at each step, beside its predictions.

    ``steps``, ``errors``, ``truncation`` (C h^p / |g|), ``rounding`` (amp eps |f| / (h |g|))
    and ``asymptotic`` (the next Taylor term is below 1/REGIME_MARGIN of the leading one) all
    have shape (H,).  ``chosen_step`` is the checker's default step (step_rules.default_steps).
    """

    scheme: str
    order: int
    steps: np.ndarray
    errors: np.ndarray
    truncation: np.ndarray
    rounding: np.ndarray
    asymptotic: np.ndarray
    chosen_step: float
    chosen_error: float
    predicted_step: float
    predicted_error: float

    @property
    def lowest(self) -> tuple[float, float]:
        """(step, error) of the smallest error measured at a single step.  Near the best step the
        signed truncation error and the random rounding error can cancel at one step by luck,
        so this can lie far below what the scheme delivers; see :attr:`best`."""
        i = int(np.nanargmin(self.errors))
        return float(self.steps[i]), float(self.errors[i])

    @property
    def best(self) -> tuple[float, float]:
        """(step, error) where the median error over one decade of steps around it is smallest:
        the error one can count on near that step, not a lucky cancellation."""
        decades = np.log10(self.steps)
        medians = [np.median(self.errors[np.abs(decades - c) <= 0.5]) for c in decades]
        i = int(np.nanargmin(medians))
        return float(self.steps[i]), float(medians[i])

    @property
    def truncation_regime(self) -> np.ndarray:
        """Steps where truncation dominates: above REGIME_MARGIN x rounding, its leading term accurate."""
        return self.asymptotic & (self.truncation > REGIME_MARGIN * self.rounding) & (self.errors > 0)

    def slope(self) -> float:
        """Least-squares slope of log(error) against log(h) in the truncation regime (nan if < 3 points)."""
        sel = self.truncation_regime
        if sel.sum() < 3:
            return float("nan")
        return float(np.polyfit(np.log10(self.steps[sel]), np.log10(self.errors[sel]), 1)[0])


@dataclass(frozen=True)
class StepSweep:
    """All schemes on the problem in one dtype: f = L(W), g = dL/dW_j (long double), d_k."""

    dtype: str
    eps: float
    value: float
    exact: float
    derivatives: dict[int, float]
    #: relative rounding error of a method exact up to rounding (gd_torch.precision.errormodel)
    floor: float
    curves: dict[str, SchemeCurve]
