"""docs/own-gradient.md cannot drift: its blocks are re-run in one namespace and their claims asserted.

The mechanism is tests/docblocks.py.  ``python tests/test_docs_own_gradient.py --update``
rewrites the outputs in the page from real runs.
"""

from __future__ import annotations

import sys

import pytest
import torch
from docblocks import ROOT, blocks, floats, run_page, shown, skeleton, update

DOC = ROOT / "docs" / "own-gradient.md"


def _lines_with(out: str, start: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith(start)]


def _mlp(out: str) -> None:
    assert out.rstrip().endswith("OK: all methods agree within tolerances derived from the measured noise of f")
    assert "parameters=16 (W1 (3, 3), b1 (3,), w2 (3,), b2 ())" in out
    pairs = _lines_with(out, "all ")
    assert len(pairs) == 3 and all(ln.endswith("agree") for ln in pairs)


def _odd(out: str, name: str) -> None:
    assert out.startswith(f"FAIL: {name} disagrees with autograd, numeric, which agree with each other"), out


def _missing_transpose(out: str) -> None:
    _odd(out, "backprop_missing_transpose")
    assert "{'W1': 'FAIL', 'b1': 'ok', 'w2': 'ok', 'b2': 'ok'}" in out
    (line,) = _lines_with(out, "  backprop_missing_transpose vs autograd")
    assert "wrong in W1; worst at W1[" in line


def _missing_transpose_shape(out: str) -> None:
    assert out.strip() == (
        "GdTorchError: the value of grad (backprop_missing_transpose)['W1'] must be of the parameter's shape "
        "(3, 4); got 'an array of shape (4, 3)'"
    )


def _forgotten_bias(out: str) -> None:
    _odd(out, "backprop_forgotten_bias")
    assert "{'W1': 'ok', 'b1': 'FAIL', 'w2': 'ok', 'b2': 'ok'}" in out
    (line,) = _lines_with(out, "  backprop_forgotten_bias vs autograd")
    assert "worst at b1[" in line and "backprop_forgotten_bias=0," in line


def _wrong_mask(out: str) -> None:
    _odd(out, "backprop_wrong_mask")
    assert "'W1': 'FAIL'" in out and "'w2': 'ok', 'b2': 'ok'" in out


def _without_torch(out: str) -> None:
    assert out.startswith("FAIL: backprop_wrong_mask, numeric disagree, and no single method is the odd one out")


def _softmax(out: str) -> None:
    f64, f32, bug = out.splitlines()[:3]
    for line, dtype in ((f64, "float64"), (f32, "float32")):
        assert line.startswith(f"{dtype}: noise of L") and line.endswith(
            "OK: all methods agree within tolerances derived from the measured noise of f"
        )
    assert floats(f32.split("noise of L")[1])[0] > 1e4 * floats(f64.split("noise of L")[1])[0]
    assert bug.startswith("FAIL: ce_grad disagrees with autograd, numeric, which agree with each other")


def _tutorial(out: str) -> None:
    analytic, tutorial = out.splitlines()
    assert analytic == "analytic: check_function ok=True (odd one out: None), check ok=True (odd one out: None)"
    assert (
        tutorial == "tutorial: check_function ok=False (odd one out: tutorial), check ok=False (odd one out: tutorial)"
    )


def _pytest(out: str) -> None:
    assert out.startswith(
        "AssertionError: gradient check failed\nFAIL: backprop_forgotten_bias disagrees with autograd"
    )


def _directional(out: str) -> None:
    _odd(out, "backprop_wrong_mask")
    assert "worst at W1 along v" in out or "worst at b1 along v" in out


CLAIMS = {
    "mlp": _mlp,
    "missing-transpose": _missing_transpose,
    "missing-transpose-shape": _missing_transpose_shape,
    "forgotten-bias": _forgotten_bias,
    "wrong-mask": _wrong_mask,
    "without-torch": _without_torch,
    "softmax": _softmax,
    "tutorial": _tutorial,
    "pytest": _pytest,
    "directional": _directional,
}


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny torch functions: a second thread only costs wake-ups
    try:
        return run_page(DOC, shared=True)
    finally:
        torch.set_num_threads(before)


def test_every_block_has_a_claim_and_every_claim_a_block():
    ids = [m["id"] for m in blocks(DOC.read_text())]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(CLAIMS)


@pytest.mark.parametrize("block_id", list(CLAIMS))
def test_block(block_id, outputs):
    (m,) = [m for m in blocks(DOC.read_text()) if m["id"] == block_id]
    out = outputs[block_id]
    assert skeleton(shown(m)) == skeleton(out), f"docs/own-gradient.md shows an outdated output for {block_id}"
    CLAIMS[block_id](out)


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_docs_own_gradient.py --update   (from the repository root)")
    update(DOC, shared=True)
