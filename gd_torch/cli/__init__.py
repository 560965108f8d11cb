"""The gd-torch command line: :func:`main` parses and runs one sub-command of :mod:`.commands`.

Public: :func:`main` (returns the exit status) and :func:`main_exit` (the console script).
Everything else in this package is internal.
"""

from .app import main, main_exit

__all__ = ["main", "main_exit"]
