"""The console script: the SIGTERM handler first, then the check, then exit at once."""

from __future__ import annotations

import _signal  # the signal module's C core: the module itself builds enum classes at import
import gc
import os

from .core.stdout import STDOUT

UNKNOWN = 3
TERMINATED = "SMTP UNKNOWN - check terminated by SIGTERM\n"


def _terminated(_signum: int, _frame: object) -> None:
    """The monitoring core gave up on us: say so on a line of its own, and leave at once.
    A line being written may have been cut: a line end first, then the UNKNOWN line is whole."""
    STDOUT.write(("\n" if STDOUT.writing else "") + TERMINATED)
    os._exit(UNKNOWN)


def _keep_standard_streams() -> None:
    """A closed stdout or stderr becomes /dev/null: else the next file or socket opened would
    take its number, and output meant for the monitoring core would go there."""
    for fd in (1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def run() -> None:
    """main(), then exit without tearing the interpreter down.

    A check is a short process with nothing to finalize (its output is written unbuffered;
    no files, no atexit work that matters), and Python's shutdown is a measurable share of
    it (docs/performance.md)."""
    _signal.signal(_signal.SIGTERM, _terminated)
    _keep_standard_streams()
    # The imports make objects by the thousand and none of them is garbage: the collector
    # would walk them again and again. It waits until they are in, then leaves them out.
    gc.disable()
    from .cli import main  # noqa: PLC0415 -- after the handler: it covers the imports too

    gc.freeze()
    gc.enable()

    try:
        code = main()
    except SystemExit as exc:  # --help, --version; nagiosplugin's exit after an internal error
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else UNKNOWN
    os._exit(code if code in (0, 1, 2, 3) else UNKNOWN)
