"""The teaching tools: backpropagation written out and checked, the step of a finite
difference swept, the loss surface drawn.

- the one-neuron ledger: :mod:`.ledger` (:func:`explain`, :class:`Explanation`) assembles it
  from :mod:`.records` (a stage and its comparisons), :mod:`.ledger_autograd` and
  :mod:`.ledger_numeric` (its witnesses), :mod:`.ledger_text` (its printout) and :mod:`.graph`
  (torch's backward graph as text and dot)
- two layers: :mod:`.mlp` (``explain_mlp``), its error model :mod:`.mlp_check`
- :mod:`.graph_plot`: any ledger's computational graph drawn with matplotlib
- the step h: :mod:`.steps` (:func:`step_sweep`, :class:`StepsResult`), the curves it measures
  :mod:`.steps_curves`, their text :mod:`.steps_text` and figure :mod:`.steps_plot`
- :mod:`.landscape`: the loss surface over two weights, with a descent path

Public: the names in ``__all__``; ``explain_mlp``, the figures and the landscape are imported
from their modules (each loads matplotlib).  Everything else in this package is internal.
"""

from .ledger import Explanation, explain
from .steps import StepsResult, step_sweep

__all__ = ["Explanation", "StepsResult", "explain", "step_sweep"]
