"""The phases of one conversation: banner, EHLO/HELO, STARTTLS, AUTH, MAIL FROM and RCPT TO,
then RSET and QUIT."""

from __future__ import annotations

import _socket as socket  # the import policy: docs/development.md
import logging

from ..core.deadline import DeadlineError
from ..core.inputs import dns_name, ip_family
from ..core.text import HIDDEN, hide, seconds
from .clock import AbortError, Clock
from .connect import connect, resolve
from .model import Failure, Reply, Session, Target, address_literal
from .wire import Channel

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from ..tls.policy import TLSChannel, TLSPolicy
    from .model import Log
    from .sasl import Credentials

QUIT_WAIT = 1.0  # seconds the polite QUIT may take, within what is left of the timeout
EHLO_UNKNOWN = (500, 502)  # EHLO answered so: the server predates ESMTP, fall back to HELO
CLOSING = 421  # RFC 5321 3.8: the server closes the channel after this reply


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
    """Hold one conversation with the target and return its record; with TLS, also the
    further handshakes that the server needs or the options ask for (handshakes.py)."""
    log = log or logging.getLogger(__name__)
    if target.tls is None:
        return converse_once(target, log)
    from .handshakes import with_further_handshakes  # noqa: PLC0415 -- the import policy

    return with_further_handshakes(target, log, converse_once)


def converse_once(target: Target, log: Log) -> Session:
    """One conversation, from the lookup to QUIT, and its record."""
    session = Session(target)
    clock = Clock(target.timeout, target.deadline)
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
    except AbortError as abort:
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
        raise AbortError(Failure("starttls", "STARTTLS not offered", False), in_step=True)
    reply = channel.exchange("starttls", "STARTTLS", "after EHLO")
    if reply.code != 220:
        raise AbortError(Failure("starttls", f"STARTTLS answered {reply}", False), in_step=True)
    if channel.buffer:  # CVE-2011-0411: what came before TLS must not be read as if after it
        reason = "protocol error: data after the STARTTLS reply, before TLS"
        raise AbortError(Failure("starttls", reason, False))
    session.timings["helo"] += channel.clock.lap()
    _secure(session, channel, tls)
    # the reply before TLS is kept apart; until the EHLO over TLS answers there is no final one
    session.ehlo_before_tls, session.helo = session.helo, None
    greeting = f"{session.helo_verb} {session.helo_name}"
    session.helo = channel.exchange("helo", greeting, "after the TLS handshake")
    session.timings["helo"] += channel.clock.lap()


def _secure(session: Session, channel: Channel, tls: TLSPolicy) -> None:
    """The TLS handshake, timed as the phase 'tls'."""
    from ..tls.errors import HandshakeError  # noqa: PLC0415 -- the import policy

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
        raise AbortError(Failure("tls", str(exc), False)) from exc
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
    from .sasl import SASLError, decode  # noqa: PLC0415 -- the import policy

    if session.tls is None and not session.target.plaintext_auth:
        reason = "AUTH refused: the session is not encrypted"
        raise AbortError(Failure("auth", reason, False), in_step=True)
    if session.tls is not None and not session.tls.meets_minimum:
        reason = "AUTH not sent: the session is below the minimum TLS"
        raise AbortError(Failure("auth", reason, False), in_step=True)
    session.auth_offered = offered
    if not offered:
        raise AbortError(Failure("auth", "AUTH not offered", False), in_step=True)
    name = credentials.choose(offered)
    if name is None:
        wanted = credentials.mechanism or "no mechanism this plugin knows"
        reason = f"AUTH {wanted} not offered (the server offers {' '.join(offered)})"
        raise AbortError(Failure("auth", reason, False), in_step=True)
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
            raise AbortError(Failure("auth", reason, False), in_step=True) from exc
        hide(*mechanism.revealing)
        reply = channel.exchange("auth", response, closed, "AUTH", HIDDEN)
    if reply.code == 235 and not mechanism.verified:
        reason = f"protocol error: AUTH {name} accepted before the server proved itself"
        raise AbortError(Failure("auth", reason, False), in_step=True)
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
    except AbortError as abort:
        channel.log.debug("%s", abort.failure.reason)
    except DeadlineError:
        channel.log.debug("%s: no reply within the timeout", " and ".join(commands))
