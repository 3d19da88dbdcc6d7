"""The further handshakes of a TLS check, each a conversation of its own up to EHLO, one after
the other, all within the one deadline: again at OpenSSL security level 0 when the system's
level is what made the handshake fail, one capped at each version below --refuse-tls-below,
one with the other key type's cipher suites for --all-certificates. Only when the server
needs one or an option asks for it."""

from __future__ import annotations

import time

from .model import Refusal

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from typing import Callable

    from ..tls.certificate import OtherCertificate
    from ..tls.policy import TLSPolicy
    from .model import Log, Session, Target

    Converse = Callable[[Target, Log], Session]  # one conversation: conversation.converse_once


def with_further_handshakes(target: Target, log: Log, converse: Converse) -> Session:
    """The conversation the options describe, and the further handshakes it needs."""
    tls = target.tls
    assert tls is not None  # only TLS checks come here
    deadline = target.deadline
    if deadline is None:
        deadline = time.perf_counter() + target.timeout
    target = target.variant(tls, deadline=deadline)
    session = _at_any_level(target, log, converse)
    if session.tls is None:
        return session
    if tls.refuse_below:
        session.refusals = _refusals(session, tls.refusal_policies(), log, converse)
    if tls.all_certificates:
        session.tls.others = _other_certificates(session, log, converse)
    return session


def _at_any_level(target: Target, log: Log, converse: Converse) -> Session:
    """One conversation; again at security level 0 when the system's level is what made the
    handshake fail, so that an old server is reached and judged in words."""
    session = converse(target, log)
    error, tls = session.handshake_error, target.tls
    if tls is None or error is None or not tls.lower_level_helps(error):
        return session
    log.info("TLS: again at security level 0 after: %s", error)
    session = converse(target.variant(tls.derive(legacy=True, kind=tls.kind)), log)
    if session.tls is not None:
        session.tls.lowered = str(error)
    return session


def _refusals(session: Session, policies: list[tuple[str, TLSPolicy]], log: Log,
              converse: Converse) -> list[Refusal]:  # fmt: skip
    """A handshake capped at each version below --refuse-tls-below: does the server accept it?
    The first that cannot be tried (no banner, no time left) ends the tries."""
    refusals = []
    for version, policy in policies:
        probe = converse(session.target.variant(policy, steps=False), log)
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


def _other_certificates(session: Session, log: Log, converse: Converse) -> list[OtherCertificate]:
    """A TLS 1.2 handshake with the cipher suites of each key type (RSA, ECDSA) whose
    certificate the conversation did not get: a server may hold one of each."""
    # ssl is loaded already: a TLS session is there
    from ..tls.certificate import OtherCertificate  # noqa: PLC0415 -- the import policy
    from ..tls.errors import NO_SUCH_CERTIFICATE  # noqa: PLC0415 -- the import policy

    tls, policy = session.tls, session.target.tls
    assert tls is not None and policy is not None  # with_further_handshakes() checked both
    key = tls.chain[0]["key_type"] if tls.chain else ""
    tls.kind = {"RSA": "RSA", "RSA-PSS": "RSA", "EC": "ECDSA"}.get(key, key or "the")
    others = []
    for kind in ("RSA", "ECDSA"):
        if kind == tls.kind:
            continue
        target = session.target.variant(policy.derive(kind=kind), steps=False)
        probe = _at_any_level(target, log, converse)
        error = probe.handshake_error
        if probe.tls is not None:
            others.append(OtherCertificate(kind, probe.tls))
        elif error is not None and error.code in NO_SUCH_CERTIFICATE:
            others.append(OtherCertificate(kind, None, str(error), absent=True))
        else:
            reason = probe.failure.reason if probe.failure else "no TLS session"
            others.append(OtherCertificate(kind, None, reason))
    return others
