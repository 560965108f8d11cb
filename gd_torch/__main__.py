"""``python -m gd_torch`` runs the gd-torch command line."""

from .cli import main_exit

main_exit()
