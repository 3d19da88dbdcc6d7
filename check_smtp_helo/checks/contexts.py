"""The contexts of the single check: each judges one kind of metric."""

from __future__ import annotations

import re
import time

import nagiosplugin

from .perfdata import number, range_text, seconds_performance

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from ..core.deadline import Deadline
    from ..smtp.model import Reply, Session
    from ..tls.certificate import TLSInfo


class PhaseContext(nagiosplugin.Context):
    """Times of single phases: graphed, not judged."""

    def __init__(self) -> None:
        super().__init__("phase")

    def performance(self, metric, resource):
        return seconds_performance(metric)


class ResponseTimeContext(nagiosplugin.ScalarContext):
    """The response time against the -w and -c ranges."""

    def __init__(self, warning: nagiosplugin.Range, critical: nagiosplugin.Range) -> None:
        super().__init__("time", warning, critical)

    def evaluate(self, metric, resource):
        for state, threshold, kind in (
            (nagiosplugin.Critical, self.critical, "critical"),
            (nagiosplugin.Warn, self.warning, "warning"),
        ):
            if not threshold.match(metric.value):
                where = "inside" if threshold.invert else "outside"
                hint = f"response time {where} {kind} range {range_text(threshold)}"
                return self.result_cls(state, hint, metric)
        return self.result_cls(nagiosplugin.Ok, None, metric)

    def performance(self, metric, resource):
        return seconds_performance(metric, range_text(self.warning), range_text(self.critical))


class ReplyContext(nagiosplugin.Context):
    """A reply must carry the expected code; any other is CRITICAL."""

    def __init__(self, name: str, expected: int) -> None:
        super().__init__(name)
        self.expected = expected

    def evaluate(self, metric, resource):
        reply: Reply = metric.value
        if reply.code != self.expected:
            subject = f"{reply.command} reply" if reply.command else "banner"
            return self.result_cls(
                nagiosplugin.Critical, f"{subject} is not {self.expected}", metric
            )
        return self.result_cls(nagiosplugin.Ok, None, metric)


class StepContext(nagiosplugin.Context):
    """A reply to a step after EHLO (AUTH, MAIL FROM, RCPT TO): an accepted code is OK,
    another 4xx is WARNING (temporary: greylisting, a full queue), anything else CRITICAL.
    `refusals` words codes that mean more than their number (535: authentication failed)."""

    def __init__(
        self, name: str, accepted: tuple[int, ...], refusals: dict[int, str] | None = None
    ) -> None:
        super().__init__(name)
        self.accepted = accepted
        self.refusals = refusals or {}

    def evaluate(self, metric, resource):
        reply: Reply = metric.value
        if reply.code in self.accepted:
            return self.result_cls(nagiosplugin.Ok, None, metric)
        state = nagiosplugin.Warn if 400 <= reply.code < 500 else nagiosplugin.Critical
        code = " ".join([str(reply.code), *_enhanced(reply)])
        if reply.code in self.refusals:
            return self.result_cls(state, f"{self.refusals[reply.code]} ({code})", metric)
        return self.result_cls(state, f"{reply.command} answered {code}", metric)


def _enhanced(reply: Reply) -> list[str]:
    """The enhanced status code (RFC 3463) that starts the reply's text, if any: ['5.1.1']."""
    first = reply.lines[0].split(maxsplit=1)[:1]
    return first if re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", "".join(first)) else []


class BannerContext(ReplyContext):
    """The banner must be 220, and match the -e pattern (on any line) when one is given."""

    def __init__(self, expect: re.Pattern | None, deadline: Deadline) -> None:
        super().__init__("banner", 220)
        self.expect = expect
        self.deadline = deadline
        self.matched: dict[tuple[str, ...], bool] = {}  # by the banner's lines

    def prepare(self, banners: list[Reply]) -> None:
        """Match every banner at once: one child process for them all (see core/sandbox.py),
        not one each, when a mail domain has hundreds of probes to judge in what is left."""
        if self.expect is None:
            return
        new = list(dict.fromkeys(key for key in map(_lines, banners) if key not in self.matched))
        if new:
            from ..core.sandbox import search  # noqa: PLC0415 -- the import policy

            self.matched.update(zip(new, search(self.expect, new, self.deadline)))

    def evaluate(self, metric, resource):
        result = super().evaluate(metric, resource)
        if result.state != nagiosplugin.Ok or self.expect is None:
            return result
        self.prepare([metric.value])
        if self.matched[_lines(metric.value)]:
            return result
        return self.result_cls(nagiosplugin.Warn, "banner does not match -e", metric)


def _lines(reply: Reply) -> tuple[str, ...]:
    return tuple(reply.wire_lines())


class TLSVersionContext(nagiosplugin.Context):
    """The negotiated TLS version against --min-tls: below it is WARNING. This client offers
    every version up to TLS 1.3, so the version the server chose is the newest it speaks."""

    def __init__(self) -> None:
        super().__init__("tls_version")

    def evaluate(self, metric, resource):
        tls: TLSInfo = metric.value
        if tls.meets_minimum:
            return self.result_cls(nagiosplugin.Ok, None, metric)
        offers = "only" if tls.number == "1.0" else "at most"
        hint = f"server offers {offers} TLS {tls.number}, below --min-tls {tls.min_version}"
        return self.result_cls(nagiosplugin.Warn, hint, metric)


class RefusalContext(nagiosplugin.Context):
    """--refuse-tls-below: an old version the server accepts is WARNING; one that could not be
    tried is UNKNOWN, or the --timeout-state when time ran out."""

    def __init__(self, timeout_state: nagiosplugin.state.ServiceState) -> None:
        super().__init__("refusals")
        self.timeout_state = timeout_state

    def evaluate(self, metric, resource):
        session: Session = metric.value
        refusals = session.refusals or []
        below = session.target.tls.refuse_below if session.target.tls else ""
        untried = [refusal for refusal in refusals if refusal.accepted is None]
        if untried:
            state = self.timeout_state if untried[0].timed_out else nagiosplugin.Unknown
            hint = f"--refuse-tls-below {below}: TLS {untried[0].version} not tried: "
            return self.result_cls(state, hint + untried[0].reason, metric)
        accepted = [refusal.version for refusal in refusals if refusal.accepted]
        if not accepted:
            return self.result_cls(nagiosplugin.Ok, None, metric)
        versions = " and ".join([", ".join(accepted[:-1]), accepted[-1]] if accepted[:-1]
                                else accepted)  # fmt: skip
        hint = f"server accepts TLS {versions} (--refuse-tls-below {below})"
        return self.result_cls(nagiosplugin.Warn, hint, metric)


class CertificateContext(nagiosplugin.Context):
    """The certificates the server sends (with --all-certificates, of each key type):
    unreadable is UNKNOWN; one expired or not yet valid is CRITICAL (with --insecure too);
    the one that expires first against -D is WARNING or CRITICAL. A handshake for another
    key type that fails for another reason than having no such certificate is CRITICAL."""

    def __init__(self, warning_days: float | None, critical_days: float | None) -> None:
        super().__init__("certificate")
        self.warning_days = warning_days
        self.critical_days = critical_days

    def evaluate(self, metric, resource):
        tls: TLSInfo = metric.value
        unreadable = [info for info in (tls, *(o.tls for o in tls.others if o.tls))
                      if info.unreadable is not None]  # fmt: skip
        if unreadable:
            name = f"{unreadable[0].kind} certificate" if unreadable[0].kind else "certificate"
            hint = f"{name} not readable: {unreadable[0].unreadable}"
            return self.result_cls(nagiosplugin.Unknown, hint, metric)
        now = time.time()
        for name, facts in tls.judged():
            if facts["not_after"] < now:
                return self.result_cls(nagiosplugin.Critical, f"{name} expired", metric)
            if facts["not_before"] > now:
                return self.result_cls(nagiosplugin.Critical, f"{name} not yet valid", metric)
        for other in tls.others:
            if other.tls is None and not other.absent:
                hint = f"{other.kind} certificate: {other.reason}"
                return self.result_cls(nagiosplugin.Critical, hint, metric)
        soonest = tls.soonest()
        days = tls.days_left
        for state, limit, kind in (
            (nagiosplugin.Critical, self.critical_days, "critical"),
            (nagiosplugin.Warn, self.warning_days, "warning"),
        ):
            if soonest and days is not None and limit is not None and days < limit:
                hint = f"{soonest[0]} expires in under {number(limit)} days ({kind})"
                return self.result_cls(state, hint, metric)
        return self.result_cls(nagiosplugin.Ok, None, metric)

    def performance(self, metric, resource):
        days = metric.value.days_left
        if days is None:
            return None
        # "30:" is the plugin guidelines' "alert below 30"
        warn, crit = (
            f"{number(d)}:" if d is not None else ""
            for d in (self.warning_days, self.critical_days)
        )
        return nagiosplugin.Performance("cert_days", number(days), "", warn, crit)


# A key below these sizes is WARNING (NIST SP 800-57, BSI TR-02102: 112 bits of security)
MIN_KEY_BITS = {"RSA": 2048, "RSA-PSS": 2048, "DSA": 2048, "EC": 256}
WEAK_DIGESTS = ("MD2", "MD5", "SHA-1")  # a signature made with one of them is CRITICAL


class StrengthContext(nagiosplugin.Context):
    """Keys and signatures, whatever --insecure says: the server's own key below RSA 2048 or
    EC 256 bits is WARNING; an MD5 or SHA-1 signature on any certificate it sends, except a
    self-signed root (its signature proves nothing), is CRITICAL."""

    def __init__(self) -> None:
        super().__init__("strength")

    def evaluate(self, metric, resource):
        tls: TLSInfo = metric.value
        if tls.unreadable is not None:  # the certificate context says so
            return self.result_cls(nagiosplugin.Ok, None, metric)
        critical, warning = [], []
        for name, facts in tls.judged():
            digest = facts["signature"].split(" with ", 1)[0]
            if digest in WEAK_DIGESTS:
                critical.append(f"{name} signed with {digest}")
            minimum = MIN_KEY_BITS.get(facts["key_type"])
            if (
                not name.startswith("intermediate ")
                and minimum
                and (facts["key_bits"] or 0) < minimum
            ):
                size = f"{facts['key_type']} {facts['key_bits']} bits"
                warning.append(f"{name} key is {size}, below {minimum}")
        if critical:
            return self.result_cls(nagiosplugin.Critical, ", ".join(critical), metric)
        if warning:
            return self.result_cls(nagiosplugin.Warn, ", ".join(warning), metric)
        return self.result_cls(nagiosplugin.Ok, None, metric)


class FailureContext(nagiosplugin.Context):
    """A conversation cut short: CRITICAL, or the --timeout-state when time ran out."""

    def __init__(self, timeout_state: nagiosplugin.state.ServiceState) -> None:
        super().__init__("failure")
        self.timeout_state = timeout_state

    def evaluate(self, metric, resource):
        failure = metric.value
        state = self.timeout_state if failure.timed_out else nagiosplugin.Critical
        return self.result_cls(state, failure.reason, metric)
