"""The picture of :func:`gd_torch.teach.steps.step_sweep`: error against step, log-log, one panel per dtype.

Each scheme's measured relative error is a solid line; its predicted truncation C h^p (slope p)
is dashed and its rounding k eps |f| / h (slope -1; k, the scheme's noise amplification, is
spelt out in the legend) dash-dotted, in the scheme's colour; the checker's default step is a
star.  Each scheme's label, colour (the Okabe-Ito palette, safe for colour-blind readers) and
marker are its ``style`` (gd_torch.gradients.schemes.SCHEMES).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .._errors import bad_value
from ..gradients.schemes import SCHEMES
from ..train.plots import save_figure
from .steps import StepsResult
from .steps_curves import StepSweep

#: errors of exactly 0 (the result equals the exact g to the last bit) are drawn at this height
ZERO_DRAWN = 1e-17
#: predicted lines are drawn up to this relative error
PREDICTED_MAX = 3.0


def steps_figure(result: StepsResult) -> Figure:
    """The figure (not yet saved): one log-log panel per dtype, a shared legend below."""
    if not isinstance(result, StepsResult):
        raise bad_value("result", type(result).__name__, "a StepsResult from gd_torch.teach.steps.step_sweep")
    n = len(result.sweeps)
    fig = Figure(figsize=(6.4 * n, 6.0), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False, sharey=True)[0]
    # room above the measured errors for the note on W_j + h == W_j
    top = 30 * max(1.0, max(np.nanmax(c.errors) for sw in result.sweeps.values() for c in sw.curves.values()))
    for ax, sw in zip(axes, result.sweeps.values(), strict=True):
        _panel(ax, sw, result.steps, top)
    axes[0].set_ylabel("relative error  |g_h - g| / |g|")
    fig.legend(handles=_legend(result), loc="outside lower center", ncols=4, fontsize=9, frameon=False)
    w = ", ".join(f"{v:.3g}" for v in result.W)
    fig.suptitle(
        f"Why h cannot go to 0: finite differences of dL/dW_{result.coordinate} against the step h\n"
        f"loss={result.loss}, activation={result.activation}, N={result.shape[0]}, D={result.shape[1]}, "
        f"W = [{w}]; g exact in long double.  Left of each minimum rounding wins (slope -1), right of it truncation",
        fontsize=11,
    )
    return fig


def plot_steps(result: StepsResult, path: str | Path) -> Path:
    """Draw :func:`steps_figure` and write it atomically to ``path`` (a .png); return the path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise bad_value("path", str(path), "a path ending in .png")
    return save_figure(steps_figure(result), path)


def _panel(ax, sw: StepSweep, h: np.ndarray, top: float) -> None:
    lo_x, hi_x = h.min() / 4, h.max() * 2
    zeros = 0
    for name, c in sw.curves.items():
        colour, marker = SCHEMES[name].style.colour, SCHEMES[name].style.marker
        zeros += int((c.errors == 0).sum())
        shown = np.where(c.errors == 0, ZERO_DRAWN, c.errors)
        ax.loglog(h, shown, "-", color=colour, marker=marker, ms=3.5, markevery=4, lw=1.5, alpha=0.8)
        # each prediction drawn where it is within a factor 10 of being the larger one
        # predictions of errors above PREDICTED_MAX (100%, or several times it) say nothing more
        t = np.where((c.truncation > 0.1 * c.rounding) & (c.truncation < PREDICTED_MAX), c.truncation, np.nan)
        ax.loglog(h, t, "--", color=colour, lw=1.4, zorder=3)  # on top: it runs along the measured line
        r = np.where((c.rounding > 0.1 * c.truncation) & (c.rounding < PREDICTED_MAX), c.rounding, np.nan)
        ax.loglog(h, r, "-.", color=colour, lw=1.2, zorder=3)
        x = max(c.chosen_step, lo_x)  # the complex step's eps^2 lies far left of the sweep
        ax.plot(x, max(c.chosen_error, ZERO_DRAWN), "*" if x == c.chosen_step else "<", color=colour, ms=15, mec="k")
        if x != c.chosen_step:
            ax.annotate(f"h = {c.chosen_step:.1e}", (x, max(c.chosen_error, ZERO_DRAWN)), xytext=(4, 9),
                        textcoords="offset points", fontsize=8, color="k")  # fmt: skip
    ax.set_xlim(lo_x, hi_x)
    ax.set_yticks(10.0 ** np.arange(-16, np.log10(top), 2))  # every second decade labelled
    ax.set_ylim(ZERO_DRAWN / 3, top)
    ax.set_xlabel("step h")
    zero_note = f"\n{zeros} errors exactly 0 (no bit wrong) drawn at {ZERO_DRAWN:g}" if zeros else ""
    ax.set_title(
        f"{sw.dtype} (eps = {sw.eps:.2g}): f = L(W) = {sw.value:.4g}, g = {sw.exact:.6g}{zero_note}", fontsize=10
    )
    ax.grid(True, which="major", alpha=0.3)
    vanished = [h[c.errors == 1.0].min() for c in sw.curves.values() if (c.errors == 1.0).sum() >= 3]
    if vanished:  # the difference is exactly 0: W_j + h rounds to W_j
        ax.annotate("W_j + h == W_j: nothing left to subtract (error 1)", (min(vanished), 1.0), xytext=(2, 5),
                    textcoords="offset points", fontsize=8)  # fmt: skip


def _rounding_label(names: list[str]) -> str:
    # the rounding line's formula with each scheme's factor k (its noise amplification) spelt out;
    # a scheme that subtracts nothing stays at eps
    schemes = [SCHEMES[n] for n in names]
    k = ", ".join(f"{s.noise_amplification:g} {s.style.label}" for s in schemes if s.subtracts)
    tail = "".join(f"; {s.style.label}: eps" for s in schemes if not s.subtracts)
    return f"predicted rounding  k eps |f| / h\n(k, noise amplification: {k}{tail})"


def _legend(result: StepsResult) -> list[Line2D]:
    names = list(dict.fromkeys(n for sw in result.sweeps.values() for n in sw.curves))
    orders = {n: c.order for sw in result.sweeps.values() for n, c in sw.curves.items()}
    styles = {n: SCHEMES[n].style for n in names}
    handles = [
        Line2D([], [], color=st.colour, marker=st.marker, ms=5, label=f"{st.label} (slope {orders[n]})")
        for n, st in styles.items()
    ]
    grey = "0.35"
    return handles + [
        Line2D([], [], color=grey, ls="-", label="measured error"),
        Line2D([], [], color=grey, ls="--", label="predicted truncation  C h^p"),
        Line2D([], [], color=grey, ls="-.", label=_rounding_label(names)),
        Line2D([], [], color=grey, ls="", marker="*", ms=12, mec="k", label="the checker's default step"),
    ]
