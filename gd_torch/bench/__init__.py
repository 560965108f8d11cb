"""The benchmark: every gradient method and framework timed against the machine's floor.

- :mod:`.options`: the command line and its validation into a Config
- :mod:`.plan`: the rows (registry methods, benchmark-only rows), the libraries, the grid
- :mod:`.runner`: one worker process per library, rows streamed into a file
- :mod:`.timing`, :mod:`.harness`: what the workers share (interleaved timing, calibration,
  memory, data); ``worker_numpy``, ``worker_torch``, ``worker_torchfunc``,
  ``worker_torchcompile``, ``worker_jax``: one per library (``_torch``: the torch workers' parts)
- :mod:`.contention`: whether a cell was timed on a busy machine; :mod:`.machine`: the machine
  and its idle reference
- :mod:`.report`: rows and a run's result; :mod:`.assemble`: a result from a rows file;
  :mod:`.schema`: a file written by another hand checked before it is read; :mod:`.targets`,
  :mod:`.markdown`, :mod:`.render`: targets, tables, figures; :mod:`.summary`: the few lines a
  run ends with
- :mod:`.session`: ``gd-torch bench`` in its three modes (a run, ``--assemble``, ``--compare``);
  :mod:`.stages`: the stages they share (measure, write, exit status); :mod:`.compare`:
  re-timing a committed run

No public face: the benchmark is run as ``gd-torch bench`` (or ``benchmarks/run.py``); every
module here is internal.  Nothing here is imported by the rest of gd_torch but the CLI.
"""
