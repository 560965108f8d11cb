"""``python -m gd_torch ...`` is ``gd-torch ...``."""

from .cli import main_exit

main_exit()
