"""The error model: how far a computed value may be from the true one, before any check runs.

- :mod:`.rounding`: the rounding of the exact gradient's formula (z, a, one chain-rule factor,
  the sum over samples), from each activation's own constants
- :mod:`.difference_error`: a finite difference's truncation and rounding, from each scheme's
  own constants, and the noise of one evaluation of L
- :mod:`.errormodel`: the error model of one problem, built from per-block sums (in memory it is
  the one-block case; on K ranks the sums are all-reduced)

The finite differences (``gradients/``) choose their steps from it and the verdict (``verdict/``)
takes its tolerances from it, so it sits above ``model/`` and below both.  No public face: every
module here is internal (import each name from its module).
"""
