"""The plugin's stdout, written unbuffered, line by line."""

from __future__ import annotations

import os


class Stdout:
    """The plugin's stdout, written line by line with os.write: nothing is buffered, a full,
    closed or broken stdout cannot change the exit code, and the SIGTERM handler knows
    whether a line may be cut (a line being written when it came)."""

    def __init__(self) -> None:
        self.writing = False
        self.lost = False  # stdout failed: the rest is dropped

    def write(self, text: str) -> int:
        for line in text.splitlines(keepends=True):
            data = line.encode("ascii", "backslashreplace")
            self.writing = True
            while data and not self.lost:
                try:
                    data = data[os.write(1, data) :]
                except OSError:  # EBADF, ENOSPC, EPIPE: the reader is gone or cannot take it
                    self.lost = True
            self.writing = False
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""


STDOUT = Stdout()
