"""Data in, as arrays or as row blocks: the tutorial's blobs, CSV files, shard folders on disk.

- :mod:`.datasets`: :func:`tutorial_data` (the tutorial's ``make_blobs``, bias column first) and
  :func:`load_csv`; :mod:`.csv_read` reads the file itself
- :mod:`.shards`: a dataset read in row blocks, from memory (:class:`Arrays`) or from a shard
  folder (:func:`open_dataset`); what the out-of-core and distributed paths iterate over
- :mod:`.synthetic`: :func:`make_data`, a separable problem of any size written block by block

Public: the names in ``__all__``.  Everything else in this package is internal.
"""

from .datasets import load_csv, tutorial_data
from .shards import Arrays, open_dataset
from .synthetic import make_data

__all__ = ["Arrays", "load_csv", "make_data", "open_dataset", "tutorial_data"]
