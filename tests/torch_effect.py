"""A bug's effect in units of the dtype's own rounding, norm-wise per input (the measure of issue 22).

    effect = max_j ||g_bug64_j - t_j||_2 / max(||g_ref_j - t_j||_2, eps/2 ||t_j||_2)

for one random cotangent v (seeded, rounded to the dtype): t the reference's v^T J in float64 on the
dtype's inputs upcast, g_bug64 the buggy backward's in float64 (the bug alone, no rounding), g_ref
the reference's in the dtype (that dtype's rounding of a correct gradient).  A bug is detectable
when its effect exceeds DETECTABLE.
"""

from __future__ import annotations

import torch
from torch_functions import TorchCase, vjp

from gd_torch.verdict.torch_inputs import EPS

#: a bug is detectable when its effect is more than this many times the dtype's rounding (issue 22)
DETECTABLE = 10.0


def effect(case: TorchCase, function: type[torch.autograd.Function], dtype: torch.dtype, seed: int) -> float:
    """The effect of ``function``'s backward against ``case``'s reference (see the module's docstring)."""
    x = case.inputs(dtype, "cpu", seed)
    up = tuple(t.detach().double().requires_grad_(t.requires_grad) if t.is_floating_point() else t for t in x)
    out = case.reference(*up)
    v = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)
    truth = vjp(case.reference, up, v.double())
    wrong = vjp(function.apply, up, v.double())
    ref = vjp(case.reference, x, v)
    eps = EPS[str(dtype).removeprefix("torch.")]
    return max(
        float((w - t).norm() / max(float((r.double() - t).norm()), eps / 2 * float(t.norm())))
        for w, t, r in zip(wrong, truth, ref, strict=True)
    )
