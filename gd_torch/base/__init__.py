"""The bottom layer: what every other layer shares, and nothing about gradients.

- :mod:`.files`: the one way a file is written (a temporary beside it, then renamed) and the
  ``--out DIR`` folder of every command
- :mod:`.memory`: an allocation's size estimated and refused before it is made
- :mod:`.validate`: the boundary checks of the public functions ("X must be ...; got ...")
- :mod:`.finite`: a finite input whose result overflowed, named instead of returned as inf or NaN
- ``rowblocks``: the one row-block sum (block size rule, fixed groups, the order of every
  addition) behind the analytic, finite-difference and distributed sums

No public face: every module here is internal (import each name from its module).  This
package imports nothing of gd_torch but the error type.
"""
