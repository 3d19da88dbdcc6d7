"""The one deadline of a run: a precise interval timer (SIGALRM) that raises DeadlineError
wherever the check is when -t has passed."""

from __future__ import annotations

import _signal  # the import policy: docs/development.md
import time

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from types import FrameType


class DeadlineError(BaseException):
    """The -t deadline passed: raised by the timer's signal handler wherever the check is.
    A BaseException, as KeyboardInterrupt is: library code that catches Exception (logging
    does, to report its own errors) must not swallow it."""


IMPORT_GRACE = 0.001  # seconds: the deadline asks again this soon after an import it met


def _expired(_signum: int, frame: FrameType | None) -> None:
    """The deadline, raised where the check is; but never inside an import (dnspython loads
    the class of a record type when it first reads one): a module cut there stays half made,
    and Python words that its own way, or only on stderr. The import ends first."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            _signal.setitimer(_signal.ITIMER_REAL, IMPORT_GRACE)
            return
        frame = frame.f_back
    raise DeadlineError


class Deadline:
    """The deadline of a run, armed once for the exact -t, and the time left, in the clock
    the conversation measures with. Made by cli and handed down to what must keep it."""

    def __init__(self) -> None:
        self.at: float | None = None  # time.perf_counter() when it passes, once armed

    def arm(self, seconds: float) -> None:
        _signal.signal(_signal.SIGALRM, _expired)
        self.at = time.perf_counter() + seconds
        _signal.setitimer(_signal.ITIMER_REAL, seconds)

    def disarm(self) -> None:
        _signal.setitimer(_signal.ITIMER_REAL, 0)

    def left(self) -> float:
        """Seconds to the deadline (infinite while not armed)."""
        return float("inf") if self.at is None else self.at - time.perf_counter()
