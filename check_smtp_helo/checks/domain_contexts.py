"""The domain check's contexts: each probe as the single check judges its server, the counts,
the hosts, DANE and MTA-STS."""

from __future__ import annotations

import nagiosplugin

from .contexts import ResponseTimeContext
from .perfdata import decimal, number, range_text, seconds_performance
from .resource import session_metrics

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from ..domain.model import MailDomain, MXHost
    from ..domain.probes import Probe

STS_STATES = {"enforce": nagiosplugin.Critical, "testing": nagiosplugin.Warn}


class ProbeContext(nagiosplugin.Context):
    """One probe, judged as the single check judges its server (the same contexts); what
    would be CRITICAL there is WARNING here: the other addresses still take mail (and when
    none answers, AnsweredContext makes it CRITICAL)."""

    def __init__(self, contexts: list[nagiosplugin.Context], timeout: float) -> None:
        super().__init__("probe")
        self.contexts = {context.name: context for context in contexts}
        self.timeout = timeout
        self.prepared = False

    def evaluate(self, metric, resource):
        probe: Probe = metric.value
        if not self.prepared:  # -e: every probe's banner in one go
            self.contexts["banner"].prepare([p.session.banner for p in resource.probes
                                             if p.session.banner is not None])  # fmt: skip
            self.prepared = True
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
    """The addresses that passed: none is CRITICAL (the domain takes no mail). When some
    answered but failed later (TLS, say), their own hints say what failed."""

    def __init__(self) -> None:
        super().__init__("answered")

    def evaluate(self, metric, resource):
        if metric.value == 0:
            reached = any(probe.responded for probe in resource.probes)
            nothing = "no address answered" if metric.max else "no address to check"
            return self.result_cls(nagiosplugin.Critical, None if reached else nothing, metric)
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
