"""Calls run at once, each in a thread of its own, every one keeping the deadline itself."""

from __future__ import annotations

import threading

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from typing import Callable


def concurrently(calls: list[Callable[[], object]]) -> list[object]:
    """Each call in a thread of its own; their results (or exceptions) in order. Every call
    keeps the deadline itself."""
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except Exception as exc:  # handed to the caller, who words it
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def together(calls: list[Callable[[], object]]) -> list[object]:
    """concurrently(), where the first exception is raised (after every call ended)."""
    results = concurrently(calls)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
