"""gd_torch.train.loop.run_loop against a plain loop written here: the same weights and losses bit
for bit for seeded runs of every method, full batch and mini-batch, the stop rules at and across
the history's growths, divergence, and the callback's view of the run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gd_torch import TrainingDiverged, fit, init_weights, tutorial_data
from gd_torch.gradients import METHODS, lookup
from gd_torch.model.forward import reduce, resolve


@pytest.fixture(scope="module")
def data():
    return tutorial_data(n_samples=48, seed=5)


def plain_loop(X, y, *, method, loss="sse", activation="sigmoid", alpha, epochs, batch_size=None, tol=None, patience=None, seed=0):  # fmt: skip
    """fit's documented algorithm as a bare loop: (weights history, loss history, reason)."""
    lo, act = resolve(loss, activation)
    m = lookup(method)
    kw = m.bind("cpu", {})
    whole = None if m.from_z is not None else m.function(X, y, lo, act, **kw)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    order = np.arange(X.shape[0])
    W = init_weights(X.shape[1], "uniform", seed, X.dtype)
    weights, losses, best, since = [W.copy()], [], math.inf, 0
    with np.errstate(all="ignore"):
        for k in range(epochs + 1):
            z = X @ W
            a = act.f(z)
            L = float(reduce(lo, lo.terms(z, a, y)))
            losses.append(L)
            best, since = (L, 0) if L < best else (best, since + 1)
            for reason, holds in (
                ("epochs", k == epochs),
                ("tol", tol is not None and L <= tol),
                ("patience", patience is not None and since >= patience),
            ):
                if holds:
                    return np.array(weights), np.array(losses), reason
            if batch_size is None:
                W = W - alpha * (m.from_z(X.T, z, a, y, lo, act) if m.from_z is not None else whole(W))
            else:
                rng.shuffle(order)
                Xs, ys = X[order], y[order]
                for s in range(0, X.shape[0], batch_size):
                    Xb, yb = Xs[s : s + batch_size], ys[s : s + batch_size]
                    if m.from_z is not None:
                        zb = Xb @ W
                        g = m.from_z(Xb.T, zb, act.f(zb), yb, lo, act)
                    else:
                        g = m.grad(W, Xb, yb, lo, act, **kw)
                    W = W - alpha * g
            weights.append(W.copy())
    raise AssertionError("unreachable")


def _same(r, expected) -> None:
    weights, losses, reason = expected
    assert r.stop_reason == reason and r.epochs_run == len(losses) - 1
    np.testing.assert_array_equal(r.weights_history, weights, strict=True)
    np.testing.assert_array_equal(r.loss_history, losses, strict=True)


@pytest.mark.parametrize("batch_size", [None, 10])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_matches_the_plain_loop_bit_for_bit(data, method, batch_size):
    # 37 epochs: the history grows at 16 and at 32 rows, so the loop runs three blocks
    X, y = data
    kw = dict(method=method, alpha=0.05, epochs=37, batch_size=batch_size, seed=7)
    _same(fit(X, y, **kw), plain_loop(X, y, **kw))


@pytest.mark.parametrize(
    "rules",
    [
        {"tol": 8.0},  # stops inside a block
        {"patience": 2, "alpha": 40.0},  # a loss that oscillates
        {"tol": -1.0, "epochs": 16},  # the last epoch at the first block's end
        {"tol": -1.0, "epochs": 15},
        {"patience": 1000, "epochs": 33},
    ],
)
def test_stop_rules_match_the_plain_loop(data, rules):
    X, y = data
    kw = {"method": "analytic", "alpha": 0.05, "epochs": 200, "seed": 3} | rules
    r = fit(X, y, **kw)
    _same(r, plain_loop(X, y, **kw))


def test_a_divergence_is_reported_at_the_plain_loop_s_epoch(data):
    X, y = data
    kw = dict(method="analytic", loss="mse", activation="identity", alpha=3.0, epochs=100, seed=1)
    weights, losses, _ = plain_loop(X, y, **kw | {"epochs": 6})
    with pytest.raises(TrainingDiverged) as info:
        fit(X, y, **kw)
    k = info.value.epoch
    assert 3 <= k <= 6 and losses[k] > 1e10 * losses[0]
    np.testing.assert_array_equal(info.value.loss_history, losses[:k], strict=True)
    np.testing.assert_array_equal(info.value.weights, weights[k - 1], strict=True)


def test_the_callback_sees_every_epoch_and_runs_under_the_caller_s_error_state(data):
    X, y = data
    seen = []

    def cb(k, W, L):
        seen.append((k, W.copy(), L))
        np.float64(1e308) * 10  # overflows: the caller asked that to raise

    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        fit(X, y, epochs=5, callback=cb)
    assert [k for k, _, _ in seen] == [0]
    seen.clear()
    r = fit(X, y, epochs=20, seed=2, callback=lambda k, W, L: seen.append((k, W.copy(), L)) or k == 17)
    assert r.stop_reason == "callback" and r.epochs_run == 17 and [k for k, _, _ in seen] == list(range(18))
    for k, W, L in seen:
        np.testing.assert_array_equal(W, r.weights_history[k])
        assert L == r.loss_history[k]
    seen.clear()
    r = fit(X, y, epochs=20, seed=2, callback=lambda k, W, L: seen.append(k))
    assert r.stop_reason == "epochs" and seen == list(range(21))  # called at k = epochs too


def test_an_epoch_without_stop_rules_calls_neither_the_rules_nor_the_divergence_check(data, monkeypatch):
    # the per-epoch overhead: the full divergence rule runs at epoch 0 (the bound is not known
    # yet) and when L crosses the bound; the stop rules only when tol, patience or a callback is set
    from gd_torch.train import loop

    calls = {"divergence": 0, "rules": 0}
    check, rules = loop._check_divergence, loop._StopRules.before_last

    def counted_check(*args):
        calls["divergence"] += 1
        return check(*args)

    def counted_rules(self, *args):
        calls["rules"] += 1
        return rules(self, *args)

    monkeypatch.setattr(loop, "_check_divergence", counted_check)
    monkeypatch.setattr(loop._StopRules, "before_last", counted_rules)
    X, y = data
    fit(X, y, epochs=70, seed=1)
    assert calls == {"divergence": 1, "rules": 0}
    fit(X, y, epochs=70, seed=1, tol=-1.0)
    assert calls == {"divergence": 2, "rules": 70}
