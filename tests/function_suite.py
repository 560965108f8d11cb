"""Smooth functions with correct torch gradients: the measuring set for gd_torch.check_function.

Each case is a torch function of one array or of a dict of named arrays, and a random point
in its domain (torch.logaddexp and 1 / x are avoided: their forward-mode derivatives import torch._dynamo,
seconds on first use).  check_function sees

* f: the torch function evaluated on numpy input (under no_grad), as a black box;
* grad: its forward-mode derivative (exact, but rounded along another route than reverse mode);
* torch_f: the torch function itself (reverse mode: torch.autograd).

``python tests/function_suite.py`` (from the repository root) runs every case in float64
and float32: correct gradients (must be OK) and a 1e-4 relative error in one coordinate
(float64 must catch it), and prints the table.
"""

from __future__ import annotations

import sys
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

import gd_torch

with warnings.catch_warnings():
    # forward-mode AD loads torch's jvp decompositions on first use, and that import warns that
    # torch.jit.script is deprecated: torch's internals, not this code; loaded once, here
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=DeprecationWarning)
    import torch._decomp.decompositions_for_jvp  # noqa: F401
    import torch.autograd.forward_ad as fwAD


@dataclass(frozen=True)
class Case:
    fn: Callable
    #: rng, dtype -> params (an array or a dict of arrays)
    point: Callable


def _normal(*shape):
    return lambda rng, dt: rng.standard_normal(shape).astype(dt)


def _positive(*shape):
    return lambda rng, dt: rng.uniform(0.5, 2.0, shape).astype(dt)


def _dict(**makers):
    return lambda rng, dt: {k: m(rng, dt) for k, m in makers.items()}


def _const(rng_seed: int, *shape) -> torch.Tensor:
    # fixed data inside a function (float64; cast to the parameter's dtype where used)
    return torch.from_numpy(np.random.default_rng(rng_seed).standard_normal(shape))


_A = _const(1, 12, 8)
_B = _const(2, 12)
_Q = _const(3, 8, 8)
_C = _const(4, 8)
_X = _const(5, 20, 4)
_Y01 = (_const(6, 20) > 0).double()
_LAB = torch.from_numpy(np.random.default_rng(7).integers(0, 3, 20))
_K = _const(8, 6, 4)
_V = _const(9, 6, 3)


def _c(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.to(like.dtype)


def _mlp(p):
    h = torch.tanh(_c(_X, p["W1"]) @ p["W1"] + p["b1"])
    return torch.mean((h @ p["W2"] - _c(_Y01, p["W1"])) ** 2)


def _attention(p):
    q = p["q"]
    w = torch.softmax(_c(_K, q) @ q, dim=0)
    return torch.sum((w @ _c(_V, q)) * torch.arange(1, 4, dtype=q.dtype))


SUITE: dict[str, Case] = {
    # elementwise, summed
    "sum sin": Case(lambda x: torch.sin(x).sum(), _normal(10)),
    "sum exp": Case(lambda x: torch.exp(x).sum(), _normal(10)),
    "sum log": Case(lambda x: torch.log(x).sum(), _positive(10)),
    "sum cube": Case(lambda x: (x**3).sum(), _normal(10)),
    "sum tanh": Case(lambda x: torch.tanh(x).sum(), _normal(10)),
    "sum sigmoid": Case(lambda x: torch.sigmoid(x).sum(), _normal(10)),
    "sum softplus": Case(lambda x: torch.nn.functional.softplus(x).sum(), _normal(10)),
    "sum sqrt": Case(lambda x: torch.sqrt(x).sum(), _positive(10)),
    "sum reciprocal": Case(lambda x: torch.reciprocal(x).sum(), _positive(10)),
    "sum x exp(-x^2)": Case(lambda x: (x * torch.exp(-(x**2))).sum(), _normal(10)),
    "sum cos x sin 2x": Case(lambda x: (torch.cos(x) * torch.sin(x * 2)).sum(), _normal(10)),
    "sum erf": Case(lambda x: torch.erf(x).sum(), _normal(10)),
    "sum atan": Case(lambda x: torch.atan(x).sum(), _normal(10)),
    "pseudo-Huber": Case(lambda x: (torch.sqrt(1 + x**2) - 1).sum(), _normal(10)),
    # reductions and norms
    "mean squared": Case(lambda x: x.mean() ** 2, _normal(10)),
    "variance": Case(lambda x: x.var(), _normal(10)),
    "product": Case(lambda x: torch.prod(x), _positive(8)),
    "squared norm": Case(lambda x: (x * x).sum(), _normal(10)),
    "2-norm": Case(lambda x: torch.linalg.vector_norm(x), _normal(10)),
    "3-norm": Case(lambda x: torch.linalg.vector_norm(x, 3), _positive(10)),
    "log-sum-exp": Case(lambda x: torch.logsumexp(x, 0), _normal(10)),
    "softmax weighted": Case(lambda x: torch.softmax(x, 0) @ _c(_C, x), _normal(8)),
    "softmax entropy": Case(lambda x: -(torch.softmax(x, 0) * torch.log_softmax(x, 0)).sum(), _normal(8)),
    "cross-entropy": Case(lambda x: -torch.log_softmax(x, 0)[3], _normal(8)),
    "cosine similarity": Case(lambda x: torch.dot(x, _c(_C, x)) / torch.linalg.vector_norm(x), _normal(8)),
    # matrix products
    "quadratic form": Case(lambda x: x @ _c(_Q, x) @ x, _normal(8)),
    "least squares": Case(lambda x: ((_c(_A, x) @ x - _c(_B, x)) ** 2).sum(), _normal(8)),
    "matrix Frobenius": Case(lambda M: ((M @ _c(_Q, M)) ** 2).sum(), _normal(4, 8)),
    "log det": Case(lambda M: torch.logdet(torch.eye(4, dtype=M.dtype) + M @ M.T), _normal(4, 5)),
    "product of factors": Case(lambda p: ((p["U"] @ p["V"]) ** 2).sum(), _dict(U=_normal(4, 3), V=_normal(3, 5))),
    # small models
    "logistic regression": Case(
        lambda p: torch.mean(
            torch.nn.functional.softplus(_c(_X, p["w"]) @ p["w"] + p["b"])
            - _c(_Y01, p["w"]) * (_c(_X, p["w"]) @ p["w"] + p["b"])
        ),
        _dict(w=_normal(4), b=_normal()),
    ),
    "softmax regression": Case(
        lambda p: torch.nn.functional.cross_entropy(_c(_X, p["W"]) @ p["W"] + p["b"], _LAB),
        _dict(W=_normal(4, 3), b=_normal(3)),
    ),
    "tanh MLP": Case(_mlp, _dict(W1=_normal(4, 5), b1=_normal(5), W2=_normal(5))),
    "attention": Case(_attention, _dict(q=_normal(4))),
    "Gaussian likelihood": Case(
        lambda p: torch.sum(p["log_s"] + 0.5 * ((_c(_B, p["mu"]) - p["mu"]) / torch.exp(p["log_s"])) ** 2),
        _dict(mu=_normal(), log_s=_normal()),
    ),
    "Rosenbrock": Case(lambda x: torch.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2), _normal(6)),
    "layer norm": Case(
        lambda x: torch.nn.functional.layer_norm(x, (10,)) @ torch.arange(10, dtype=x.dtype), _normal(10)
    ),
}


def as_numpy(fn: Callable) -> Callable:
    """The torch function as a black box on numpy input (what a user's numpy f would be)."""

    def f(p):
        with torch.no_grad():
            return float(fn(_tensors(p)))

    return f


def forward_mode(fn: Callable) -> Callable:
    """grad(params) by forward-mode AD (torch.autograd.forward_ad): one tangent e_j per coordinate."""

    def grad(p):
        named = p if isinstance(p, dict) else {"": p}
        out = {k: np.zeros(np.shape(v), dtype=np.asarray(v).dtype) for k, v in named.items()}
        for key, v in named.items():
            for j in range(np.size(v)):
                with fwAD.dual_level():
                    duals = {}
                    for k, w in named.items():
                        t = torch.from_numpy(np.array(w))
                        e = torch.zeros_like(t)
                        if k == key:
                            e.view(-1)[j] = 1
                        duals[k] = fwAD.make_dual(t, e)
                    y = fn(duals if isinstance(p, dict) else duals[""])
                    out[key].reshape(-1)[j] = fwAD.unpack_dual(y).tangent.item()
        return out if isinstance(p, dict) else out[""]

    return grad


def _tensors(p):
    return {k: torch.from_numpy(np.array(v)) for k, v in p.items()} if isinstance(p, dict) else torch.from_numpy(p)


def point(name: str, dtype: str, seed: int = 0):
    """The case's parameters, drawn from a generator seeded by (name, dtype, seed)."""
    rng = np.random.default_rng(zlib.crc32(f"{name}/{dtype}/{seed}".encode()))
    return SUITE[name].point(rng, np.dtype(dtype))


def with_error(grad: Callable, params, rel: float, seed: int) -> tuple[Callable, str]:
    """grad with one coordinate times (1 + rel): a coordinate with |g_j| >= max |g| / 10, chosen at random."""
    g0 = grad(params)
    flat = np.concatenate([np.ravel(v) for v in (g0.values() if isinstance(g0, dict) else [g0])])
    big = np.flatnonzero(np.abs(flat) >= 0.1 * np.abs(flat).max())
    j = int(np.random.default_rng(seed).choice(big))

    def wrong(p):
        g = grad(p)
        parts = {k: np.array(v) for k, v in g.items()} if isinstance(g, dict) else {"": np.array(g)}
        k = j
        for v in parts.values():
            if k < v.size:
                v.reshape(-1)[k] *= 1 + rel
                break
            k -= v.size
        return parts if isinstance(g, dict) else parts[""]

    return wrong, str(j)


def run(name: str, dtype: str, seed: int = 0, rel: float | None = None, **kw) -> gd_torch.CheckReport:
    """check_function on one case: correct (rel None) or with a relative error rel in one coordinate."""
    fn, params = SUITE[name].fn, point(name, dtype, seed)
    grad = forward_mode(fn)
    if rel is not None:
        grad, _ = with_error(grad, params, rel, seed)
    return gd_torch.check_function(as_numpy(fn), params, grad, torch_f=fn, seed=seed, **kw)


def main(seeds: int = 3) -> None:
    print(f"{'function':<22} {'dtype':<8} {'correct OK':>10} {'max |diff|/tol':>14} {'1e-4 caught':>11} {'ms':>6}")
    alarms = misses = total64 = 0
    for name in SUITE:
        for dtype in ("float64", "float32"):
            t0 = time.perf_counter()
            reports = [run(name, dtype, s) for s in range(seeds)]
            ms = 1e3 * (time.perf_counter() - t0) / seeds
            ok = sum(r.ok for r in reports)
            worst = max(p.ratio for r in reports for p in r.pairs)
            caught = "-"
            if dtype == "float64":
                hits = sum(not run(name, dtype, s, rel=1e-4).ok for s in range(seeds))
                caught, misses, total64 = f"{hits}/{seeds}", misses + seeds - hits, total64 + seeds
            alarms += seeds - ok
            print(f"{name:<22} {dtype:<8} {ok:>7}/{seeds} {worst:>14.3g} {caught:>11} {ms:>6.0f}")
    print(f"false alarms: {alarms}; 1e-4 errors missed in float64: {misses} of {total64}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if sys.argv[1:] else 3)
