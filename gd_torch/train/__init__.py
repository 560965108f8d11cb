"""Training one neuron by gradient descent, and what is built on it.

- :mod:`.loop`: :func:`fit` (validated by :mod:`.fit_args`) and its short loop :func:`run_loop`
  over a stepper of :mod:`.steppers` (full batch or mini-batch; the distributed one plugs in
  the same way), returning a :class:`FitResult`
- :mod:`.sweep`: ``sweep``, many ``fit`` runs over methods x losses x learning rates x seeds
- :mod:`.estimator`: ``GDClassifier``, ``fit`` as a scikit-learn classifier (loads scikit-learn)
- :mod:`.plots`: every training figure, and the one way a figure is saved (loads matplotlib)

Public: the names in ``__all__``; ``sweep``, ``GDClassifier`` and the figures are imported
from their modules.  Everything else in this package is internal.
"""

from .loop import FitResult, fit, run_loop

__all__ = ["FitResult", "fit", "run_loop"]
