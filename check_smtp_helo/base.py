"""The bottom layer, below the conversation (smtp.py) and TLS (tls.py) alike: text made safe
for plugin output, and the error of a failed TLS handshake. Imports nothing."""

from __future__ import annotations

SHOWN_TEXT = 120  # characters of one server text (a reply, a reason) on the status line
STATUS_LINE = 480  # characters of the whole status line before the perfdata
LONG_LINE = 1100  # characters of a long output line: a whole reply line (1024) with its label

# Server bytes: controls become '?', and '|' (where perfdata starts) becomes '/'
_UNPRINTABLE = {**dict.fromkeys(range(32), "?"), 127: "?", 0xFFFD: "?", ord("|"): "/"}
# Output: also ';', which Nagios turns into ':' (it delimits its own formats): so here too,
# and Icinga 2 and Nagios show the same text
_UNSAFE = {**_UNPRINTABLE, ord(";"): ":"}


class HandshakeError(Exception):
    """A TLS handshake that failed; the text says why, naming TLS."""


def printable(raw: bytes) -> str:
    """Server bytes as ASCII text without controls or '|'."""
    return raw.decode("ascii", "replace").translate(_UNPRINTABLE)


def safe(text: str, limit: int = SHOWN_TEXT) -> str:
    """Any text as one line of plugin output: ASCII (others escaped), no controls, no '|' or
    ';', white space runs as one space, at most `limit` characters ('...' marks a cut)."""
    text = " ".join(text.encode("ascii", "backslashreplace").decode("ascii").split())
    text = text.translate(_UNSAFE)
    return text if len(text) <= limit else text[: limit - 3] + "..."
