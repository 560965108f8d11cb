"""The verdict: whether gradients computed different ways agree, held to derived tolerances.

- the error model of the one-neuron problem (:mod:`.errormodel`, from :mod:`.rounding`, the exact
  formula's rounding, and :mod:`.difference_error`, a finite difference's): the tolerance of
  every coordinate, predicted
- the one comparison and kink rule (:mod:`.compare`), the pairs and the report, the check of the
  one neuron (:mod:`.checker`: ``check``) and of any scalar function (:mod:`.function_checker`:
  ``check_function``, its tolerances measured: :mod:`.ecnoise`, :mod:`.differences`)
- :mod:`.diagnosis` (``diagnose``): which gradient a wrong one is, from :mod:`.candidates`

No face of its own: ``check``, ``check_function``, ``diagnose`` and their reports are public
as ``gd_torch.check`` and so on.  Everything else in this package is internal.  This face
imports nothing: gradients/ reads the error model here while the checker runs gradients'
methods, so a face importing the checker would find gradients half initialised.
"""
