"""The benchmark: every gradient method and framework timed against the machine's floor.

- :mod:`.options`: the command line and its validation into a Config
- :mod:`.plan`: the rows (registry methods, benchmark-only rows), the libraries, the grid
- :mod:`.runner`: one worker process per library, rows streamed into a file
- :mod:`.timing`, :mod:`.harness`: what the workers share (interleaved timing, calibration,
  memory, data); ``worker_numpy``, ``worker_torch``, ``worker_torchfunc``,
  ``worker_torchcompile``, ``worker_jax``: one per library
- :mod:`.contention`: whether a cell was timed on a busy machine
- :mod:`.report`, :mod:`.targets`, :mod:`.markdown`, :mod:`.render`: rows, targets, tables, figures;
  :mod:`.summary`: the few lines a run ends with
- :mod:`.session`: one run from options to files; :mod:`.compare`: re-timing a committed run

Nothing here is imported by the rest of gd_torch.
"""
