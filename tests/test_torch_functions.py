"""The torch_functions suite is sound: correct backwards are correct, buggy ones are wrong, every dtype runs.

In float64 (where torch.autograd.gradcheck is valid) each correct Function passes gradcheck and
matches its reference's autograd gradient to rounding; each bug's gradient differs from the
reference's by at least 1e-6 of its size (float64 rounding is ~1e-16: a margin of ten orders).
"""

from __future__ import annotations

import pytest
import torch
from torch_functions import CASES, DTYPES, floating, vjp

BUGS = [(case, bug) for case in CASES for bug in case.bugs]


def _cotangent(out: torch.Tensor, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(out.shape, generator=gen, dtype=torch.float64).to(out.dtype)


def _relative_difference(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> float:
    return max(((x - y).abs().max() / y.abs().max()).item() for x, y in zip(a, b, strict=True))


def test_registry_has_twelve_cases_each_with_a_described_bug():
    names = [case.name for case in CASES]
    assert len(names) >= 12 and len(set(names)) == len(names)
    for case in CASES:
        assert case.bugs, case.name
        assert len({bug.name for bug in case.bugs}) == len(case.bugs)
        assert all(bug.description and "\n" not in bug.description for bug in case.bugs)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_correct_backward_passes_gradcheck_in_float64(case):
    assert torch.autograd.gradcheck(case.function.apply, case.inputs(torch.float64, "cpu", 0))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("seed", [0, 1])
def test_correct_backward_matches_reference_autograd_in_float64(case, seed):
    inputs = case.inputs(torch.float64, "cpu", seed)
    v = _cotangent(case.reference(*inputs), seed)
    assert _relative_difference(vjp(case.function.apply, inputs, v), vjp(case.reference, inputs, v)) < 1e-12


@pytest.mark.parametrize(("case", "bug"), BUGS, ids=[f"{c.name}-{b.name}" for c, b in BUGS])
def test_bug_backward_differs_from_reference_in_float64(case, bug):
    inputs = case.inputs(torch.float64, "cpu", 0)
    v = _cotangent(case.reference(*inputs), 0)
    assert _relative_difference(vjp(bug.function.apply, inputs, v), vjp(case.reference, inputs, v)) > 1e-6


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_function_and_reference_run_in_every_dtype(case, dtype):
    inputs = case.inputs(dtype, "cpu", 0)
    assert all(t.dtype == dtype for t in floating(inputs))
    out = case.function.apply(*inputs)
    assert out.dtype == dtype and out.dim() >= 1 and out.numel() > 1
    assert out.shape == case.reference(*inputs).shape
    v = _cotangent(out, 0)
    for fn in (case.function.apply, case.reference):
        grads = vjp(fn, inputs, v)
        assert all(g.dtype == dtype and g.shape == t.shape for g, t in zip(grads, floating(inputs), strict=True))
        assert all(torch.isfinite(g).all() for g in grads)
