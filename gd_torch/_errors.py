"""The package's one exception type."""

from __future__ import annotations


class GdTorchError(ValueError):
    """Bad input or an impossible request, with the parameter, the value and what is accepted.

    A subclass of ``ValueError`` so that callers who catch ``ValueError`` keep working.

    ``param`` names the parameter the error is about, as the message begins with it (after the
    ``where: `` prefix): "where: param must be accepted; got value".  :meth:`naming` puts
    another name in its place (the command line puts the flag, ``--batch-size`` for
    ``batch_size``) from these attributes; nothing parses the message for the parameter.
    ``value`` and ``accepted`` are set by :func:`bad_value` (None otherwise).
    """

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        where: str = "",
        value: object = None,
        accepted: str | None = None,
    ) -> None:
        super().__init__(message)
        #: the parameter the message is about (None: none, or the data itself)
        self.param = param
        #: the function or context that refused, the message's "where: " prefix ("" for none)
        self.where = where
        #: the value refused, as received (set by bad_value)
        self.value = value
        #: what the parameter accepts, the text after "must be" (set by bad_value)
        self.accepted = accepted

    def naming(self, name: str) -> GdTorchError:
        """A GdTorchError of this one's text with ``name`` in place of :attr:`param` (the subclass
        and its other attributes are not kept: it is for printing).

        The message begins with ``where: param `` where the error was built so (by
        :func:`bad_value`, or by ``param=`` with a message written that way); otherwise ``name``
        is put in front, ``name: message``.
        """
        prefix = f"{self.where}: " if self.where else ""
        head, text = f"{prefix}{self.param} ", str(self)
        renamed = f"{prefix}{name} {text[len(head) :]}" if self.param and text.startswith(head) else f"{name}: {text}"
        return GdTorchError(renamed, param=name, where=self.where, value=self.value, accepted=self.accepted)


def bad_value(name: str, value: object, accepted: str, where: str = "") -> GdTorchError:
    """Build the standard message: which parameter, what was received, what is accepted.

    "where: name must be accepted; got repr(value)" (repr shortened to 80 characters); the
    error carries ``name``, ``value``, ``accepted`` and ``where`` as attributes.
    """
    prefix = f"{where}: " if where else ""
    return GdTorchError(
        f"{prefix}{name} must be {accepted}; got {_short(value)}",
        param=name,
        where=where,
        value=value,
        accepted=accepted,
    )


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
