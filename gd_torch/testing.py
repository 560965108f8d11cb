"""Assertions for your own test suite: pass silently, or fail with the checker's summary.

    from gd_torch.testing import assert_function_gradient_close

    def test_my_backprop():
        assert_function_gradient_close(loss, params, my_backprop, torch_f=torch_loss)

The AssertionError's message is the report's summary: which method is the odd one out, the
worst coordinate with every value there, and the tolerance it was held to.  No atol or rtol:
the tolerances come from the measured noise of the function (see gd_torch.check_function).
"""

from __future__ import annotations

from typing import Any

from .function_check import check_function
from .function_report import FunctionReport

__all__ = ["assert_function_gradient_close"]


def assert_function_gradient_close(
    f: Any,
    params: Any,
    grad: Any = None,
    *,
    torch_f: Any = None,
    mode: str = "full",
    directions: int = 4,
    batched: bool = False,
    seed: int = 0,
) -> FunctionReport:
    """Raise AssertionError unless every gradient of f at params agrees; return the report.

    The arguments are those of :func:`gd_torch.check_function`.  Bad arguments still raise
    GdTorchError (a ValueError), not AssertionError: a broken test is not a failed check.
    """
    report = check_function(
        f, params, grad, torch_f=torch_f, mode=mode, directions=directions, batched=batched, seed=seed
    )
    if not report.ok:
        raise AssertionError("gradient check failed\n" + report.summary())
    return report


# ---- the one-neuron model ------------------------------------------------------------
# assert_gradient_close(W, X, y, ...) for gd_torch.check (the integrator adds it here, with
# the same contract: silent on agreement, AssertionError(report.summary()) otherwise).
