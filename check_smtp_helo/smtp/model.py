"""The conversation's data: what to talk to (Target), its record (Session), a Reply, a Failure."""

from __future__ import annotations

import _socket as socket  # the import policy: docs/development.md

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    import logging
    from typing import Callable

    from ..tls.certificate import TLSInfo
    from ..tls.errors import HandshakeError
    from ..tls.policy import TLSPolicy
    from .sasl import Credentials

    # (name, seconds left) -> addresses; OSError with the reason when there are none
    Lookup = Callable[[str, float], list[str]]
    Log = logging.Logger | logging.LoggerAdapter  # an adapter marks whose transcript it is


FORBIDDEN_ON_WIRE = "\r\n\0"
GREETING_PHASES = ("connect", "tls", "banner", "helo")  # the response time: connect to EHLO
STEP_PHASES = ("auth", "mail")  # after the final EHLO reply; a failure there keeps that time


class Failure:
    """What ended a conversation early: the phase, a reason, and whether time ran out."""

    __slots__ = ("phase", "reason", "timed_out")

    def __init__(self, phase: str, reason: str, timed_out: bool) -> None:
        self.phase = phase
        self.reason = reason
        self.timed_out = timed_out

    def __repr__(self) -> str:
        return f"Failure({self.phase!r}, {self.reason!r}, {self.timed_out!r})"


def endpoint(host: str, port: int) -> str:
    """host:port, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def address_literal(address: str) -> str:
    """The RFC 5321 4.1.3 address literal of an IP address: [192.0.2.7] or [IPv6:2001:db8::7]."""
    address = address.split("%", 1)[0]
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


class Reply:
    """One SMTP reply: its code, the text of each of its lines, the command it answers, and
    the bytes of its last line after the code as they came (a SASL challenge: never shown)."""

    __slots__ = ("code", "command", "data", "lines")

    def __init__(
        self, code: int, lines: list[str], command: str | None = None, data: bytes = b""
    ) -> None:
        self.code = code
        self.lines = lines
        self.command = command
        self.data = data

    def __str__(self) -> str:
        return f"{self.code} {self.lines[0]}".rstrip()

    def __repr__(self) -> str:
        return f"Reply({self.code!r}, {self.lines!r}, {self.command!r})"

    def wire_lines(self) -> list[str]:
        """Each line as the server sent it: 250-first, 250 last."""
        last = len(self.lines) - 1
        return [
            f"{self.code}{' ' if i == last else '-'}{text}" for i, text in enumerate(self.lines)
        ]


class Target:
    """What to talk to and how: the inputs of one conversation."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float,
        *,
        deadline: float | None = None,
        family: int = socket.AF_UNSPEC,
        helo_name: str | None = None,
        plain_helo: bool = False,
        lmtp: bool = False,
        tls: TLSPolicy | None = None,
        auth: Credentials | None = None,
        plaintext_auth: bool = False,
        mail_from: str | None = None,
        rcpt_to: tuple[str, ...] = (),
        lookup: Lookup | None = None,
    ) -> None:
        for value in (helo_name, mail_from, *rcpt_to):
            if value is not None and any(c in value for c in FORBIDDEN_ON_WIRE):
                raise ValueError(
                    "the EHLO/HELO argument and addresses must not contain CR, LF or NUL"
                )
        self.host = host
        self.port = port
        self.timeout = timeout
        self.deadline = deadline  # time.perf_counter() at which the timeout ends, when known
        self.family = family
        self.helo_name = helo_name
        self.plain_helo = plain_helo
        self.lmtp = lmtp
        self.tls = tls
        self.auth = auth
        self.plaintext_auth = plaintext_auth  # AUTH without TLS; else a session without TLS fails
        self.mail_from = mail_from
        self.rcpt_to = rcpt_to
        self.lookup = lookup  # looks the host's addresses up instead of getaddrinfo

    def variant(self, tls: TLSPolicy, *, steps: bool = True,
                deadline: float | None = None) -> Target:  # fmt: skip
        """The same target with another TLS policy (and deadline), for one more handshake;
        without the steps after EHLO (AUTH, MAIL FROM, RCPT TO) unless `steps`."""
        other = Target.__new__(Target)
        other.__dict__.update(self.__dict__, tls=tls)
        if deadline is not None:
            other.deadline = deadline
        if not steps:
            other.auth, other.mail_from, other.rcpt_to = None, None, ()
        return other

    @property
    def greeting(self) -> str:
        """The verb that opens the session: LHLO for LMTP (RFC 2033), else EHLO or HELO."""
        return "LHLO" if self.lmtp else "HELO" if self.plain_helo else "EHLO"

    @property
    def transaction(self) -> bool:
        """Whether the conversation goes on to MAIL FROM (and RCPT TO)."""
        return self.mail_from is not None or bool(self.rcpt_to)


class Session:
    """The record of one conversation, complete or cut short."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.address: str | None = None
        self.timings: dict[str, float] = {}
        self.banner: Reply | None = None
        self.helo_name: str | None = None
        self.helo_verb: str | None = None
        self.helo: Reply | None = None
        self.refused_ehlo: Reply | None = None
        self.ehlo_before_tls: Reply | None = None
        self.tls: TLSInfo | None = None
        self.auth_mechanism: str | None = None
        self.auth_offered: list[str] = []
        self.auth: Reply | None = None
        self.mail: Reply | None = None
        self.recipients: list[Reply] = []  # the RCPT TO replies, in order
        self.failure: Failure | None = None
        self.handshake_error: HandshakeError | None = None
        self.refusals: list[Refusal] | None = None  # --refuse-tls-below: one per version

    @property
    def response_time(self) -> float | None:
        """Seconds from the start of the connect to the end of the final EHLO/HELO reply."""
        if self.helo is None or (self.failure and self.failure.phase not in STEP_PHASES):
            return None
        return sum(self.timings.get(phase, 0.0) for phase in GREETING_PHASES)

    @property
    def transaction_time(self) -> float | None:
        """Seconds from the start of the connect to the end of the last RCPT TO reply."""
        if not self.recipients or "mail" not in self.timings:
            return None
        return sum(elapsed for phase, elapsed in self.timings.items() if phase != "dns")

    @property
    def mail_reply(self) -> Reply | None:
        """The last reply of the transaction: to the last RCPT TO, else to MAIL FROM."""
        return self.recipients[-1] if self.recipients else self.mail


class Refusal:
    """One handshake capped at an old TLS version (--refuse-tls-below): accepted, refused, or
    (accepted None) not tried, and why."""

    __slots__ = ("accepted", "reason", "timed_out", "version")

    def __init__(self, version: str, accepted: bool | None, reason: str = "",
                 timed_out: bool = False) -> None:  # fmt: skip
        self.version = version
        self.accepted = accepted
        self.reason = reason
        self.timed_out = timed_out
