"""What the benchmark times: the rows (registry methods and benchmark-only rows), the
libraries that time them, and the grid of tasks, with what does not fit refused or skipped.

Every gradient method of :data:`gd_torch.gradients.METHODS` is a row under the name
``check`` uses; the rows that are not methods (the floor, other frameworks, bare loops)
are declared in :data:`EXTRA`, one table.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

from .._errors import GdTorchError
from .harness import ACTIVATION, LOSS, TRAIN_D, TRAIN_N

Kind = Literal["gradient", "train"]
DTYPES = ("float64", "float32")
ITEMSIZE = {"float64": 8, "float32": 4}


@dataclass(frozen=True)
class Library:
    """A worker process: its module, and the optional extra that provides it (None: always there)."""

    module: str
    needs: str | None = None  # the module it imports, looked up before starting it
    extra: str | None = None

    def missing(self) -> str | None:
        """Why this worker cannot run here (None when it can)."""
        if self.needs is None or importlib.util.find_spec(self.needs) is not None:
            return None
        return f"{self.needs} is not installed (the optional extra: pip install 'gd-torch[{self.extra}]')"


#: the workers, in the order they run; each library in a process of its own
LIBRARIES: dict[str, Library] = {
    "numpy": Library("gd_torch.bench.worker_numpy"),
    "torch": Library("gd_torch.bench.worker_torch"),
    "torch.func": Library("gd_torch.bench.worker_torchfunc"),
    "torch.compile": Library("gd_torch.bench.worker_torchcompile"),
    "jax": Library("gd_torch.bench.worker_jax", needs="jax", extra="jax"),
}


@dataclass(frozen=True)
class BenchMethod:
    """A row of the benchmark: what it computes and, per device, the library that times it.

    ``gradient``: timed over the grid; ``train``: timed as a training run at the tutorial's
    size; ``baseline_of``: a bare loop, the reference of that method's training run;
    ``overhead_of``: a bare loop of that method's own arithmetic in fit (the registry's
    activation, loss and gradient calls), so that fit over it is fit's loop overhead alone.
    """

    name: str
    description: str
    workers: Mapping[str, str]
    gradient: bool = True
    train: bool = True
    baseline_of: str | None = None
    overhead_of: str | None = None
    #: a reference time (what reading X costs), not a way to compute the gradient
    bound: bool = False
    #: computes the gradient of another loss than the benchmark's (the tutorial's rule on sse)
    other_loss: bool = False

    @property
    def computes_the_gradient(self) -> bool:
        """A way to the benchmark problem's gradient: neither a bound nor another loss's gradient."""
        return not (self.bound or self.other_loss)

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(self.workers)


_CHUNK = 32 << 20  # gd_torch.gradients.numeric evaluates the perturbations in chunks of about this size
#: host memory a row needs beyond X, y and W, by benchmark-only row (a registry method: ten
#: N-vectors, z, a, dL/dz, ...; a finite-difference scheme's method: its chunks of perturbations)
WORK_BYTES: dict[str, Callable[[int, int], int]] = {"numeric:central/loop": lambda n, size: 16 * n * size}

#: registry methods timed on tensors by a torch worker (the rest: numpy worker, gradient_function)
TENSOR_TIMED = {"autograd": "torch"}

#: benchmark-only rows: not methods of gd_torch.gradients.METHODS
EXTRA: tuple[BenchMethod, ...] = (
    BenchMethod("floor", "read X once: the faster of one X @ W and one X.sum(axis=0)", {"cpu": "numpy", "cuda": "torch"}, train=False, bound=True),
    BenchMethod("analytic/products", "analytic's row blocks with only their two products, z_b = X_b W and X_b^T z_b", {"cpu": "numpy"}, train=False, bound=True),
    BenchMethod("numeric:central/loop", "central differences, one X @ W per perturbation (batch=1)", {"cpu": "numpy"}),
    BenchMethod("formula-torch", "the hand-derived X^T [2 (a - y) a (1 - a)] in plain torch ops", {"cpu": "torch", "cuda": "torch"}),
    BenchMethod("torch.func", "torch.func.grad of the loss, eager", {"cpu": "torch.func", "cuda": "torch.func"}),
    BenchMethod("torch.compile", "torch.compile(torch.func.grad(loss)), compile time apart", {"cpu": "torch.compile", "cuda": "torch.compile"}),
    BenchMethod("jax.jit", "jax.jit(jax.grad(loss)), block_until_ready", {"cpu": "jax", "cuda": "jax"}),
    BenchMethod("tutorial/bare-loop", "the tutorial's loop in bare numpy", {"cpu": "numpy"}, gradient=False, baseline_of="tutorial"),
    BenchMethod("analytic/bare-loop", "the exact sse gradient's loop in bare numpy", {"cpu": "numpy"}, gradient=False, baseline_of="analytic"),
    BenchMethod("autograd/bare-loop", "a plain torch autograd loop", {"cpu": "torch", "cuda": "torch"}, gradient=False, baseline_of="autograd"),
    BenchMethod("analytic/parts-loop", "fit's own arithmetic for 'analytic' (the registry's f, loss terms, from_z) in a bare loop", {"cpu": "numpy"}, gradient=False, overhead_of="analytic"),
)  # fmt: skip


def gradient_call(name: str) -> tuple[str, dict]:
    """The (method, options) of gd_torch.gradient_function that compute registry row ``name``."""
    return name, {}


def registry_methods() -> dict[str, BenchMethod]:
    """The rows of gd_torch.gradients.METHODS, under check's names ('numeric:central', ...)."""
    from ..gradients import METHODS
    from ..model.forward import resolve

    lo, act = resolve(LOSS, ACTIVATION)
    out = {}
    for name, m in METHODS.items():
        lib = TENSOR_TIMED.get(name)
        workers = {dev: lib for dev in m.devices} if lib else {"cpu": "numpy"}
        other = m.gradient_of is not None and m.gradient_of(lo, act)[1] != LOSS
        out[name] = BenchMethod(name, m.description, workers, other_loss=other)
    return out


def catalog() -> dict[str, BenchMethod]:
    """Every row the benchmark knows, registry methods first."""
    return {**registry_methods(), **{m.name: m for m in EXTRA}}


@dataclass(frozen=True)
class Task:
    """One row to time: a method on a device of one library, on an N x D problem of one dtype."""

    kind: Kind
    method: str
    library: str
    device: str
    n: int
    d: int
    dtype: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Plan:
    """Tasks to run, in grid order, and the rows skipped before running (with their reason)."""

    tasks: list[Task] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    def skip(self, task: Task, reason: str) -> None:
        self.skipped.append({**task.as_dict(), "status": "skipped", "reason": reason})


def host_needs(n: int, d: int, dtype: str, method: str) -> int:
    """Bytes of host memory one row needs: X, y, W and the method's work arrays."""
    size = ITEMSIZE[dtype]
    return (n * d + 2 * n + d) * size + _work_bytes(method, n, size)


def _work_bytes(method: str, n: int, size: int) -> int:
    # WORK_BYTES for a benchmark-only row; a finite-difference method's chunks; else ten N-vectors
    from ..gradients import METHODS

    if method in WORK_BYTES:
        return WORK_BYTES[method](n, size)
    m = METHODS.get(method)
    return 8 * _CHUNK if m is not None and m.scheme is not None else 10 * n * size


def _fits(plan: Plan, task: Task, available: int, explicit: bool) -> bool:
    need = host_needs(task.n, task.d, task.dtype, task.method)
    if not available or need <= 0.8 * available:
        return True
    x = task.n * task.d * ITEMSIZE[task.dtype]
    msg = (
        f"N={task.n} x D={task.d} {task.dtype} needs {need / 2**30:.2f} GiB of memory for {task.method} "
        f"(X alone is {x / 2**30:.2f} GiB), {available / 2**30:.2f} GiB available"
    )
    if explicit:
        raise GdTorchError(f"size too large: {msg}; choose a smaller --n or --d")
    plan.skip(task, msg)
    return False


def admit(plan: Plan, task: Task, available: int, explicit: bool) -> None:
    """Add ``task`` to the plan, or its skipped row when its library is missing or it does not fit."""
    missing = LIBRARIES[task.library].missing()
    if missing is not None:
        plan.skip(task, missing)
    elif task.kind == "train" or _fits(plan, task, available, explicit):
        plan.tasks.append(task)


def plan_tasks(cfg, available: int) -> Plan:
    """The grid's tasks for ``cfg`` (an options.Config): every (dtype, D, N) cell times every
    gradient row on every device asked; then the training runs at the tutorial's size.
    ``available``: bytes of host memory (0: unknown, nothing is skipped for memory)."""
    rows = catalog()
    devices = ("cpu", "cuda") if cfg.device == "cuda" else ("cpu",)
    plan = Plan()
    for dtype in cfg.dtype:
        for d in cfg.d:
            for n in cfg.n:
                for name in cfg.methods:
                    m = rows[name]
                    for dev, lib in m.workers.items():
                        if m.gradient and dev in devices:
                            admit(plan, Task("gradient", name, lib, dev, n, d, dtype), available, cfg.explicit_sizes)
    if cfg.train:
        for name in cfg.methods:
            m = rows[name]
            for dev, lib in m.workers.items():
                if m.train and dev in devices:
                    admit(plan, Task("train", name, lib, dev, TRAIN_N, TRAIN_D, "float64"), available, False)
    return plan
