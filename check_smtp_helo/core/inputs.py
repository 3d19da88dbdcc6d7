"""What the user names on the command line: the host, the EHLO/HELO argument, an e-mail
address, a resolver, a file.

Each function returns the value to use, or raises ValueError with a one-line reason.
Nothing that passes these checks can carry a second SMTP command onto the wire.
"""

from __future__ import annotations

import _socket as socket  # the import policy: docs/development.md
import os
import re
import stat

from .text import shown

DNS_PORT = 53
# A DNS label; patterns are compiled on first use (re caches them), not at import
LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"


def ip_family(text: str) -> int | None:
    """AF_INET or AF_INET6 when text is an IP address (an IPv6 zone is allowed), else None."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text.split("%", 1)[0] if family == socket.AF_INET6 else text)
        except OSError:
            continue
        return family
    return None


def is_address(host: str) -> bool:
    """Is a -H value an IP address (an IPv6 one bare or in brackets, with a zone or not)?"""
    return ip_family(host.removeprefix("[").removesuffix("]").split("%", 1)[0]) is not None


def dns_name(value: str, what: str) -> str:
    """A DNS name in ASCII, or ValueError. An international name becomes its A-labels by
    IDNA2008 with UTS 46 mapping, as browsers and mail clients do (faß.de is xn--fa-hia.de,
    not fass.de); the idna package is imported only for such a name."""
    try:
        if value.isascii():
            name = value
        else:
            import idna  # noqa: PLC0415 -- the import policy

            name = idna.encode(value, uts46=True).decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"{what} {shown(value)} is not a valid international domain name") from exc
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    if len(name) > 253 or not all(re.fullmatch(LABEL, label) for label in labels):
        raise ValueError(f"{what} {shown(value)} is not a valid host name")
    return name


def parse_host(value: str, family: int = socket.AF_UNSPEC) -> str:
    """The host to connect to: an IP address (IPv6 bare or in brackets) or a DNS name."""
    if "://" in value:
        raise ValueError(f"host {shown(value)} has a scheme: give the bare name or address")
    if not value or any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"host {shown(value)} is empty or has white space or control characters")
    if "/" in value:
        raise ValueError(f"host {shown(value)} has a path: give the bare name or address")
    bracketed = value.startswith("[") and value.endswith("]")
    host = value[1:-1] if bracketed else value
    found = ip_family(host)
    if bracketed and found != socket.AF_INET6:
        raise ValueError(f"host {shown(value)}: only an IPv6 address goes in brackets")
    if found is None:
        if ":" in host:
            raise ValueError(f"host {shown(value)} is not an address: give the port with -p")
        return dns_name(host, "host")
    if "%" in host:
        _check_zone(value, host.split("%", 1)[1])
    if family not in (socket.AF_UNSPEC, found):
        asked, got = ("-4", "IPv6") if family == socket.AF_INET else ("-6", "IPv4")
        raise ValueError(f"{asked} was given but {shown(host)} is an {got} address")
    return host


def _check_zone(value: str, zone: str) -> None:
    """The zone of a link-local IPv6 address: an interface of this machine, by name or index."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", zone):
        raise ValueError(f"host {shown(value)}: after % comes an interface name or number")
    if not zone.isdigit():
        try:
            socket.if_nametoindex(zone)
        except OSError as exc:
            raise ValueError(f"host {shown(value)}: this machine has no interface {zone}") from exc


def helo_name(value: str, what: str) -> str:
    """An EHLO/HELO argument: a host name or an address literal such as [192.0.2.7]."""
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"{what} must not contain CR, LF or NUL")
    if not value or any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"{what} {shown(value)} is empty or has white space or control characters")
    if value.startswith("[") and value.endswith("]"):
        inner = value[1:-1]
        ipv6 = inner[:5].lower() == "ipv6:"
        address = inner[5:] if ipv6 else inner
        wanted = socket.AF_INET6 if ipv6 else socket.AF_INET
        if "%" in address or ip_family(address) != wanted:
            raise ValueError(f"{what} {shown(value)} is not an address literal")
        return value
    return dns_name(value, what)


def helo_argument(fqdn: str | None, email: str | None) -> str | None:
    """The EHLO/HELO argument from -F or --email (-F wins); None lets the plugin choose."""
    if fqdn is not None:
        return helo_name(fqdn, "-F")
    if email is None:
        return None
    if any(c in email for c in "\r\n\0"):
        raise ValueError("--email must not contain CR, LF or NUL")
    local, at, domain = email.rpartition("@")
    if not (at and local and domain):
        raise ValueError(f"--email {shown(email)} is not an address of the form user@domain")
    return helo_name(domain, "the domain of --email")


def resolver_address(text: str) -> tuple[str, int]:
    """--resolver ADDRESS[:PORT]: an IPv4 address, an IPv6 address (in brackets with a
    port), each with an optional port; ValueError otherwise."""
    host, port = text, DNS_PORT
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            raise ValueError(f"{shown(text)} is not ADDRESS[:PORT]")
        port = int(rest[1:]) if rest else DNS_PORT
    elif text.count(":") == 1:
        host, _, number = text.partition(":")
        if not number.isdigit():
            raise ValueError(f"{shown(text)} is not ADDRESS[:PORT]")
        port = int(number)
    if ip_family(host) is None or not 1 <= port <= 65535:
        raise ValueError(f"{shown(text)} is not an IP address with an optional port (1..65535)")
    return host, port


def regular_file(path: str, what: str) -> str:
    """A file to read: a FIFO would block the check, a directory or a device is no file."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ValueError(f"cannot use {what} {shown(path)}: {exc.strerror}") from exc
    if not stat.S_ISREG(mode):
        raise ValueError(f"cannot use {what} {shown(path)}: not a regular file")
    return path


def mailbox(value: str) -> str:
    """An address for MAIL FROM or RCPT TO: local@domain (a host name or an address literal),
    or the bare 'postmaster' of RFC 5321 4.1.1.3; ASCII only, without white space or <>."""
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"{shown(value)} must not contain CR, LF or NUL")
    if value.lower() == "postmaster":
        return value
    bad = not value.isascii() or any(c.isspace() or not c.isprintable() or c in "<>" for c in value)
    local, at, domain = value.rpartition("@")
    if bad or not (at and local and domain) or len(local) > 64 or len(value) > 254:
        raise ValueError(f"{shown(value)} is not an address of the form user@domain")
    helo_name(domain, "the domain")
    return value
