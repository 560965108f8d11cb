"""One row-block sum: gd_torch.base.rowblocks, and the analytic, numeric and distributed sums taken through it.

The block-size rule, the plan of fixed groups and the order of every addition live in
rowblocks; each fast path is checked, bit for bit, against the sum the helper takes of that
path's own per-block function, so a path that grows its own loop (another order, another
grouping) fails here.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import DTYPES, pairs
from hypothesis import given, settings
from hypothesis import strategies as st

import gd_torch
from gd_torch.base import rowblocks
from gd_torch.data.shards import Arrays, row_bytes
from gd_torch.distributed import ops
from gd_torch.distributed.comm import Comm
from gd_torch.distributed.exact import exact_gradient, for_blocks
from gd_torch.distributed.part import VECTORS, rank_part
from gd_torch.gradients import _fd_eval, analytic, lookup
from gd_torch.model.forward import delta, resolve
from gd_torch.precision import errormodel

# ---- the helper ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_row", "budget", "least", "most", "rows"),
    [(8, 4096, 1, None, 512), (5000, 4096, 1, None, 1), (8, 4096, 1000, None, 1000), (8, 4096, 1, 100, 100)],
)
def test_block_rows_is_the_budget_over_the_bytes_of_a_row_clamped(per_row, budget, least, most, rows):
    assert rowblocks.block_rows(per_row, budget, least, most) == rows


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 5000), rows=st.integers(1, 700), groups=st.integers(1, 12))
def test_a_plan_covers_the_rows_once_in_order_in_whole_blocks(n, rows, groups):
    p = rowblocks.plan(n, rows, groups)
    spans = [b for g in range(p.groups) for b in p.blocks(g)]
    assert spans == list(rowblocks.spans(0, n, rows))  # every block once, in order
    assert 1 <= p.groups <= min(groups, -(-n // rows))
    assert all(c % rows == 0 for c in p.cuts[:-1]) and p.cuts[-1] == n  # groups of whole blocks
    sizes = [len(list(p.blocks(g))) for g in range(p.groups)]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1


def _threads(job, jobs):
    # every group on its own thread, started last first: another order of running, not of adding
    out: list = [None] * jobs

    def one(g):
        out[g] = job(g)

    ts = [threading.Thread(target=one, args=(g,)) for g in reversed(range(jobs))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def test_grouped_sum_is_the_same_bits_however_the_groups_are_run(rng):
    terms = rng.standard_normal((1000, 3)) * 10.0 ** rng.integers(-8, 8, size=(1000, 1))
    p = rowblocks.plan(1000, 37)

    def add(s, e):
        return terms[s:e].sum(axis=0)

    one = rowblocks.grouped_sum(add, p, np.zeros(3))
    assert one.tobytes() == rowblocks.grouped_sum(add, p, np.zeros(3), _threads).tobytes()
    # the sum is the groups' sums, each its blocks' sums in order
    by_group = [rowblocks.accumulate(lambda b: add(*b), p.blocks(g), np.zeros(3)) for g in range(p.groups)]
    assert one.tobytes() == np.add.reduce(np.array(by_group), axis=0).tobytes()


def test_an_error_in_a_block_is_the_first_in_row_order_whatever_the_threads():
    p = rowblocks.plan(800, 10)  # 8 groups of 10 blocks

    def add(s, e):
        if s in (30, 420, 790):
            raise ValueError(f"block at {s}")
        return np.ones(1)

    for run in (None, _threads):
        with pytest.raises(ValueError, match="^block at 30$"):
            rowblocks.grouped_sum(add, p, np.zeros(1), run)


# ---- every fast path is the helper's sum ----------------------------------------------------


def _problem(rng, n, d, dtype):
    X = rng.standard_normal((n, d)).astype(dtype)
    y = (rng.uniform(size=n) < 0.5).astype(dtype)
    return (rng.standard_normal(d) / 3).astype(dtype), X, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("activation", "loss"), [("sigmoid", "sse"), ("sigmoid", "bce"), ("relu", "mse")])
def test_the_blocked_threaded_analytic_gradient_is_the_helpers_sum(rng, dtype, activation, loss):
    W, X, y = _problem(rng, 150_000, 8, dtype)  # 9.6 MiB of float64: several groups, on threads
    lo, act = resolve(loss, activation)
    p = rowblocks.plan(X.shape[0], analytic.rows_per_block(X))
    assert p.groups == rowblocks.GROUPS

    def add(s, e):
        z = X[s:e] @ W
        return (X[s:e].T @ delta(z, y[s:e], lo, act, n=X.shape[0])).astype(X.dtype)

    want = rowblocks.grouped_sum(add, p, np.zeros(8, dtype=X.dtype))
    assert analytic.grad(W, X, y, lo, act).tobytes() == want.tobytes()
    assert gd_torch.gradient(W, X, y, loss=loss, activation=activation).tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("activation", "loss"), pairs())
def test_the_blocked_finite_difference_evaluation_is_the_helpers_sum(rng, dtype, activation, loss):
    W, X, y = _problem(rng, 20_000, 4, dtype)
    lo, act = resolve(loss, activation)
    Wb = np.stack([W, W * 1.01, W - 1e-3])
    p = rowblocks.plan(X.shape[0], _fd_eval.rows_per_block(X.shape[0], Wb))
    assert p.groups > 1

    def add(s, e):
        return _fd_eval.terms_sum(Wb, X[s:e], y[s:e], lo, act)

    want = lo.from_total(rowblocks.grouped_sum(add, p, np.zeros(3, dtype=Wb.dtype)), X.shape[0])
    assert _fd_eval.evaluate(Wb, X, y, lo, act).tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("activation", "loss"), [("sigmoid", "sse"), ("sigmoid", "bce"), ("tanh", "logcosh")])
def test_the_distributed_sums_are_the_helpers_running_sum_over_a_ranks_blocks(rng, dtype, activation, loss):
    W, X, y = _problem(rng, 500, 3, dtype)
    lo, act = resolve(loss, activation)
    part = rank_part(Arrays(X, y, budget=4096), Comm())
    blocks = list(part.blocks(row_bytes(3, part.dtype, per_row=VECTORS)))
    assert len(blocks) > 2
    # the gradient: each block's share added in order
    e = for_blocks(lookup("analytic"), lo, act)
    want = rowblocks.accumulate(lambda b: e.share(W, b, lo, act, 500), blocks, np.zeros(3)).astype(X.dtype)
    assert exact_gradient(part, W, lo, act, e).tobytes() == want.tobytes()
    # the error model: from_sums of the blocks' partial sums (build's sums, in blocks)
    em_blocks = part.blocks(row_bytes(3, part.dtype, per_entry=32, per_row=2 * VECTORS))
    sums = rowblocks.accumulate(
        lambda b: errormodel.partial_sums(W, b.X, b.y, lo, act, 500), em_blocks, np.zeros(errormodel.sums_length(3))
    )
    got = ops.error_model(part, W, lo, act)
    assert got.exact.tobytes() == errormodel.from_sums(sums, 500, X.dtype, lo).exact.tobytes()
    # the loss at k points: each block's terms_sum added in order (blocks of 4 k float64 per row)
    Wb = np.stack([W, W / 2])
    lv_blocks = part.blocks(row_bytes(3, part.dtype, per_row=4 * 2 * 8))
    total = rowblocks.accumulate(lambda b: _fd_eval.terms_sum(Wb, b.X, b.y, lo, act), lv_blocks, np.zeros(2))
    assert ops.loss_values(part, Wb, lo, act).tobytes() == lo.from_total(total, 500).tobytes()


@pytest.mark.parametrize("bad_rows", [(40_000, 100_000), (149_999,), (0, 75_000)])
def test_a_non_finite_z_in_blocks_on_threads_names_the_first_bad_row(rng, bad_rows):
    # several groups stop at their first bad block; the first in row order is named, as one pass names it
    W, X, y = _problem(rng, 150_000, 8, "float64")
    for r in bad_rows:
        X[r, 3] = np.nan
    lo, act = resolve("sse", "sigmoid")
    assert rowblocks.plan(X.shape[0], analytic.rows_per_block(X)).groups > 1
    for g in (lambda W: analytic.grad(W, X, y, lo, act), analytic.make(X, y, lo, act)):
        with pytest.raises(
            gd_torch.GdTorchError, match=rf"^X must be finite: row {bad_rows[0]} of X gives z = X @ W = nan"
        ):
            g(W)
