"""The nagiosplugin side of the mail domain (--mx, --all-addresses): a Resource that looks
the domain up and talks to every address at once, contexts that judge the probes, DANE and
MTA-STS, and a Summary. Imported only in these modes: it brings in dnspython."""

from __future__ import annotations

import time

import nagiosplugin

from .base import TIMER, safe
from .domain import (
    DNSError,
    Lookups,
    MailDomain,
    MXHost,
    Probe,
    fetch_policy,
    look_up,
    probe_all,
    read_policy,
    together,
)
from .plugin import (
    ResponseTimeContext,
    Summary,
    decimal,
    duration,
    log,
    number,
    range_text,
    seconds_performance,
    session_lines,
    session_metrics,
)
from .smtp import Target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from .tls import TLSPolicy

    # (host, address) -> the Target of one probe
    MakeTarget = Callable[[MXHost, str], Target]

STS_STATES = {"enforce": nagiosplugin.Critical, "testing": nagiosplugin.Warn}
RESERVE = 0.25  # seconds (a tenth of -t at the most) kept to judge many probes and print


def probes_deadline(timeout: float) -> float:
    """When the DNS, the probes and the policy fetch must be done (time.perf_counter()): a
    little before the -t deadline, so that what they found is judged and printed in time."""
    end = TIMER.deadline if TIMER.deadline is not None else time.perf_counter() + timeout
    return end - min(RESERVE, timeout / 10)


class DomainProbes(nagiosplugin.Resource):
    """Looks the domain up, then talks to every address of every host at once, all within
    the one timeout. Yields the DNS time, the address counts, the slowest time, each probe,
    and the hosts for DANE and MTA-STS to judge."""

    def __init__(self, domain: MailDomain, make_target: MakeTarget, *, timeout: float,
                 deadline: float, resolver: tuple[str, int] | None, family: int, port: int,
                 dane: bool, policy_tls: TLSPolicy | None) -> None:  # fmt: skip
        self.domain = domain
        self.make_target = make_target
        self.timeout = timeout
        self.deadline = deadline
        self.resolver = resolver
        self.family = family
        self.port = port
        self.dane = dane
        self.policy_tls = policy_tls  # --mta-sts: how to fetch the policy
        self.probes: list[Probe] = []

    @property
    def name(self) -> str:
        return "SMTP"

    def probe(self):
        deadline = self.deadline
        domain = self.domain
        lookups = Lookups(self.resolver, deadline)
        try:
            look_up(lookups, domain, family=self.family, port=self.port, dane=self.dane,
                    mta_sts=self.policy_tls is not None)  # fmt: skip
        except DNSError as exc:
            yield nagiosplugin.Metric("failure", exc, context="failure")
            return
        yield nagiosplugin.Metric("dns", domain.dns_time, "s", min=0, context="phase")
        if domain.null_mx:
            yield nagiosplugin.Metric("null_mx", domain, context="null_mx")
            return
        calls: list[Callable[[], object]] = [lambda: probe_all(domain, self.make_target, log)]
        if self.policy_tls is not None:  # the policy is fetched while the probes talk
            fetch = fetch_policy(self.policy_tls, deadline, log)
            calls.append(lambda: read_policy(lookups, domain, self.family, fetch))
        self.probes = together(calls)[0]  # type: ignore[assignment]
        answered = [p for p in self.probes if p.answered]
        times = [t for t in (p.session.response_time for p in answered) if t is not None]
        total = len(self.probes)
        yield nagiosplugin.Metric("addresses", total, min=0, context="addresses")
        yield nagiosplugin.Metric(
            "addresses_ok", len(answered), min=0, max=total, context="answered"
        )
        if times:
            yield nagiosplugin.Metric(
                "time", max(times), "s", min=0, max=self.timeout, context="slowest"
            )
        for host in domain.hosts:
            yield nagiosplugin.Metric(f"host {host.name}", host, context="host")
        for probe in self.probes:
            yield nagiosplugin.Metric(probe.label, probe, context="probe")
        if self.dane:
            for host in domain.hosts:
                yield nagiosplugin.Metric(f"dane {host.name}", host, context="dane")
        if self.policy_tls:
            yield nagiosplugin.Metric("mta_sts", domain, context="mta_sts")

    def probes_of(self, host: MXHost) -> list[Probe]:
        return [probe for probe in self.probes if probe.host is host]


class ProbeContext(nagiosplugin.Context):
    """One probe, judged as the single check judges its server (the same contexts); what
    would be CRITICAL there is WARNING here: the other addresses still take mail (and when
    none answers, AnsweredContext makes it CRITICAL)."""

    def __init__(self, contexts: list[nagiosplugin.Context], timeout: float) -> None:
        super().__init__("probe")
        self.contexts = {context.name: context for context in contexts}
        self.timeout = timeout

    def evaluate(self, metric, resource):
        probe: Probe = metric.value
        results = [
            self.contexts[m.context].evaluate(m, resource)
            for m in session_metrics(probe.session, self.timeout)
        ]
        problems = [r for r in results if r.state != nagiosplugin.Ok]
        if not problems:
            return self.result_cls(nagiosplugin.Ok, None, metric)
        hints = ", ".join(str(r.hint) for r in problems)
        return self.result_cls(nagiosplugin.Warn, f"{probe.where}: {hints}", metric)

    def performance(self, metric, resource):
        response_time = metric.value.session.response_time
        if response_time is None:
            return None
        time_context = self.contexts["time"]
        return nagiosplugin.Performance(
            metric.name, decimal(response_time), "s", range_text(time_context.warning),
            range_text(time_context.critical), 0, number(self.timeout),
        )  # fmt: skip


class CountContext(nagiosplugin.Context):
    """A count for the graphs: 'addresses=4;;;0'."""

    def performance(self, metric, resource):
        limit = "" if metric.max is None else metric.max
        return nagiosplugin.Performance(metric.name, metric.value, "", "", "", metric.min, limit)


class AnsweredContext(CountContext):
    """The addresses that answered: none at all is CRITICAL (the domain takes no mail)."""

    def __init__(self) -> None:
        super().__init__("answered")

    def evaluate(self, metric, resource):
        if metric.value == 0:
            hint = "no address answered" if metric.max else "no address to check"
            return self.result_cls(nagiosplugin.Critical, hint, metric)
        return self.result_cls(nagiosplugin.Ok, None, metric)


class SlowestContext(ResponseTimeContext):
    """The slowest answer, for the graphs with -w/-c; each probe is judged on its own."""

    def __init__(self, warning: nagiosplugin.Range, critical: nagiosplugin.Range) -> None:
        super().__init__(warning, critical)
        self.name = "slowest"

    def evaluate(self, metric, resource):
        return self.result_cls(nagiosplugin.Ok, None, metric)

    def performance(self, metric, resource):
        return seconds_performance(metric, range_text(self.warning), range_text(self.critical))


class HostContext(nagiosplugin.Context):
    """An MX host whose addresses could not be looked up, or that has none: WARNING."""

    def __init__(self) -> None:
        super().__init__("host")

    def evaluate(self, metric, resource):
        host: MXHost = metric.value
        if host.error is not None:
            return self.result_cls(nagiosplugin.Warn, f"{host.name}: {host.error.reason}", metric)
        if not host.addresses:
            return self.result_cls(nagiosplugin.Warn, f"{host.name}: no address", metric)
        return self.result_cls(nagiosplugin.Ok, None, metric)


class NullMXContext(nagiosplugin.Context):
    """'MX 0 .' (RFC 7505): the domain says it takes no mail."""

    def __init__(self) -> None:
        super().__init__("null_mx")

    def evaluate(self, metric, resource):
        return self.result_cls(nagiosplugin.Critical, "domain accepts no mail (null MX)", metric)


class DANEContext(nagiosplugin.Context):
    """An MX host's TLSA records against its certificates (RFC 7672): a mismatch or a failed
    lookup is CRITICAL, records without DNSSEC are WARNING, no records are fine."""

    def __init__(self) -> None:
        super().__init__("dane")

    def evaluate(self, metric, resource):
        host: MXHost = metric.value
        if host.tlsa is not None and host.tlsa.error:
            return self.result_cls(nagiosplugin.Critical, f"{host.name}: {host.tlsa.error}", metric)
        verdicts = {probe.where: probe.dane() for probe in resource.probes_of(host)}
        mismatches = [where for where, verdict in verdicts.items() if verdict == "mismatch"]
        if mismatches:
            hint = ", ".join(f"{where}: certificate matches no TLSA record" for where in mismatches)
            return self.result_cls(nagiosplugin.Critical, hint, metric)
        if "unauthenticated" in verdicts.values():
            hint = f"{host.name}: TLSA not DNSSEC-validated"
            return self.result_cls(nagiosplugin.Warn, hint, metric)
        return self.result_cls(nagiosplugin.Ok, None, metric)


class MTASTSContext(nagiosplugin.Context):
    """The domain's MTA-STS policy (RFC 8461): a TXT record without a valid policy is
    CRITICAL; an MX host outside the policy or a certificate not valid for its host is
    CRITICAL in enforce mode, WARNING in testing mode; mode none is only reported."""

    def __init__(self) -> None:
        super().__init__("mta_sts")

    def evaluate(self, metric, resource):
        domain: MailDomain = metric.value
        if domain.policy_error:
            return self.result_cls(nagiosplugin.Critical, f"MTA-STS {domain.policy_error}", metric)
        policy = domain.policy
        if policy is None or policy.mode not in STS_STATES:
            return self.result_cls(nagiosplugin.Ok, None, metric)
        violations = [f"{host.name} not in the policy" for host in domain.hosts
                      if not policy.allows(host.name)]  # fmt: skip
        violations += [
            f"{probe.where}: certificate not valid for {probe.host.name}"
            for probe in resource.probes
            if probe.certificate_rejected and not (probe.host.tlsa and probe.host.tlsa.applies)
        ]
        if not violations:
            return self.result_cls(nagiosplugin.Ok, None, metric)
        hint = f"MTA-STS {policy.mode}: {', '.join(violations)}"
        return self.result_cls(STS_STATES[policy.mode], hint, metric)


class DomainSummary(Summary):
    """'example.com: 3 of 4 addresses OK, <each problem>'; then one line per probe with its
    state, in the multi-line form of monitoring-plugins 3.x that Icinga Web 2 shows with a
    state tag each: '\\_ [WARNING] mx2.example.com [192.0.2.9]: connection refused'; -v: each
    probe's line heads a block with all that -v shows of it."""

    def __init__(self, notes: list[str]) -> None:
        self.notes = notes

    def ok(self, results):
        return self._line(results, [])

    def problem(self, results):
        hints = [safe(str(r.hint)) for r in results if r.state != nagiosplugin.Ok and r.hint]
        return self._line(results, hints)

    @staticmethod
    def _line(results, hints: list[str]) -> str:
        resource: DomainProbes = results[0].resource
        domain, probes = resource.domain, resource.probes
        parts = []
        if probes:
            good = sum(p.answered for p in probes)
            parts.append(f"{good} of {len(probes)} addresses OK")
        if domain.implicit:
            parts.append("no MX: the domain's own address is its implicit MX")
        if domain.policy is not None and not hints:
            parts.append(f"MTA-STS {domain.policy.mode}")
        return f"{domain.name}: {', '.join(parts + hints)}"

    def brief(self, results) -> list[str]:
        resource: DomainProbes = results[0].resource
        return [self._probe_line(results[probe.label]) for probe in resource.probes]

    @staticmethod
    def _probe_line(result: nagiosplugin.Result) -> str:
        """'\\_ [OK] mx1.example.com [192.0.2.25]: answered in 0.4 ms', or the probe's
        problems (their hint names the probe)."""
        probe: Probe = result.metric.value
        text = str(result.hint or probe.where)
        if not result.hint and probe.session.response_time is not None:
            text += f": answered in {duration(probe.session.response_time)}"
        return f"\\_ [{str(result.state).upper()}] {text}"

    def verbose(self, results):
        resource: DomainProbes = results[0].resource
        domain = resource.domain
        lines = list(self.notes)
        if domain.implicit:
            lines.append(f"no MX records: {domain.name} itself is the implicit MX (RFC 5321 5.1)")
        elif domain.hosts and domain.hosts[0].preference is not None:
            lines.append("MX: " + ", ".join(f"{h.preference} {h.name}" for h in domain.hosts))
        if domain.policy is not None:
            lines.append(f"MTA-STS policy: mode {domain.policy.mode}, mx "
                         f"{', '.join(domain.policy.patterns) or 'none'}, max_age "
                         f"{domain.policy.max_age}")  # fmt: skip
        elif resource.policy_tls and not domain.sts_record:
            lines.append("MTA-STS: no policy (no _mta-sts TXT record with v=STSv1)")
        for host in domain.hosts:
            if host.tlsa is not None and not host.tlsa.records and not host.tlsa.error:
                lines.append(f"DANE: no TLSA records for {host.name}")
        for probe in resource.probes:
            lines.append(self._probe_line(results[probe.label]))
            if probe.session.failure is not None:
                lines.append(f"- failed: {probe.session.failure.reason}")
            dane = probe.dane()
            if dane is not None:
                lines.append(f"- DANE: {dane}")
            lines += [f"- {line}" for line in session_lines(probe.session)]
        return lines
