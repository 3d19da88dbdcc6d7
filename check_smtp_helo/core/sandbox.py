"""A regular expression search that the deadline ends, even inside the re engine."""

from __future__ import annotations

import _signal  # the import policy: docs/development.md
import os

from .deadline import DeadlineError

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    import re

    from .deadline import Deadline


def search(pattern: re.Pattern, texts: list[tuple[str, ...]], deadline: Deadline) -> list[bool]:
    """Does the pattern match some line, of each text? A pattern can backtrack for hours
    inside the re engine, where no signal handler runs, so the matching runs in a child
    process that the deadline ends: its own timer kills it, and the parent's DeadlineError
    interrupts the wait."""
    left = deadline.left()
    if left <= 0:
        raise DeadlineError
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one byte a text, b"1" for a match, then gone
        try:
            _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
            _signal.signal(_signal.SIGALRM, _signal.SIG_DFL)
            if left < float("inf"):  # armed, as it is in every run of the plugin
                _signal.setitimer(_signal.ITIMER_REAL, left)
            for lines in texts:
                os.write(write_end, b"1" if any(map(pattern.search, lines)) else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    answers = b""
    try:
        while len(answers) < len(texts):
            chunk = os.read(read_end, len(texts) - len(answers))
            if not chunk:  # killed by its own timer, a moment before ours
                raise DeadlineError
            answers += chunk
    finally:
        os.close(read_end)
        os.kill(pid, _signal.SIGKILL)
        os.waitpid(pid, 0)
    return [answer == ord("1") for answer in answers]
