"""The bottom layer, below the conversation (smtp.py) and TLS (tls.py) alike: text made safe
for plugin output, the error of a failed TLS handshake, the deadline, and stdout. Imports
only modules that the interpreter has loaded at start-up anyway, and _signal."""

from __future__ import annotations

import _signal  # the signal module's C core: the module itself builds enum classes at import
import os
import time

SHOWN_TEXT = 120  # characters of one server text (a reply, a reason) on the status line
STATUS_LINE = 480  # characters of the whole status line before the perfdata
LONG_LINE = 1100  # characters of a long output line: a whole reply line (1024) with its label

# Server bytes: controls become '?', and '|' (where perfdata starts) becomes '/'
_UNPRINTABLE = {**dict.fromkeys(range(32), "?"), 127: "?", 0xFFFD: "?", ord("|"): "/"}
# Output: also ';', which Nagios turns into ':' (it delimits its own formats): so here too,
# and Icinga 2 and Nagios show the same text
_UNSAFE = {**_UNPRINTABLE, ord(";"): ":"}


NOT_TRUSTED = "TLS certificate not trusted"  # starts the reason of a failed verification


class HandshakeError(Exception):
    """A TLS handshake that failed; the text says why, naming TLS. `code` is OpenSSL's reason
    (WRONG_VERSION_NUMBER, CA_MD_TOO_WEAK...): what decides whether another try may help."""

    def __init__(self, text: str, code: str = "") -> None:
        super().__init__(text)
        self.code = code


HIDDEN = "<secret hidden>"  # shown instead of a secret and of what reveals it
_SECRETS: tuple[bytes, ...] = ()  # what this run must never show; see hide()


def hide(*forms: bytes) -> None:
    """From now on, printable() shows HIDDEN instead of any of these (the AUTH secret, and
    each response sent that reveals it), wherever a server puts them. A tuple replaced as a
    whole: the probes of a mail domain read it from their threads while one adds to it."""
    global _SECRETS  # noqa: PLW0603 -- one password a run, in every text from every server
    added = {*_SECRETS, *(form for form in forms if form)}
    _SECRETS = tuple(sorted(added, key=len, reverse=True))  # the longest first: all of it hidden


def printable(raw: bytes, partial: bool = False) -> str:
    """Server bytes as ASCII text without controls or '|', and every secret as HIDDEN: all
    text from a server, whatever it came in (a reply, a SASL challenge, a certificate), is
    shown through here. `partial`: the text stops where more was still to come, so a secret's
    beginning at its end is hidden too."""
    for secret in _SECRETS:
        raw = raw.replace(secret, HIDDEN.encode())
        if partial:
            for length in range(len(secret) - 1, 0, -1):
                if raw.endswith(secret[:length]):
                    raw = raw[:-length] + HIDDEN.encode()
                    break
    return raw.decode("ascii", "replace").translate(_UNPRINTABLE)


def safe(text: str, limit: int = SHOWN_TEXT) -> str:
    """Any text as one line of plugin output: ASCII (others escaped), no controls, no '|' or
    ';', white space runs as one space, at most `limit` characters ('...' marks a cut)."""
    text = " ".join(text.encode("ascii", "backslashreplace").decode("ascii").split())
    text = text.translate(_UNSAFE)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DeadlineError(BaseException):
    """The -t deadline passed: raised by the timer's signal handler wherever the check is.
    A BaseException, as KeyboardInterrupt is: library code that catches Exception (logging
    does, to report its own errors) must not swallow it."""


def _expired(_signum: int, _frame: object) -> None:
    raise DeadlineError


class Timer:
    """The one deadline of a run: a precise interval timer (SIGALRM) armed for the exact -t,
    and the time left, in the clock the conversation measures with."""

    def __init__(self) -> None:
        self.deadline: float | None = None

    def arm(self, seconds: float) -> None:
        _signal.signal(_signal.SIGALRM, _expired)
        self.deadline = time.perf_counter() + seconds
        _signal.setitimer(_signal.ITIMER_REAL, seconds)

    def disarm(self) -> None:
        _signal.setitimer(_signal.ITIMER_REAL, 0)

    def left(self) -> float:
        """Seconds to the deadline (infinite while not armed)."""
        return float("inf") if self.deadline is None else self.deadline - time.perf_counter()


TIMER = Timer()


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
