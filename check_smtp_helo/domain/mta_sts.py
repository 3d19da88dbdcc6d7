"""MTA-STS (RFC 8461): the _mta-sts record, the policy fetched over HTTPS, and what it allows.
Why a small HTTPS client of its own: docs/development.md."""

from __future__ import annotations

import socket
import time

from ..core.text import printable
from ..smtp.model import endpoint
from .dns import DNSError
from .model import Policy

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    import logging
    from typing import Callable

    from ..tls.policy import TLSPolicy
    from .dns import Lookups
    from .model import MailDomain

POLICY_LIMIT = 65536  # RFC 8461 3.2: a policy is at most 64 KiB
POLICY_PATH = "/.well-known/mta-sts.txt"
POLICY_MODES = ("enforce", "testing", "none")


def parse_policy(text: str) -> Policy:
    """The policy from the body of mta-sts.txt; ValueError says what is wrong with it."""
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon:
            fields.setdefault(key.strip(), []).append(value.strip())
    if fields.get("version") != ["STSv1"]:
        raise ValueError("policy has no 'version: STSv1'")
    mode = (fields.get("mode") or [""])[0]
    if mode not in POLICY_MODES:
        raise ValueError(f"policy mode {printable(mode.encode())[:20]!r} is not one of "
                         f"{', '.join(POLICY_MODES)}")  # fmt: skip
    age = (fields.get("max_age") or [""])[0]
    if not age.isdigit():
        raise ValueError("policy has no max_age")
    patterns = fields.get("mx", [])
    if mode != "none" and not patterns:
        raise ValueError("policy lists no mx")
    return Policy(mode, patterns, int(age))


def sts_record(lookups: Lookups, domain: MailDomain) -> None:
    """Is there exactly one _mta-sts TXT record with v=STSv1 (RFC 8461 3.1)?"""
    try:
        records, _authenticated = lookups.query(f"_mta-sts.{domain.name}", "TXT")
    except DNSError as exc:
        if not exc.no_such_name:
            domain.policy_error = exc.reason
        return
    texts = [b"".join(record.strings) for record in records]
    domain.sts_record = sum(text.startswith(b"v=STSv1") for text in texts) == 1


def read_policy(lookups: Lookups, domain: MailDomain, family: int,
                fetch: Callable[[str, list[str]], str]) -> None:  # fmt: skip
    """Fetch and read the policy from mta-sts.<domain>; what fails is the policy's error."""
    if not domain.sts_record:
        return
    name = f"mta-sts.{domain.name}"
    try:
        domain.policy = parse_policy(fetch(name, lookups.addresses(name, family)))
    except (OSError, ValueError) as exc:
        domain.policy_error = f"policy from {name}: {exc}"


def fetch_policy(
    tls: TLSPolicy, deadline: float, log: logging.Logger
) -> Callable[[str, list[str]], str]:
    """A fetcher of https://NAME/.well-known/mta-sts.txt from the first address: the chain
    verified, no redirect followed, size and time bounded. OSError or ValueError say why not."""
    from ..tls.errors import HandshakeError  # noqa: PLC0415 -- the import policy

    def fetch(name: str, addresses: list[str]) -> str:
        if not addresses:
            raise DNSError("no address")
        address = addresses[0]
        where = endpoint(address, 443)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        channel = None
        try:
            sock.settimeout(max(deadline - time.perf_counter(), 0.001))
            sock.connect((address, 443))
            try:
                left = max(deadline - time.perf_counter(), 0.001)
                channel = tls.handshake(sock, name, left, log)
            except HandshakeError as exc:
                raise ValueError(str(exc)) from exc
            request = f"GET {POLICY_PATH} HTTP/1.0\r\nHost: {name}\r\nConnection: close\r\n\r\n"
            channel.sendall(request.encode("ascii"))
            response = b""
            while len(response) <= POLICY_LIMIT + 4096:  # the body and some headers
                channel.settimeout(max(deadline - time.perf_counter(), 0.001))
                chunk = channel.recv(16384)
                if not chunk:
                    break
                response += chunk
        except socket.timeout as exc:  # TimeoutError is its alias only from Python 3.10 on
            raise OSError(f"no answer from {where} in time") from exc
        except OSError as exc:
            raise OSError(f"{where}: {(exc.strerror or str(exc)).lower()}") from exc
        finally:
            (channel or sock).close()
        return policy_body(response)

    return fetch


def policy_body(response: bytes) -> str:
    """The body of an HTTP response that must be '200' with text/plain; ValueError else."""
    head, separator, body = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = lines[0].split(b" ", 2)
    if not separator or len(status) < 2 or not status[0].startswith(b"HTTP/"):
        raise ValueError("not an HTTP response")
    if status[1] != b"200":
        code = printable(status[1])
        note = " (redirects are not followed)" if code.startswith("3") else ""
        raise ValueError(f"HTTP status {code}{note}")
    if len(body) > POLICY_LIMIT:
        raise ValueError(f"policy larger than {POLICY_LIMIT} bytes")
    headers = dict(line.split(b":", 1) for line in lines[1:] if b":" in line)
    kind = {k.strip().lower(): v.strip().lower() for k, v in headers.items()}.get(b"content-type")
    if kind is None or kind.split(b";", 1)[0].strip() != b"text/plain":  # parameters may follow
        raise ValueError("policy is not text/plain")
    return body.decode("ascii", "replace")
