"""The domain check's Summary: 'example.com: 3 of 4 addresses OK', then a line per probe."""

from __future__ import annotations

import nagiosplugin

from ..core.text import safe
from .perfdata import duration
from .summary import Summary, session_lines

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from ..domain.probes import Probe
    from .domain_resource import DomainProbes


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
