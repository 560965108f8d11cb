"""Gradients, checks and training over row blocks and K ranks: data past one machine's memory and cores.

Under torchrun (or ``gd_torch.distributed.launch``) each rank calls the same function with
the same arguments; :func:`init` reads the rank from the environment, each rank reads its
contiguous share of the rows in blocks (gd_torch.data.shards) and one all-reduce per result gives
every rank the value for the whole data.  Without torchrun there is one rank: the same
functions then compute out of core, in row blocks, in this process.

Public: the names in ``__all__``.  Everything else in this package is internal.

>>> import gd_torch, gd_torch.data.shards as ooc, gd_torch.distributed as dist
>>> X, y = gd_torch.tutorial_data()
>>> g = dist.gradient(gd_torch.init_weights(3, seed=0), ooc.Arrays(X, y), loss="bce")
>>> bool(abs(g - gd_torch.gradient(gd_torch.init_weights(3, seed=0), X, y, loss="bce")).max() < 1e-12)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from ..base import validate as _validate
from ..data.shards import Dataset
from ..gradients import _device, lookup, numeric
from ..model.activations import Activation
from ..model.forward import resolve
from ..model.losses import Loss
from ..verdict.checker import DEFAULT_METHODS
from ..verdict.report import CheckReport
from . import checking as _checking
from . import ops
from .comm import DEFAULT_TIMEOUT, Comm, RankFailure, init, rows
from .exact import Exact, exact_gradient, for_blocks
from .part import Part, check_labels, rank_part
from .train import Run, Stepper, run

__all__ = [
    "DEFAULT_TIMEOUT",
    "Comm",
    "RankFailure",
    "Run",
    "Stepper",
    "check",
    "gradient",
    "init",
    "objective",
    "prepare",
    "rows",
    "run",
    "stepper",
]

#: the options a finite-difference method takes on row blocks (every perturbation of a scheme
#: meets each block in one product: the in-memory ``batch`` has nothing to choose here)
NUMERIC_OPTIONS = ("step",)


def prepare(
    W: Any,
    data: Dataset,
    comm: Comm | None,
    loss: str | Loss,
    activation: str | Activation,
    binary: str | None = None,
) -> tuple[np.ndarray | None, Part, Loss, Activation]:
    """The boundary checks shared by every function here: names, W against the data (shape,
    dtype, finite; None passes), the same data on every rank, finite labels, and 0/1 labels
    where the loss needs them (or where ``binary`` gives another reason they must be 0 or 1)."""
    lo, act = resolve(loss, activation)
    comm = Comm() if comm is None else comm
    if W is not None:
        W, _, _ = _validate.problem(W, np.zeros((1, data.d), dtype=data.dtype), np.zeros(1))
    p = rank_part(data, comm)
    check_labels(p, f"loss={lo.name!r} is a cross-entropy over binary labels" if lo.binary else binary)
    return W, p, lo, act


def objective(
    W: Any,
    data: Dataset,
    comm: Comm | None = None,
    *,
    loss: str | Loss = "sse",
    activation: str | Activation = "sigmoid",
) -> float:
    """L(W) over the whole data (all ranks' rows), as :func:`gd_torch.objective`."""
    W, p, lo, act = prepare(W, data, comm, loss, activation)
    return ops.objective(p, W, lo, act)


def gradient(
    W: Any,
    data: Dataset,
    comm: Comm | None = None,
    *,
    method: str = "analytic",
    loss: str | Loss = "sse",
    activation: str | Activation = "sigmoid",
    **options: Any,
) -> np.ndarray:
    """dL/dW over the whole data, as :func:`gd_torch.gradient`: each rank's partial sum over its
    rows in blocks, then one all-reduce.  Every method of gd_torch.METHODS: the exact ones
    (analytic, tutorial, autograd: torch's autograd per block on the rank's device, then the
    all-reduce, as DistributedDataParallel does) and the finite differences 'numeric:<scheme>'
    (option ``step``: each perturbed loss is an all-reduced sum of the ranks' sums, all
    perturbations of the scheme batched into one pass).

    Returns an array of shape (D,) in the data's dtype, the same on every rank.
    """
    m = lookup(method)
    scheme = None if m.scheme is None else m.scheme.name  # a finite difference's scheme
    accepted = NUMERIC_OPTIONS if scheme is not None else ()
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise GdTorchError(
            f"options {unknown} are not accepted by method={method!r} on row blocks; accepted: "
            f"{', '.join(accepted) or 'none'}"
        )
    W, p, lo, act = prepare(W, data, comm, loss, activation)
    _device.check(p.comm.device, m.name, m.devices)
    if scheme is None:
        return exact_gradient(p, W, lo, act, _exact(m, lo, act, p.comm.device))
    numeric.check_options(W, act, scheme=scheme, step=options.get("step"))  # refused before any pass
    ops.objective(p, W, lo, act)  # z = X W finite, or the row that is not
    h = ops.numeric_steps(p, W, act, scheme, options.get("step"))
    return ops.numeric_gradient(p, W, lo, act, h, scheme).grad


def _exact(m, lo: Loss, act: Activation, device: str) -> Exact:
    # a method with its own error estimate other than the registry's finite differences works
    # on X in memory only
    if m.reduction is None:
        raise bad_value("method", m.name, "a method without an error estimate of its own, or 'numeric:<scheme>'")
    return for_blocks(m, lo, act, device)


def check(
    W: Any,
    data: Dataset,
    comm: Comm | None = None,
    *,
    loss: str | Loss = "sse",
    activation: str | Activation = "sigmoid",
    methods: Sequence[Any] = DEFAULT_METHODS,
    mode: str = "full",
    seed: int = 0,
) -> CheckReport:
    """:func:`gd_torch.check` over the whole data, every sum over samples taken over all ranks;
    the same report on every rank, and the same verdict as one process.  ``methods`` may
    include your own gradient functions g(W, X, y) where ``data`` is :class:`gd_torch.data.shards.Arrays`
    (X in memory); on a dataset folder they are refused."""
    W, p, lo, act = prepare(W, data, comm, loss, activation)
    return _checking.check(W, p, lo, act, methods, mode, seed)


def stepper(
    data: Dataset,
    comm: Comm | None = None,
    *,
    method: str = "analytic",
    loss: str | Loss = "sse",
    activation: str | Activation = "sigmoid",
    batch_size: int | None = None,
    seed: int | None = None,
) -> Stepper:
    """A :class:`Stepper` (``loss(W)``, ``step(W, alpha)``) for :func:`run` (gd_torch.train's
    run_loop), on K ranks; every method of gd_torch.METHODS."""
    m = lookup(method)
    batch_size = _validate.integer(
        "batch_size",
        batch_size,
        minimum=1,
        maximum=data.n,
        none_ok=True,
        accepted=f"an integer from 1 to n_samples = {data.n}",
    )
    seed = _validate.seed("seed", seed)
    binary = "fit trains a binary classifier; map the two classes to 0 and 1"
    _, p, lo, act = prepare(None, data, comm, loss, activation, binary)
    _device.check(p.comm.device, m.name, m.devices)
    e = None if m.scheme is not None else _exact(m, lo, act, p.comm.device)
    return Stepper(p, lo, act, m, e, batch_size, seed)
