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
        lines += _tls_lines(session.tls) + _refusal_lines(session)
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
    """The validity of the certificate that expires first, in words: 'certificate expires in
    1 hour 59 minutes', 'intermediate CN=R3 expires in 9 days'."""
    soonest = None if tls.unreadable is not None else tls.soonest()
    if soonest is None:
        return "certificate not readable"
    name, facts = soonest
    left = facts["not_after"] - time.time()
    if left < 0:
        return f"{name} expired {ago(-left)}"
    for early, early_facts in tls.judged():
        starts_in = early_facts["not_before"] - time.time()
        if starts_in > 0:
            return f"{early} not valid for another {span(starts_in)}"
    return f"{name} expires in {span(left)}"


def _tls_lines(tls: TLSInfo) -> list[str]:
    """Long output about the TLS session and the server's certificates, and about those of
    the other key types (--all-certificates)."""
    lines = _session_lines(tls)
    for other in tls.others:
        if other.tls is not None:
            lines += _session_lines(other.tls)
        elif other.absent:
            lines.append(f"{other.kind} certificate: none (the server refused every "
                         f"{other.kind} cipher suite)")  # fmt: skip
        else:
            lines.append(f"{other.kind} certificate: {other.reason}")
    return lines


def _session_lines(tls: TLSInfo) -> list[str]:
    """Long output about one TLS session and the certificates sent in it."""
    name = f"{tls.kind} certificate" if tls.kind else "certificate"
    verified = "verified" if tls.verified else "NOT verified (--insecure)"
    minimum = "" if tls.meets_minimum else f" (below the minimum TLS {tls.min_version})"
    lines = [
        f"TLS: {tls.version}{minimum}, cipher {tls.cipher} ({tls.bits} bits), {name} {verified}"
    ]
    if tls.lowered:
        lines.append(f"TLS: at OpenSSL security level 0, as the system's refused it: {tls.lowered}")
    if tls.unreadable is not None:
        return [*lines, f"{name} not readable: {tls.unreadable}"]
    lines += [
        f"{name} subject: {tls.subject}",
        f"{name} alternative names: {', '.join(tls.alt_names) or 'none'}",
        f"{name} issuer: {tls.issuer}",
    ]
    for label, moment in (("valid from", tls.not_before), ("expires", tls.not_after)):
        if moment is not None:
            lines.append(f"{name} {label}: {_utc(moment)}")
    lines[-1] += f" ({_certificate_text(tls)})"
    for index, facts in enumerate(tls.chain):
        which = name if not index else f"intermediate {facts['subject']}"
        if index and facts["self_signed"]:
            which = f"root {facts['subject']} (not judged)"
        lines.append(f"{which} key: {_key_text(facts)}")
        lines.append(f"{which} signature: {facts['signature']}")
        if index:
            lines.append(f"{which} expires: {_utc(facts['not_after'])}")
    chain = [f"{tls.chain_sent} sent by the server"] if tls.chain_sent is not None else []
    if tls.chain_verified is not None:
        chain.append(f"{tls.chain_verified} in the verified chain")
    if chain:
        lines.append(f"{name} chain: {', '.join(chain)}")
    return lines


def _utc(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))


def _key_text(facts: dict) -> str:
    """'RSA 2048 bits', 'EC 256 bits (P-256)', 'Ed25519'."""
    size = f" {facts['key_bits']} bits" if facts["key_bits"] else ""
    curve = f" ({facts['curve']})" if facts["curve"] else ""
    return f"{facts['key_type']}{size}{curve}"


def _refusal_lines(session: Session) -> list[str]:
    """--refuse-tls-below: what each capped handshake found."""
    if session.refusals is None or session.target.tls is None:
        return []
    said = {True: "accepted", False: "refused", None: "not tried"}
    found = [f"TLS {r.version} {said[r.accepted]}" for r in session.refusals]
    return [f"--refuse-tls-below {session.target.tls.refuse_below}: {', '.join(found)}"]
