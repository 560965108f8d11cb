"""What check_torch is given, as torch holds it: the arguments of fn (which are differentiated, in
which dtype and on which device), fn's outputs, random cotangents and vector-Jacobian products.

A dtype's eps is ``EPS[name_of(dtype)]``; ``import gd_torch`` never loads torch (each function that
needs it imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import GdTorchError, bad_value

if TYPE_CHECKING:
    import torch

#: floating dtypes check_torch accepts (torch's names), with eps (torch.finfo(dtype).eps)
EPS = {"float64": 2.0**-52, "float32": 2.0**-23, "bfloat16": 2.0**-7, "float16": 2.0**-10}
#: device types the inputs may live on
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Inputs:
    """fn's arguments: which positions are differentiated, their names, shapes and sizes, the dtype
    whose rounding is judged (the differentiated inputs' least precise) and its eps."""

    args: tuple[Any, ...]
    positions: tuple[int, ...]
    dtype: torch.dtype

    @property
    def names(self) -> list[str]:
        return [f"inputs[{i}]" for i in self.positions]

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [tuple(self.args[i].shape) for i in self.positions]

    @property
    def sizes(self) -> list[int]:
        return [self.args[i].numel() for i in self.positions]

    def leaves(self, dtype: torch.dtype | None = None, device: str | None = None) -> tuple[Any, ...]:
        """The arguments with every tensor detached and moved to ``device`` (default: its own), the
        floating ones cast to ``dtype`` (default: their own), the differentiated ones as new
        leaves that require grad; other arguments as they are."""
        import torch

        out = []
        for i, a in enumerate(self.args):
            if isinstance(a, torch.Tensor):
                cast = dtype if a.is_floating_point() and dtype is not None else a.dtype
                a = a.detach().to(device or a.device, cast)
                a = a.clone().requires_grad_(True) if i in self.positions else a
            out.append(a)
        return tuple(out)


def vjp(fn, args: tuple[Any, ...], run: Inputs, v, who: str) -> np.ndarray:
    """v^T J of ``fn`` (named ``who`` in errors) at ``args`` for every differentiated input, flat float64 (zeros where unused)."""
    import torch

    outs = outputs(who, fn(*args))
    if len(outs) != len(v) or any(tuple(o.shape) != tuple(c.shape) for o, c in zip(outs, v, strict=False)):
        raise bad_value(who, _shapes(outs), f"outputs of the shapes fn returns ({_shapes(v)})")
    live = [(o, c.to(o.device, o.dtype)) for o, c in zip(outs, v, strict=True) if o.requires_grad]
    if not live:
        raise GdTorchError(
            f"{who}'s outputs do not depend on the differentiated inputs (detached, or computed in numpy?)",
            param=who,
        )
    leaves = [args[i] for i in run.positions]
    grads = torch.autograd.grad([o for o, _ in live], leaves, [c for _, c in live], allow_unused=True)
    flat = []
    for name, leaf, gr in zip(run.names, leaves, grads, strict=True):
        a = np.zeros(leaf.numel()) if gr is None else gr.detach().to("cpu", torch.float64).numpy().ravel()
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            where = np.unravel_index(bad[0], tuple(leaf.shape)) if leaf.dim() else ()
            raise GdTorchError(
                f"{who}'s gradient of {name} is not finite at {list(map(int, where))}: {a[bad[0]]} "
                f"({bad.size} of {a.size} entries; in {name_of(leaf.dtype)})",
                param=who,
            )
        flat.append(a)
    return np.concatenate(flat)


def outputs(who: str, out: Any) -> tuple[torch.Tensor, ...]:
    """fn's result as a tuple of floating tensors (a tensor, or a tuple or list of them), else an error naming ``who``."""
    import torch

    outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    if not outs or not all(isinstance(o, torch.Tensor) and o.is_floating_point() for o in outs):
        raise bad_value(who, _describe(out), "a function returning a floating torch tensor or a tuple of them")
    return outs


def cotangent(out: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random cotangent for ``out``: standard normal, rounded to the output's dtype (every method then sees the same v)."""
    import torch

    return torch.randn(tuple(out.shape), generator=gen, dtype=torch.float64).to(out.dtype).to(out.device)


def inputs_of(inputs: tuple[Any, ...]) -> Inputs:
    """The arguments checked: tensors on the CPU or CUDA, floating ones of a dtype in EPS, at least one
    floating; the floating ones that require grad are differentiated (all floating when none does)."""
    import torch

    floating = [i for i, a in enumerate(inputs) if isinstance(a, torch.Tensor) and a.is_floating_point()]
    if not floating:
        raise bad_value("inputs", tuple(_describe(a) for a in inputs), "at least one floating torch tensor")
    for i, a in enumerate(inputs):
        if isinstance(a, torch.Tensor) and a.device.type not in DEVICES:
            raise bad_value(f"inputs[{i}]", f"a tensor on {a.device}", "a tensor on the CPU or a CUDA device")
        if isinstance(a, torch.Tensor) and a.is_floating_point() and name_of(a.dtype) not in EPS:
            raise bad_value(f"inputs[{i}]", f"a {a.dtype} tensor", "float64, float32, bfloat16 or float16")
    positions = tuple(i for i in floating if inputs[i].requires_grad) or tuple(floating)
    dtype = max((inputs[i].dtype for i in positions), key=lambda t: EPS[name_of(t)])
    return Inputs(tuple(inputs), positions, dtype)


def _shapes(ts) -> str:
    return ", ".join(str(tuple(t.shape)) for t in ts)


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")


def name_of(dtype: torch.dtype) -> str:
    """'bfloat16' for torch.bfloat16."""
    return str(dtype).removeprefix("torch.")
