"""Run the command line in-process with a time limit: a FIFO read or a runaway allocation must
fail the test that started it, not hang the suite."""

from __future__ import annotations

import signal

from gd_torch.cli.app import main


def main_within(argv: list[str], seconds: int = 60) -> int:
    """gd_torch.cli.app.main(argv), raising TimeoutError once it has run for ``seconds``."""

    def alarm(*_: object) -> None:
        raise TimeoutError(f"the command ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        return main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
