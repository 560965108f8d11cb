"""Times ``torch.compile(torch.func.grad(loss))``: the compile time (the first call of each
cell, on-disk caches of earlier runs included) apart from the time per call.

Run as ``python -m gd_torch.bench.worker_torchcompile`` by the runner (plan on stdin, rows on stdout).
"""

from __future__ import annotations

import sys

import torch

from . import _torch
from .harness import serve
from .worker_torchfunc import worker


def compiled():
    """A fresh compilation for this cell's shapes and dtype (earlier cells' graphs dropped, so
    that no cell runs into the recompilation limit and falls back to eager)."""
    torch.compiler.reset()
    return torch.compile(torch.func.grad(_torch.loss), dynamic=False, fullgraph=True)


if __name__ == "__main__":
    sys.exit(serve(worker("torch.compile", compiled, compiles=True)))
