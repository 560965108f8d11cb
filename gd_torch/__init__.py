"""gd_torch: check a hand-derived gradient against torch autograd and finite differences.

The public API is ``__all__`` here, plus the faces of the packages a user reaches into:
:mod:`gd_torch.testing` (pytest helpers), :mod:`gd_torch.data`, :mod:`gd_torch.distributed`,
:mod:`gd_torch.train`, :mod:`gd_torch.teach`, :mod:`gd_torch.gradients` (each its ``__all__``).
Everything else is internal and may change without notice.  The packages are the layers, from
the bottom: base, model, data, gradients and verdict, train, teach, distributed, bench, cli
(docs/architecture.md).

>>> import gd_torch
>>> X, y = gd_torch.tutorial_data()
>>> W = gd_torch.init_weights(X.shape[1], seed=0)
>>> report = gd_torch.check(W, X, y, methods=("analytic", "autograd", "numeric"))
>>> report.ok
True
"""

#: the one place the version is written: pyproject.toml reads it (tool.setuptools.dynamic)
__version__ = "0.1.0"

from ._errors import GdTorchError, TrainingDiverged
from .data import load_csv, tutorial_data
from .gradients import METHODS, gradient, gradient_function
from .model import (
    ACTIVATIONS,
    LOSSES,
    Activation,
    Loss,
    add_bias,
    identity,
    init_weights,
    objective,
    relu,
    sigmoid,
    tanh,
)
from .teach import Explanation, explain, step_sweep
from .train import FitResult, fit
from .verdict.checker import check
from .verdict.diagnosis import Diagnosis, diagnose
from .verdict.function_checker import check_function
from .verdict.report import CheckReport
from .verdict.torch_checker import check_torch

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "LOSSES",
    "Loss",
    "METHODS",
    "CheckReport",
    "Diagnosis",
    "Explanation",
    "FitResult",
    "GDClassifier",
    "GdTorchError",
    "TrainingDiverged",
    "add_bias",
    "check",
    "check_function",
    "check_torch",
    "diagnose",
    "explain",
    "step_sweep",
    "fit",
    "gradient",
    "gradient_function",
    "init_weights",
    "identity",
    "load_csv",
    "objective",
    "relu",
    "sigmoid",
    "tanh",
    "tutorial_data",
]


def __getattr__(name: str):
    # GDClassifier is loaded on first use: it imports scikit-learn, which the rest does not need
    if name == "GDClassifier":
        from .train.estimator import GDClassifier

        return GDClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
