"""docs/questions.md cannot drift: every marked block is re-run and the claim it supports asserted.

The mechanism (marked blocks, output compared up to the digits of numbers) is tests/docblocks.py.
``python tests/test_questions.py --update`` rewrites the outputs in the page from real runs.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from docblocks import ROOT, blocks, floats, run_block, shown, skeleton, update

DOC = ROOT / "docs" / "questions.md"


def _lines_with(out: str, start: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith(start)]


def _floats(line: str) -> list[float]:
    return floats(line)


def _q1_sse(out: str) -> None:
    assert out.rstrip().endswith("[exit status 1]")
    assert "FAIL: tutorial disagrees with analytic, autograd, numeric, which agree with each other" in out
    (line,) = _lines_with(out, "tutorial is ")
    assert "the mean-BCE gradient" in line and "times 1.000" in line


def _q1_bce(out: str) -> None:
    assert out.rstrip().endswith("[exit status 0]")
    assert "OK: all methods agree within their predicted tolerances" in out
    assert all(ln.rstrip().endswith("agree") for ln in out.splitlines() if " vs " in ln)


def _q1_diagnose(out: str) -> None:
    first = out.splitlines()[0]
    assert "the mean-BCE gradient (the tutorial's formula): X^T (a - y) / N, times 1.000" in first
    (exact,) = _lines_with(out.replace("  exact ", "exact "), "exact ")
    assert "<- match" not in exact  # not the squared error's gradient at any factor


def _q2_shapes(out: str) -> None:
    assert "X.T.dot(error): (3,)   preds * (1 - preds): (250,)" in out
    assert "the proposed fix: ValueError: operands could not be broadcast together" in out
    (right,) = _lines_with(out, "the right one: (3,)")
    assert _floats(right.split("gd_torch.gradient:")[1])[0] < 8 * np.finfo(float).eps
    assert "the exact gradient of sse: X^T dL/dz, times 1.000" in out


def _q2_square(out: str) -> None:
    assert out.startswith("shape (3,) -> unrecognised: no candidate matches to rounding")


def _q3_boundary(out: str) -> None:
    (line,) = _lines_with(out, "on the line:")
    assert _floats(line.split("=")[1])[0] < 1e-12 and "sigmoid(z) = [0.5 0.5 0.5 0.5 0.5]" in line
    assert "accuracy of a >= 0.5: 1.0" in out
    assert "X (250, 3) -> Y (250, 3) : plt.plot(X, Y) draws 3 curves" in out
    cols = _lines_with(out, "  column")
    assert len(cols) == 3 and all(c.endswith("on the boundary line: True") for c in cols)
    assert "x from 1.00 to 1.00" in cols[0]  # the bias column: one point


def _q4_check(out: str) -> None:
    assert out.rstrip().endswith("[exit status 0]") and "activation=relu" in out
    assert "OK: all methods agree within their predicted tolerances" in out


def _q4_kink(out: str) -> None:
    # every z = 0: neither side of the mask is exercised, so the agreement is not an OK
    assert out.startswith("NOT VERIFIED: all methods agree, but the data never exercise a branch")
    assert "pair statuses: ['agree', 'kink', 'kink']" in out


def _q4_bce(out: str) -> None:
    assert out.count("\n") == 2 and out.rstrip().endswith("[exit status 2]")
    assert "activation must be one of 'sigmoid' with loss='bce'" in out and "Traceback" not in out


def _q4_train(out: str) -> None:
    (exact,) = _lines_with(out, "analytic:")
    (tut,) = _lines_with(out, "tutorial:")
    assert "samples with z <= 0: 100%" in exact and "|gradient|: 0.00e+00" in exact  # dead: stuck for good
    assert "accuracy (a >= 0.5): 50%" in exact
    assert "accuracy (a >= 0.5): 100%" in tut
    top = float(tut.split("a in [")[1].split(",")[1].split("]")[0])
    assert top > 1  # not a probability


def _q5_train(out: str) -> None:
    (exact,) = _lines_with(out, "analytic:")
    (tut,) = _lines_with(out, "tutorial:")
    e_losses, t_losses = _floats(exact.split(":", 2)[2])[:4], _floats(tut.split(":", 2)[2])[:4]
    assert e_losses[1] == e_losses[2] == e_losses[3] > 100  # stalled after the first step
    assert t_losses[3] < 10 < t_losses[0] and "accuracy 100%" in tut
    (sat,) = _lines_with(out, "samples with a (1 - a) < 1e-6:")
    assert _floats(sat.split(":")[1])[0] > 80
    dz, dW = (_floats(ln.split("=")[1])[0] for ln in _lines_with(out, "  max |dL/d")[1:])
    de = _floats(_lines_with(out, "  max |dL/de|")[0].split("=")[1])[0]
    assert de > 1 and dz < 1e-3 * de and dW < 1e-2
    assert out.rstrip().endswith("agree at every stage: True")


def _q6_steps(out: str) -> None:
    tables = out.split("float32:")
    assert len(tables) == 2 and tables[0].startswith("float64:")
    for dtype, text in zip(("float64", "float32"), tables, strict=True):
        eps = float(np.finfo(dtype).eps)
        rows = {v[0]: v[1:] for v in (_floats(ln) for ln in text.splitlines() if ln.startswith(("  1e-", "  1e+")))}
        assert len(rows) == 8 and all(len(v) == 4 for v in rows.values())
        forward, central, complex_ = ([rows[h][k] for h in sorted(rows, reverse=True)] for k in (0, 1, 3))
        for col in (forward, central):  # down, then up again: no error at h -> 0 is below the valley's floor
            k = int(np.argmin(col))
            assert 0 < k < 7 and col[k] < 1e-2 * col[-1] and col[-1] >= 0.1
        assert max(e for h, e in zip(sorted(rows, reverse=True), complex_, strict=True) if h <= 1e-7) <= 4 * eps
        (best,) = [ln for ln in text.splitlines() if ln.strip().startswith("central: best h")]
        h_best, h_star, e_best, e_star = _floats(best)[:4]
        assert h_star / 10 <= h_best <= 10 * h_star and e_star / 10 <= e_best <= 10 * e_star
        assert 0.1 < e_star / eps ** (2 / 3) < 10
    assert all(rows[h][:3] == [1.0, 1.0, 1.0] for h in rows if h <= 1e-9)  # float32: W_0 + h == W_0


def _q7_neuron(out: str) -> None:
    shapes = {ln.split(":")[0].strip(): ln.split(":")[1].strip() for ln in out.splitlines()[:4]}
    assert shapes == {"X.T": "(3, 250)", "error": "(250,)", "X.T.dot(error)": "(3,)", "preds * (1 - preds)": "(250,)"}
    assert "proposed: operands could not be broadcast together with shapes (3,) (250,)" in out
    (right,) = _lines_with(out, "X.T.dot(2 * error * preds * (1 - preds)): (3,)")
    assert _floats(right.split("autograd")[1])[0] < 8 * np.finfo(float).eps


def _q7_mlp(out: str) -> None:
    assert out.startswith("X.T.dot(dL_dh): (3, 4)   f'(z1): (250, 4)")
    assert "proposed, one layer down: operands could not be broadcast together with shapes (3,4) (250,4)" in out
    (right,) = _lines_with(out, "X.T.dot(dL_dh * fprime): (3, 4)")
    assert _floats(right.split("dL/dW1:")[1])[0] < 8 * np.finfo(float).eps
    assert "dL/dW1 = X^T (3x250) @ [dL/dh (250x4) * f'(z1) (250x4)] -> (3x4)" in out
    assert out.rstrip().endswith("agree at every stage: True")


def _q7_ledger(out: str) -> None:
    assert out.rstrip().endswith("[exit status 0]")
    assert "OK: hand, autograd and finite differences agree at every stage" in out
    stages = [ln.split(":")[0].split()[1] for ln in out.splitlines() if ln.startswith("stage ")]
    assert stages == ["L", "a", "z2", "w2", "b2", "h", "z1", "W1", "b1"]
    errs = _lines_with(out, "  rel err")
    assert len(errs) == 9 and all(ln.count("(agree)") == 2 for ln in errs)
    assert "dL/dW1 = X^T (3x250) @ [dL/dh (250x4) * f'(z1) (250x4)] -> (3x4)" in out


CLAIMS = {
    "q1-sse": _q1_sse,
    "q1-bce": _q1_bce,
    "q1-diagnose": _q1_diagnose,
    "q2-shapes": _q2_shapes,
    "q2-square": _q2_square,
    "q3-boundary": _q3_boundary,
    "q4-check": _q4_check,
    "q4-kink": _q4_kink,
    "q4-bce": _q4_bce,
    "q4-train": _q4_train,
    "q5-train": _q5_train,
    "q6-steps": _q6_steps,
    "q7-neuron": _q7_neuron,
    "q7-mlp": _q7_mlp,
    "q7-ledger": _q7_ledger,
}


def test_every_block_has_a_claim_and_every_claim_a_block():
    ids = [m["id"] for m in blocks(DOC.read_text())]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(CLAIMS)


@pytest.mark.parametrize("block_id", list(CLAIMS))
def test_block(block_id):
    (m,) = [m for m in blocks(DOC.read_text()) if m["id"] == block_id]
    out = run_block(m, DOC.name)
    assert skeleton(shown(m)) == skeleton(out), f"docs/questions.md shows an outdated output for {block_id}"
    CLAIMS[block_id](out)


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_questions.py --update   (from the repository root)")
    sys.path.insert(0, str(ROOT))
    update(DOC)
