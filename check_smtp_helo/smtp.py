"""The SMTP conversation: connect, read the greeting, say EHLO/HELO (LHLO for LMTP), and,
when asked, AUTH, MAIL FROM and RCPT TO (never DATA); then RSET and QUIT.

Nothing here knows about Nagios. Every wait ends at one deadline, every read is
bounded, and server bytes become printable ASCII before anything else sees them.
A conversation never raises for what the network or the server does: it returns
a `Session` whose `failure` says what went wrong, and where.
"""

from __future__ import annotations

# _socket is the socket module's C core, with all a conversation uses. The socket module
# itself builds enum classes at import, about 4 ms of every run (benchmarks/bench.py). With
# TLS, ssl imports socket anyway; ssl.wrap_socket() takes a _socket.socket all the same.
# Timeouts are caught as socket.timeout: TimeoutError is its alias only from Python 3.10 on.
import _socket as socket
import logging
import threading
import time

from .base import HIDDEN, DeadlineError, HandshakeError, hide, printable
from .names import dns_name, ip_family

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (about 4 ms)
if TYPE_CHECKING:
    from typing import Callable

    from .sasl import Credentials
    from .tls import OtherCertificate, TLSChannel, TLSInfo, TLSPolicy

    # (name, seconds left) -> addresses; OSError with the reason when there are none
    Lookup = Callable[[str, float], list[str]]
    Log = logging.Logger | logging.LoggerAdapter  # an adapter marks whose transcript it is

# RFC 5321 4.5.3.1.5: 512 octets a reply line; twice that is slack enough. The limit is on
# the text, without its line end: CRLF, or LF alone, which some servers send.
MAX_LINE = 1024
MAX_REPLY_LINES = 100  # an EHLO reply lists a few dozen extensions at the most
QUIT_WAIT = 1.0  # seconds the polite QUIT may take, within what is left of the timeout
EHLO_UNKNOWN = (500, 502)  # EHLO answered so: the server predates ESMTP, fall back to HELO
FORBIDDEN_ON_WIRE = "\r\n\0"
GREETING_PHASES = ("connect", "tls", "banner", "helo")  # the response time: connect to EHLO
STEP_PHASES = ("auth", "mail")  # after the final EHLO reply; a failure there keeps that time
CLOSING = 421  # RFC 5321 3.8: the server closes the channel after this reply


class Failure:
    """What ended a conversation early: the phase, a reason, and whether time ran out."""

    __slots__ = ("phase", "reason", "timed_out")

    def __init__(self, phase: str, reason: str, timed_out: bool) -> None:
        self.phase = phase
        self.reason = reason
        self.timed_out = timed_out

    def __repr__(self) -> str:
        return f"Failure({self.phase!r}, {self.reason!r}, {self.timed_out!r})"


def seconds(value: float) -> str:
    """A duration the way a user wrote it: 10 -> '10s', 2.5 -> '2.5s'."""
    return f"{value:g}s"


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

    def variant(self, tls: TLSPolicy, *, steps: bool = True) -> Target:
        """The same target with another TLS policy, for one more handshake; without the steps
        after EHLO (AUTH, MAIL FROM, RCPT TO) unless `steps`."""
        other = Target.__new__(Target)
        other.__dict__.update(self.__dict__, tls=tls)
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


class _AbortError(Exception):
    """Unwinds a conversation; carries the Failure to record, and whether QUIT still makes sense."""

    def __init__(self, failure: Failure, in_step: bool = False) -> None:
        super().__init__(failure.reason)
        self.failure = failure
        self.in_step = in_step


class _Clock:
    """The one deadline of a conversation, and phase timings against it."""

    def __init__(self, timeout: float, deadline: float | None = None) -> None:
        self.timeout = timeout
        self.mark = time.perf_counter()
        self.deadline = self.mark + timeout if deadline is None else deadline

    def late(self, phase: str, what: str, note: str = "") -> _AbortError:
        """The abort for 'what' not happening within the timeout."""
        return _AbortError(Failure(phase, f"{what} within {seconds(self.timeout)}{note}", True))

    def left(self, phase: str, what: str, note: str = "") -> float:
        """Seconds left; past the deadline, abort: 'what' did not happen in time."""
        left = self.deadline - time.perf_counter()
        if left <= 0:
            raise self.late(phase, what, note)
        return left

    def lap(self) -> float:
        """Seconds since the previous lap (or the start)."""
        now = time.perf_counter()
        elapsed, self.mark = now - self.mark, now
        return elapsed

    def cap(self, limit: float) -> None:
        """Bring the deadline forward to at most `limit` seconds from now."""
        self.deadline = min(self.deadline, time.perf_counter() + limit)


def _describe(exc: OSError) -> str:
    """An OSError in lower case words: 'connection refused'."""
    words = exc.strerror or str(exc) or type(exc).__name__
    return words[:1].lower() + words[1:]


def resolve(target: Target, clock: _Clock) -> list[tuple]:
    """getaddrinfo within the deadline; a name is looked up in a thread that may be abandoned."""
    if target.lookup is not None:
        return _lookup(target.lookup, target, clock)
    numeric = ip_family(target.host) is not None
    flags = socket.AI_NUMERICHOST if numeric else 0
    outcome: list = []

    def lookup() -> None:
        try:
            # bytes, not str: a str host makes CPython import the idna codec (about 1 ms)
            host = target.host.encode("ascii")
            outcome.append(
                socket.getaddrinfo(host, target.port, target.family, socket.SOCK_STREAM, 0, flags)
            )
        except OSError as exc:
            outcome.append(exc)

    if numeric:
        lookup()
    else:
        worker = threading.Thread(target=lookup, daemon=True)
        worker.start()
        try:
            worker.join(clock.left("dns", f"no address for {target.host}"))
        except DeadlineError:
            raise clock.late("dns", f"no address for {target.host}") from None
        if not outcome:
            raise clock.late("dns", f"no address for {target.host}")
    if isinstance(outcome[0], OSError):
        reason = f"cannot resolve {target.host}: {_describe(outcome[0])}"
        raise _AbortError(Failure("dns", reason, False))
    return outcome[0]


def _lookup(lookup: Lookup, target: Target, clock: _Clock) -> list[tuple]:
    """The target's own lookup (the domain's DNS), as getaddrinfo would return it."""
    try:
        found = lookup(target.host, clock.left("dns", f"no address for {target.host}"))
    except OSError as exc:
        reason, late = f"cannot resolve {target.host}: {exc}", getattr(exc, "timed_out", False)
        raise _AbortError(Failure("dns", reason, late)) from exc
    if not found:
        raise _AbortError(Failure("dns", f"cannot resolve {target.host}: no address", False))
    return [
        (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 0, "",
         (address, target.port))
        for address in found
    ]  # fmt: skip


def connect(addresses: list[tuple], clock: _Clock) -> socket.socket:
    """Connect to the first address that accepts; each gets a fair share of the time left."""
    errors: list[tuple[str, str]] = []
    for index, (family, socktype, proto, _name, sockaddr) in enumerate(addresses):
        share = clock.left("connect", "no connection") / (len(addresses) - index)
        sock = socket.socket(family, socktype, proto)
        sock.settimeout(share)
        try:
            sock.connect(sockaddr)
        except (socket.timeout, DeadlineError):
            sock.close()
            errors.append((sockaddr[0], ""))
        except OSError as exc:
            sock.close()
            errors.append((sockaddr[0], _describe(exc)))
        else:
            return sock
    tried = f" ({', '.join(address for address, _ in errors)})" if len(errors) > 1 else ""
    reasons = {reason for _address, reason in errors}
    if reasons == {""}:
        raise clock.late("connect", f"no connection{tried}")
    if len(reasons) == 1:
        raise _AbortError(Failure("connect", f"{reasons.pop()}{tried}", False))
    reason = ", ".join(f"{address}: {why or 'timed out'}" for address, why in errors)
    raise _AbortError(Failure("connect", reason, False))


class Channel:
    """Commands out, bounded replies in, over a connected socket, against the deadline."""

    def __init__(self, sock: socket.socket, clock: _Clock, log: Log) -> None:
        self.sock: socket.socket | TLSChannel = sock  # TLSChannel after the handshake
        self.clock = clock
        self.log = log
        self.buffer = b""

    def send(self, phase: str, command: str, shown: str | None = None, verb: str = "") -> None:
        """Send one command line, named `verb` in messages (default: its first word); the
        transcript shows `shown` instead of it when it is given (a credential)."""
        if any(c in command for c in FORBIDDEN_ON_WIRE):
            raise ValueError(f"refusing to send a command with CR, LF or NUL: {shown or command!r}")
        verb = verb or command.split(maxsplit=1)[0]
        self.log.info("C: %s", shown or command)
        self.sock.settimeout(self.clock.left(phase, f"{verb} not sent"))
        try:
            self.sock.sendall(command.encode("ascii") + b"\r\n")
        except (socket.timeout, DeadlineError) as exc:
            raise self.clock.late(phase, f"{verb} not sent") from exc
        except OSError as exc:
            raise _AbortError(
                Failure(phase, f"{_describe(exc)} while sending {verb}", False)
            ) from exc

    def read(self, phase: str, what: str, closed: str, silent: str = "") -> Reply:
        """Read one (multi-line) reply; 'closed' words an EOF before it started, 'silent'
        is a note for a timeout before any of it came."""
        lines: list[str] = []
        code = 0
        while True:
            raw = self._line(phase, what, closed, silent, started=bool(lines))
            text = printable(raw)
            self.log.info("S: %s", text)
            if not _is_reply_line(raw):
                raise _AbortError(
                    Failure(phase, f"protocol error: {what} is not SMTP: {text[:80]}", False)
                )
            if lines and int(raw[:3]) != code:
                reason = f"protocol error: {what} changes its code from {code} to {text[:3]}"
                raise _AbortError(Failure(phase, reason, False))
            code = int(raw[:3])
            lines.append(text[4:])
            if raw[3:4] != b"-":
                return Reply(code, lines, data=raw[4:])
            if len(lines) >= MAX_REPLY_LINES:
                reason = f"protocol error: {what} has over {MAX_REPLY_LINES} lines"
                raise _AbortError(Failure(phase, reason, False))

    def exchange(
        self, phase: str, command: str, closed: str, verb: str = "", shown: str | None = None
    ) -> Reply:
        """Send a command and read its reply; `verb` names it (default: its first word).
        Bytes already there would be taken as its reply: a protocol error (we never pipeline)."""
        verb = verb or command.split(maxsplit=1)[0]
        if self.buffer:
            early = printable(self.buffer.split(b"\n", 1)[0].rstrip(b"\r"), partial=True)[:80]
            reason = f"protocol error: a reply came before {verb} was sent: {early}"
            raise _AbortError(Failure(phase, reason, False), in_step=True)
        self.send(phase, command, shown, verb)
        reply = self.read(phase, f"{verb} reply", closed)
        reply.command = verb
        return reply

    def _line(self, phase: str, what: str, closed: str, silent: str, started: bool) -> bytes:
        """One line without its line end (CRLF, or LF alone), at most MAX_LINE bytes."""
        while True:
            end = self.buffer.find(b"\n")
            line = self.buffer if end < 0 else self.buffer[:end]
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > MAX_LINE:
                reason = f"protocol error: {what} has a line over {MAX_LINE} bytes"
                raise _AbortError(Failure(phase, reason, False))
            if end >= 0:
                self.buffer = self.buffer[end + 1 :]
                return line
            if not _may_start_reply(self.buffer[:4]):
                text = printable(self.buffer, partial=True)[:80]
                raise _AbortError(
                    Failure(phase, f"protocol error: {what} is not SMTP: {text}", False)
                )
            nothing = not (started or self.buffer)
            late = f"no {what}" if nothing else f"{what} not complete"
            self.sock.settimeout(self.clock.left(phase, late, silent if nothing else ""))
            try:
                chunk = self.sock.recv(4096)
            except (socket.timeout, DeadlineError):
                continue
            except OSError as exc:
                reason = f"{_describe(exc)} while waiting for the {what}"
                raise _AbortError(Failure(phase, reason, False)) from exc
            if not chunk:
                where = f"in the middle of the {what}" if started or self.buffer else closed
                raise _AbortError(Failure(phase, f"server closed the connection {where}", False))
            self.buffer += chunk


def _may_start_reply(head: bytes) -> bool:
    """Can these first bytes of a line (up to 4) begin an SMTP reply: '2', '25', '250', '250-'?"""
    code = head[:3]
    return (code.isdigit() or not code) and code[:1] in b"12345" and head[3:4] in b" -\r\n"


def _is_reply_line(raw: bytes) -> bool:
    """Does the line start like an SMTP reply: three digits, then space, '-' or nothing?"""
    code, separator = raw[:3], raw[3:4]
    return len(code) == 3 and code.isdigit() and code[:1] in b"12345" and separator in b" -"


def default_helo_name(sock: socket.socket | TLSChannel) -> str:
    """This machine's name when it is a real FQDN, else the local address as a literal."""
    name = socket.gethostname()
    if name.isascii() and "." in name and not name.lower().startswith("localhost"):
        try:
            if ip_family(name) is None and dns_name(name, "host name") == name:
                return name
        except ValueError:  # spaces, ';', a CR...: a name no server should be told
            pass
    return address_literal(sock.getsockname()[0])


def converse(target: Target, log: Log | None = None) -> Session:
    """Hold one conversation with the target and return its record. With TLS, the further
    handshakes the server needs (security level 0) or the options ask for (--refuse-tls-below,
    --all-certificates) are conversations of their own up to the handshake and EHLO, one after
    the other, all within the one deadline."""
    log = log or logging.getLogger(__name__)
    deadline = _Clock(target.timeout, target.deadline).deadline
    session = _at_any_level(target, deadline, log)
    tls = target.tls
    if tls is None or session.tls is None:
        return session
    if tls.refuse_below:
        session.refusals = _refusals(session, tls.refusal_policies(), deadline, log)
    if tls.all_certificates:
        session.tls.others = _other_certificates(session, deadline, log)
    return session


def _at_any_level(target: Target, deadline: float, log: Log) -> Session:
    """One conversation; again at security level 0 when the system's level is what made the
    handshake fail, so that an old server is reached and judged in words."""
    session = _converse(target, _Clock(target.timeout, deadline), log)
    error, tls = session.handshake_error, target.tls
    if tls is None or error is None or not tls.lower_level_helps(error):
        return session
    log.info("TLS: again at security level 0 after: %s", error)
    session = _converse(target.variant(tls.derive(legacy=True, kind=tls.kind)),
                        _Clock(target.timeout, deadline), log)  # fmt: skip
    if session.tls is not None:
        session.tls.lowered = str(error)
    return session


def _refusals(session: Session, policies: list[tuple[str, TLSPolicy]], deadline: float,
              log: Log) -> list[Refusal]:  # fmt: skip
    """A handshake capped at each version below --refuse-tls-below: does the server accept it?
    The first that cannot be tried (no banner, no time left) ends the tries."""
    refusals = []
    for version, policy in policies:
        target = session.target.variant(policy, steps=False)
        probe = _converse(target, _Clock(target.timeout, deadline), log)
        failure = probe.failure
        if probe.tls is not None:
            refusals.append(Refusal(version, True))
        elif failure is not None and failure.phase == "tls" and not failure.timed_out:
            refusals.append(Refusal(version, False, failure.reason))
        else:
            reason, late = (failure.reason, failure.timed_out) if failure else ("", False)
            refusals.append(Refusal(version, None, reason, late))
            break
    return refusals


def _other_certificates(session: Session, deadline: float, log: Log) -> list[OtherCertificate]:
    """A TLS 1.2 handshake with the cipher suites of each key type (RSA, ECDSA) whose
    certificate the conversation did not get: a server may hold one of each."""
    from .tls import NO_SUCH_CERTIFICATE, OtherCertificate  # noqa: PLC0415 -- ssl is loaded

    tls, policy = session.tls, session.target.tls
    assert tls is not None and policy is not None  # converse() checked both
    key = tls.chain[0]["key_type"] if tls.chain else ""
    tls.kind = {"RSA": "RSA", "RSA-PSS": "RSA", "EC": "ECDSA"}.get(key, key or "the")
    others = []
    for kind in ("RSA", "ECDSA"):
        if kind == tls.kind:
            continue
        target = session.target.variant(policy.derive(kind=kind), steps=False)
        probe = _at_any_level(target, deadline, log)
        error = probe.handshake_error
        if probe.tls is not None:
            others.append(OtherCertificate(kind, probe.tls))
        elif error is not None and error.code in NO_SUCH_CERTIFICATE:
            others.append(OtherCertificate(kind, None, str(error), absent=True))
        else:
            reason = probe.failure.reason if probe.failure else "no TLS session"
            others.append(OtherCertificate(kind, None, reason))
    return others


def _converse(target: Target, clock: _Clock, log: Log) -> Session:
    """One conversation, from the lookup to QUIT, and its record."""
    session = Session(target)
    channel = None
    try:
        addresses = resolve(target, clock)
        session.timings["dns"] = clock.lap()
        log.debug("addresses of %s: %s", target.host, ", ".join(a[4][0] for a in addresses))
        sock = connect(addresses, clock)
        session.timings["connect"] = clock.lap()
        session.address = sock.getpeername()[0]
        channel = Channel(sock, clock, log)
        if target.tls and target.tls.implicit:
            _secure(session, channel, target.tls)
        _greet(session, channel)
        if session.helo is not None and session.helo.code == 250:
            _steps(session, channel, session.helo)
        _quit(session, channel)
    except _AbortError as abort:
        session.failure = abort.failure
        if abort.in_step and channel is not None:
            _quit(session, channel)
    except DeadlineError:  # between two waits, which report a timeout in their own words
        session.failure = Failure("check", f"check aborted after {seconds(target.timeout)}", True)
    finally:
        if channel is not None:
            channel.sock.close()
    return session


def _greet(session: Session, channel: Channel) -> None:
    """Read the banner and, when it is 220, say EHLO (or HELO); STARTTLS when asked."""
    silent = "" if session.tls else " (implicit TLS port? use -s)"
    session.banner = channel.read("banner", "banner", "before the banner", silent)
    session.timings["banner"] = channel.clock.lap()
    if session.banner.code != 220:
        return
    target = session.target
    session.helo_name = target.helo_name or default_helo_name(channel.sock)
    verb = target.greeting
    reply = channel.exchange("helo", f"{verb} {session.helo_name}", "after the banner")
    if verb == "EHLO" and reply.code in EHLO_UNKNOWN:
        session.refused_ehlo, verb = reply, "HELO"
        reply = channel.exchange("helo", f"HELO {session.helo_name}", "after EHLO was refused")
    session.helo_verb, session.helo = verb, reply
    session.timings["helo"] = channel.clock.lap()
    if target.tls and not target.tls.implicit and reply.code == 250:
        _starttls(session, channel, reply, target.tls)


def _starttls(session: Session, channel: Channel, ehlo: Reply, tls: TLSPolicy) -> None:
    """STARTTLS, the handshake, and EHLO again over TLS."""
    if not any(line.upper().split()[:1] == ["STARTTLS"] for line in ehlo.lines[1:]):
        raise _AbortError(Failure("starttls", "STARTTLS not offered", False), in_step=True)
    reply = channel.exchange("starttls", "STARTTLS", "after EHLO")
    if reply.code != 220:
        raise _AbortError(Failure("starttls", f"STARTTLS answered {reply}", False), in_step=True)
    if channel.buffer:  # CVE-2011-0411: what came before TLS must not be read as if after it
        reason = "protocol error: data after the STARTTLS reply, before TLS"
        raise _AbortError(Failure("starttls", reason, False))
    session.timings["helo"] += channel.clock.lap()
    _secure(session, channel, tls)
    # the reply before TLS is kept apart; until the EHLO over TLS answers there is no final one
    session.ehlo_before_tls, session.helo = session.helo, None
    greeting = f"{session.helo_verb} {session.helo_name}"
    session.helo = channel.exchange("helo", greeting, "after the TLS handshake")
    session.timings["helo"] += channel.clock.lap()


def _secure(session: Session, channel: Channel, tls: TLSPolicy) -> None:
    """The TLS handshake, timed as the phase 'tls'."""
    clock = channel.clock
    try:
        secured = tls.handshake(
            channel.sock,  # type: ignore[arg-type]  # a _socket.socket, which ssl takes too
            session.target.host,
            clock.left("tls", "no TLS handshake"),
            channel.log,
        )
    except (socket.timeout, DeadlineError) as exc:
        raise clock.late("tls", "no TLS handshake") from exc
    except HandshakeError as exc:
        session.handshake_error = exc
        raise _AbortError(Failure("tls", str(exc), False)) from exc
    channel.sock = secured
    session.timings["tls"] = clock.lap()
    session.tls = tls.describe(secured)


def _steps(session: Session, channel: Channel, ehlo: Reply) -> None:
    """What comes after a 250 to the final EHLO, when asked: AUTH, then the transaction."""
    target = session.target
    if target.auth is not None:
        _authenticate(session, channel, target.auth, auth_offered(ehlo))
        if session.auth is None or session.auth.code != 235:
            return
    if target.transaction:
        _transaction(session, channel)


def auth_offered(ehlo: Reply) -> list[str]:
    """The SASL mechanisms an EHLO reply offers: 'AUTH PLAIN LOGIN' (or the old 'AUTH=')."""
    for line in ehlo.lines[1:]:
        words = line.upper().split()
        if words and (words[0] == "AUTH" or words[0].startswith("AUTH=")):
            return [word for word in (words[0][5:], *words[1:]) if word]
    return []


def _authenticate(
    session: Session, channel: Channel, credentials: Credentials, offered: list[str]
) -> None:
    """AUTH with the chosen mechanism until the server's final reply; the secret and what
    reveals it never reach the transcript or a message."""
    from .sasl import SASLError, decode  # noqa: PLC0415 -- only AUTH checks pay for it

    if session.tls is None and not session.target.plaintext_auth:
        reason = "AUTH refused: the session is not encrypted"
        raise _AbortError(Failure("auth", reason, False), in_step=True)
    if session.tls is not None and not session.tls.meets_minimum:
        reason = "AUTH not sent: the session is below the minimum TLS"
        raise _AbortError(Failure("auth", reason, False), in_step=True)
    session.auth_offered = offered
    if not offered:
        raise _AbortError(Failure("auth", "AUTH not offered", False), in_step=True)
    name = credentials.choose(offered)
    if name is None:
        wanted = credentials.mechanism or "no mechanism this plugin knows"
        reason = f"AUTH {wanted} not offered (the server offers {' '.join(offered)})"
        raise _AbortError(Failure("auth", reason, False), in_step=True)
    session.auth_mechanism = name
    mechanism = credentials.start(name)
    closed = f"during AUTH {name}"
    initial = mechanism.initial()
    hide(*mechanism.revealing)
    command, shown = f"AUTH {name}", None
    if initial is not None:
        command, shown = f"{command} {initial}", f"{command} {HIDDEN}"
    reply = channel.exchange("auth", command, closed, "AUTH", shown)
    while reply.code == 334:
        try:
            response = mechanism.respond(decode(reply.data))
        except SASLError as exc:
            channel.exchange("auth", "*", closed, "AUTH")  # RFC 4954 4: cancel the exchange
            reason = f"protocol error: AUTH {name}: {exc}"
            raise _AbortError(Failure("auth", reason, False), in_step=True) from exc
        hide(*mechanism.revealing)
        reply = channel.exchange("auth", response, closed, "AUTH", HIDDEN)
    if reply.code == 235 and not mechanism.verified:
        reason = f"protocol error: AUTH {name} accepted before the server proved itself"
        raise _AbortError(Failure("auth", reason, False), in_step=True)
    session.auth = reply
    session.timings["auth"] = channel.clock.lap()


def _transaction(session: Session, channel: Channel) -> None:
    """MAIL FROM (the null sender by default), then RCPT TO for each recipient while the
    server keeps the channel open; DATA is never sent."""
    target = session.target
    sender = target.mail_from or ""
    command = f"MAIL FROM:<{sender}>"
    session.mail = channel.exchange("mail", command, "after MAIL FROM", command)
    if session.mail.code == 250:
        for recipient in target.rcpt_to:
            command = f"RCPT TO:<{recipient}>"
            reply = channel.exchange("mail", command, "after RCPT TO", command)
            session.recipients.append(reply)
            if reply.code == CLOSING:
                break
    session.timings["mail"] = channel.clock.lap()


def _quit(session: Session, channel: Channel) -> None:
    """RSET when a transaction was begun, then QUIT, waiting briefly for each reply; nothing
    they meet counts."""
    channel.clock.cap(QUIT_WAIT)
    channel.buffer = b""  # what came unasked, if anything, has been judged already
    commands = ("RSET", "QUIT") if session.mail is not None else ("QUIT",)
    try:
        for command in commands:
            channel.exchange("quit", command, f"before the {command} reply")
    except _AbortError as abort:
        channel.log.debug("%s", abort.failure.reason)
    except DeadlineError:
        channel.log.debug("%s: no reply within the timeout", " and ".join(commands))
