"""Text for plugin output: server bytes made printable, any text made safe for one line, a
user's value quoted, spans of time in words."""

from __future__ import annotations

SHOWN_TEXT = 120  # characters of one server text (a reply, a reason) on the status line
STATUS_LINE = 480  # characters of the whole status line before the perfdata
LONG_LINE = 1100  # characters of a long output line: a whole reply line (1024) with its label

# Server bytes: controls become '?', and '|' (where perfdata starts) becomes '/'
_UNPRINTABLE = {**dict.fromkeys(range(32), "?"), 127: "?", 0xFFFD: "?", ord("|"): "/"}
# Output: also ';', which Nagios turns into ':' (it delimits its own formats): so here too,
# and Icinga 2 and Nagios show the same text
_UNSAFE = {**_UNPRINTABLE, ord(";"): ":"}


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


def shown(value: str) -> str:
    """A user's value quoted for a message: ASCII, escaped, no '|', bounded."""
    text = ascii(value).replace("|", "\\x7c")
    return text if len(text) <= 80 else text[:77] + "..."


def seconds(value: float) -> str:
    """A duration the way a user wrote it: 10 -> '10s', 2.5 -> '2.5s'."""
    return f"{value:g}s"


def span(seconds: float) -> str:
    """A span in words at a sensible precision: '3 days', '1 day 4 hours', '1 hour 59 minutes',
    '30 minutes', 'less than a minute'."""
    minutes = int(seconds // 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days >= 2:
        parts = [(days, "day")]
    elif days:
        parts = [(days, "day"), (hours, "hour")]
    elif hours:
        parts = [(hours, "hour"), (minutes, "minute")]
    elif minutes:
        parts = [(minutes, "minute")]
    else:
        return "less than a minute"
    return " ".join(f"{count} {unit}{'' if count == 1 else 's'}" for count, unit in parts if count)


def ago(seconds: float) -> str:
    """'2 minutes ago', 'less than a minute ago'."""
    return f"{span(seconds)} ago"
