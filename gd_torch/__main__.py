"""``python -m gd_torch``: the gd-torch command line (torchrun launches it as ``-m gd_torch``)."""

from .cli import main_exit

main_exit()
