"""Assertions for your own test suite: pass silently, or fail with the checker's summary.

    from gd_torch.testing import assert_function_gradient_close, assert_gradient_close

    def test_my_neuron_gradient():
        assert_gradient_close(my_grad, W, X, y, loss="sse")      # the one-neuron model

    def test_my_backprop():
        assert_function_gradient_close(loss, params, my_backprop, torch_f=torch_loss)

    def test_my_autograd_function():                         # torch code, any floating dtype
        assert_torch_gradient_close(MyLayerNorm.apply, x, w, b, reference=torch_layer_norm)

A failing assertion shows your test's line and the message, not gd_torch's source (each
assert_* sets pytest's ``__tracebackhide__``).  The AssertionError's message is the report's
summary: which method is the odd one out, the worst coordinate with every value there, and the
tolerance it was held to.  No atol or rtol: the tolerances come from the measured noise of the
function (see gd_torch.check_function).
"""

from __future__ import annotations

import functools
from typing import Any

from .verdict.checker import check
from .verdict.diagnosis import diagnose
from .verdict.function_checker import check_function
from .verdict.report import CheckReport
from .verdict.torch_checker import check_torch

__all__ = ["assert_function_gradient_close", "assert_gradient_close", "assert_torch_gradient_close"]


@functools.wraps(check_function, assigned=())  # check_function's signature, this docstring
def assert_function_gradient_close(*args: Any, **kwargs: Any) -> CheckReport:
    """Raise AssertionError unless every gradient of f at params agrees; return the report.

    The arguments are those of :func:`gd_torch.check_function`.  Bad arguments still raise
    GdTorchError (a ValueError), not AssertionError: a broken test is not a failed check.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this function's source
    report = check_function(*args, **kwargs)
    if not report.ok:
        raise AssertionError("gradient check failed\n" + report.summary())
    return report


@functools.wraps(check_torch, assigned=())  # check_torch's signature, this docstring
def assert_torch_gradient_close(*args: Any, **kwargs: Any) -> CheckReport:
    """Raise AssertionError unless fn's backward agrees with the float64 truth; return the report.

    The arguments are those of :func:`gd_torch.check_torch` (``fn, *inputs, reference=...``):
    the tolerance is K times the reference's own rounding in the inputs' dtype, measured, and
    the reference is checked by finite differences in float64.  Bad arguments raise
    GdTorchError (a ValueError), not AssertionError: a broken test is not a failed check.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this function's source
    report = check_torch(*args, **kwargs)
    if not report.ok:
        raise AssertionError("torch gradient check failed\n" + report.summary())
    return report


# ---- the one-neuron model ------------------------------------------------------------


def assert_gradient_close(
    grad: Any,
    W: Any,
    X: Any,
    y: Any,
    *,
    loss: Any = "sse",
    activation: Any = "sigmoid",
    against: tuple[str, ...] = ("autograd", "numeric"),
    mode: str = "full",
    seed: int = 0,
) -> CheckReport:
    """Raise AssertionError unless your gradient of the one-neuron loss at W agrees with
    ``against`` (torch autograd and central differences by default); return the report.
    It raises too where they agree but the data never exercise a branch of the derivative (every
    z_i on one side of a ReLU's kink), or where your gradient agrees at some coordinate only
    within a tolerance as large as that coordinate can be (``report.unresolved``: finite
    differences whose error dwarfs it there): ``report.ok`` is False, see :func:`gd_torch.check`.

    ``grad`` is a callable ``grad(W, X, y) -> array`` or a precomputed array; ``loss`` and
    ``activation`` are names or your own :class:`gd_torch.Loss` / :class:`gd_torch.Activation`.
    The message is the check's summary and, where it helps, what your vector is the gradient
    of (``gd_torch.diagnose``).  No atol or rtol: the tolerances are predicted from rounding
    (see :func:`gd_torch.check`).
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this function's source
    name = getattr(grad, "__name__", None) if callable(grad) else "your_gradient"
    name = name if isinstance(name, str) and name not in against else "your_gradient"
    methods = {m: m for m in against} | {name: grad}
    report = check(W, X, y, loss=loss, activation=activation, methods=methods, mode=mode, seed=seed)
    if report.ok:
        return report
    if report.agree:  # a kink never crossed, or a coordinate no pair resolves: a wrong value would have passed
        raise AssertionError("gradient check could not verify the gradient\n" + report.summary())
    message = ["gradient check failed", report.summary()]
    if mode == "full":
        d = diagnose(report.gradients[name], W, X, y, loss=loss, activation=activation)
        message.append(f"{name} is {d.summary()}")
    raise AssertionError("\n".join(message))
