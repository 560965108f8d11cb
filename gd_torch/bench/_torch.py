"""What the torch workers share: a cell's tensors on its device, the wait for it, its peak memory."""

from __future__ import annotations

import platform
from collections.abc import Callable

import numpy as np
import torch

from .harness import Prepared, make_data


def tensors(device: str, *arrays: np.ndarray) -> tuple[torch.Tensor, ...]:
    """The arrays as tensors on ``device`` (copied once, before any timing)."""
    return tuple(torch.from_numpy(a).to(torch.device(device)) for a in arrays)


def prepare_cell(
    tasks: list[dict], plan: dict, each: Callable[[dict, torch.Tensor, torch.Tensor, torch.Tensor], Prepared]
) -> list[Prepared]:
    """One cell's tasks (one size, dtype and device): the data made once, then ``each(task, W, X, y)``
    on tensors copied to the device once; every task skipped, with the reason, where X does not fit."""
    t0 = tasks[0]
    X, y, W = make_data(t0["n"], t0["d"], t0["dtype"], plan["seed"])
    full = cuda_skip(X.shape[0], X.shape[1], X.itemsize, t0["device"])
    if full is not None:
        return [Prepared(t, skip=full) for t in tasks]
    Wt, Xt, yt = tensors(t0["device"], W, X, y)
    return [each(t, Wt, Xt, yt) for t in tasks]


def sync(device: str) -> Callable[[], None]:
    """Wait for the device's queued work before the clock is read (nothing to wait for on the CPU)."""
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def device_memory(device: str, fn: Callable[[], object]) -> dict:
    """Peak bytes allocated on a CUDA device by one call of ``fn`` (nothing for the CPU)."""
    if not device.startswith("cuda"):
        return {}
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return {"peak_device_bytes": int(torch.cuda.max_memory_allocated())}


def cuda_skip(n: int, d: int, itemsize: int, device: str) -> str | None:
    """Why a cell does not fit the device (None when it does): X and y plus a few N-vectors."""
    if not device.startswith("cuda"):
        return None
    free, _ = torch.cuda.mem_get_info()
    need = (n * d + 8 * n) * itemsize
    if need <= 0.9 * free:
        return None
    return f"needs {need / 2**30:.2f} GiB on {torch.cuda.get_device_name()}, {free / 2**30:.2f} GiB free"


def meta(plan: dict) -> dict:
    """torch's version, threads and GPU (with its peak bandwidth from the memory clock and bus)."""
    torch.set_num_threads(plan["threads"])
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_parallel": torch.__config__.parallel_info().strip().splitlines(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        clock, bus = getattr(p, "memory_clock_rate", 0), getattr(p, "memory_bus_width", 0)
        info["gpu"] = {
            "name": p.name,
            "memory_GiB": p.total_memory / 2**30,
            "sms": p.multi_processor_count,
            # DDR/HBM: two transfers per clock; clock in kHz, bus in bits
            "peak_bandwidth_GBps": 2 * clock * 1e3 * bus / 8 / 1e9 if clock and bus else None,
            "cuda": torch.version.cuda,
        }
    return info


def loss(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The benchmark's problem in torch ops: L = sum (sigmoid(X W) - y)^2 (sse, sigmoid)."""
    e = torch.sigmoid(X @ W) - y
    return (e * e).sum()
