"""The package's one exception type."""

from __future__ import annotations


class GdTorchError(ValueError):
    """Bad input or an impossible request, with the parameter, the value and what is accepted.

    A subclass of ``ValueError`` so that callers who catch ``ValueError`` keep working.
    Optional keyword attributes (``epoch``, ``weights``, ...) carry context for callers.
    """

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        for key, value in context.items():
            setattr(self, key, value)


def bad_value(name: str, value: object, accepted: str, where: str = "") -> GdTorchError:
    """Build the standard message: which parameter, what was received, what is accepted."""
    prefix = f"{where}: " if where else ""
    return GdTorchError(f"{prefix}{name} must be {accepted}; got {_short(value)}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
