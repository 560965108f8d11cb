"""docs/torch.md cannot drift: its blocks are re-run in one namespace and their claims asserted.

The mechanism is tests/docblocks.py.  ``python tests/test_docs_torch.py --update`` rewrites the
outputs in the page from real runs.
"""

from __future__ import annotations

import sys

import pytest
import torch
from docblocks import ROOT, blocks, run_page, shown, skeleton, update

DOC = ROOT / "docs" / "torch.md"


def _define(out: str) -> None:
    assert out == ""


def _caught(out: str, dtype: str) -> None:
    assert out.startswith("FAIL: yours disagrees with reference"), out
    assert "yours vs reference: wrong in inputs[0]; yours=" in out and "at inputs[0][" in out, out
    assert f"{dtype} rounding of the reference" in out, out


def _beside(out: str) -> None:
    assert out.splitlines() == [
        " float32 correct: check_torch ok=True  gradcheck ok=False assert_close ok=True",
        " float32   buggy: check_torch ok=False gradcheck ok=False assert_close ok=False",
        "bfloat16 correct: check_torch ok=True  gradcheck ok=False assert_close ok=False",
        "bfloat16   buggy: check_torch ok=False gradcheck ok=False assert_close ok=False",
    ], out


def _pytest(out: str) -> None:
    assert out == "torch gradient check failed\n", out


CLAIMS = {
    "define": _define,
    "float32": lambda out: _caught(out, "float32"),
    "bfloat16": lambda out: _caught(out, "bfloat16"),
    "beside": _beside,
    "pytest": _pytest,
}


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
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
    assert skeleton(shown(m)) == skeleton(out), f"docs/torch.md shows an outdated output for {block_id}"
    CLAIMS[block_id](out)


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_docs_torch.py --update   (from the repository root)")
    update(DOC, shared=True)
