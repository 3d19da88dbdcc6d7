"""The single check's Summary: the status line and the long output of a conversation."""

from __future__ import annotations

import time

import nagiosplugin

from ..core.text import ago, safe, span
from ..smtp.model import endpoint
from .perfdata import decimal, duration

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from ..smtp.model import Reply, Session
    from ..tls.certificate import TLSInfo


class Summary(nagiosplugin.Summary):
    """nagiosplugin's Summary with the long output of -v level 0 (verbose() words it from -v on)."""

    def brief(self, results) -> list[str]:
        """The long output without -v: none."""
        return []


class SMTPSummary(Summary):
    """Words the status line and the long output from the conversation's record.

    The status line has no ';': Nagios turns each into ':' (it delimits Nagios' own formats)."""

    def __init__(self, notes: list[str] | None = None) -> None:
        self.notes = notes or []  # about the options, for the long output

    def ok(self, results):
        return self._line(results, [])

    def problem(self, results):
        reasons = [result.hint for result in results if result.state != nagiosplugin.Ok]
        return self._line(results, reasons)

    def verbose(self, results):
        return [*self.notes, *session_lines(self._session(results))]

    @staticmethod
    def _session(results) -> Session:
        return results[0].resource.session

    def _line(self, results, reasons: list[str]) -> str:
        session = self._session(results)
        head = endpoint(session.target.host, session.target.port)
        if session.address and session.address != session.target.host:
            head += f" ({session.address})"
        if session.response_time is not None:
            head += f" answered in {duration(session.response_time)}"
        if reasons:
            head += ": " + ", ".join(map(safe, reasons))
        parts = [head]
        if session.banner:
            parts.append(f"banner: {safe(str(session.banner))}")
        if session.helo:
            parts.append(f"helo: {safe(str(session.helo))}")
        if session.tls:
            parts.append(f"tls: {session.tls.version} ({_certificate_text(session.tls)})")
        if session.auth:
            parts.append(f"auth: {safe(str(session.auth))}")
        if session.mail_reply:
            parts.append(f"mail: {safe(str(session.mail_reply))}")
        return ", ".join(parts)


def session_lines(session: Session) -> list[str]:
    """The long output of one conversation: address, replies, TLS, the steps, timings."""
    lines: list[str] = []
    if session.address:
        lines.append(f"address: {session.address} port {session.target.port}")
    if session.banner:
        lines += [f"banner: {line}" for line in session.banner.wire_lines()]
    if session.helo_name:
        lines.append(f"{session.target.greeting} argument: {session.helo_name}")
    if session.refused_ehlo:
        lines.append(f"EHLO refused ({session.refused_ehlo}), HELO tried instead")
    if session.ehlo_before_tls:
        lines += [f"EHLO before TLS: {line}" for line in session.ehlo_before_tls.wire_lines()]
    if session.helo:
        lines += [f"{session.helo_verb}: {line}" for line in session.helo.wire_lines()]
    if session.tls:
        lines += _tls_lines(session.tls)
    if session.auth_mechanism:
        offered = " ".join(session.auth_offered)
        lines.append(f"AUTH mechanism: {session.auth_mechanism} (offered: {offered})")
    lines += [
        f"{reply.command}: {line}" for reply in _steps(session) for line in reply.wire_lines()
    ]
    if session.timings:
        lines.append(
            "timings: " + ", ".join(f"{k} {decimal(v)}s" for k, v in session.timings.items())
        )
    return lines


def _steps(session: Session) -> list[Reply]:
    """The replies to the steps after EHLO, in order: AUTH, MAIL FROM, each RCPT TO."""
    return [reply for reply in (session.auth, session.mail) if reply] + session.recipients


def _certificate_text(tls: TLSInfo) -> str:
    """The certificate's validity in words: 'certificate expires in 1 hour 59 minutes'."""
    if tls.unreadable is not None or tls.not_after is None:
        return "certificate not readable"
    left = tls.not_after - time.time()
    if left < 0:
        return f"certificate expired {ago(-left)}"
    if tls.starts_in > 0:
        return f"certificate not valid for another {span(tls.starts_in)}"
    return f"certificate expires in {span(left)}"


def _tls_lines(tls: TLSInfo) -> list[str]:
    """Long output about the TLS session and the server certificate."""
    verified = "verified" if tls.verified else "NOT verified (--insecure)"
    minimum = "" if tls.meets_minimum else f" (below the minimum TLS {tls.min_version})"
    lines = [
        f"TLS: {tls.version}{minimum}, cipher {tls.cipher} ({tls.bits} bits), "
        f"certificate {verified}"
    ]
    if tls.unreadable is not None:
        return [*lines, f"certificate not readable: {tls.unreadable}"]
    lines += [
        f"certificate subject: {tls.subject}",
        f"certificate alternative names: {', '.join(tls.alt_names) or 'none'}",
        f"certificate issuer: {tls.issuer}",
    ]
    for label, moment in (("valid from", tls.not_before), ("expires", tls.not_after)):
        if moment is not None:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))
            lines.append(f"certificate {label}: {when}")
    lines[-1] += f" ({_certificate_text(tls)})"
    chain = [f"{tls.chain_sent} sent by the server"] if tls.chain_sent is not None else []
    if tls.chain_verified is not None:
        chain.append(f"{tls.chain_verified} in the verified chain")
    if chain:
        lines.append(f"certificate chain: {', '.join(chain)}")
    return lines
