"""The domain check's Summary: 'example.com: 3 of 4 addresses OK', and a block per probe."""

from __future__ import annotations

import nagiosplugin

from ..core.text import safe
from .summary import session_lines

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from .domain_resource import DomainProbes


class DomainSummary(nagiosplugin.Summary):
    """'example.com: 3 of 4 addresses OK, <each problem>'; -v: one block per probe."""

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
            state = str(results[probe.label].state).upper()
            lines.append(f"{probe.where} port {probe.session.target.port}: {state}")
            if probe.session.failure is not None:
                lines.append(f"- failed: {probe.session.failure.reason}")
            dane = probe.dane()
            if dane is not None:
                lines.append(f"- DANE: {dane}")
            lines += [f"- {line}" for line in session_lines(probe.session)]
        return lines
