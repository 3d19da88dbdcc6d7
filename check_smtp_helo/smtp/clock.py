"""The deadline of one conversation, its phase timings, and the abort that ends it early."""

from __future__ import annotations

import time

from ..core.text import seconds
from .model import Failure


class AbortError(Exception):
    """Unwinds a conversation; carries the Failure to record, and whether QUIT still makes sense."""

    def __init__(self, failure: Failure, in_step: bool = False) -> None:
        super().__init__(failure.reason)
        self.failure = failure
        self.in_step = in_step


class Clock:
    """The one deadline of a conversation, and phase timings against it."""

    def __init__(self, timeout: float, deadline: float | None = None) -> None:
        self.timeout = timeout
        self.mark = time.perf_counter()
        self.deadline = self.mark + timeout if deadline is None else deadline

    def late(self, phase: str, what: str, note: str = "") -> AbortError:
        """The abort for 'what' not happening within the timeout."""
        return AbortError(Failure(phase, f"{what} within {seconds(self.timeout)}{note}", True))

    def left(self, phase: str, what: str, note: str = "") -> float:
        """Seconds left; past the deadline, abort: 'what' did not happen in time."""
        left = self.deadline - time.perf_counter()
        if left <= 0:
            raise self.late(phase, what, note)
        return left

    def lap(self) -> float:
        """Seconds since the previous lap (or the start)."""
        now = time.perf_counter()
        elapsed, self.mark = now - self.mark, now
        return elapsed

    def cap(self, limit: float) -> None:
        """Bring the deadline forward to at most `limit` seconds from now."""
        self.deadline = min(self.deadline, time.perf_counter() + limit)
