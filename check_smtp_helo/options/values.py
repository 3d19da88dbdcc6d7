"""How each option's value is read: the value to use, or ValueError with the reason."""

from __future__ import annotations

import re

import nagiosplugin

from ..core.inputs import dns_name, mailbox
from ..core.text import shown

# Patterns are compiled on first use (re caches them): a check without -w/-c never pays.
# At most 15 digits before the point: the precision of a float, and no 320-digit infinity
NUMBER = r"[-+]?(?:[0-9]{1,15}(?:\.[0-9]*)?|\.[0-9]+)"
RANGE = rf"@?(?:(?:~|{NUMBER}):)?(?:{NUMBER})?"
TIMEOUT_STATES = {
    "ok": nagiosplugin.Ok,
    "warning": nagiosplugin.Warn,
    "critical": nagiosplugin.Critical,
    "unknown": nagiosplugin.Unknown,
}


def port(text: str) -> int:
    if not re.fullmatch("[0-9]{1,5}", text) or not 1 <= int(text) <= 65535:
        raise ValueError(f"{shown(text)} is not a port number (1..65535)")
    return int(text)


def timeout(text: str) -> float:
    if not re.fullmatch(NUMBER, text) or not 0 < float(text) <= 86400:
        raise ValueError(f"{shown(text)} is not a number of seconds above 0")
    return float(text)


def threshold(text: str) -> nagiosplugin.Range:
    if not re.fullmatch(RANGE, text) or text in ("", "@"):
        raise ValueError(f"{shown(text)} is not a Nagios range such as 1, 0.5, ~:2, @1:2")
    try:
        return nagiosplugin.Range(text)
    except ValueError as exc:
        raise ValueError(f"{shown(text)}: {exc}") from exc


def pattern(text: str) -> re.Pattern:
    try:
        return re.compile(text)
    except re.error as exc:
        reason = str(exc)
    except OverflowError:  # a{4294967295}
        reason = "a repetition count is too large"
    except RecursionError:  # hundreds of nested groups
        reason = "it nests too deeply"
    raise ValueError(f"{shown(text)} is not a regular expression: {reason}")


def days(text: str) -> tuple[float, float | None]:
    parts = text.split(",")
    if len(parts) > 2 or not all(re.fullmatch(r"[0-9]{1,6}(?:\.[0-9]+)?", p) for p in parts):
        raise ValueError(f"{shown(text)} is not WARN or WARN,CRIT in days")
    return float(parts[0]), float(parts[1]) if len(parts) == 2 else None


def mail_domain(text: str) -> str:
    return dns_name(text, "domain")


TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")


def tls_version(text: str) -> str:
    if text not in TLS_VERSIONS:
        raise ValueError(f"{shown(text)} is not one of {', '.join(TLS_VERSIONS)}")
    return text


def older_tls_version(text: str) -> str:
    """--refuse-tls-below: a version with an older one below it."""
    if text not in TLS_VERSIONS[1:]:
        raise ValueError(f"{shown(text)} is not one of {', '.join(TLS_VERSIONS[1:])}")
    return text


def timeout_state(text: str) -> nagiosplugin.state.ServiceState:
    if text not in TIMEOUT_STATES:
        raise ValueError(f"{shown(text)} is not one of {', '.join(TIMEOUT_STATES)}")
    return TIMEOUT_STATES[text]


def sender(text: str) -> str:
    """The MAIL FROM address; empty is the null sender <>."""
    return text and mailbox(text)


def user(text: str) -> str:
    if not text or any(c in text for c in "\r\n\0"):
        raise ValueError("the user name must not be empty nor contain CR, LF or NUL")
    try:
        text.encode("utf-8")  # an argument's bytes that are not UTF-8 arrive as surrogates
    except UnicodeEncodeError:
        raise ValueError("the user name is not UTF-8") from None
    return text


def given(text: str) -> str:
    """A value that must say something: an empty one is not taken as the option left out."""
    if not text:
        raise ValueError("the value is empty (leave the option out for its default)")
    return text


def mechanism(text: str) -> str:
    from ..smtp.sasl import MECHANISMS  # noqa: PLC0415 -- the import policy

    if text.upper() not in MECHANISMS:
        raise ValueError(f"{shown(text)} is not one of {', '.join(MECHANISMS)}")
    return text.upper()
