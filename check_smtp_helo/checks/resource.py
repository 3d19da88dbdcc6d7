"""The single check's Resource: one conversation, and the metrics of a conversation."""

from __future__ import annotations

import logging

import nagiosplugin

from ..smtp.conversation import converse

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from ..smtp.model import Session, Target

log = logging.getLogger("nagiosplugin.check_smtp_helo")  # the transcript and debug lines

PHASES = ("dns", "connect", "tls", "banner", "helo", "auth", "mail")


class SMTPServer(nagiosplugin.Resource):
    """Talks to the server once; yields phase times, response time, replies, or a failure."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.session: Session | None = None

    @property
    def name(self) -> str:
        return "SMTP"

    def probe(self):
        self.session = converse(self.target, log)
        yield from session_metrics(self.session, self.target.timeout)


def session_metrics(session: Session, timeout: float):
    """The metrics of one conversation: phase times, response time, replies, the TLS
    session, the steps after EHLO, failure; each for its context in the single check."""
    for phase in PHASES:
        if phase in session.timings:
            yield nagiosplugin.Metric(phase, session.timings[phase], "s", min=0, context="phase")
    if session.response_time is not None:
        yield nagiosplugin.Metric(
            "time", session.response_time, "s", min=0, max=timeout, context="time"
        )
    if session.transaction_time is not None:
        yield nagiosplugin.Metric(
            "transaction", session.transaction_time, "s", min=0, context="phase"
        )
    if session.banner is not None:
        yield nagiosplugin.Metric("banner_reply", session.banner, context="banner")
    if session.helo is not None:
        yield nagiosplugin.Metric("helo_reply", session.helo, context="helo")
    if session.tls is not None:
        yield nagiosplugin.Metric("tls_version", session.tls, context="tls_version")
        yield nagiosplugin.Metric("cert_days", session.tls, context="certificate")
        yield nagiosplugin.Metric("cert_strength", session.tls, context="strength")
    if session.refusals is not None:
        yield nagiosplugin.Metric("tls_refusals", session, context="refusals")
    if session.auth is not None:
        yield nagiosplugin.Metric("auth_reply", session.auth, context="auth")
    if session.mail is not None:
        yield nagiosplugin.Metric("mail_reply", session.mail, context="mail")
    for index, reply in enumerate(session.recipients):
        yield nagiosplugin.Metric(f"rcpt_reply_{index}", reply, context="rcpt")
    if session.failure is not None:
        yield nagiosplugin.Metric("failure", session.failure, context="failure")
