"""Calls run at once on a bounded number of threads, every one keeping the deadline itself."""

from __future__ import annotations

import threading

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from typing import Callable

MAX_WORKERS = 64  # threads of a mail domain check at once: its probes and lookups (--help says)
# Conversations (and DNS lookups) at once: a domain has a handful of MX hosts, and a hostile
# one with hundreds must not take a thread each (a process limit ends in "can't start new
# thread"). The probes past MAX_WORKERS wait for a free worker, within the same deadline.
_WORKERS = threading.BoundedSemaphore(MAX_WORKERS - 1)  # besides the thread that asks


def concurrently(calls: list[Callable[[], object]]) -> list[object]:
    """The calls at once, as far as the worker threads allow: the caller and the threads it
    could start take the next call until none is left. Their results (or exceptions) in
    order; every call keeps the deadline itself. Nested calls share the one bound, and a
    thread that cannot start (a process limit) leaves its share to the others."""
    results: list[object] = [None] * len(calls)
    pending = iter(range(len(calls)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(pending, None)
            if index is None:
                return
            try:
                results[index] = calls[index]()
            except Exception as exc:  # handed to the caller, who words it
                results[index] = exc

    def worker() -> None:
        try:
            work()
        finally:
            _WORKERS.release()

    threads: list[threading.Thread] = []
    while len(threads) < len(calls) - 1 and _WORKERS.acquire(blocking=False):
        thread = threading.Thread(target=worker, daemon=True)
        try:
            thread.start()
        except RuntimeError:  # can't start new thread
            _WORKERS.release()
            break
        threads.append(thread)
    work()
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
