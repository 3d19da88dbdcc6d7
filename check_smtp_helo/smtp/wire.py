"""Commands out, bounded replies in: the reply grammar and the line limit (what a server
sends is shown only through core.text.printable, which hides the secret)."""

from __future__ import annotations

import _socket as socket  # the import policy: docs/development.md

from ..core.deadline import DeadlineError
from ..core.text import printable
from .clock import AbortError, Clock
from .connect import describe
from .model import FORBIDDEN_ON_WIRE, Failure, Reply

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from ..tls.policy import TLSChannel
    from .model import Log

# RFC 5321 4.5.3.1.5: 512 octets a reply line; twice that is slack enough. The limit is on
# the text, without its line end: CRLF, or LF alone, which some servers send.
MAX_LINE = 1024
MAX_REPLY_LINES = 100  # an EHLO reply lists a few dozen extensions at the most


class Channel:
    """Commands out, bounded replies in, over a connected socket, against the deadline."""

    def __init__(self, sock: socket.socket, clock: Clock, log: Log) -> None:
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
            raise AbortError(
                Failure(phase, f"{describe(exc)} while sending {verb}", False)
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
                raise AbortError(
                    Failure(phase, f"protocol error: {what} is not SMTP: {text[:80]}", False)
                )
            if lines and int(raw[:3]) != code:
                reason = f"protocol error: {what} changes its code from {code} to {text[:3]}"
                raise AbortError(Failure(phase, reason, False))
            code = int(raw[:3])
            lines.append(text[4:])
            if raw[3:4] != b"-":
                return Reply(code, lines, data=raw[4:])
            if len(lines) >= MAX_REPLY_LINES:
                reason = f"protocol error: {what} has over {MAX_REPLY_LINES} lines"
                raise AbortError(Failure(phase, reason, False))

    def exchange(
        self, phase: str, command: str, closed: str, verb: str = "", shown: str | None = None
    ) -> Reply:
        """Send a command and read its reply; `verb` names it (default: its first word).
        Bytes already there would be taken as its reply: a protocol error (we never pipeline)."""
        verb = verb or command.split(maxsplit=1)[0]
        if self.buffer:
            early = printable(self.buffer.split(b"\n", 1)[0].rstrip(b"\r"), partial=True)[:80]
            reason = f"protocol error: a reply came before {verb} was sent: {early}"
            raise AbortError(Failure(phase, reason, False), in_step=True)
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
                raise AbortError(Failure(phase, reason, False))
            if end >= 0:
                self.buffer = self.buffer[end + 1 :]
                return line
            if not _may_start_reply(self.buffer[:4]):
                text = printable(self.buffer, partial=True)[:80]
                raise AbortError(
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
                reason = f"{describe(exc)} while waiting for the {what}"
                raise AbortError(Failure(phase, reason, False)) from exc
            if not chunk:
                where = f"in the middle of the {what}" if started or self.buffer else closed
                raise AbortError(Failure(phase, f"server closed the connection {where}", False))
            self.buffer += chunk


def _may_start_reply(head: bytes) -> bool:
    """Can these first bytes of a line (up to 4) begin an SMTP reply: '2', '25', '250', '250-'?"""
    code = head[:3]
    return (code.isdigit() or not code) and code[:1] in b"12345" and head[3:4] in b" -\r\n"


def _is_reply_line(raw: bytes) -> bool:
    """Does the line start like an SMTP reply: three digits, then space, '-' or nothing?"""
    code, separator = raw[:3], raw[3:4]
    return len(code) == 3 and code.isdigit() and code[:1] in b"12345" and separator in b" -"
