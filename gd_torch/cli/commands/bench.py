"""gd-torch bench: time every gradient method and framework against the machine's floor."""

from __future__ import annotations

import argparse

from ...bench import options, session


def add_arguments(p: argparse.ArgumentParser) -> None:
    options.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    return session.run(args)
