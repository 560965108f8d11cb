"""The package's one exception type."""

from __future__ import annotations


class GdTorchError(ValueError):
    """Bad input or an impossible request, with the parameter, the value and what is accepted.

    A subclass of ``ValueError`` so that callers who catch ``ValueError`` keep working.
    ``param`` names the parameter the error is about, where the message alone does not
    (the command line maps it to its flag).
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def bad_value(name: str, value: object, accepted: str, where: str = "") -> GdTorchError:
    """Build the standard message: which parameter, what was received, what is accepted."""
    prefix = f"{where}: " if where else ""
    return GdTorchError(f"{prefix}{name} must be {accepted}; got {_short(value)}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class TrainingDiverged(GdTorchError):
    """Training stopped because the loss ran away: NaN, inf, or grown by more than
    ``gd_torch.train.loop.DIVERGENCE_FACTOR`` over its start while still growing."""

    def __init__(self, message: str, *, epoch: int, alpha: float, weights: object, loss_history: object) -> None:
        super().__init__(message)
        #: the epoch whose loss ran away
        self.epoch = epoch
        #: the learning rate of the run
        self.alpha = alpha
        #: the last weights with a finite, not yet runaway loss
        self.weights = weights
        #: the losses before that epoch
        self.loss_history = loss_history


class NotEnoughMemory(GdTorchError):
    """An allocation refused before it was tried: it needs more memory than is available."""

    def __init__(self, message: str, *, needed: int, available: int, param: str | None = None) -> None:
        super().__init__(message, param=param)
        #: bytes the allocation needs (estimated)
        self.needed = needed
        #: bytes available when it was refused
        self.available = available
