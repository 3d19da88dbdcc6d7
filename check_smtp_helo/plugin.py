"""The nagiosplugin side: a Resource that holds the conversation, contexts that judge
what it found, a Summary that words the result, and the output layout."""

from __future__ import annotations

import _signal  # the signal module's C core: the module itself builds enum classes at import
import logging
import os
import re
import time

import nagiosplugin
from nagiosplugin.output import Output

from .base import LONG_LINE, STATUS_LINE, TIMER, DeadlineError, safe
from .smtp import Reply, Session, Target, converse, endpoint

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from .tls import TLSInfo

log = logging.getLogger("nagiosplugin.check_smtp_helo")  # the transcript and debug lines

PHASES = ("dns", "connect", "tls", "banner", "helo", "auth", "mail")
LOG_LEVELS = {0: logging.WARNING, 1: logging.WARNING, 2: logging.INFO}


def decimal(value: float) -> str:
    """A measured value for perfdata: plain decimal, microseconds (never 1e-06)."""
    return f"{value:.6f}"


def duration(seconds: float) -> str:
    """A time for the status line: milliseconds below one second (0.4 ms), else seconds."""
    if seconds * 1000 < 999.95:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.3f}s"


def number(value: float) -> str:
    """A threshold or limit for perfdata: plain decimal without trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def range_text(threshold: nagiosplugin.Range) -> str:
    """A Nagios range in perfdata form: '1' stays '1', and numbers are never in e-notation."""
    text = "@" if threshold.invert else ""
    if threshold.start == float("-inf"):
        text += "~:"
    elif threshold.start != 0:
        text += number(threshold.start) + ":"
    if threshold.end != float("inf"):
        text += number(threshold.end)
    return text


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


def seconds_performance(
    metric: nagiosplugin.Metric, warn: str = "", crit: str = ""
) -> nagiosplugin.Performance:
    """Perfdata for a duration: 'label=0.001234s;warn;crit;min;max'."""
    limit = "" if metric.max is None else number(metric.max)
    return nagiosplugin.Performance(
        metric.name, decimal(metric.value), metric.uom, warn, crit, number(metric.min), limit
    )


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

    def __init__(self, expect: re.Pattern | None) -> None:
        super().__init__("banner", 220)
        self.expect = expect

    def evaluate(self, metric, resource):
        result = super().evaluate(metric, resource)
        if result.state != nagiosplugin.Ok or self.expect is None:
            return result
        if search_within_deadline(self.expect, metric.value.wire_lines()):
            return result
        return self.result_cls(nagiosplugin.Warn, "banner does not match -e", metric)


def search_within_deadline(pattern: re.Pattern, lines: list[str]) -> bool:
    """Does the pattern match some line? A pattern can backtrack for hours inside the re
    engine, where no signal handler runs, so the match runs in a child process that the
    deadline ends: its own timer kills it, and the parent's DeadlineError interrupts the wait."""
    left = TIMER.left()
    if left <= 0:
        raise DeadlineError
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one byte, b"1" for a match, then gone
        try:
            _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
            _signal.signal(_signal.SIGALRM, _signal.SIG_DFL)
            if left < float("inf"):  # armed, as it is in every run of the plugin
                _signal.setitimer(_signal.ITIMER_REAL, left)
            os.write(write_end, b"1" if any(map(pattern.search, lines)) else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        answer = os.read(read_end, 1)
    finally:
        os.close(read_end)
        os.kill(pid, _signal.SIGKILL)
        os.waitpid(pid, 0)
    if not answer:  # killed by its own timer, a moment before ours
        raise DeadlineError
    return answer == b"1"


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
            if name.endswith("certificate") and minimum and (facts["key_bits"] or 0) < minimum:
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
    from .tls import ago, span  # noqa: PLC0415 -- ssl is loaded already: this is a TLS check

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


class StatusLineOutput(Output):
    """nagiosplugin's output, but perfdata stays on the status line at every -v level,
    long output from -v on is the Summary's verbose(), without -v its brief() (nagiosplugin's
    own verbosity then only decides tracebacks),
    and every line but the perfdata is made safe(): the status line whoever sets it (also
    nagiosplugin's own after an internal error), the rest where nagiosplugin screens it."""

    def __init__(self, logchan: logging.Handler, verbosity: int) -> None:
        self.perfdata = ""
        super().__init__(logchan)
        self.verbosity = verbosity

    @property
    def status(self) -> str:
        line = safe(self._status, STATUS_LINE)
        return f"{line} {self.perfdata}" if self.perfdata else line

    @status.setter
    def status(self, text: str) -> None:
        self._status = text

    def add(self, check):
        self.status = self.format_status(check)
        self.perfdata = self.format_perfdata(check)
        if self.verbosity:
            self.add_longoutput(check.verbose_str)
        else:
            self.add_longoutput(check.summary.brief(check.results))

    def _screen_chars(self, text: str, where: str) -> str:
        if where in ("perfdata", "status line"):  # the status line is made safe() as a whole
            return super()._screen_chars(text, where)
        return "\n".join(safe(line, LONG_LINE) for line in text.splitlines())


def use_output(verbosity: int) -> None:
    """Set up nagiosplugin's Runtime for -v levels 0..3: long output, transcript, debug."""
    runtime = nagiosplugin.Runtime()
    runtime.output = StatusLineOutput(runtime.logchan, verbosity)
    runtime.verbose = 3 if verbosity >= 3 else 0
    level = LOG_LEVELS.get(verbosity, logging.DEBUG)
    runtime.logchan.setLevel(level)
    # nagiosplugin's root logger passes everything to the handler; a level on our own logger
    # spares building a record for each transcript line that nobody asked to see
    log.setLevel(level)
