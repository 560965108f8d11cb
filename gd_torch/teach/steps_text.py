"""The text of a :class:`gd_torch.teach.steps.StepsResult`: h against each scheme's error, then the
best, predicted and checker's steps per scheme."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .steps_curves import REGIME_MARGIN, StepSweep


def table(
    sweeps: Mapping[str, StepSweep],
    steps: np.ndarray,
    per_decade: int = 1,
    *,
    loss: str,
    activation: str,
    coordinate: int,
    shape: tuple[int, int],
) -> str:
    """:meth:`gd_torch.teach.steps.StepsResult.table`: a heading naming the problem (dL/dW_coordinate
    of loss and activation on data of ``shape``), then per dtype ``per_decade`` rows per decade of
    ``steps`` (shape (H,)) and each scheme's steps and slope."""
    every = max(1, round((len(steps) - 1) / np.log10(steps.max() / steps.min()) / per_decade))
    lines = [
        f"dL/dW_{coordinate} of loss={loss}, activation={activation}, N={shape[0]}, "
        f"D={shape[1]}; relative error |g_h - g| / |g| against g in long double"
    ]
    for sw in sweeps.values():
        lines += ["", *_sweep_lines(sw, steps, every)]
    return "\n".join(lines)


def _sweep_lines(sw: StepSweep, steps: np.ndarray, every: int) -> list[str]:
    names = list(sw.curves)
    lines = [
        f"{sw.dtype} (eps {sw.eps:.2g}): f = L(W) = {sw.value:.6g}, g = {sw.exact:.10g}, "
        f"rounding floor of an exact method {sw.floor:.1e}",
        f"{'h':>8} " + " ".join(f"{n:>11}" for n in names),
    ]
    for i in range(0, len(steps), every):
        lines.append(f"{steps[i]:>8.0e} " + " ".join(f"{sw.curves[n].errors[i]:>11.1e}" for n in names))
    lines.append(
        f"{'scheme':<11} {'best h':>8} {'error':>8} | {'predicted h':>11} {'error':>8} | {'checker h':>9} "
        f"{'error':>8} | {'lowest at':>9} {'error':>8} |  slope (expected)"
    )
    for n, c in sw.curves.items():
        (hb, eb), (hl, el) = c.best, c.lowest
        lines.append(
            f"{n:<11} {hb:>8.1e} {eb:>8.1e} | {c.predicted_step:>11.1e} {c.predicted_error:>8.1e} | "
            f"{c.chosen_step:>9.1e} {c.chosen_error:>8.1e} | {hl:>9.1e} {el:>8.1e} | {_slope(c.slope())} ({c.order})"
        )
    lines.append(
        "best: where the median error over one decade of h is lowest; lowest: a single step, "
        "where truncation and rounding may cancel by luck"
    )
    unfitted = [n for n, c in sw.curves.items() if np.isnan(c.slope())]
    if unfitted:
        lines.append(
            f"no fit ({', '.join(unfitted)}): fewer than 3 steps where truncation dominates "
            f"(above {REGIME_MARGIN:g} x rounding, its leading term accurate), too few to fit a slope"
        )
    return lines


def _slope(value: float) -> str:
    # the fitted slope, or "no fit" where StepCurve.slope had too few points (NaN)
    return "no fit" if np.isnan(value) else f"{value:6.2f}"
