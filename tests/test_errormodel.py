"""The error model is built one way: partial sums over row blocks, then from_sums.

build() on X in memory is the case of one block (bit for bit, inf and NaN included); any split
of the rows into blocks gives the same model up to the rounding of adding the blocks' sums;
the all-reduce of K ranks adds its own rounding on top and nothing on one rank.

Not bit for bit across splits: BLAS rounds z_b = X_b W differently for blocks of other shapes
(a one-row block's dot product against a matrix-vector kernel: about half the samples differ
in their last bit), and err(d_i)'s secants |d(z + e) - d(z)| over a step e of a few u |z| read
exactly such last bits, so each err(d_i) moves by up to a few u |d_i|.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from conftest import DTYPES, pairs

from gd_torch.model.forward import resolve
from gd_torch.precision import errormodel
from gd_torch.precision.rounding import C_LOCAL, z_and_error


def _problem(rng, n: int, d: int, dtype: str):
    X = rng.standard_normal((n, d)).astype(dtype)
    y = (rng.uniform(size=n) < 0.5).astype(dtype)
    W = (rng.standard_normal(d) / 2).astype(dtype)
    return W, X, y


def _bits(model: errormodel.ErrorModel, *skip: str) -> dict[str, bytes | None]:
    # every field of the model as bytes (a float's and an array's bits alike; None stays None)
    return {
        f.name: None if getattr(model, f.name) is None else np.asarray(getattr(model, f.name)).tobytes()
        for f in dataclasses.fields(model)
        if f.name not in skip
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("activation", "loss"), pairs())
def test_build_is_from_sums_of_one_block_bit_for_bit(rng, dtype, activation, loss):
    W, X, y = _problem(rng, 240, 5, dtype)
    lo, act = resolve(loss, activation)
    one = errormodel.build(W, X, y, lo, act)
    sums = errormodel.partial_sums(W, X, y, lo, act, X.shape[0])
    blocks = errormodel.from_sums(sums, X.shape[0], X.dtype, lo)
    assert _bits(one, "z", "ez") == _bits(blocks, "z", "ez")
    assert (blocks.z, blocks.ez) == (None, None)  # no sample at hand: build keeps its one block's
    z, ez = z_and_error(X, W, act)
    assert one.z.tobytes() == z.tobytes() and one.ez.tobytes() == ez.tobytes()


@pytest.mark.parametrize(("activation", "loss"), pairs())
def test_an_overflowing_problem_keeps_its_inf_through_the_one_block_path(activation, loss):
    # one rank adds nothing for the all-reduce: an inf error stays inf (0 * inf would make it NaN)
    X = np.array([[1.0, 1e200], [1.0, -1e200], [1.0, 3.0]])
    y, W = np.array([0.0, 1.0, 1.0]), np.array([0.5, 1e150])
    lo, act = resolve(loss, activation)
    one = errormodel.build(W, X, y, lo, act)
    blocks = errormodel.from_sums(errormodel.partial_sums(W, X, y, lo, act, 3), 3, X.dtype, lo)
    assert _bits(one, "z", "ez") == _bits(blocks, "z", "ez")
    if loss in ("sse", "mse") and activation in ("relu", "identity", "softplus"):  # a = +-1e350: inf
        assert np.isinf(one.exact).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("activation", "loss"), [("sigmoid", "sse"), ("sigmoid", "bce"), ("relu", "mse")])
@pytest.mark.parametrize("cuts", [(1,), (97,), (1, 2, 3), (50, 51, 200), tuple(range(10, 300, 10))])
def test_any_row_split_gives_builds_model_up_to_the_rounding_of_adding_the_blocks(rng, dtype, activation, loss, cuts):
    W, X, y = _problem(rng, 300, 4, dtype)
    lo, act = resolve(loss, activation)
    one = errormodel.build(W, X, y, lo, act)
    edges = (0, *cuts, 300)
    sums = sum(errormodel.partial_sums(W, X[s:e], y[s:e], lo, act, 300) for s, e in itertools.pairwise(edges))
    blocks = errormodel.from_sums(sums, 300, X.dtype, lo)
    # the sums are float64 sums of 300 terms, each term from a z_b that BLAS may round in another
    # last bit (see the module docstring): S_j, L and f_noise move by ~u64 relative; err_j's
    # secant terms by a few u |d_i| per sample, which stays under C_LOCAL u S_j, the model's
    # own charge for the few roundings of one factor (and far under err_j >= u sqrt(N) S_j)
    assert (np.abs(blocks.exact - one.exact) <= C_LOCAL * one.u * one.size).all()
    np.testing.assert_allclose(blocks.size, one.size, rtol=1e-12, atol=0)
    np.testing.assert_allclose(blocks.f_noise, one.f_noise, rtol=1e-12, atol=0)
    np.testing.assert_allclose(blocks.loss, one.loss, rtol=1e-12, atol=0)
    assert (blocks.u, blocks.dtype, blocks.f_rel, blocks.floor) == (one.u, one.dtype, one.f_rel, one.floor)


def test_the_all_reduce_of_k_ranks_adds_its_rounding_and_one_rank_adds_nothing(rng):
    W, X, y = _problem(rng, 100, 3, "float64")
    lo, act = resolve("sse", "sigmoid")
    sums = errormodel.partial_sums(W, X, y, lo, act, 100)
    one = errormodel.from_sums(sums, 100, X.dtype, lo, ranks=1)
    k3 = errormodel.from_sums(sums, 100, X.dtype, lo, ranks=3)
    np.testing.assert_array_equal(k3.exact, one.exact + 2 * one.u * one.size)
    assert k3.f_noise == one.f_noise + 2 * one.u * abs(one.loss)


@pytest.mark.parametrize("d", [1, 4, 30])
def test_sums_length_is_the_length_of_partial_sums_an_all_reduce_is_sized_by(rng, d):
    W, X, y = _problem(rng, 20, d, "float64")
    lo, act = resolve("sse", "sigmoid")
    assert errormodel.partial_sums(W, X, y, lo, act, 20).shape == (errormodel.sums_length(d),)


@pytest.mark.parametrize("dtype", DTYPES)
def test_build_holds_at_most_two_float64_copies_of_x_at_once(rng, dtype):
    # z_and_error's float64 X and |X| are freed before the block's |X| is made (three copies before)
    import tracemalloc

    W, X, y = _problem(rng, 20_000, 20, dtype)
    lo, act = resolve("sse", "sigmoid")
    errormodel.build(W, X[:10], y[:10], lo, act)  # imports and caches loaded
    tracemalloc.start()
    try:
        errormodel.build(W, X, y, lo, act)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    x64 = X.size * 8
    assert peak <= 2.5 * x64, f"peak {peak / x64:.2f} x the float64 size of X"
