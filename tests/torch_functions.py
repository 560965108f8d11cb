"""Custom torch.autograd.Functions of real operations, with correct and realistic buggy backward passes.

The measuring set for checking torch code as torch users write it (issue 22). ``CASES`` is the one
registry; each ``TorchCase`` holds

* ``function``: a ``torch.autograd.Function`` whose forward and backward compute in the inputs' dtype
  with plain elementwise, reduction and matmul ops, as a hand-written kernel does: nothing is upcast
  by this code (torch's own CPU kernels for sum, matmul and einsum accumulate as they always do);
* ``reference``: the same math in plain torch (``torch.nn.functional`` where it exists), whose
  gradient autograd computes. torch's own CPU kernels often compute in float32 for bfloat16/float16
  inputs and round once (the forwards of softmax, GELU, SiLU, cumsum and scaled_dot_product_attention
  match float32-then-round exactly here), so the reference's rounding is often smaller than that of
  a hand-written Function, which rounds after every op;
* ``inputs(dtype, device, seed)``: a tuple of small tensors (floating ones require grad);
* ``bugs``: ``Bug(name, description, function)``, the same forward with a wrong backward.

Every case runs in float64, float32, bfloat16 and float16 (tested on the CPU; nothing here is CPU-only).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

#: forward(*inputs) -> (output, tensors saved for backward)
Forward = Callable[..., tuple[Tensor, tuple[Tensor, ...]]]
#: backward(saved, grad_output) -> one gradient (or None) per input
Backward = Callable[[tuple[Tensor, ...], Tensor], tuple[Tensor | None, ...]]

DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)


@dataclass(frozen=True)
class Bug:
    name: str
    description: str
    function: type[torch.autograd.Function]


@dataclass(frozen=True)
class TorchCase:
    name: str
    function: type[torch.autograd.Function]
    reference: Callable[..., Tensor]
    #: (dtype, device, seed) -> inputs; floating tensors require grad
    inputs: Callable[[torch.dtype, torch.device | str, int], tuple[Tensor, ...]]
    bugs: tuple[Bug, ...]


def _autograd_function(name: str, forward: Forward, backward: Backward) -> type[torch.autograd.Function]:
    def fwd(ctx, *inputs):
        out, saved = forward(*inputs)
        ctx.save_for_backward(*saved)
        return out

    def bwd(ctx, grad):
        return backward(ctx.saved_tensors, grad)

    return type(name, (torch.autograd.Function,), {"forward": staticmethod(fwd), "backward": staticmethod(bwd)})


def _normal(*shape: int, scale: float = 1.0):
    return lambda gen: scale * torch.randn(shape, generator=gen, dtype=torch.float64)


def _labels(n: int, classes: int):
    return lambda gen: torch.randint(0, classes, (n,), generator=gen)


def _inputs(name: str, *makers):
    # drawn in float64 from a generator seeded by (case, seed), then rounded to the dtype
    def make(dtype: torch.dtype, device: torch.device | str, seed: int) -> tuple[Tensor, ...]:
        gen = torch.Generator().manual_seed(zlib.crc32(f"{name}:{seed}".encode()))
        raw = [m(gen) for m in makers]
        return tuple(
            r.to(dtype=dtype, device=device).requires_grad_() if r.is_floating_point() else r.to(device) for r in raw
        )

    return make


def _case(name: str, forward: Forward, backward: Backward, reference, makers, bugs: dict) -> TorchCase:
    title = "".join(p.title() for p in name.split("_"))
    return TorchCase(
        name=name,
        function=_autograd_function(title, forward, backward),
        reference=reference,
        inputs=_inputs(name, *makers),
        bugs=tuple(
            Bug(bug, text, _autograd_function(f"{title}_{bug}", forward, bwd)) for bug, (text, bwd) in bugs.items()
        ),
    )


def _sum_rows(t: Tensor) -> Tensor:
    return t.sum(-1, keepdim=True)


def _mean_rows(t: Tensor) -> Tensor:
    return t.mean(-1, keepdim=True)


def _reverse_cumsum(g: Tensor) -> Tensor:
    return g.flip(-1).cumsum(-1).flip(-1)


def _softmax_rows(x: Tensor) -> Tensor:
    e = (x - x.amax(-1, keepdim=True)).exp()
    return e / _sum_rows(e)


# ---- LayerNorm over the last dim: y = xhat * w + b, xhat = (x - mean) / sqrt(var + eps) ----
_LN_EPS = 1e-5


def _ln_stats(x: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    xc = x - _mean_rows(x)
    rstd = (_mean_rows(xc * xc) + eps).rsqrt()
    return xc * rstd, rstd


def _ln_forward(x, w, b):
    xhat, _ = _ln_stats(x, _LN_EPS)
    return xhat * w + b, (x, w)


def _ln_backward(eps: float, mean_term: bool = True, var_term: bool = True, bias_sum: bool = True):
    # recomputes the statistics from x (as memory-saving kernels do)
    # dxhat = g w;  dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat));  dw = sum_n g xhat;  db = sum_n g
    def backward(saved, g):
        x, w = saved
        xhat, rstd = _ln_stats(x, eps)
        gx = g * w
        inner = gx
        if mean_term:
            inner = inner - _mean_rows(gx)
        if var_term:
            inner = inner - xhat * _mean_rows(gx * xhat)
        db = g.sum(0) if bias_sum else g.mean(0)
        return rstd * inner, (g * xhat).sum(0), db

    return backward


# ---- RMSNorm: y = x r w, r = 1 / sqrt(mean(x^2) + eps) ----
_RMS_EPS = 1e-6


def _rms_r(x: Tensor) -> Tensor:
    return (_mean_rows(x * x) + _RMS_EPS).rsqrt()


def _rms_forward(x, w):
    return x * _rms_r(x) * w, (x, w)


def _rms_backward(reduce: Callable[[Tensor], Tensor] | None):
    # dx = r (g w - x r^2 mean(g w x));  dw = sum_n g x r
    def backward(saved, g):
        x, w = saved
        r = _rms_r(x)
        gw = g * w
        dx = r * gw if reduce is None else r * (gw - x * r * r * reduce(gw * x))
        return dx, (g * x * r).sum(0)

    return backward


# ---- softmax over the last dim: dx = s (g - sum(g s)) ----
def _softmax_forward(x):
    s = _softmax_rows(x)
    return s, (s,)


def _softmax_backward(reduce: Callable[[Tensor], Tensor] | None):
    def backward(saved, g):
        (s,) = saved
        return (s * g,) if reduce is None else (s * (g - reduce(g * s)),)

    return backward


# ---- log-softmax over the last dim: y = x - logsumexp(x);  dx = g - softmax(x) sum(g) ----
def _log_softmax_forward(x):
    shifted = x - x.amax(-1, keepdim=True)
    y = shifted - _sum_rows(shifted.exp()).log()
    return y, (y,)


def _log_softmax_backward(saved, g):
    (y,) = saved
    return (g - y.exp() * _sum_rows(g),)


# ---- cross-entropy per row (reduction='none'): loss_n = logsumexp(l_n) - l_n[t_n];  dl = g_n (softmax(l_n) - onehot) ----
def _ce_forward(logits, target):
    shifted = logits - logits.amax(-1, keepdim=True)
    log_p = shifted - _sum_rows(shifted.exp()).log()
    return -log_p.gather(-1, target[:, None])[:, 0], (log_p, target)


def _ce_backward(sign: float = 1.0, upstream: bool = True):
    def backward(saved, g):
        log_p, target = saved
        diff = log_p.exp() - F.one_hot(target, log_p.shape[-1]).to(log_p.dtype)
        dl = sign * diff
        return (g[:, None] * dl if upstream else dl), None

    return backward


# ---- causal scaled-dot-product attention: O = softmax(mask(q k^T / sqrt(d))) v ----
def _attention_probs(q: Tensor, k: Tensor, causal: bool) -> Tensor:
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        t = s.shape[-1]
        pos = torch.arange(t, device=s.device)
        future = pos[None, :] > pos[:, None]  # key after query
        s = s.masked_fill(future, float("-inf"))
    return _softmax_rows(s)


def _attention_forward(q, k, v):
    return _attention_probs(q, k, True) @ v, (q, k, v)


def _attention_backward(causal: bool = True, scaled: bool = True, transpose_dk: bool = True):
    # recomputes P (flash-attention style); dv = P^T dO;  dP = dO v^T;  dS = P (dP - sum(dP P));
    # dq = dS k / sqrt(d);  dk = dS^T q / sqrt(d)
    def backward(saved, g):
        q, k, v = saved
        p = _attention_probs(q, k, causal)
        dp = g @ v.transpose(-1, -2)
        ds = p * (dp - _sum_rows(dp * p))
        scale = 1 / math.sqrt(q.shape[-1]) if scaled else 1.0
        ds_k = ds.transpose(-1, -2) if transpose_dk else ds
        return ds @ k * scale, ds_k @ q * scale, p.transpose(-1, -2) @ g

    return backward


def _attention_reference(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


# ---- GELU, tanh approximation: y = x (1 + tanh(u)) / 2, u = c (x + a x^3) ----
_GELU_C = math.sqrt(2 / math.pi)
_GELU_A = 0.044715


def _gelu_forward(x):
    t = torch.tanh(_GELU_C * (x + _GELU_A * x * x * x))
    return 0.5 * x * (1 + t), (x,)


def _gelu_backward(inner: bool = True):
    # dy/dx = (1 + t) / 2 + x (1 - t^2) c (1 + 3 a x^2) / 2
    def backward(saved, g):
        (x,) = saved
        t = torch.tanh(_GELU_C * (x + _GELU_A * x * x * x))
        du = _GELU_C * (1 + 3 * _GELU_A * x * x) if inner else _GELU_C
        return (g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du),)

    return backward


def _gelu_erf_backward(saved, g):
    # d/dx [x Phi(x)] = Phi(x) + x phi(x): the exact GELU's derivative
    (x,) = saved
    cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    pdf = (-0.5 * x * x).exp() / math.sqrt(2 * math.pi)
    return (g * (cdf + x * pdf),)


# ---- SiLU: y = x sigmoid(x);  dy/dx = s (1 + x (1 - s)) ----
def _silu_forward(x):
    return x * torch.sigmoid(x), (x,)


def _silu_backward(negative_sign: float = 1.0, product_rule: bool = True):
    # computed in two branches (x >= 0, x < 0), as stable kernels do
    def backward(saved, g):
        (x,) = saved
        s = torch.sigmoid(x)
        if not product_rule:
            return (g * s,)
        pos = s * (1 + x * (1 - s))
        neg = s * (1 + negative_sign * x * (1 - s))
        return (g * torch.where(x >= 0, pos, neg),)

    return backward


# ---- cumulative sum over the last dim: dx_i = sum_{j >= i} g_j ----
def _cumsum_forward(x):
    return x.cumsum(-1), ()


def _cumsum_backward(saved, g):
    return (_reverse_cumsum(g),)


def _cumsum_exclusive_backward(saved, g):
    return (_reverse_cumsum(g) - g,)


def _cumsum_forward_backward(saved, g):
    return (g.cumsum(-1),)


# ---- linear layer: y = x W^T + b;  dx = g W;  dW = g^T x;  db = sum_n g ----
def _linear_forward(x, w, b):
    return x @ w.T + b, (x, w)


def _linear_backward(transpose_dw: bool = False, bias_sum: bool = True):
    def backward(saved, g):
        x, w = saved
        dw = x.T @ g if transpose_dw else g.T @ x
        return g @ w, dw, (g.sum(0) if bias_sum else g.mean(0))

    return backward


# ---- logsumexp over the last dim: y = m + log sum exp(x - m);  dx = g exp(x - y) ----
def _logsumexp_forward(x):
    m = x.amax(-1, keepdim=True)
    y = m + _sum_rows((x - m).exp()).log()
    return y[..., 0], (x, y)


def _logsumexp_backward(normalised: bool = True, upstream: bool = True):
    def backward(saved, g):
        x, y = saved
        shift = y if normalised else x.amax(-1, keepdim=True)
        e = (x - shift).exp()
        return ((g[..., None] * e) if upstream else e,)

    return backward


# ---- 1-D convolution (cross-correlation, valid, stride 1): y[b,o,l] = sum_{c,k} x[b,c,l+k] w[o,c,k] ----
def _conv_forward(x, w):
    return torch.einsum("bclk,ock->bol", x.unfold(-1, w.shape[-1], 1), w), (x, w)


def _conv_backward(flip: bool = False, taps_missing: int = 0):
    # dw[o,c,k] = sum_{b,l} x[b,c,l+k] g[b,o,l];  dx[b,c,l+k] += sum_o g[b,o,l] w[o,c,k]
    def backward(saved, g):
        x, w = saved
        taps = w.shape[-1]
        length = g.shape[-1]
        dw = torch.einsum("bclk,bol->ock", x.unfold(-1, taps, 1), g)
        du = torch.einsum("bol,ock->bclk", g, w.flip(-1) if flip else w)
        dx = torch.zeros_like(x)
        for k in range(taps - taps_missing):
            dx[..., k : k + length] += du[..., k]
        return dx, dw

    return backward


# ---- broadcast product: y = x * w, w of shape (features,);  dx = g w;  dw = sum_n g x ----
def _product_forward(x, w):
    return x * w, (x, w)


def _product_backward(reduce: Callable[[Tensor], Tensor]):
    def backward(saved, g):
        x, w = saved
        return g * w, reduce(g * x)

    return backward


def _sum0(t: Tensor) -> Tensor:
    return t.sum(0)


def _mean0(t: Tensor) -> Tensor:
    return t.mean(0)


CASES: tuple[TorchCase, ...] = (
    _case(
        "layer_norm",
        _ln_forward,
        _ln_backward(_LN_EPS),
        lambda x, w, b: F.layer_norm(x, x.shape[-1:], w, b, _LN_EPS),
        (_normal(6, 16), _normal(16), _normal(16)),
        {
            "mean_term": ("dx drops -mean(dxhat): the mean's dependence on x", _ln_backward(_LN_EPS, mean_term=False)),
            "var_term": (
                "dx drops -xhat mean(dxhat xhat): the variance's dependence on x",
                _ln_backward(_LN_EPS, var_term=False),
            ),
            "eps_dropped": ("backward recomputes 1/std without eps (forward has eps=1e-5)", _ln_backward(0.0)),
            "bias_mean": (
                "bias gradient averaged over the batch instead of summed",
                _ln_backward(_LN_EPS, bias_sum=False),
            ),
        },
    ),
    _case(
        "rms_norm",
        _rms_forward,
        _rms_backward(_mean_rows),
        lambda x, w: F.rms_norm(x, x.shape[-1:], w, _RMS_EPS),
        (_normal(6, 16), _normal(16)),
        {
            "r_constant": ("1/rms treated as a constant: the -x r^2 mean(g w x) term missing", _rms_backward(None)),
            "sum_not_mean": ("factor 1/N missing: sum(g w x) where mean(g w x) belongs", _rms_backward(_sum_rows)),
        },
    ),
    _case(
        "softmax",
        _softmax_forward,
        _softmax_backward(_sum_rows),
        lambda x: torch.softmax(x, -1),
        (_normal(6, 16),),
        {
            "missing_sum": ("dx = s g: the -s sum(g s) term missing", _softmax_backward(None)),
            "wrong_dim": (
                "sum(g s) reduced over the batch dim instead of the softmax dim",
                _softmax_backward(lambda t: t.sum(0, keepdim=True)),
            ),
        },
    ),
    _case(
        "log_softmax",
        _log_softmax_forward,
        _log_softmax_backward,
        lambda x: torch.log_softmax(x, -1),
        (_normal(6, 16),),
        {
            "missing_sum": ("dx = g - softmax g: sum(g) replaced by g", lambda saved, g: (g - saved[0].exp() * g,)),
            "identity": ("dx = g: the softmax term forgotten", lambda saved, g: (g,)),
        },
    ),
    _case(
        "cross_entropy",
        _ce_forward,
        _ce_backward(),
        lambda logits, target: F.cross_entropy(logits, target, reduction="none"),
        (_normal(8, 10, scale=2.0), _labels(8, 10)),
        {
            "sign": ("sign error: onehot - softmax", _ce_backward(sign=-1.0)),
            "no_upstream": (
                "upstream gradient g not multiplied in (right only for loss.sum())",
                _ce_backward(upstream=False),
            ),
        },
    ),
    _case(
        "causal_attention",
        _attention_forward,
        _attention_backward(),
        _attention_reference,
        (_normal(2, 5, 4), _normal(2, 5, 4), _normal(2, 5, 4)),
        {
            "mask_not_in_backward": (
                "backward recomputes P without the causal mask",
                _attention_backward(causal=False),
            ),
            "scale_missing": ("1/sqrt(d) missing from dq and dk", _attention_backward(scaled=False)),
            "dk_transposed": ("dk = dS q instead of dS^T q", _attention_backward(transpose_dk=False)),
        },
    ),
    _case(
        "gelu_tanh",
        _gelu_forward,
        _gelu_backward(),
        lambda x: F.gelu(x, approximate="tanh"),
        (_normal(6, 16, scale=2.0),),
        {
            "erf_derivative": ("exact (erf) GELU derivative used for the tanh-approximate forward", _gelu_erf_backward),
            "inner_missing": ("d/dx of the cubic (1 + 3 a x^2) missing", _gelu_backward(inner=False)),
        },
    ),
    _case(
        "silu",
        _silu_forward,
        _silu_backward(),
        F.silu,
        (_normal(6, 16, scale=3.0),),
        {
            "negative_sign": ("sign error in the x < 0 branch: s (1 - x (1 - s))", _silu_backward(negative_sign=-1.0)),
            "product_rule": ("dy/dx = sigmoid(x): the x sigmoid'(x) term missing", _silu_backward(product_rule=False)),
        },
    ),
    _case(
        "cumsum",
        _cumsum_forward,
        _cumsum_backward,
        lambda x: torch.cumsum(x, -1),
        (_normal(4, 24),),
        {
            "off_by_one": ("reversed cumsum off by one: exclusive, skips g_i itself", _cumsum_exclusive_backward),
            "not_reversed": ("forward cumsum of g instead of the reversed one", _cumsum_forward_backward),
        },
    ),
    _case(
        "linear",
        _linear_forward,
        _linear_backward(),
        F.linear,
        (_normal(6, 12), _normal(12, 12, scale=0.3), _normal(12)),
        {
            "weight_transposed": (
                "weight gradient transposed: x^T g instead of g^T x",
                _linear_backward(transpose_dw=True),
            ),
            "bias_mean": ("bias gradient averaged over the batch instead of summed", _linear_backward(bias_sum=False)),
        },
    ),
    _case(
        "logsumexp",
        _logsumexp_forward,
        _logsumexp_backward(),
        lambda x: torch.logsumexp(x, -1),
        (_normal(6, 16, scale=2.0),),
        {
            "unnormalised": (
                "exp(x - max) where exp(x - logsumexp) belongs: normaliser missing",
                _logsumexp_backward(normalised=False),
            ),
            "no_upstream": ("upstream gradient g not multiplied in", _logsumexp_backward(upstream=False)),
        },
    ),
    _case(
        "conv1d",
        _conv_forward,
        _conv_backward(),
        F.conv1d,
        (_normal(2, 3, 10), _normal(3, 3, 3, scale=0.5)),
        {
            "kernel_flipped": (
                "dx correlates with the flipped kernel (convolution/correlation mixed up)",
                _conv_backward(flip=True),
            ),
            "last_tap": (
                "off-by-one in the tap loop: the last tap's share of dx missing",
                _conv_backward(taps_missing=1),
            ),
        },
    ),
    _case(
        "broadcast_product",
        _product_forward,
        _product_backward(_sum0),
        lambda x, w: x * w,
        (_normal(6, 16), _normal(16)),
        {
            "mean_not_sum": (
                "broadcast weight's gradient averaged over the batch instead of summed",
                _product_backward(_mean0),
            ),
        },
    ),
)


def floating(inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """The inputs that are differentiated: the floating tensors."""
    return tuple(t for t in inputs if t.is_floating_point())


def vjp(fn: Callable[..., Tensor], inputs: tuple[Tensor, ...], cotangent: Tensor) -> tuple[Tensor, ...]:
    """v^T J of ``fn`` at ``inputs`` for each floating input (shapes of the inputs, their dtype)."""
    out = fn(*inputs)
    return torch.autograd.grad(out, floating(inputs), cotangent)
