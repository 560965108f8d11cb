"""Devices a method runs on: 'cpu' for every method, CUDA for the ones that say so.

torch is imported only when a device other than 'cpu' is asked for, so that numpy-only
work never loads it.
"""

from __future__ import annotations

from typing import Any

from .._errors import GdTorchError, bad_value

ACCEPTED = "'cpu', 'cuda' or 'cuda:N'"


def check(device: Any, method: str, devices: tuple[str, ...]) -> Any:
    """Refuse a device the method does not run on, or one that is not here; return the torch device
    (or 'cpu' as a string when torch is not needed)."""
    if isinstance(device, str) and device == "cpu":
        return "cpu"
    if "cuda" not in devices:
        raise GdTorchError(
            f"device must be 'cpu' for method={method!r} (it runs on the CPU only); got {device!r}. "
            "Only methods that run on torch (such as 'autograd') run on CUDA.",
            param="device",
        )
    return resolve(device)


def resolve(name: Any) -> Any:
    """Resolve 'cpu', 'cuda' or 'cuda:N' to a torch.device, refusing a CUDA device that is not there."""
    import torch

    if not isinstance(name, str | torch.device):
        raise bad_value("device", name, ACCEPTED)
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise bad_value("device", name, ACCEPTED) from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise bad_value("device", name, ACCEPTED)
    if not torch.cuda.is_available():
        raise GdTorchError(
            f"device must be available: got {str(name)!r}, but torch {torch.__version__} sees no CUDA device "
            f"here (torch.cuda.is_available() is False); use device='cpu'",
            param="device",
        )
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise bad_value("device", name, f"'cuda' or 'cuda:N' with N < {count} (CUDA devices here)")
    return dev
